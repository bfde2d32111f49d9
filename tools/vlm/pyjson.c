/* Python-style JSON text of a vlm_json (see pyjson.h). */
#include "pyjson.h"

#include <stdlib.h>
#include <string.h>

#include "text/py_json.h"

/* A string literal as json.dumps(ensure_ascii=True) writes it. */
static void put_string(vlm_strbuf *b, const char *s, size_t n) {
    vlm_py_json_string(b, s, n, true);
}

static void newline(vlm_strbuf *b, int indent, int level) {
    vlm_strbuf_putc(b, '\n');
    for (int i = 0; i < indent * level; i++)
        vlm_strbuf_putc(b, ' ');
}

static void put_value(vlm_strbuf *b, const vlm_json *v, int indent, int level);

typedef struct member {
    const char *key;
    size_t key_len;
    const vlm_json *val;
} member;

static int member_cmp(const void *a, const void *b) {
    const member *x = a, *y = b;
    size_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
    int c = memcmp(x->key, y->key, n); /* UTF-8 byte order is code point order */
    return c ? c : (x->key_len > y->key_len) - (x->key_len < y->key_len);
}

static void put_members(vlm_strbuf *b, member *m, size_t n, int indent, int level) {
    if (n == 0) {
        vlm_strbuf_puts(b, "{}");
        return;
    }
    vlm_strbuf_putc(b, '{');
    for (size_t i = 0; i < n; i++) {
        if (i) vlm_strbuf_putc(b, ',');
        newline(b, indent, level + 1);
        put_string(b, m[i].key, m[i].key_len);
        vlm_strbuf_puts(b, ": ");
        put_value(b, m[i].val, indent, level + 1);
    }
    newline(b, indent, level);
    vlm_strbuf_putc(b, '}');
}

static void put_value(vlm_strbuf *b, const vlm_json *v, int indent, int level) {
    int64_t i;
    if (vlm_json_is_null(v)) {
        vlm_strbuf_puts(b, "null");
    } else if (vlm_json_is_bool(v)) {
        vlm_strbuf_puts(b, vlm_json_true(v) ? "true" : "false");
    } else if (vlm_json_int(v, &i)) {
        vlm_strbuf_printf(b, "%lld", (long long)i);
    } else if (vlm_json_is_number(v)) {
        vlm_py_json_float(b, vlm_json_number(v));
    } else if (vlm_json_is_string(v)) {
        put_string(b, vlm_json_string(v), vlm_json_string_len(v));
    } else if (vlm_json_is_array(v)) {
        size_t n = vlm_json_array_size(v);
        if (n == 0) {
            vlm_strbuf_puts(b, "[]");
            return;
        }
        vlm_strbuf_putc(b, '[');
        for (size_t k = 0; k < n; k++) {
            if (k) vlm_strbuf_putc(b, ',');
            newline(b, indent, level + 1);
            put_value(b, vlm_json_array_at(v, k), indent, level + 1);
        }
        newline(b, indent, level);
        vlm_strbuf_putc(b, ']');
    } else if (vlm_json_is_object(v)) {
        size_t n = vlm_json_object_size(v), k = 0;
        member *m = calloc(n ? n : 1, sizeof *m);
        if (!m) {
            b->failed = true;
            return;
        }
        for (void *it = vlm_json_iter(v); it && k < n; it = vlm_json_iter_next(v, it), k++)
            m[k] =
                (member){vlm_json_iter_key(it), vlm_json_iter_key_len(it), vlm_json_iter_value(it)};
        put_members(b, m, k, indent, level);
        free(m);
    }
}

static bool in_list(const char *const *list, const char *key, size_t len) {
    for (; list && *list; list++)
        if (strlen(*list) == len && !memcmp(*list, key, len)) return true;
    return false;
}

bool vlm_pyjson_dump(vlm_strbuf *b, const vlm_json *v, int indent, bool sort_top,
                     const char *const *skip, const char *const *extra_keys,
                     const vlm_json *const *extra_vals, int n_extra) {
    if (!vlm_json_is_object(v)) {
        put_value(b, v, indent, 0);
        return !b->failed;
    }
    size_t n = vlm_json_object_size(v) + (size_t)n_extra, k = 0;
    member *m = calloc(n ? n : 1, sizeof *m);
    if (!m) return false;
    for (void *it = vlm_json_iter(v); it; it = vlm_json_iter_next(v, it)) {
        const char *key = vlm_json_iter_key(it);
        size_t len = vlm_json_iter_key_len(it);
        if (in_list(skip, key, len)) continue;
        bool replaced = false;
        for (int e = 0; e < n_extra; e++)
            replaced |= strlen(extra_keys[e]) == len && !memcmp(extra_keys[e], key, len);
        if (!replaced) m[k++] = (member){key, len, vlm_json_iter_value(it)};
    }
    for (int e = 0; e < n_extra; e++)
        m[k++] = (member){extra_keys[e], strlen(extra_keys[e]), extra_vals[e]};
    if (sort_top) qsort(m, k, sizeof *m, member_cmp);
    put_members(b, m, k, indent, 0);
    free(m);
    return !b->failed;
}
