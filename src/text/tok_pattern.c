/* Literal and regex patterns with rust-onig's match iteration (see tok_pattern.h).
 *
 * Oniguruma (UTF-8, ONIG_SYNTAX_ONIGURUMA, no options) and PCRE2 with UTF|UCP agree on
 * almost everything tokenizer regexes use (\p{..}, classes, lookaround, (?i:..),
 * possessive and lazy quantifiers); the differences handled here:
 *   \s  Oniguruma: White_Space, which includes U+0085; PCRE2 UCP: \p{Z} + \t\n\v\f\r.
 *   \w  Oniguruma: Alphabetic | M | Nd | Pc | Join_Control; PCRE2 UCP: \p{L} | \p{N} | _.
 *   \d  Oniguruma: \p{Nd} (PCRE2 UCP agrees; written out anyway).
 *   \h  Oniguruma: a hex digit; PCRE2: horizontal space.
 *   \uHHHH  Oniguruma only.
 *   ^ $ Oniguruma: line anchors always; PCRE2 needs MULTILINE.
 * \S and \W inside a character class keep PCRE2's meaning (differing only on U+0085 and
 * rare letters); nested classes and class set operations (&&) are refused. */
#include "text/tok_pattern.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/strbuf.h"
#include "text/tok_unicode.h"

#define WS_SET                                                                                     \
    "\\t\\n\\x0B\\f\\r\\x20\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}"           \
    "\\x{202F}\\x{205F}\\x{3000}"
#define WORD_SET                                                                                   \
    "\\p{L}\\p{Nl}\\p{M}\\p{Nd}\\p{Pc}\\x{200C}\\x{200D}\\x{24B6}-\\x{24E9}\\x{1F130}-\\x{1F149}"  \
    "\\x{1F150}-\\x{1F169}\\x{1F170}-\\x{1F189}"
#define HEX_SET "0-9a-fA-F"

void tok_spans_free(tok_spans *s) {
    free(s->v);
    memset(s, 0, sizeof *s);
}

bool tok_spans_push(tok_spans *s, size_t start, size_t end, bool match) {
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 64;
        tok_span *v = vlm_realloc_array(s->v, cap, sizeof *v);
        if (!v) return false;
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = (tok_span){start, end, match};
    return true;
}

void tok_match_scratch_free(tok_match_scratch *s) {
    if (s->md) pcre2_match_data_free(s->md);
    if (s->mctx) pcre2_match_context_free(s->mctx);
    if (s->jit) pcre2_jit_stack_free(s->jit);
    memset(s, 0, sizeof *s);
}

vlm_status tok_pattern_literal(tok_pattern *p, const char *s, size_t len, vlm_error *err) {
    memset(p, 0, sizeof *p);
    p->lit = vlm_strndup(s, len);
    if (!p->lit) return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "out of memory");
    p->lit_len = len;
    return VLM_OK;
}

