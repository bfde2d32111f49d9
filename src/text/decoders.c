/* Decoders (HF decoders/ and the Decoder impls of ByteLevel, Metaspace, Replace):
 * each step maps a list of token strings to a new list; the final list is concatenated.
 *   ByteLevel     all tokens -> bytes (a token with a character outside the byte alphabet
 *                 contributes its own UTF-8) -> one string, invalid UTF-8 replaced as
 *                 Rust's from_utf8_lossy does
 *   ByteFallback  runs of "<0xXX>" tokens -> their bytes as UTF-8, or one U+FFFD per
 *                 byte when the run is not valid UTF-8
 *   Fuse          all tokens -> one
 *   Strip         per token, up to `start` leading / `stop` trailing `content` chars
 *   Replace       per token, pattern -> content
 *   Metaspace     per token, replacement -> ' ' (dropped in the first token unless the
 *                 prepend scheme is "never")
 *   BPEDecoder    per token, suffix -> ' ' ("" in the last token) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "text/tok_component.h"
#include "text/tok_internal.h"
#include "text/tok_unicode.h"

void tok_dec_free(tok_dec *steps, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(steps[i].str);
        tok_pattern_free(&steps[i].pat);
    }
}

void tok_strlist_clear(tok_strlist *l) {
    vlm_strbuf_clear(&l->text);
    l->n = 0;
}

void tok_strlist_free(tok_strlist *l) {
    vlm_strbuf_free(&l->text);
    free(l->off);
    free(l->len);
    memset(l, 0, sizeof *l);
}

static bool list_reserve(tok_strlist *l) {
    if (l->n < l->cap) return true;
    size_t cap = l->cap ? 2 * l->cap : 64;
    size_t *o = vlm_realloc_array(l->off, cap, sizeof *o);
    if (!o) return false;
    l->off = o;
    size_t *n = vlm_realloc_array(l->len, cap, sizeof *n);
    if (!n) return false;
    l->len = n;
    l->cap = cap;
    return true;
}

bool tok_strlist_push(tok_strlist *l, const char *s, size_t n) {
    if (!list_reserve(l)) return false;
    l->off[l->n] = l->text.len;
    l->len[l->n] = n;
    vlm_strbuf_append(&l->text, s, n);
    if (l->text.failed) return false;
    l->n++;
    return true;
}

/* Starts a new item that the caller fills with appends to l->text. */
static bool item_begin(tok_strlist *l) {
    if (!list_reserve(l)) return false;
    l->off[l->n] = l->text.len;
    return true;
}
static void item_end(tok_strlist *l) {
    l->len[l->n] = l->text.len - l->off[l->n];
    l->n++;
}

static inline const char *item(const tok_strlist *l, size_t i) {
    return l->text.data ? l->text.data + l->off[i] : "";
}

/* ---------------------------------------------------------------- parsing */

static vlm_status parse_step(const vlm_json *j, const char *type, const char *where, void *steps_v,
                             size_t *n, vlm_error *err) {
    tok_dec *d = &((tok_dec *)steps_v)[*n];
    memset(d, 0, sizeof *d);
    if (!strcmp(type, "ByteLevel"))
        d->kind = TOK_DEC_BYTE_LEVEL;
    else if (!strcmp(type, "ByteFallback"))
        d->kind = TOK_DEC_BYTE_FALLBACK;
    else if (!strcmp(type, "Fuse"))
        d->kind = TOK_DEC_FUSE;
    else if (!strcmp(type, "Strip"))
        d->kind = TOK_DEC_STRIP;
    else if (!strcmp(type, "Replace"))
        d->kind = TOK_DEC_REPLACE;
    else if (!strcmp(type, "Metaspace"))
        d->kind = TOK_DEC_METASPACE;
    else if (!strcmp(type, "BPEDecoder"))
        d->kind = TOK_DEC_BPE;
    else
        return vlm_err(err, VLM_ERR_UNSUPPORTED, "%s.type '%s' is not supported", where, type);
    (*n)++;
    switch (d->kind) {
    case TOK_DEC_STRIP: {
        int64_t a, b;
        if (!tok_json_char(vlm_json_get(j, "content"), &d->ch) ||
            !vlm_json_int(vlm_json_get(j, "start"), &a) ||
            !vlm_json_int(vlm_json_get(j, "stop"), &b) || a < 0 || b < 0)
            return vlm_err(err, VLM_ERR_FORMAT,
                           "%s needs \"content\" (one character) and "
                           "non-negative integers \"start\", \"stop\"",
                           where);
        d->start = (size_t)a;
        d->stop = (size_t)b;
        return VLM_OK;
    }
    case TOK_DEC_REPLACE: {
        vlm_status st = tok_parse_string(j, "content", where, &d->str, &d->str_len, err);
        if (st != VLM_OK) return st;
        char w[256];
        snprintf(w, sizeof w, "%s.pattern", where);
        return tok_parse_pattern(vlm_json_get(j, "pattern"), w, &d->pat, err);
    }
    case TOK_DEC_METASPACE: {
        if (!tok_json_char(vlm_json_get(j, "replacement"), &d->ch))
            return vlm_err(err, VLM_ERR_FORMAT, "%s.replacement must be one character", where);
        d->prepend = TOK_PREPEND_ALWAYS;
        const char *ps = vlm_json_string(vlm_json_get(j, "prepend_scheme"));
        if (ps && !strcmp(ps, "first"))
            d->prepend = TOK_PREPEND_FIRST;
        else if (ps && !strcmp(ps, "never"))
            d->prepend = TOK_PREPEND_NEVER;
        else if (ps && strcmp(ps, "always"))
            return vlm_err(err, VLM_ERR_FORMAT,
                           "%s.prepend_scheme must be \"always\", \"first\" or \"never\"", where);
        const vlm_json *aps = vlm_json_get(j, "add_prefix_space");
        if (vlm_json_is_bool(aps) && !vlm_json_true(aps)) d->prepend = TOK_PREPEND_NEVER;
        return VLM_OK;
    }
    case TOK_DEC_BPE: {
        const vlm_json *s = vlm_json_get(j, "suffix");
        const char *sv = s ? vlm_json_string(s) : "</w>";
        if (!sv) return vlm_err(err, VLM_ERR_FORMAT, "%s.suffix must be a string", where);
        d->str_len = s ? vlm_json_string_len(s) : 4;
        d->str = vlm_strndup(sv, d->str_len);
        if (!d->str) return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "out of memory");
        return VLM_OK;
    }
    default:
        return VLM_OK;
    }
}

