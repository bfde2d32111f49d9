/* The Jinja lexer (see jinja_lexer.h). It follows jinja2 3.1's lexer rule by rule: the
 * root state finds the next "{{", "{%" or "{#" (or a raw block), applies "-" stripping or
 * lstrip_blocks to the text before it, and each tag is tokenized until its end delimiter,
 * which is only recognized while brackets are balanced. */
#include "text/jinja_lexer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/checked.h"
#include "core/error.h"
#include "core/strbuf.h"
#include "text/jinja_pystr.h"

#define MAX_BRACKETS 1000

typedef struct lexer {
    const char *src; /* normalized source */
    size_t len;
    const char *name;
    vlm_jtokens *out;
    size_t cap;
    vlm_error *err;
    /* Position -> line/column, advanced monotonically. */
    size_t scan_pos, line_start;
    uint32_t line, col;
    bool line_starting; /* the last match ended with a newline (or nothing matched yet) */
    char brackets[MAX_BRACKETS];
    int nbrackets;
} lexer;

static const char *const op_texts[] = {
    [VLM_JOP_ADD] = "+",       [VLM_JOP_SUB] = "-",       [VLM_JOP_DIV] = "/",
    [VLM_JOP_FLOORDIV] = "//", [VLM_JOP_MUL] = "*",       [VLM_JOP_MOD] = "%",
    [VLM_JOP_POW] = "**",      [VLM_JOP_TILDE] = "~",     [VLM_JOP_LBRACKET] = "[",
    [VLM_JOP_RBRACKET] = "]",  [VLM_JOP_LPAREN] = "(",    [VLM_JOP_RPAREN] = ")",
    [VLM_JOP_LBRACE] = "{",    [VLM_JOP_RBRACE] = "}",    [VLM_JOP_EQ] = "==",
    [VLM_JOP_NE] = "!=",       [VLM_JOP_GT] = ">",        [VLM_JOP_GTEQ] = ">=",
    [VLM_JOP_LT] = "<",        [VLM_JOP_LTEQ] = "<=",     [VLM_JOP_ASSIGN] = "=",
    [VLM_JOP_DOT] = ".",       [VLM_JOP_COLON] = ":",     [VLM_JOP_PIPE] = "|",
    [VLM_JOP_COMMA] = ",",     [VLM_JOP_SEMICOLON] = ";",
};

const char *vlm_jop_text(int op) {
    if (op <= 0 || op > VLM_JOP_SEMICOLON) return "?";
    return op_texts[op];
}

static void locate(lexer *lx, size_t pos, uint32_t *line, uint32_t *col) {
    if (pos < lx->scan_pos) { /* rare: restart */
        lx->scan_pos = lx->line_start = 0;
        lx->line = lx->col = 1;
    }
    while (lx->scan_pos < pos && lx->scan_pos < lx->len) {
        unsigned char c = (unsigned char)lx->src[lx->scan_pos++];
        if (c == '\n') {
            lx->line++;
            lx->col = 1;
            lx->line_start = lx->scan_pos;
        } else if ((c & 0xC0) != 0x80) {
            lx->col++;
        }
    }
    *line = lx->line;
    *col = lx->col;
}

static vlm_status lex_error_st(lexer *lx, vlm_status st, size_t pos, const char *fmt,
                               const char *arg) {
    uint32_t line, col;
    locate(lx, pos, &line, &col);
    char msg[256], full[sizeof(((vlm_error *)0)->message)];
    snprintf(msg, sizeof msg, fmt, arg);
    snprintf(full, sizeof full, "%s:%u:%u: %s", lx->name, line, col, msg);
    vlm_utf8_trim_partial(full);
    return vlm_err(lx->err, st, "%s", full);
}

static vlm_status lex_error(lexer *lx, size_t pos, const char *fmt, const char *arg) {
    return lex_error_st(lx, VLM_ERR_FORMAT, pos, fmt, arg);
}

