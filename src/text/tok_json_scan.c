/* Single-pass JSON reading for tokenizer.json's big members (see tok_json_scan.h). */
#include "text/tok_json_scan.h"

#include <stdlib.h>
#include <stdint.h>
#include <string.h>

#include "core/error.h"
#include "text/tok_unicode.h"

#define SKIP_MAX_DEPTH 2048

void tok_json_skip_ws(tok_json_cur *c) {
    const char *p = c->p, *end = c->end;
    for (;;) {
        /* Pretty-printed files indent with runs of spaces: 8 at a time. */
        while (end - p >= 8) {
            uint64_t w;
            memcpy(&w, p, 8);
            if (w != 0x2020202020202020ull) break;
            p += 8;
        }
        if (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) {
            p++;
            continue;
        }
        break;
    }
    c->p = p;
}

static int hex4(const char *p) {
    int v = 0;
    for (int i = 0; i < 4; i++) {
        char h = p[i];
        int d = (h >= '0' && h <= '9')   ? h - '0'
                : (h >= 'a' && h <= 'f') ? h - 'a' + 10
                : (h >= 'A' && h <= 'F') ? h - 'A' + 10
                                         : -1;
        if (d < 0) return -1;
        v = v * 16 + d;
    }
    return v;
}

bool tok_json_string(tok_json_cur *c, vlm_strbuf *scratch, const char **s, size_t *len) {
    if (c->p >= c->end || *c->p != '"') return false;
    const char *q = ++c->p;
    /* Fast path: find the closing quote; fall back when an escape shows up. */
    while (q < c->end && *q != '"' && *q != '\\' && (uint8_t)*q >= 0x20)
        q++;
    if (q >= c->end || (uint8_t)*q < 0x20) return false;
    if (*q == '"') {
        size_t n = (size_t)(q - c->p);
        if (tok_utf8_valid_prefix(c->p, n) != n) return false;
        *s = c->p;
        *len = n;
        c->p = q + 1;
        return true;
    }
    vlm_strbuf_clear(scratch);
    const char *run = c->p;
    while (q < c->end) {
        uint8_t ch = (uint8_t)*q;
        if (ch == '"') break;
        if (ch < 0x20) return false;
        if (ch != '\\') {
            q++;
            continue;
        }
        size_t n = (size_t)(q - run);
        if (tok_utf8_valid_prefix(run, n) != n) return false;
        vlm_strbuf_append(scratch, run, n);
        if (q + 1 >= c->end) return false;
        char e = q[1];
        q += 2;
        switch (e) {
        case '"':
            vlm_strbuf_putc(scratch, '"');
            break;
        case '\\':
            vlm_strbuf_putc(scratch, '\\');
            break;
        case '/':
            vlm_strbuf_putc(scratch, '/');
            break;
        case 'b':
            vlm_strbuf_putc(scratch, '\b');
            break;
        case 'f':
            vlm_strbuf_putc(scratch, '\f');
            break;
        case 'n':
            vlm_strbuf_putc(scratch, '\n');
            break;
        case 'r':
            vlm_strbuf_putc(scratch, '\r');
            break;
        case 't':
            vlm_strbuf_putc(scratch, '\t');
            break;
        case 'u': {
            if (c->end - q < 4) return false;
            int u = hex4(q);
            if (u < 0) return false;
            q += 4;
            uint32_t cp = (uint32_t)u;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (c->end - q < 6 || q[0] != '\\' || q[1] != 'u') return false;
                int lo = hex4(q + 2);
                if (lo < 0xDC00 || lo > 0xDFFF) return false;
                cp = 0x10000 + ((cp - 0xD800) << 10) + ((uint32_t)lo - 0xDC00);
                q += 6;
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                return false;
            }
            char u8[4];
            vlm_strbuf_append(scratch, u8, tok_utf8_encode(cp, u8));
            break;
        }
        default:
            return false;
        }
        run = q;
    }
    if (q >= c->end) return false;
    size_t n = (size_t)(q - run);
    if (tok_utf8_valid_prefix(run, n) != n) return false;
    vlm_strbuf_append(scratch, run, n);
    if (scratch->failed) return false;
    *s = scratch->data ? scratch->data : "";
    *len = scratch->len;
    c->p = q + 1;
    return true;
}

int tok_json_uint(tok_json_cur *c, long long max, long long *out) {
    const char *p = c->p;
    if (p >= c->end) return 1;
    if (*p == '-') return 2;
    if (*p < '0' || *p > '9') return 1;
    long long v = 0;
    bool big = false;
    if (*p == '0' && p + 1 < c->end && p[1] >= '0' && p[1] <= '9') return 1;
    while (p < c->end && *p >= '0' && *p <= '9') {
        if (v > max)
            big = true;
        else
            v = v * 10 + (*p - '0');
        p++;
    }
    if (p < c->end && (*p == '.' || *p == 'e' || *p == 'E')) return 2;
    c->p = p;
    if (big || v > max) return 3;
    *out = v;
    return 0;
}

static bool skip_string(tok_json_cur *c) {
    const char *q = c->p + 1;
    while (q < c->end) {
        if (*q == '"') {
            c->p = q + 1;
            return true;
        }
        if (*q == '\\') q++;
        q++;
    }
    return false;
}

