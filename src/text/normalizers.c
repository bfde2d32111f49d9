/* Normalizers (HF normalizers/): NFC, NFD, NFKC, NFKD (utf8proc), Lowercase (Rust
 * char::to_lowercase), Prepend, Replace (literal or regex), Strip, StripAccents, Nmt,
 * ByteLevel and Sequence (flattened at load). Each step maps a whole string to a new
 * one; no offsets are tracked, only whether the first character stopped coming from the
 * start of the input (see tok_normalize in tok_internal.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "core/error.h"
#include "text/tok_component.h"
#include "text/tok_internal.h"
#include "text/tok_unicode.h"

void tok_norm_free(tok_norm *steps, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(steps[i].str);
        tok_pattern_free(&steps[i].pat);
    }
}

/* ---------------------------------------------------------------- parsing */

static vlm_status parse_step(const vlm_json *j, const char *type, const char *where, void *steps_v,
                             size_t *n, vlm_error *err) {
    tok_norm *s = &((tok_norm *)steps_v)[*n];
    memset(s, 0, sizeof *s);
    static const struct {
        const char *name;
        tok_norm_kind kind;
    } plain[] = {{"NFC", TOK_NORM_NFC},
                 {"NFD", TOK_NORM_NFD},
                 {"NFKC", TOK_NORM_NFKC},
                 {"NFKD", TOK_NORM_NFKD},
                 {"Lowercase", TOK_NORM_LOWERCASE},
                 {"StripAccents", TOK_NORM_STRIP_ACCENTS},
                 {"Nmt", TOK_NORM_NMT},
                 {"ByteLevel", TOK_NORM_BYTE_LEVEL}};
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++)
        if (!strcmp(type, plain[i].name)) {
            s->kind = plain[i].kind;
            (*n)++;
            return VLM_OK;
        }
    if (!strcmp(type, "Prepend")) {
        vlm_status st = tok_parse_string(j, "prepend", where, &s->str, &s->str_len, err);
        if (st != VLM_OK) return st;
        s->kind = TOK_NORM_PREPEND;
        (*n)++;
        return VLM_OK;
    }
    if (!strcmp(type, "Replace")) {
        vlm_status st = tok_parse_string(j, "content", where, &s->str, &s->str_len, err);
        if (st != VLM_OK) return st;
        s->kind = TOK_NORM_REPLACE;
        (*n)++; /* counted now so tok_norm_free releases it on error */
        char w[256];
        snprintf(w, sizeof w, "%s.pattern", where);
        return tok_parse_pattern(vlm_json_get(j, "pattern"), w, &s->pat, err);
    }
    if (!strcmp(type, "Strip")) {
        const vlm_json *l = vlm_json_get(j, "strip_left"), *r = vlm_json_get(j, "strip_right");
        if (!vlm_json_is_bool(l) || !vlm_json_is_bool(r))
            return vlm_err(err, VLM_ERR_FORMAT, "%s.strip_left and .strip_right must be booleans",
                           where);
        s->kind = TOK_NORM_STRIP;
        s->left = vlm_json_true(l);
        s->right = vlm_json_true(r);
        (*n)++;
        return VLM_OK;
    }
    return vlm_err(err, VLM_ERR_UNSUPPORTED, "%s.type '%s' is not supported", where, type);
}

static const tok_component_kind NORMALIZERS = {"normalizers", "normalizer", 1, parse_step};

vlm_status tok_norm_parse(const vlm_json *j, const char *where, tok_norm *steps, size_t *n,
                          vlm_error *err) {
    return tok_component_parse(j, where, &NORMALIZERS, steps, n, err);
}

/* ---------------------------------------------------------------- applying */

/* Characters that every Unicode normalization form leaves alone and that never combine
 * with what precedes them (combining class 0, not the second character of any
 * composition): a text splits before them into pieces that normalize independently.
 * For NFC also Latin up to U+02FF, Cyrillic letters, kana, Hangul syllables, CJK
 * ideographs and fullwidth ASCII (checked against utf8proc 2.8: class 0, NFC-stable,
 * never a second element). For the other forms only ASCII qualifies. */