/* Valid jinja2 that this engine does not take (an error, never a different result). */
static vlm_status lex_unsupported(lexer *lx, size_t pos, const char *msg) {
    return lex_error_st(lx, VLM_ERR_UNSUPPORTED, pos, "%s", msg);
}

static vlm_status push(lexer *lx, size_t pos, uint8_t type, uint8_t op, vlm_jv val) {
    if (lx->out->n == lx->cap) {
        size_t cap = lx->cap ? lx->cap * 2 : 256;
        vlm_jtok *t = vlm_realloc_array(lx->out->toks, cap, sizeof *t);
        if (!t) return vlm_err(lx->err, VLM_ERR_OUT_OF_MEMORY, "%s: out of memory", lx->name);
        lx->out->toks = t;
        lx->cap = cap;
    }
    vlm_jtok *t = &lx->out->toks[lx->out->n++];
    t->type = type;
    t->op = op;
    t->val = val;
    locate(lx, pos, &t->line, &t->col);
    return VLM_OK;
}

static vlm_status push_str(lexer *lx, size_t pos, uint8_t type, const char *s, size_t n) {
    vlm_jv v;
    if (!vlm_jpool_str(&lx->out->pool, s, n, &v))
        return vlm_err(lx->err, VLM_ERR_OUT_OF_MEMORY, "%s: out of memory", lx->name);
    return push(lx, pos, type, 0, v);
}

/* Python's \s at s[i]: returns the width in bytes (0 when not whitespace). */
static size_t space_at(const lexer *lx, size_t i) {
    if (i >= lx->len) return 0;
    size_t j = i;
    uint32_t cp = vlm_utf8_next(lx->src, lx->len, &j);
    return vlm_py_isspace(cp) ? j - i : 0;
}

static size_t skip_space(const lexer *lx, size_t i) {
    size_t w;
    while ((w = space_at(lx, i)) > 0)
        i += w;
    return i;
}

static bool starts(const lexer *lx, size_t i, const char *lit) {
    size_t n = strlen(lit);
    return i <= lx->len && lx->len - i >= n && !memcmp(lx->src + i, lit, n);
}

/* The text before a tag, after the tag's "-" (strip all trailing whitespace) or
 * lstrip_blocks (drop spaces between the last newline and a block/comment tag). */
static size_t strip_text(lexer *lx, size_t from, size_t to, char sign, bool is_variable) {
    if (sign == '-') {
        size_t end = to;
        while (end > from) {
            size_t p = vlm_utf8_prev(lx->src + from, end - from) + from;
            size_t q = p;
            uint32_t cp = vlm_utf8_next(lx->src, lx->len, &q);
            if (!vlm_py_isspace(cp)) break;
            end = p;
        }
        return end;
    }
    if (sign == '+' || is_variable) return to;
    size_t l_pos = from;
    for (size_t i = to; i > from; i--)
        if (lx->src[i - 1] == '\n') {
            l_pos = i;
            break;
        }
    if (l_pos == from && !lx->line_starting) return to;
    if (l_pos == to) return to; /* \s+ needs at least one character */
    if (skip_space(lx, l_pos) != to) return to;
    return l_pos;
}

static vlm_status emit_data(lexer *lx, size_t from, size_t to) {
    if (to <= from) return VLM_OK;
    return push_str(lx, from, VLM_JTOK_DATA, lx->src + from, to - from);
}

