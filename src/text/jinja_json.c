/* JSON on both sides of the Jinja engine: vlm_json -> values (for the messages and kwargs a
 * template receives), and transformers' tojson filter, which is Python's json.dumps(x,
 * ensure_ascii=False, indent=None, separators=None, sort_keys=False) with those arguments
 * overridable. Output is byte-identical to json.dumps: ", " and ": " separators without
 * indent, "," with indent, floats as repr(), NaN/Infinity spelled as Python spells them,
 * and non-string dict keys converted as json.dumps converts them. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "text/jinja.h"
#include "text/jinja_eval.h"
#include "text/jinja_pystr.h"
#include "text/py_json.h"

/* ------------------------------------------------------------- JSON -> values */

static vlm_status from_json(const vlm_json *j, int depth, vlm_jv *out, vlm_error *err) {
    *out = vlm_jv_undef();
    if (depth > VLM_JV_MAX_NEST)
        return vlm_err(err, VLM_ERR_LIMIT, "JSON nested deeper than %d levels", VLM_JV_MAX_NEST);
    if (vlm_json_is_object(j)) {
        vlm_jdict *d = vlm_jdict_new(vlm_json_object_size(j));
        if (!d) return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "out of memory");
        for (void *it = vlm_json_iter(j); it; it = vlm_json_iter_next(j, it)) {
            vlm_jv k, v;
            if (!vlm_jv_str(vlm_json_iter_key(it), vlm_json_iter_key_len(it), &k)) {
                vlm_jdict_decref(d);
                return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "out of memory");
            }
            vlm_status st = from_json(vlm_json_iter_value(it), depth + 1, &v, err);
            if (st) {
                vlm_jv_decref(k);
                vlm_jdict_decref(d);
                return st;
            }
            if (!vlm_jdict_set(d, k, v)) {
                vlm_jdict_decref(d);
                return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "out of memory");
            }
        }
        *out = vlm_jv_dict(d);
        return VLM_OK;
    }
    if (vlm_json_is_array(j)) {
        size_t n = vlm_json_array_size(j);
        vlm_jlist *l = vlm_jlist_new(VLM_JLIST_LIST, n);
        if (!l) return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "out of memory");
        for (size_t i = 0; i < n; i++) {
            vlm_jv v;
            vlm_status st = from_json(vlm_json_array_at(j, i), depth + 1, &v, err);
            if (st) {
                vlm_jlist_decref(l);
                return st;
            }
            if (!vlm_jlist_push(l, v)) {
                vlm_jlist_decref(l);
                return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "out of memory");
            }
        }
        *out = vlm_jv_list(l);
        return VLM_OK;
    }
    if (vlm_json_is_string(j)) {
        const char *s = vlm_json_string(j);
        size_t n = vlm_json_string_len(j);
        if (vlm_utf8_valid_prefix(s, n) != n)
            return vlm_err(err, VLM_ERR_FORMAT, "a JSON string is not valid UTF-8");
        if (!vlm_jv_str(s, n, out)) return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "out of memory");
        return VLM_OK;
    }
    int64_t i;
    if (vlm_json_int(j, &i))
        *out = vlm_jv_int(i);
    else if (vlm_json_is_number(j))
        *out = vlm_jv_float(vlm_json_number(j));
    else if (vlm_json_is_bool(j))
        *out = vlm_jv_bool(vlm_json_true(j));
    else
        *out = vlm_jv_none();
    return VLM_OK;
}

vlm_status vlm_jinja_from_json(const vlm_json *j, vlm_jv *out, vlm_error *err) {
    if (!j) {
        *out = vlm_jv_undef();
        return vlm_err(err, VLM_ERR_INVALID_ARGUMENT, "vlm_jinja_from_json: NULL");
    }
    return from_json(j, 0, out, err);
}

/* ------------------------------------------------------------- tojson */

typedef struct dumper {
    vlm_jctx *c;
    const vlm_jnode *at;
    vlm_strbuf *b;
    bool ensure_ascii;
    const char *indent;
    size_t indent_len;
    const char *isep, *ksep;
    size_t isep_len, ksep_len;
    bool sort_keys;
} dumper;

static void dump_string(dumper *d, const char *s, size_t n) {
    vlm_py_json_string(d->b, s, n, d->ensure_ascii);
}

static void newline_indent(dumper *d, int level) {
    vlm_py_json_newline(d->b, d->indent, d->indent_len, level);
}

static bool not_serializable(dumper *d, vlm_jv v) {
    if (v.type == VLM_JV_UNDEFINED) /* json.dumps(Undefined) */
        return vlm_jctx_fail(d->c, d->at, VLM_ERR_FORMAT,
                             "TypeError: Object of type Undefined is not JSON serializable");
    return vlm_jctx_fail(d->c, d->at, VLM_ERR_FORMAT,
                         "TypeError: Object of type %s is not JSON serializable",
                         vlm_jv_type_name(v));
}