static bool inert(uint32_t cp, bool nfc) {
    if (cp < 0x80) return true;
    if (!nfc) return false;
    return cp < 0x300 || (cp >= 0x400 && cp <= 0x482) || (cp >= 0x48A && cp <= 0x4FF) ||
           (cp >= 0x3000 && cp <= 0x3029) || (cp >= 0x3041 && cp <= 0x3096) ||
           (cp >= 0x30A1 && cp <= 0x30FA) || (cp >= 0x3400 && cp <= 0x4DBF) ||
           (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0xAC00 && cp <= 0xD7A3) ||
           (cp >= 0xFF01 && cp <= 0xFF5E);
}

static vlm_status utf8proc_piece(const char *in, size_t len, utf8proc_option_t opt, vlm_strbuf *out,
                                 vlm_error *err) {
    utf8proc_uint8_t *dst = NULL;
    utf8proc_ssize_t r = utf8proc_map((const utf8proc_uint8_t *)in, (utf8proc_ssize_t)len, &dst,
                                      opt | UTF8PROC_STABLE);
    if (r < 0) {
        free(dst);
        return vlm_err(err, r == UTF8PROC_ERROR_NOMEM ? VLM_ERR_OUT_OF_MEMORY : VLM_ERR_INTERNAL,
                       "unicode normalization failed: %s", utf8proc_errmsg(r));
    }
    vlm_strbuf_append(out, (const char *)dst, (size_t)r);
    free(dst);
    return VLM_OK;
}

/* Normalizes in[0..len): inert text is copied, each run of other characters (with the
 * inert character before it, which may compose with the run) goes through utf8proc. */
static vlm_status unicode_form(const char *in, size_t len, utf8proc_option_t opt, vlm_strbuf *out,
                               vlm_error *err) {
    bool nfc = (opt & UTF8PROC_COMPOSE) && !(opt & UTF8PROC_COMPAT);
    size_t copied = 0, prev_start = 0, i = 0;
    while (i < len) {
        size_t adv;
        if ((uint8_t)in[i] < 0x80) {
            prev_start = i++;
            continue;
        }
        uint32_t cp = tok_utf8_decode(in + i, &adv);
        if (inert(cp, nfc)) {
            prev_start = i;
            i += adv;
            continue;
        }
        /* A run of non-inert characters from i; the segment starts at the inert
         * character before it (if any and not yet copied). */
        size_t seg = (i > 0 && prev_start >= copied && prev_start < i) ? prev_start : i;
        size_t j = i + adv;
        while (j < len) {
            uint32_t c2 = tok_utf8_decode(in + j, &adv);
            if (inert(c2, nfc)) break;
            j += adv;
        }
        vlm_strbuf_append(out, in + copied, seg - copied);
        vlm_status st = utf8proc_piece(in + seg, j - seg, opt, out, err);
        if (st != VLM_OK) return st;
        copied = j;
        i = j;
        prev_start = j; /* not inert: never taken as a segment start */
    }
    vlm_strbuf_append(out, in + copied, len - copied);
    return VLM_OK;
}