/* ------------------------------------------------------------- string literals */

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Decodes the body of a string literal as Python's "unicode-escape" codec does. */
static vlm_status decode_string(lexer *lx, size_t start, size_t from, size_t to) {
    vlm_strbuf b;
    vlm_strbuf_init(&b);
    const char *s = lx->src;
    size_t i = from;
    vlm_status st = VLM_OK;
    while (i < to) {
        if (s[i] != '\\') {
            size_t j = i + 1;
            while (j < to && s[j] != '\\')
                j++;
            vlm_strbuf_append(&b, s + i, j - i);
            i = j;
            continue;
        }
        char c = s[i + 1]; /* the literal's regex guarantees a character after '\' */
        i += 2;
        uint32_t cp;
        switch (c) {
        case '\n':
            continue;
        case '\\':
            cp = '\\';
            break;
        case '\'':
            cp = '\'';
            break;
        case '"':
            cp = '"';
            break;
        case 'a':
            cp = 7;
            break;
        case 'b':
            cp = 8;
            break;
        case 'f':
            cp = 12;
            break;
        case 'n':
            cp = 10;
            break;
        case 'r':
            cp = 13;
            break;
        case 't':
            cp = 9;
            break;
        case 'v':
            cp = 11;
            break;
        case 'x':
        case 'u':
        case 'U': {
            int ndig = c == 'x' ? 2 : c == 'u' ? 4 : 8;
            cp = 0;
            for (int k = 0; k < ndig; k++) {
                int h = i + (size_t)k < to ? hexval(s[i + (size_t)k]) : -1;
                if (h < 0) {
                    st = lex_error(lx, start, "truncated \\%sXX escape in a string literal",
                                   c == 'x'   ? "x"
                                   : c == 'u' ? "u"
                                              : "U");
                    goto done;
                }
                cp = cp * 16 + (uint32_t)h;
            }
            i += (size_t)ndig;
            if (cp > 0x10FFFF) {
                st = lex_error(lx, start, "%s", "illegal Unicode character in a string literal");
                goto done;
            }
            if (cp >= 0xD800 && cp <= 0xDFFF) {
                st = lex_unsupported(lx, start,
                                     "a surrogate escape in a string literal is not supported");
                goto done;
            }
            break;
        }
        case 'N':
            st = lex_unsupported(lx, start, "\\N{...} escapes are not supported");
            goto done;
        default:
            if (c >= '0' && c <= '7') {
                cp = (uint32_t)(c - '0');
                for (int k = 0; k < 2 && i < to && s[i] >= '0' && s[i] <= '7'; k++)
                    cp = cp * 8 + (uint32_t)(s[i++] - '0');
                break;
            }
            /* Unknown escapes stay as written (backslash included). */
            vlm_strbuf_putc(&b, '\\');
            i--;
            continue;
        }
        vlm_utf8_put(&b, cp);
    }
    if (b.failed)
        st = vlm_err(lx->err, VLM_ERR_OUT_OF_MEMORY, "%s: out of memory", lx->name);
    else
        st = push_str(lx, start, VLM_JTOK_STRING, vlm_strbuf_cstr(&b), b.len);
done:
    vlm_strbuf_free(&b);
    return st;
}

/* ------------------------------------------------------------- numbers */

static bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

/* End of `(\d+_)*\d+` at i, or i when there is no digit. */
static size_t scan_digits(const lexer *lx, size_t i) {
    if (i >= lx->len || !is_digit(lx->src[i])) return i;
    while (i < lx->len && is_digit(lx->src[i]))
        i++;
    while (i + 1 < lx->len && lx->src[i] == '_' && is_digit(lx->src[i + 1])) {
        i++;
        while (i < lx->len && is_digit(lx->src[i]))
            i++;
    }
    return i;
}

/* jinja2's float rule; returns the end or `i` when it does not match. */
static size_t scan_float(const lexer *lx, size_t i) {
    if (i > 0 && lx->src[i - 1] == '.') return i;
    size_t p = scan_digits(lx, i);
    if (p == i) return i;
    size_t frac = p;
    if (p < lx->len && lx->src[p] == '.') {
        size_t q = scan_digits(lx, p + 1);
        if (q > p + 1) frac = q;
    }
    if (frac < lx->len && (lx->src[frac] | 0x20) == 'e') {
        size_t q = frac + 1;
        if (q < lx->len && (lx->src[q] == '+' || lx->src[q] == '-')) q++;
        size_t r = scan_digits(lx, q);
        if (r > q) return r;
    }
    if (p < lx->len && lx->src[p] == '.' && frac > p) return frac;
    return i;
}