/* A dict key as json.dumps writes it (only str, int, float, bool, None are allowed). */
static bool dump_key(dumper *d, vlm_jv k) {
    switch (k.type) {
    case VLM_JV_STR:
        dump_string(d, k.u.s->data, k.u.s->len);
        return true;
    case VLM_JV_BOOL:
        vlm_strbuf_puts(d->b, k.u.b ? "\"true\"" : "\"false\"");
        return true;
    case VLM_JV_NONE:
        vlm_strbuf_puts(d->b, "\"null\"");
        return true;
    case VLM_JV_INT:
        vlm_strbuf_printf(d->b, "\"%lld\"", (long long)k.u.i);
        return true;
    case VLM_JV_FLOAT:
        vlm_strbuf_putc(d->b, '"');
        vlm_py_json_float(d->b, k.u.f);
        vlm_strbuf_putc(d->b, '"');
        return true;
    default:
        return vlm_jctx_fail(d->c, d->at, VLM_ERR_FORMAT,
                             "TypeError: keys must be str, int, float, bool or None, not %s",
                             vlm_jv_type_name(k));
    }
}

static bool dump(dumper *d, vlm_jv v, int level) {
    vlm_strbuf *b = d->b;
    if (b->len > d->c->max_output)
        return vlm_jctx_fail(d->c, d->at, VLM_ERR_LIMIT, "tojson output exceeds the output limit");
    switch (v.type) {
    case VLM_JV_NONE:
        vlm_strbuf_puts(b, "null");
        return true;
    case VLM_JV_BOOL:
        vlm_strbuf_puts(b, v.u.b ? "true" : "false");
        return true;
    case VLM_JV_INT:
        vlm_strbuf_printf(b, "%lld", (long long)v.u.i);
        return true;
    case VLM_JV_FLOAT:
        vlm_py_json_float(b, v.u.f);
        return true;
    case VLM_JV_STR:
        dump_string(d, v.u.s->data, v.u.s->len);
        return true;
    case VLM_JV_LIST: {
        const vlm_jlist *l = v.u.l;
        if (l->kind != VLM_JLIST_LIST && l->kind != VLM_JLIST_TUPLE) return not_serializable(d, v);
        if (l->n == 0) {
            vlm_strbuf_puts(b, "[]");
            return true;
        }
        vlm_strbuf_putc(b, '[');
        for (size_t i = 0; i < l->n; i++) {
            if (i) vlm_strbuf_append(b, d->isep, d->isep_len);
            if (d->indent) newline_indent(d, level + 1);
            if (!dump(d, l->items[i], level + 1)) return false;
        }
        if (d->indent) newline_indent(d, level);
        vlm_strbuf_putc(b, ']');
        return true;
    }
    case VLM_JV_DICT: {
        const vlm_jdict *m = v.u.d;
        if (m->n == 0) {
            vlm_strbuf_puts(b, "{}");
            return true;
        }
        size_t *order = malloc(m->n * sizeof *order);
        if (!order) return vlm_jctx_oom(d->c, d->at);
        for (size_t i = 0; i < m->n; i++)
            order[i] = i;
        if (d->sort_keys && !vlm_jinja_sort_indices(d->c, d->at, order, m->n, m->keys, false)) {
            free(order);
            return false;
        }
        vlm_strbuf_putc(b, '{');
        bool ok = true;
        for (size_t k = 0; ok && k < m->n; k++) {
            size_t i = order[k];
            if (k) vlm_strbuf_append(b, d->isep, d->isep_len);
            if (d->indent) newline_indent(d, level + 1);
            ok = dump_key(d, m->keys[i]);
            if (ok) {
                vlm_strbuf_append(b, d->ksep, d->ksep_len);
                ok = dump(d, m->vals[i], level + 1);
            }
        }
        free(order);
        if (!ok) return false;
        if (d->indent) newline_indent(d, level);
        vlm_strbuf_putc(b, '}');
        return true;
    }
    default:
        return not_serializable(d, v);
    }
}

bool vlm_jinja_tojson(vlm_jctx *c, const vlm_jnode *at, vlm_strbuf *b, vlm_jv v, bool ensure_ascii,
                      const char *indent, size_t indent_len, const char *item_sep,
                      size_t item_sep_len, const char *key_sep, size_t key_sep_len,
                      bool sort_keys) {
    dumper d = {.c = c,
                .at = at,
                .b = b,
                .ensure_ascii = ensure_ascii,
                .indent = indent,
                .indent_len = indent_len,
                .isep = item_sep,
                .isep_len = item_sep_len,
                .ksep = key_sep,
                .ksep_len = key_sep_len,
                .sort_keys = sort_keys};
    if (!dump(&d, v, 0)) return false;
    if (b->failed) return vlm_jctx_oom(c, at);
    if (b->len > c->max_output)
        return vlm_jctx_fail(c, at, VLM_ERR_LIMIT, "tojson output exceeds the output limit");
    return true;
}