char *tok_regex_translate(const char *re, size_t len, const char *where, vlm_error *err) {
    vlm_strbuf b;
    vlm_strbuf_init(&b);
    bool in_class = false;
    size_t class_start = 0; /* index just after '[' or '[^' */
    for (size_t i = 0; i < len; i++) {
        char c = re[i];
        if (c == '\\') {
            if (i + 1 >= len) {
                vlm_strbuf_free(&b);
                vlm_err(err, VLM_ERR_FORMAT, "%s: regex ends with a lone backslash", where);
                return NULL;
            }
            char e = re[++i];
            switch (e) {
            case 's':
                vlm_strbuf_puts(&b, in_class ? WS_SET : "[" WS_SET "]");
                break;
            case 'S':
                vlm_strbuf_puts(&b, in_class ? "\\S" : "[^" WS_SET "]");
                break;
            case 'w':
                vlm_strbuf_puts(&b, in_class ? WORD_SET : "[" WORD_SET "]");
                break;
            case 'W':
                vlm_strbuf_puts(&b, in_class ? "\\W" : "[^" WORD_SET "]");
                break;
            case 'd':
                vlm_strbuf_puts(&b, "\\p{Nd}");
                break;
            case 'D':
                vlm_strbuf_puts(&b, "\\P{Nd}");
                break;
            case 'h':
                vlm_strbuf_puts(&b, in_class ? HEX_SET : "[" HEX_SET "]");
                break;
            case 'H':
                if (in_class) {
                    vlm_strbuf_free(&b);
                    vlm_err(err, VLM_ERR_UNSUPPORTED,
                            "%s: regex \\H inside a character class is not supported", where);
                    return NULL;
                }
                vlm_strbuf_puts(&b, "[^" HEX_SET "]");
                break;
            case 'u': {
                size_t k = 0;
                while (k < 4 && i + 1 + k < len &&
                       strchr("0123456789abcdefABCDEF", re[i + 1 + k]) && re[i + 1 + k])
                    k++;
                if (k != 4) {
                    vlm_strbuf_free(&b);
                    vlm_err(err, VLM_ERR_FORMAT, "%s: regex \\u needs 4 hex digits", where);
                    return NULL;
                }
                vlm_strbuf_puts(&b, "\\x{");
                vlm_strbuf_append(&b, re + i + 1, 4);
                vlm_strbuf_putc(&b, '}');
                i += 4;
                break;
            }
            default: {
                /* Copy the escape and the whole (possibly multi-byte) character. */
                size_t n = tok_utf8_len((uint8_t)e);
                if (i + n > len) n = len - i;
                vlm_strbuf_putc(&b, '\\');
                vlm_strbuf_append(&b, re + i, n);
                i += n - 1;
            }
            }
            continue;
        }
        if (in_class) {
            if (c == ']' && i != class_start) {
                in_class = false;
            } else if (c == '[') {
                if (i + 1 < len && re[i + 1] == ':') { /* POSIX class [:alpha:] */
                    const char *end = NULL;
                    for (size_t j = i + 2; j + 1 < len; j++)
                        if (re[j] == ':' && re[j + 1] == ']') {
                            end = re + j + 2;
                            break;
                        }
                    if (end) {
                        vlm_strbuf_append(&b, re + i, (size_t)(end - (re + i)));
                        i = (size_t)(end - re) - 1;
                        continue;
                    }
                }
                vlm_strbuf_free(&b);
                vlm_err(err, VLM_ERR_UNSUPPORTED,
                        "%s: nested character classes in a regex are not supported", where);
                return NULL;
            } else if (c == '&' && i + 1 < len && re[i + 1] == '&') {
                vlm_strbuf_free(&b);
                vlm_err(err, VLM_ERR_UNSUPPORTED,
                        "%s: character class intersection (&&) in a regex is not supported", where);
                return NULL;
            }
        } else if (c == '[') {
            in_class = true;
            class_start = i + 1;
            if (class_start < len && re[class_start] == '^') class_start++;
        }
        vlm_strbuf_putc(&b, c);
    }
    if (b.failed) {
        vlm_strbuf_free(&b);
        vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "out of memory");
        return NULL;
    }
    if (!b.data) vlm_strbuf_append(&b, "", 0);
    return vlm_strbuf_take(&b);
}

vlm_status tok_pattern_regex(tok_pattern *p, const char *re, size_t len, const char *where,
                             vlm_error *err) {
    memset(p, 0, sizeof *p);
    p->is_regex = true;
    if (tok_utf8_valid_prefix(re, len) != len)
        return vlm_err(err, VLM_ERR_FORMAT, "%s: regex is not valid UTF-8", where);
    char *tr = tok_regex_translate(re, len, where, err);
    if (!tr) return err ? err->status : VLM_ERR_FORMAT;
    int ec;
    PCRE2_SIZE eo;
    pcre2_code *code = pcre2_compile((PCRE2_SPTR)tr, strlen(tr),
                                     PCRE2_UTF | PCRE2_UCP | PCRE2_MULTILINE, &ec, &eo, NULL);
    free(tr);
    if (!code) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(ec, msg, sizeof msg);
        return vlm_err(err, VLM_ERR_FORMAT, "%s: regex '%.*s' does not compile: %s", where,
                       (int)(len > 200 ? 200 : len), re, (const char *)msg);
    }
    pcre2_jit_compile(code, PCRE2_JIT_COMPLETE); /* interpreter fallback when unavailable */
    p->code = code;
    return VLM_OK;
}