static int digit_in_base(char c, int base) {
    int v = hexval(c);
    return (v >= 0 && v < base) ? v : -1;
}

/* jinja2's integer rule; returns the end or `i`. *base gets 2, 8, 10 or 16. */
static size_t scan_int(const lexer *lx, size_t i, int *base) {
    const char *s = lx->src;
    if (i + 1 < lx->len && s[i] == '0') {
        char k = (char)(s[i + 1] | 0x20);
        int b = k == 'b' ? 2 : k == 'o' ? 8 : k == 'x' ? 16 : 0;
        if (b) {
            size_t p = i + 2;
            for (;;) {
                size_t q = p;
                if (q < lx->len && s[q] == '_') q++;
                if (q < lx->len && digit_in_base(s[q], b) >= 0)
                    p = q + 1;
                else
                    break;
            }
            if (p > i + 2) {
                *base = b;
                return p;
            }
        }
    }
    *base = 10;
    if (i < lx->len && s[i] >= '1' && s[i] <= '9') {
        size_t p = i + 1;
        for (;;) {
            size_t q = p;
            if (q < lx->len && s[q] == '_') q++;
            if (q < lx->len && is_digit(s[q]))
                p = q + 1;
            else
                break;
        }
        return p;
    }
    if (i < lx->len && s[i] == '0') {
        size_t p = i + 1;
        for (;;) {
            size_t q = p;
            if (q < lx->len && s[q] == '_') q++;
            if (q < lx->len && s[q] == '0')
                p = q + 1;
            else
                break;
        }
        return p;
    }
    return i;
}

static vlm_status push_int(lexer *lx, size_t from, size_t to, int base) {
    size_t i = from;
    if (base != 10) i += 2;
    uint64_t v = 0;
    for (; i < to; i++) {
        int d = digit_in_base(lx->src[i], base);
        if (d < 0) continue; /* '_' */
        if (v > (UINT64_MAX - (uint64_t)d) / (uint64_t)base ||
            v * (uint64_t)base + (uint64_t)d > INT64_MAX)
            return lex_unsupported(lx, from, "integer literal does not fit in 64 bits");
        v = v * (uint64_t)base + (uint64_t)d;
    }
    return push(lx, from, VLM_JTOK_INT, 0, vlm_jv_int((int64_t)v));
}

static vlm_status push_float(lexer *lx, size_t from, size_t to) {
    char buf[128];
    size_t n = 0;
    for (size_t i = from; i < to; i++) {
        if (lx->src[i] == '_') continue;
        if (n + 1 >= sizeof buf) return lex_error(lx, from, "%s", "float literal too long");
        buf[n++] = lx->src[i];
    }
    buf[n] = '\0';
    return push(lx, from, VLM_JTOK_FLOAT, 0, vlm_jv_float(strtod(buf, NULL)));
}

/* ------------------------------------------------------------- tags */