static vlm_status apply_step(const tok_norm *s, tok_match_scratch *ms, const char *in, size_t len,
                             vlm_strbuf *out, bool *lead_moved, vlm_error *err) {
    vlm_strbuf_clear(out);
    switch (s->kind) {
    case TOK_NORM_NFC:
        return unicode_form(in, len, UTF8PROC_COMPOSE, out, err);
    case TOK_NORM_NFD:
        return unicode_form(in, len, UTF8PROC_DECOMPOSE, out, err);
    case TOK_NORM_NFKC:
        return unicode_form(in, len, UTF8PROC_COMPOSE | UTF8PROC_COMPAT, out, err);
    case TOK_NORM_NFKD:
        return unicode_form(in, len, UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT, out, err);
    case TOK_NORM_LOWERCASE:
        for (size_t i = 0; i < len;) {
            size_t adv;
            uint32_t cp = tok_utf8_decode(in + i, &adv);
            tok_append_lower(out, cp);
            i += adv;
        }
        return VLM_OK;
    case TOK_NORM_PREPEND:
        if (len) vlm_strbuf_append(out, s->str, s->str_len);
        vlm_strbuf_append(out, in, len);
        return VLM_OK;
    case TOK_NORM_REPLACE: {
        tok_spans sp = {0};
        vlm_status st = tok_pattern_find_matches(&s->pat, ms, in, len, false, &sp, err);
        if (st == VLM_OK) {
            for (size_t i = 0; i < sp.n; i++) {
                if (sp.v[i].match) {
                    vlm_strbuf_append(out, s->str, s->str_len);
                    /* HF aligns inserted text to the last replaced byte, so replacing
                     * more than one leading character (or deleting it) moves the start. */
                    if (sp.v[i].start == 0 && sp.v[i].end > 0) {
                        size_t adv;
                        tok_utf8_decode(in, &adv);
                        if (s->str_len == 0 || sp.v[i].end > adv) *lead_moved = true;
                    }
                } else {
                    vlm_strbuf_append(out, in + sp.v[i].start, sp.v[i].end - sp.v[i].start);
                }
            }
        }
        tok_spans_free(&sp);
        return st;
    }
    case TOK_NORM_STRIP: {
        size_t a = 0, b = len;
        if (s->left)
            while (a < b) {
                size_t adv;
                if (!tok_is_whitespace(tok_utf8_decode(in + a, &adv))) break;
                a += adv;
            }
        if (s->right)
            while (b > a) {
                size_t st = tok_utf8_last_start(in, b), adv;
                if (!tok_is_whitespace(tok_utf8_decode(in + st, &adv))) break;
                b = st;
            }
        if (a > 0) *lead_moved = true;
        vlm_strbuf_append(out, in + a, b - a);
        return VLM_OK;
    }
    case TOK_NORM_STRIP_ACCENTS:
    case TOK_NORM_NMT:
        for (size_t i = 0; i < len;) {
            size_t adv;
            uint32_t cp = tok_utf8_decode(in + i, &adv);
            bool drop;
            if (s->kind == TOK_NORM_STRIP_ACCENTS) {
                drop = tok_is_mark(cp);
            } else {
                drop = (cp >= 0x01 && cp <= 0x08) || cp == 0x0B || (cp >= 0x0E && cp <= 0x1F) ||
                       cp == 0x7F || cp == 0x8F || cp == 0x9F;
                if (cp == 0x09 || cp == 0x0A || cp == 0x0C || cp == 0x0D || cp == 0x1680 ||
                    (cp >= 0x200B && cp <= 0x200F) || cp == 0x2028 || cp == 0x2029 ||
                    cp == 0x2581 || cp == 0xFEFF || cp == 0xFFFD)
                    cp = ' ';
            }
            if (drop) {
                if (i == 0) *lead_moved = true;
            } else {
                char u[4];
                vlm_strbuf_append(out, u, tok_utf8_encode(cp, u));
            }
            i += adv;
        }
        return VLM_OK;
    case TOK_NORM_BYTE_LEVEL:
        for (size_t i = 0; i < len; i++) {
            char u[4];
            vlm_strbuf_append(out, u, tok_utf8_encode(tok_bytelevel_cp((uint8_t)in[i]), u));
        }
        return VLM_OK;
    }
    return vlm_err(err, VLM_ERR_INTERNAL, "unknown normalizer");
}

vlm_status tok_normalize(const tok_norm *steps, size_t n, tok_match_scratch *ms, const char *in,
                         size_t len, vlm_strbuf *out, vlm_strbuf *tmp, bool *lead_moved,
                         vlm_error *err) {
    *lead_moved = false;
    if (n == 0) {
        vlm_strbuf_clear(out);
        vlm_strbuf_append(out, in, len);
    }
    const char *src = in;
    size_t src_len = len;
    for (size_t i = 0; i < n; i++) {
        vlm_strbuf *dst = (i % 2 == 0) ? out : tmp;
        vlm_status st = apply_step(&steps[i], ms, src, src_len, dst, lead_moved, err);
        if (st != VLM_OK) return st;
        if (dst->failed) return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "out of memory normalizing");
        src = dst->data ? dst->data : "";
        src_len = dst->len;
    }
    if (n % 2 == 0 && n > 0) { /* the result is in tmp: swap the buffers */
        vlm_strbuf t = *out;
        *out = *tmp;
        *tmp = t;
    }
    if (out->failed) return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "out of memory normalizing");
    return VLM_OK;
}