static const tok_component_kind DECODERS = {"decoders", "decoder", 1, parse_step};

vlm_status tok_dec_parse(const vlm_json *j, const char *where, tok_dec *steps, size_t *n,
                         vlm_error *err) {
    return tok_component_parse(j, where, &DECODERS, steps, n, err);
}

/* ---------------------------------------------------------------- running */

bool tok_dec_byte_token(const char *s, size_t n, uint8_t *byte) {
    /* HF: len 6, "<0x" .. ">", u8::from_str_radix(s[3..5], 16) (which takes a '+'). */
    if (n != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>') return false;
    int v = 0, digits = 0;
    for (int i = 3; i < 5; i++) {
        char h = s[i];
        if (i == 3 && h == '+') continue;
        int d = (h >= '0' && h <= '9')   ? h - '0'
                : (h >= 'a' && h <= 'f') ? h - 'a' + 10
                : (h >= 'A' && h <= 'F') ? h - 'A' + 10
                                         : -1;
        if (d < 0) return false;
        v = v * 16 + d;
        digits++;
    }
    if (!digits) return false;
    *byte = (uint8_t)v;
    return true;
}

static bool flush_bytes(tok_strlist *out, const uint8_t *b, size_t n) {
    if (!n) return true;
    if (tok_utf8_valid_prefix((const char *)b, n) == n)
        return tok_strlist_push(out, (const char *)b, n);
    for (size_t i = 0; i < n; i++)
        if (!tok_strlist_push(out, "\xEF\xBF\xBD", 3)) return false;
    return true;
}

static vlm_status run_step(const tok_dec *d, tok_match_scratch *ms, const tok_strlist *in,
                           tok_strlist *out, vlm_error *err) {
    tok_strlist_clear(out);
    switch (d->kind) {
    case TOK_DEC_BYTE_LEVEL: {
        vlm_strbuf bytes;
        vlm_strbuf_init(&bytes);
        for (size_t i = 0; i < in->n; i++) {
            const char *s = item(in, i);
            size_t n = in->len[i], k = 0, start = bytes.len;
            bool all = true;
            while (k < n) {
                size_t adv;
                int b = tok_bytelevel_byte(tok_utf8_decode(s + k, &adv));
                if (b < 0) {
                    all = false;
                    break;
                }
                vlm_strbuf_putc(&bytes, (char)b);
                k += adv;
            }
            if (!all) { /* HF keeps such a token's own bytes */
                bytes.len = start;
                vlm_strbuf_append(&bytes, s, n);
            }
        }
        bool ok = !bytes.failed && item_begin(out);
        if (ok) {
            tok_utf8_append_lossy(&out->text, (const uint8_t *)(bytes.data ? bytes.data : ""),
                                  bytes.len);
            item_end(out);
        }
        vlm_strbuf_free(&bytes);
        if (!ok) goto oom;
        break;
    }
    case TOK_DEC_BYTE_FALLBACK: {
        uint8_t run[256];
        vlm_strbuf big;
        vlm_strbuf_init(&big);
        size_t nrun = 0;
        bool ok = true;
        for (size_t i = 0; i < in->n && ok; i++) {
            uint8_t b;
            if (tok_dec_byte_token(item(in, i), in->len[i], &b)) {
                if (nrun < sizeof run)
                    run[nrun] = b;
                else {
                    if (nrun == sizeof run) vlm_strbuf_append(&big, (const char *)run, nrun);
                    vlm_strbuf_putc(&big, (char)b);
                }
                nrun++;
                continue;
            }
            if (nrun) {
                ok = flush_bytes(out, nrun <= sizeof run ? run : (const uint8_t *)big.data, nrun);
                nrun = 0;
                vlm_strbuf_clear(&big);
            }
            ok = ok && tok_strlist_push(out, item(in, i), in->len[i]);
        }
        if (ok && nrun)
            ok = flush_bytes(out, nrun <= sizeof run ? run : (const uint8_t *)big.data, nrun);
        ok = ok && !big.failed;
        vlm_strbuf_free(&big);
        if (!ok) goto oom;
        break;
    }
    case TOK_DEC_FUSE:
        if (!item_begin(out)) goto oom;
        for (size_t i = 0; i < in->n; i++)
            vlm_strbuf_append(&out->text, item(in, i), in->len[i]);
        item_end(out);
        break;
    case TOK_DEC_STRIP:
        for (size_t i = 0; i < in->n; i++) {
            const char *s = item(in, i);
            size_t n = in->len[i];
            /* Character boundaries of the token. */
            size_t nch = 0;
            for (size_t k = 0; k < n; k += tok_utf8_len((uint8_t)s[k]))
                nch++;
            size_t a = 0, ca = 0; /* byte / char cut at the start */
            for (size_t k = 0; ca < d->start && k < n;) {
                size_t adv;
                if (tok_utf8_decode(s + k, &adv) != d->ch) break;
                k += adv;
                a = k;
                ca++;
            }
            size_t b = n, cb = 0;
            while (cb < d->stop && cb < nch && b > 0) {
                size_t st = tok_utf8_last_start(s, b), adv;
                if (tok_utf8_decode(s + st, &adv) != d->ch) break;
                b = st;
                cb++;
            }
            if (b < a) b = a; /* HF would panic on overlapping cuts */
            if (!tok_strlist_push(out, s + a, b - a)) goto oom;
        }
        break;
    case TOK_DEC_REPLACE: {
        tok_spans sp = {0};
        for (size_t i = 0; i < in->n; i++) {
            const char *s = item(in, i);
            vlm_status st = tok_pattern_find_matches(&d->pat, ms, s, in->len[i], false, &sp, err);
            if (st != VLM_OK) {
                tok_spans_free(&sp);
                return st;
            }
            if (!item_begin(out)) {
                tok_spans_free(&sp);
                goto oom;
            }
            for (size_t k = 0; k < sp.n; k++) {
                if (sp.v[k].match)
                    vlm_strbuf_append(&out->text, d->str, d->str_len);
                else
                    vlm_strbuf_append(&out->text, s + sp.v[k].start, sp.v[k].end - sp.v[k].start);
            }
            item_end(out);
        }
        tok_spans_free(&sp);
        break;
    }
    case TOK_DEC_METASPACE:
        for (size_t i = 0; i < in->n; i++) {
            const char *s = item(in, i);
            size_t n = in->len[i];
            if (!item_begin(out)) goto oom;
            for (size_t k = 0; k < n;) {
                size_t adv;
                uint32_t cp = tok_utf8_decode(s + k, &adv);
                if (cp == d->ch) {
                    if (!(i == 0 && d->prepend != TOK_PREPEND_NEVER))
                        vlm_strbuf_putc(&out->text, ' ');
                } else {
                    vlm_strbuf_append(&out->text, s + k, adv);
                }
                k += adv;
            }
            item_end(out);
        }
        break;
    case TOK_DEC_BPE:
        for (size_t i = 0; i < in->n; i++) {
            const char *s = item(in, i);
            size_t n = in->len[i];
            const char *rep = i + 1 == in->n ? "" : " ";
            if (!item_begin(out)) goto oom;
            for (size_t k = 0; k < n;) {
                if (d->str_len && k + d->str_len <= n && !memcmp(s + k, d->str, d->str_len)) {
                    vlm_strbuf_puts(&out->text, rep);
                    k += d->str_len;
                } else {
                    vlm_strbuf_putc(&out->text, s[k++]);
                }
            }
            item_end(out);
        }
        break;
    }
    if (out->text.failed) goto oom;
    return VLM_OK;
oom:
    return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "out of memory decoding");
}

vlm_status tok_dec_run(const vlm_tokenizer *t, tok_match_scratch *ms, const tok_strlist *in,
                       tok_strlist *a, tok_strlist *b, vlm_strbuf *out, vlm_error *err) {
    if (!t->has_decoder) {
        for (size_t i = 0; i < in->n; i++) {
            if (i) vlm_strbuf_putc(out, ' ');
            vlm_strbuf_append(out, item(in, i), in->len[i]);
        }
        return out->failed ? vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "out of memory") : VLM_OK;
    }
    const tok_strlist *cur = in;
    for (size_t s = 0; s < t->n_dec; s++) {
        tok_strlist *dst = (s % 2 == 0) ? a : b;
        vlm_status st = run_step(&t->dec[s], ms, cur, dst, err);
        if (st != VLM_OK) return st;
        cur = dst;
    }
    for (size_t i = 0; i < cur->n; i++)
        vlm_strbuf_append(out, item(cur, i), cur->len[i]);
    return out->failed ? vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "out of memory") : VLM_OK;
}