static int scan_op(const lexer *lx, size_t i, size_t *end) {
    static const struct {
        const char *text;
        int op;
    } two[] = {{"//", VLM_JOP_FLOORDIV}, {"**", VLM_JOP_POW},  {"==", VLM_JOP_EQ},
               {"!=", VLM_JOP_NE},       {">=", VLM_JOP_GTEQ}, {"<=", VLM_JOP_LTEQ}};
    for (size_t k = 0; k < sizeof two / sizeof two[0]; k++)
        if (starts(lx, i, two[k].text)) {
            *end = i + 2;
            return two[k].op;
        }
    static const char one[] = "+-/*%~[](){}><=.:|,;";
    static const int one_ops[] = {
        VLM_JOP_ADD,    VLM_JOP_SUB,      VLM_JOP_DIV,      VLM_JOP_MUL,    VLM_JOP_MOD,
        VLM_JOP_TILDE,  VLM_JOP_LBRACKET, VLM_JOP_RBRACKET, VLM_JOP_LPAREN, VLM_JOP_RPAREN,
        VLM_JOP_LBRACE, VLM_JOP_RBRACE,   VLM_JOP_GT,       VLM_JOP_LT,     VLM_JOP_ASSIGN,
        VLM_JOP_DOT,    VLM_JOP_COLON,    VLM_JOP_PIPE,     VLM_JOP_COMMA,  VLM_JOP_SEMICOLON};
    if (i < lx->len) {
        const char *p = memchr(one, lx->src[i], sizeof one - 1);
        if (p && lx->src[i]) {
            *end = i + 1;
            return one_ops[p - one];
        }
    }
    return 0;
}

/* Tokenizes one {{ ... }} or {% ... %} body starting at *pos. */
static vlm_status lex_tag(lexer *lx, size_t *pos, bool is_block) {
    size_t i = *pos;
    lx->nbrackets = 0;
    for (;;) {
        if (i >= lx->len) break; /* unterminated: the parser reports the missing end */
        if (lx->nbrackets == 0) {
            size_t end = 0;
            if (is_block) {
                if (starts(lx, i, "+%}"))
                    end = i + 3;
                else if (starts(lx, i, "-%}"))
                    end = skip_space(lx, i + 3);
                else if (starts(lx, i, "%}")) {
                    end = i + 2;
                    if (end < lx->len && lx->src[end] == '\n') end++; /* trim_blocks */
                }
            } else {
                if (starts(lx, i, "-}}"))
                    end = skip_space(lx, i + 3);
                else if (starts(lx, i, "}}"))
                    end = i + 2;
            }
            if (end) {
                vlm_status st =
                    push(lx, i, is_block ? VLM_JTOK_BLOCK_END : VLM_JTOK_VAR_END, 0, vlm_jv_none());
                if (st) return st;
                lx->line_starting = lx->src[end - 1] == '\n';
                *pos = end;
                return VLM_OK;
            }
        }
        size_t w = space_at(lx, i);
        if (w) {
            size_t end = skip_space(lx, i);
            lx->line_starting = lx->src[end - 1] == '\n';
            i = end;
            continue;
        }
        lx->line_starting = false;
        char c = lx->src[i];
        size_t end = scan_float(lx, i);
        vlm_status st;
        int base = 10;
        if (end > i) {
            st = push_float(lx, i, end);
        } else if ((end = scan_int(lx, i, &base)) > i) {
            st = push_int(lx, i, end, base);
        } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_') {
            end = i + 1;
            while (end < lx->len) {
                char d = lx->src[end];
                if (!((d >= 'a' && d <= 'z') || (d >= 'A' && d <= 'Z') || (d >= '0' && d <= '9') ||
                      d == '_'))
                    break;
                end++;
            }
            if (end < lx->len && ((unsigned char)lx->src[end] & 0x80))
                return lex_unsupported(lx, i, "non-ASCII identifiers are not supported");
            st = push_str(lx, i, VLM_JTOK_NAME, lx->src + i, end - i);
        } else if (c == '\'' || c == '"') {
            size_t j = i + 1;
            while (j < lx->len && lx->src[j] != c)
                j += lx->src[j] == '\\' ? 2 : 1;
            if (j >= lx->len)
                return lex_error(lx, i, "unexpected char %s", c == '"' ? "'\"'" : "\"'\"");
            st = decode_string(lx, i, i + 1, j);
            end = j + 1;
        } else {
            int op = scan_op(lx, i, &end);
            if (!op) {
                if ((unsigned char)c & 0x80)
                    return lex_unsupported(
                        lx, i, "non-ASCII characters in a tag (identifiers) are not supported");
                char what[16];
                if ((unsigned char)c < 0x20 || c == 0x7f)
                    snprintf(what, sizeof what, "'\\x%02x'", (unsigned char)c);
                else
                    snprintf(what, sizeof what, "'%c'", c);
                return lex_error(lx, i, "unexpected char %s", what);
            }
            if (op == VLM_JOP_LBRACE || op == VLM_JOP_LPAREN || op == VLM_JOP_LBRACKET) {
                if (lx->nbrackets >= MAX_BRACKETS)
                    return lex_error(lx, i, "%s", "brackets nested too deeply");
                lx->brackets[lx->nbrackets++] = op == VLM_JOP_LBRACE   ? '}'
                                                : op == VLM_JOP_LPAREN ? ')'
                                                                       : ']';
            } else if (op == VLM_JOP_RBRACE || op == VLM_JOP_RPAREN || op == VLM_JOP_RBRACKET) {
                char want[2] = {lx->src[i], 0};
                if (lx->nbrackets == 0) return lex_error(lx, i, "unexpected '%s'", want);
                char expect = lx->brackets[--lx->nbrackets];
                if (expect != lx->src[i]) {
                    char msg[64];
                    snprintf(msg, sizeof msg, "unexpected '%c', expected '%c'", lx->src[i], expect);
                    return lex_error(lx, i, "%s", msg);
                }
            }
            st = push(lx, i, VLM_JTOK_OP, (uint8_t)op, vlm_jv_none());
        }
        if (st) return st;
        i = end;
    }
    *pos = i;
    return VLM_OK;
}