void tok_pattern_free(tok_pattern *p) {
    free(p->lit);
    if (p->code) pcre2_code_free(p->code);
    memset(p, 0, sizeof *p);
}

static vlm_status scratch_ready(tok_match_scratch *ms, vlm_error *err) {
    if (ms->md) return VLM_OK;
    ms->md = pcre2_match_data_create(1, NULL);
    ms->mctx = pcre2_match_context_create(NULL);
    ms->jit = pcre2_jit_stack_create(32 * 1024, 64 * 1024 * 1024, NULL);
    if (!ms->md || !ms->mctx) return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "out of memory");
    if (ms->jit) pcre2_jit_stack_assign(ms->mctx, NULL, ms->jit);
    return VLM_OK;
}

/* The leftmost match at or after `from`: 1 found, 0 none, -1 error (err set). */
static int next_match(const tok_pattern *p, tok_match_scratch *ms, const char *t, size_t len,
                      size_t from, size_t *s, size_t *e, vlm_error *err) {
    if (!p->is_regex) {
        if (p->lit_len == 0) {
            *s = *e = from;
            return 1;
        }
        if (len - from < p->lit_len) return 0;
        const char *hit = memmem(t + from, len - from, p->lit, p->lit_len);
        if (!hit) return 0;
        *s = (size_t)(hit - t);
        *e = *s + p->lit_len;
        return 1;
    }
    if (scratch_ready(ms, err) != VLM_OK) return -1;
    int rc = pcre2_match(p->code, (PCRE2_SPTR)t, len, from, PCRE2_NO_UTF_CHECK, ms->md, ms->mctx);
    if (rc == PCRE2_ERROR_NOMATCH) return 0;
    if (rc < 0) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(rc, msg, sizeof msg);
        vlm_err(err, VLM_ERR_LIMIT, "regex match failed: %s", (const char *)msg);
        return -1;
    }
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(ms->md);
    *s = ov[0];
    *e = ov[1] < ov[0] ? ov[0] : ov[1]; /* \K inside a lookahead can invert them */
    return 1;
}

vlm_status tok_pattern_find_matches(const tok_pattern *p, tok_match_scratch *ms, const char *text,
                                    size_t len, bool invert, tok_spans *out, vlm_error *err) {
    out->n = 0;
    if (len == 0) {
        if (!tok_spans_push(out, 0, 0, invert))
            return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "out of memory");
        return VLM_OK;
    }
    size_t prev = 0, last_end = 0;
    bool skip_next_empty = false;
    while (last_end <= len) {
        size_t s, e;
        int r = next_match(p, ms, text, len, last_end, &s, &e, err);
        if (r < 0) return err ? err->status : VLM_ERR_LIMIT;
        if (r == 0) break;
        last_end = e;
        if (e == s) {
            /* rust-onig: step over one character after an empty match; an empty match
             * right after a non-empty one is dropped. */
            last_end += e < len ? tok_utf8_len((uint8_t)text[e]) : 1;
            if (skip_next_empty) {
                skip_next_empty = false;
                continue;
            }
        } else {
            skip_next_empty = true;
        }
        if (prev != s && !tok_spans_push(out, prev, s, invert))
            return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "out of memory");
        if (!tok_spans_push(out, s, e, !invert))
            return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "out of memory");
        prev = e;
    }
    if (prev != len && !tok_spans_push(out, prev, len, invert))
        return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "out of memory");
    return VLM_OK;
}