bool tok_json_skip_value(tok_json_cur *c) {
    int depth = 0;
    for (;;) {
        tok_json_skip_ws(c);
        if (c->p >= c->end) return false;
        char ch = *c->p;
        if (ch == '"') {
            if (!skip_string(c)) return false;
        } else if (ch == '{' || ch == '[') {
            if (++depth > SKIP_MAX_DEPTH) return false;
            c->p++;
            continue;
        } else if (ch == '}' || ch == ']') {
            if (depth == 0) return false;
            depth--;
            c->p++;
        } else if (ch == ',' || ch == ':') {
            if (depth == 0) return false;
            c->p++;
            continue;
        } else {
            /* number or literal: up to the next delimiter */
            const char *q = c->p;
            while (q < c->end && !strchr(",:]} \n\r\t\"{[", *q))
                q++;
            if (q == c->p) return false;
            c->p = q;
        }
        if (depth == 0) return true;
    }
}

/* Walks the members of the object at the cursor; for each key calls back with the key
 * and leaves the cursor at the value, which the callback must consume. Returns 0 ok,
 * 1 syntax error, 2 callback error (err set). */
typedef int (*member_fn)(tok_json_cur *c, const char *key, size_t klen, void *user, vlm_error *err);

static int walk_object(tok_json_cur *c, vlm_strbuf *scratch, member_fn fn, void *user,
                       vlm_error *err) {
    tok_json_skip_ws(c);
    if (c->p >= c->end || *c->p != '{') return 1;
    c->p++;
    tok_json_skip_ws(c);
    if (c->p < c->end && *c->p == '}') {
        c->p++;
        return 0;
    }
    for (;;) {
        tok_json_skip_ws(c);
        const char *k;
        size_t kl;
        if (!tok_json_string(c, scratch, &k, &kl)) return 1;
        tok_json_skip_ws(c);
        if (c->p >= c->end || *c->p != ':') return 1;
        c->p++;
        tok_json_skip_ws(c);
        int r = fn(c, k, kl, user, err);
        if (r) return r;
        tok_json_skip_ws(c);
        if (c->p >= c->end) return 1;
        if (*c->p == '}') {
            c->p++;
            return 0;
        }
        if (*c->p != ',') return 1;
        c->p++;
    }
}

typedef struct scan_state {
    tok_json_value_fn vocab_fn, merges_fn;
    void *user;
    tok_json_range *vocab, *merges;
} scan_state;

static int model_member(tok_json_cur *c, const char *key, size_t klen, void *user, vlm_error *err) {
    scan_state *st = user;
    tok_json_range *r = NULL;
    tok_json_value_fn fn = NULL;
    if (klen == 5 && !memcmp(key, "vocab", 5)) r = st->vocab, fn = st->vocab_fn;
    if (klen == 6 && !memcmp(key, "merges", 6)) r = st->merges, fn = st->merges_fn;
    size_t start = (size_t)(c->p - c->base);
    if (fn && c->p < c->end && (*c->p == '{' || *c->p == '[')) {
        if (fn(c, st->user, err) != VLM_OK) return 2;
    } else if (!tok_json_skip_value(c)) {
        return 1;
    }
    if (r) {
        r->start = start;
        r->end = (size_t)(c->p - c->base);
    }
    return 0;
}

static int top_member(tok_json_cur *c, const char *key, size_t klen, void *user, vlm_error *err) {
    scan_state *st = user;
    if (klen == 5 && !memcmp(key, "model", 5) && c->p < c->end && *c->p == '{') {
        /* A later "model" replaces an earlier one, as in jansson. */
        *st->vocab = (tok_json_range){0, 0};
        *st->merges = (tok_json_range){0, 0};
        vlm_strbuf own;
        vlm_strbuf_init(&own);
        int r = walk_object(c, &own, model_member, st, err);
        vlm_strbuf_free(&own);
        return r;
    }
    return tok_json_skip_value(c) ? 0 : 1;
}

vlm_status tok_json_scan_model(const char *text, size_t len, tok_json_value_fn vocab_fn,
                               tok_json_value_fn merges_fn, void *user, tok_json_range *vocab,
                               tok_json_range *merges, bool *syntax, vlm_error *err) {
    *vocab = (tok_json_range){0, 0};
    *merges = (tok_json_range){0, 0};
    *syntax = false;
    tok_json_cur c = {text, text + len, text};
    vlm_strbuf scratch;
    vlm_strbuf_init(&scratch);
    scan_state st = {vocab_fn, merges_fn, user, vocab, merges};
    int r = walk_object(&c, &scratch, top_member, &st, err);
    vlm_strbuf_free(&scratch);
    if (r == 2) return err ? err->status : VLM_ERR_FORMAT;
    if (r == 0) {
        tok_json_skip_ws(&c);
        if (c.p != c.end) r = 1;
    }
    if (r) {
        *syntax = true;
        return vlm_err(err, VLM_ERR_FORMAT, "invalid JSON near byte %zu", (size_t)(c.p - text));
    }
    return VLM_OK;
}

char *tok_json_cut(const char *text, size_t len, tok_json_range a, tok_json_range b,
                   size_t *out_len) {
    tok_json_range r[2] = {a, b};
    char *out = malloc(len + 1);
    if (!out) return NULL;
    size_t o = 0, pos = 0;
    for (int k = 0; k < 2; k++) {
        if (r[k].end <= r[k].start + 1 || r[k].start < pos) continue;
        char open = text[r[k].start];
        if (open != '{' && open != '[') continue; /* left for the model reader to reject */
        memcpy(out + o, text + pos, r[k].start - pos);
        o += r[k].start - pos;
        out[o++] = open;
        out[o++] = open == '{' ? '}' : ']';
        pos = r[k].end;
    }
    memcpy(out + o, text + pos, len - pos);
    o += len - pos;
    out[o] = '\0';
    *out_len = o;
    return out;
}