/* "{%" sign? \s* "raw" \s* ("-%}" \s* | "%}"): returns the end, or 0. */
static size_t match_raw_begin(const lexer *lx, size_t i) {
    size_t p = i + 2;
    if (p < lx->len && (lx->src[p] == '-' || lx->src[p] == '+')) p++;
    p = skip_space(lx, p);
    if (!starts(lx, p, "raw")) return 0;
    p = skip_space(lx, p + 3);
    if (starts(lx, p, "-%}")) return skip_space(lx, p + 3);
    if (starts(lx, p, "%}")) return p + 2;
    return 0;
}

/* Finds the raw block's end tag from i: sets *tag (where "{%" starts), *sign and *end. */
static bool find_raw_end(const lexer *lx, size_t i, size_t *tag, char *sign, size_t *end) {
    for (size_t k = i; k + 1 < lx->len; k++) {
        if (lx->src[k] != '{' || lx->src[k + 1] != '%') continue;
        size_t p = k + 2;
        char sg = 0;
        if (p < lx->len && (lx->src[p] == '-' || lx->src[p] == '+')) sg = lx->src[p++];
        p = skip_space(lx, p);
        if (!starts(lx, p, "endraw")) continue;
        p = skip_space(lx, p + 6);
        size_t e = 0;
        if (starts(lx, p, "+%}"))
            e = p + 3;
        else if (starts(lx, p, "-%}"))
            e = skip_space(lx, p + 3);
        else if (starts(lx, p, "%}")) {
            e = p + 2;
            if (e < lx->len && lx->src[e] == '\n') e++;
        }
        if (!e) continue;
        *tag = k;
        *sign = sg;
        *end = e;
        return true;
    }
    return false;
}

static vlm_status lex_root(lexer *lx) {
    size_t pos = 0;
    while (pos < lx->len) {
        size_t t = pos;
        char kind = 0;
        for (; t + 1 < lx->len; t++) {
            if (lx->src[t] != '{') continue;
            char c = lx->src[t + 1];
            if (c == '{' || c == '%' || c == '#') {
                kind = c;
                break;
            }
        }
        if (!kind) {
            vlm_status st = emit_data(lx, pos, lx->len);
            if (st) return st;
            break;
        }
        char sign = 0;
        if (t + 2 < lx->len && (lx->src[t + 2] == '-' || lx->src[t + 2] == '+'))
            sign = lx->src[t + 2];
        size_t raw_end = kind == '%' ? match_raw_begin(lx, t) : 0;
        size_t text_end = strip_text(lx, pos, t, sign, kind == '{');
        vlm_status st = emit_data(lx, pos, text_end);
        if (st) return st;
        if (raw_end) {
            size_t tag, end;
            char rsign;
            if (!find_raw_end(lx, raw_end, &tag, &rsign, &end)) {
                /* jinja2 only fails when there is text left to scan. */
                if (raw_end >= lx->len) break;
                return lex_error(lx, t, "%s", "missing end of raw directive");
            }
            lx->line_starting = lx->src[raw_end - 1] == '\n';
            size_t body_end = strip_text(lx, raw_end, tag, rsign, false);
            st = emit_data(lx, raw_end, body_end);
            if (st) return st;
            lx->line_starting = lx->src[end - 1] == '\n';
            pos = end;
            continue;
        }
        if (kind == '#') {
            size_t k = t + 2 + (sign ? 1 : 0), end = 0;
            if (k >= lx->len) break; /* "{#" at the very end: jinja2 stops without error */
            for (; k + 1 < lx->len; k++) {
                if (starts(lx, k, "+#}")) {
                    end = k + 3;
                    break;
                }
                if (starts(lx, k, "-#}")) {
                    end = skip_space(lx, k + 3);
                    break;
                }
                if (starts(lx, k, "#}")) {
                    end = k + 2;
                    if (end < lx->len && lx->src[end] == '\n') end++;
                    break;
                }
            }
            if (!end) return lex_error(lx, t, "%s", "missing end of comment tag");
            lx->line_starting = lx->src[end - 1] == '\n';
            pos = end;
            continue;
        }
        bool is_block = kind == '%';
        st = push(lx, t, is_block ? VLM_JTOK_BLOCK_BEGIN : VLM_JTOK_VAR_BEGIN, 0, vlm_jv_none());
        if (st) return st;
        lx->line_starting = false;
        pos = t + 2 + (sign ? 1 : 0);
        st = lex_tag(lx, &pos, is_block);
        if (st) return st;
    }
    return push(lx, lx->len, VLM_JTOK_EOF, 0, vlm_jv_none());
}

vlm_status vlm_jinja_lex(const char *src, size_t len, const char *name, vlm_jtokens *out,
                         vlm_error *err) {
    memset(out, 0, sizeof *out);
    size_t valid = vlm_utf8_valid_prefix(src, len);
    if (valid != len) {
        /* Report the line of the first bad byte. */
        uint32_t line = 1;
        for (size_t i = 0; i < valid; i++)
            line += src[i] == '\n';
        return vlm_err(err, VLM_ERR_FORMAT, "%s:%u: template is not valid UTF-8 (byte %zu)", name,
                       line, valid);
    }
    /* Normalize \r\n and \r to \n and drop one trailing newline (keep_trailing_newline off). */
    char *norm = malloc(len + 1);
    if (!norm) return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "%s: out of memory", name);
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (src[i] == '\r') {
            norm[n++] = '\n';
            if (i + 1 < len && src[i + 1] == '\n') i++;
        } else {
            norm[n++] = src[i];
        }
    }
    if (n > 0 && norm[n - 1] == '\n') n--;
    norm[n] = '\0';
    lexer lx = {.src = norm,
                .len = n,
                .name = name,
                .out = out,
                .err = err,
                .line = 1,
                .col = 1,
                .line_starting = true};
    vlm_status st = lex_root(&lx);
    free(norm);
    if (st) vlm_jtokens_free(out);
    return st;
}

void vlm_jtokens_free(vlm_jtokens *t) {
    free(t->toks);
    vlm_jpool_free(&t->pool);
    memset(t, 0, sizeof *t);
}
