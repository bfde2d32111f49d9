/* Python string formatting for the Jinja evaluator: printf-style `fmt % args` (also behind
 * jinja2's `format` filter) and str.format(). Conversions and format specs outside the
 * implemented set are refused with an error rather than formatted differently. Float
 * conversions go through the C library's printf, whose output Python's %-formatting and
 * format() share for the e/f/g families. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text/jinja_eval.h"
#include "text/jinja_pystr.h"

typedef struct spec {
    bool left, plus, space, alt, zero;
    int64_t width;     /* -1: none */
    int64_t precision; /* -1: none */
    char type;
} spec;

/* Pads text (n code points) to the spec's width. align: '<', '>', '^' or '=' (sign-aware,
 * `sign_len` bytes of sign/prefix come first). */
static void put_padded(vlm_strbuf *b, const char *text, size_t len, size_t ncp, int64_t width,
                       char align, const char *fill, size_t fill_len, size_t sign_len) {
    size_t padn = width > (int64_t)ncp ? (size_t)width - ncp : 0;
    size_t left = align == '<' ? 0 : align == '^' ? padn / 2 : padn;
    if (align == '=') {
        vlm_strbuf_append(b, text, sign_len);
        for (size_t k = 0; k < padn; k++)
            vlm_strbuf_append(b, fill, fill_len);
        vlm_strbuf_append(b, text + sign_len, len - sign_len);
        return;
    }
    for (size_t k = 0; k < left; k++)
        vlm_strbuf_append(b, fill, fill_len);
    vlm_strbuf_append(b, text, len);
    for (size_t k = left; k < padn; k++)
        vlm_strbuf_append(b, fill, fill_len);
}

static size_t count_cp(const char *s, size_t n) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += ((unsigned char)s[i] & 0xC0) != 0x80;
    return k;
}

static bool number_arg(vlm_jv v, bool *is_float, int64_t *i, double *f) {
    if (v.type == VLM_JV_BOOL || v.type == VLM_JV_INT) {
        *is_float = false;
        *i = v.type == VLM_JV_BOOL ? v.u.b : v.u.i;
        *f = (double)*i;
        return true;
    }
    if (v.type == VLM_JV_FLOAT) {
        *is_float = true;
        *f = v.u.f;
        return true;
    }
    return false;
}

/* One %-conversion of value v appended to b. */
static bool percent_one(vlm_jctx *c, const vlm_jnode *at, vlm_strbuf *b, const spec *sp, vlm_jv v) {
    char tmp[512];
    bool isf;
    int64_t iv;
    double fv;
    switch (sp->type) {
    case 's':
    case 'r': {
        vlm_strbuf t;
        vlm_strbuf_init(&t);
        const char *e = sp->type == 's' ? vlm_jv_write_str(&t, v) : vlm_jv_write_repr(&t, v);
        if (e) {
            vlm_strbuf_free(&t);
            return vlm_jctx_fail(c, at, VLM_ERR_UNSUPPORTED, "%s", e);
        }
        size_t len = t.len, ncp = count_cp(vlm_strbuf_cstr(&t), t.len);
        if (sp->precision >= 0 && (size_t)sp->precision < ncp) {
            size_t i = 0;
            for (int64_t k = 0; k < sp->precision; k++)
                vlm_utf8_next(t.data, t.len, &i);
            len = i;
            ncp = (size_t)sp->precision;
        }
        put_padded(b, vlm_strbuf_cstr(&t), len, ncp, sp->width, sp->left ? '<' : '>', " ", 1, 0);
        vlm_strbuf_free(&t);
        return true;
    }
    case 'c': {
        uint32_t cp;
        if (v.type == VLM_JV_STR && v.u.s->ncp == 1) {
            size_t i = 0;
            cp = vlm_utf8_next(v.u.s->data, v.u.s->len, &i);
        } else if (number_arg(v, &isf, &iv, &fv) && !isf) {
            if (iv < 0 || iv > 0x10FFFF || (iv >= 0xD800 && iv <= 0xDFFF))
                return vlm_jctx_fail(c, at, VLM_ERR_FORMAT,
                                     "OverflowError: %%c arg not in range(0x110000)");
            cp = (uint32_t)iv;
        } else {
            return vlm_jctx_fail(c, at, VLM_ERR_FORMAT, "TypeError: %%c requires int or char");
        }
        vlm_strbuf t;
        vlm_strbuf_init(&t);
        vlm_utf8_put(&t, cp);
        put_padded(b, vlm_strbuf_cstr(&t), t.len, 1, sp->width, sp->left ? '<' : '>', " ", 1, 0);
        vlm_strbuf_free(&t);
        return true;
    }
    case 'd':
    case 'i':
    case 'u':
    case 'x':
    case 'X':
    case 'o': {
        if (!number_arg(v, &isf, &iv, &fv))
            return vlm_jctx_fail(c, at, VLM_ERR_FORMAT,
                                 "TypeError: %%%c format: a real number is required, not %s",
                                 sp->type, vlm_jv_type_name(v));
        if (isf) {
            if (sp->type == 'x' || sp->type == 'X' || sp->type == 'o')
                return vlm_jctx_fail(c, at, VLM_ERR_FORMAT,
                                     "TypeError: %%%c format: an integer is required, not float",
                                     sp->type);
            if (!isfinite(fv) || fv >= 9223372036854775808.0 || fv < -9223372036854775808.0)
                return vlm_jctx_fail(c, at, VLM_ERR_UNSUPPORTED, "%%d of a huge or infinite float");
            iv = (int64_t)fv; /* int() truncates toward zero */
        }
        bool neg = iv < 0;
        uint64_t mag = neg ? (uint64_t)0 - (uint64_t)iv : (uint64_t)iv;
        char digits[80];
        const char *fmtc = sp->type == 'x'   ? "%llx"
                           : sp->type == 'X' ? "%llX"
                           : sp->type == 'o' ? "%llo"
                                             : "%llu";
        int nd = snprintf(digits, sizeof digits, fmtc, (unsigned long long)mag);
        /* Precision is a minimum digit count. */
        char body[200];
        size_t bl = 0;
        const char *sign = neg ? "-" : sp->plus ? "+" : sp->space ? " " : "";
        bl += (size_t)snprintf(body + bl, sizeof body - bl, "%s", sign);
        if (sp->alt && sp->type != 'd' && sp->type != 'i' && sp->type != 'u')
            bl += (size_t)snprintf(body + bl, sizeof body - bl, "0%c", sp->type);
        size_t prefix = bl;
        if (sp->precision > 64) return vlm_jctx_fail(c, at, VLM_ERR_LIMIT, "precision too large");
        for (int64_t k = nd; k < sp->precision; k++)
            body[bl++] = '0';
        memcpy(body + bl, digits, (size_t)nd);
        bl += (size_t)nd;
        if (sp->width > (int64_t)sizeof tmp)
            return vlm_jctx_fail(c, at, VLM_ERR_LIMIT, "width too large");
        put_padded(b, body, bl, bl, sp->width, sp->left ? '<' : (sp->zero ? '=' : '>'),
                   sp->zero && !sp->left ? "0" : " ", 1, prefix);
        return true;
    }
    case 'e':
    case 'E':
    case 'f':
    case 'F':
    case 'g':
    case 'G': {
        if (!number_arg(v, &isf, &iv, &fv))
            return vlm_jctx_fail(c, at, VLM_ERR_FORMAT, "TypeError: must be real number, not %s",
                                 vlm_jv_type_name(v));
        if (sp->width > 400 || sp->precision > 300)
            return vlm_jctx_fail(c, at, VLM_ERR_LIMIT, "width or precision too large");
        char f[32];
        size_t k = 0;
        f[k++] = '%';
        if (sp->left) f[k++] = '-';
        if (sp->plus) f[k++] = '+';
        if (sp->space) f[k++] = ' ';
        if (sp->alt) f[k++] = '#';
        if (sp->zero) f[k++] = '0';
        f[k++] = '*';
        f[k++] = '.';
        f[k++] = '*';
        f[k++] = sp->type;
        f[k] = '\0';
        int n = snprintf(tmp, sizeof tmp, f, (int)(sp->width < 0 ? 0 : sp->width),
                         (int)(sp->precision < 0 ? 6 : sp->precision), fv);
        if (n < 0 || (size_t)n >= sizeof tmp)
            return vlm_jctx_fail(c, at, VLM_ERR_LIMIT, "number too long");
        vlm_strbuf_append(b, tmp, (size_t)n);
        return true;
    }
    case 'a':
        return vlm_jctx_fail(c, at, VLM_ERR_UNSUPPORTED,
                             "the %%-format conversion 'a' (ascii()) is not supported");
    default:
        return vlm_jctx_fail(c, at, VLM_ERR_FORMAT,
                             "ValueError: unsupported format character (0x%x)",
                             (unsigned)(unsigned char)sp->type);
    }
}

bool vlm_jinja_percent_format(vlm_jctx *c, const vlm_jnode *at, vlm_jv fmtv, vlm_jv args,
                              vlm_jv *out) {
    const char *s = fmtv.u.s->data;
    size_t n = fmtv.u.s->len;
    /* Python: a tuple gives positional arguments; any other single value is one argument,
     * and a mapping (dict, list, ...) may also serve %(name)s lookups. */
    bool is_tuple = args.type == VLM_JV_LIST && args.u.l->kind == VLM_JLIST_TUPLE;
    /* PyMapping_Check: anything with __getitem__ (dict, list, range, jinja2's Undefined). */
    bool is_mapping = args.type == VLM_JV_DICT || args.type == VLM_JV_UNDEFINED ||
                      (args.type == VLM_JV_LIST &&
                       (args.u.l->kind == VLM_JLIST_LIST || args.u.l->kind == VLM_JLIST_RANGE));
    const vlm_jv *pos = is_tuple ? args.u.l->items : &args;
    size_t npos = is_tuple ? args.u.l->n : 1, next = 0;
    bool used_single = false;
    vlm_strbuf b;
    vlm_strbuf_init(&b);
    size_t i = 0;
    while (i < n) {
        if (s[i] != '%') {
            size_t j = i;
            while (j < n && s[j] != '%')
                j++;
            vlm_strbuf_append(&b, s + i, j - i);
            i = j;
            continue;
        }
        i++;
        if (i >= n) {
            vlm_strbuf_free(&b);
            return vlm_jctx_fail(c, at, VLM_ERR_FORMAT, "ValueError: incomplete format");
        }
        if (s[i] == '%') { /* only a bare "%%" is a literal percent sign */
            vlm_strbuf_putc(&b, '%');
            i++;
            continue;
        }
        vlm_jv keyed = vlm_jv_undef();
        bool have_key = false;
        if (s[i] == '(') {
            size_t j = i + 1;
            int depth = 1;
            while (j < n && depth) {
                if (s[j] == '(')
                    depth++;
                else if (s[j] == ')')
                    depth--;
                if (depth) j++;
            }
            if (j >= n || args.type != VLM_JV_DICT) {
                vlm_strbuf_free(&b);
                return vlm_jctx_fail(c, at, VLM_ERR_FORMAT,
                                     j >= n ? "ValueError: incomplete format key"
                                            : "TypeError: format requires a mapping");
            }
            const vlm_jv *v = vlm_jdict_get_str(args.u.d, s + i + 1, j - i - 1);
            if (!v) {
                vlm_strbuf_free(&b);
                return vlm_jctx_fail(c, at, VLM_ERR_FORMAT, "KeyError: '%.*s'", (int)(j - i - 1),
                                     s + i + 1);
            }
            keyed = *v;
            have_key = true;
            i = j + 1;
        }
        spec sp = {.width = -1, .precision = -1};
        for (; i < n; i++) {
            if (s[i] == '-')
                sp.left = true;
            else if (s[i] == '+')
                sp.plus = true;
            else if (s[i] == ' ')
                sp.space = true;
            else if (s[i] == '#')
                sp.alt = true;
            else if (s[i] == '0')
                sp.zero = true;
            else
                break;
        }
        for (int part = 0; part < 2; part++) {
            int64_t *dst = part == 0 ? &sp.width : &sp.precision;
            if (part == 1) {
                if (i >= n || s[i] != '.') break;
                i++;
                *dst = 0;
            }
            if (i < n && s[i] == '*') {
                i++;
                if (have_key || next >= npos || (!is_tuple && used_single)) {
                    vlm_strbuf_free(&b);
                    return vlm_jctx_fail(c, at, VLM_ERR_FORMAT,
                                         "TypeError: not enough arguments for format string");
                }
                vlm_jv w = pos[next++];
                used_single = true;
                if (w.type != VLM_JV_INT) {
                    vlm_strbuf_free(&b);
                    return vlm_jctx_fail(c, at, VLM_ERR_FORMAT, "TypeError: * wants int");
                }
                *dst = w.u.i;
                if (part == 0 && *dst < 0) {
                    sp.left = true;
                    *dst = -*dst;
                }
                continue;
            }
            while (i < n && s[i] >= '0' && s[i] <= '9') {
                if (*dst < 0) *dst = 0;
                *dst = *dst * 10 + (s[i++] - '0');
                if (*dst > 100000) {
                    vlm_strbuf_free(&b);
                    return vlm_jctx_fail(c, at, VLM_ERR_LIMIT, "format width too large");
                }
            }
        }
        while (i < n && (s[i] == 'h' || s[i] == 'l' || s[i] == 'L'))
            i++; /* ignored by Python */
        if (i >= n) {
            vlm_strbuf_free(&b);
            return vlm_jctx_fail(c, at, VLM_ERR_FORMAT, "ValueError: incomplete format");
        }
        sp.type = s[i++];
        vlm_jv v;
        if (have_key) {
            v = keyed;
        } else {
            if (next >= npos || (!is_tuple && used_single)) {
                vlm_strbuf_free(&b);
                return vlm_jctx_fail(c, at, VLM_ERR_FORMAT,
                                     "TypeError: not enough arguments for format string");
            }
            v = pos[next++];
            used_single = true;
        }
        if (!percent_one(c, at, &b, &sp, v)) {
            vlm_strbuf_free(&b);
            return false;
        }
        if (b.len > c->max_output) {
            vlm_strbuf_free(&b);
            return vlm_jctx_fail(c, at, VLM_ERR_LIMIT, "formatted string exceeds the output limit");
        }
    }
    if (!is_mapping && ((is_tuple && next < npos) || (!is_tuple && !used_single))) {
        vlm_strbuf_free(&b);
        return vlm_jctx_fail(c, at, VLM_ERR_FORMAT,
                             "TypeError: not all arguments converted during string formatting");
    }
    return vlm_jctx_buf(c, at, &b, out);
}

/* ------------------------------------------------------------- str.format */

/* format(value, spec) for the common spec subset:
 * [[fill]align][sign][#][0][width][,_][.prec][type]. */
static bool format_value(vlm_jctx *c, const vlm_jnode *at, vlm_strbuf *b, vlm_jv v, const char *fs,
                         size_t fn) {
    const char *fill = " ";
    size_t fill_len = 1, i = 0;
    char align = 0, sign = '-', type = 0;
    bool alt = false, zero = false;
    int64_t width = -1, prec = -1;
    char grouping = 0;
    if (fn > 0) {
        size_t j = 0;
        vlm_utf8_next(fs, fn, &j);
        if (j < fn && (fs[j] == '<' || fs[j] == '>' || fs[j] == '^' || fs[j] == '=')) {
            fill = fs;
            fill_len = j;
            align = fs[j];
            i = j + 1;
        } else if (fs[0] == '<' || fs[0] == '>' || fs[0] == '^' || fs[0] == '=') {
            align = fs[0];
            i = 1;
        }
    }
    if (i < fn && (fs[i] == '+' || fs[i] == '-' || fs[i] == ' ')) sign = fs[i++];
    if (i < fn && fs[i] == '#') {
        alt = true;
        i++;
    }
    if (i < fn && fs[i] == '0') {
        zero = true;
        i++;
    }
    while (i < fn && fs[i] >= '0' && fs[i] <= '9') {
        width = (width < 0 ? 0 : width) * 10 + (fs[i++] - '0');
        if (width > 100000) return vlm_jctx_fail(c, at, VLM_ERR_LIMIT, "format width too large");
    }
    if (i < fn && (fs[i] == ',' || fs[i] == '_')) grouping = fs[i++];
    if (i < fn && fs[i] == '.') {
        i++;
        prec = 0;
        while (i < fn && fs[i] >= '0' && fs[i] <= '9') {
            prec = prec * 10 + (fs[i++] - '0');
            if (prec > 300)
                return vlm_jctx_fail(c, at, VLM_ERR_LIMIT, "format precision too large");
        }
    }
    if (i < fn) type = fs[i++];
    if (i != fn)
        return vlm_jctx_fail(c, at, VLM_ERR_FORMAT, "ValueError: Invalid format specifier");
    if (zero && !align) {
        align = '=';
        fill = "0";
        fill_len = 1;
    }
    bool isf;
    int64_t iv;
    double fv;
    bool num = number_arg(v, &isf, &iv, &fv);
    if (v.type == VLM_JV_BOOL && fn == 0) num = false; /* format(True, '') is 'True' */
    if (num && type == 's')
        return vlm_jctx_fail(c, at, VLM_ERR_FORMAT,
                             "ValueError: Unknown format code 's' for object of type '%s'",
                             vlm_jv_type_name(v));
    if (!num) {
        if (type && type != 's')
            return vlm_jctx_fail(c, at, VLM_ERR_FORMAT,
                                 "ValueError: Unknown format code '%c' for object of type '%s'",
                                 type, vlm_jv_type_name(v));
        if (v.type != VLM_JV_STR && fn > 0 && v.type != VLM_JV_BOOL && v.type != VLM_JV_NONE)
            return vlm_jctx_fail(c, at, VLM_ERR_UNSUPPORTED,
                                 "format specs for '%s' values are not supported",
                                 vlm_jv_type_name(v));
        if (v.type == VLM_JV_NONE && fn > 0)
            return vlm_jctx_fail(
                c, at, VLM_ERR_FORMAT,
                "TypeError: unsupported format string passed to NoneType.__format__");
        if (sign != '-' || alt || grouping || align == '=')
            return vlm_jctx_fail(c, at, VLM_ERR_FORMAT,
                                 "ValueError: invalid format spec for a string");
        vlm_strbuf t;
        vlm_strbuf_init(&t);
        const char *e = vlm_jv_write_str(&t, v);
        if (e) {
            vlm_strbuf_free(&t);
            return vlm_jctx_fail(c, at, VLM_ERR_UNSUPPORTED, "%s", e);
        }
        size_t len = t.len, ncp = count_cp(vlm_strbuf_cstr(&t), t.len);
        if (prec >= 0 && (size_t)prec < ncp) {
            size_t k = 0;
            for (int64_t q = 0; q < prec; q++)
                vlm_utf8_next(t.data, t.len, &k);
            len = k;
            ncp = (size_t)prec;
        }
        put_padded(b, vlm_strbuf_cstr(&t), len, ncp, width, align ? align : '<', fill, fill_len, 0);
        vlm_strbuf_free(&t);
        return true;
    }
    char body[512];
    size_t bl = 0, prefix = 0;
    if (!isf && (type == 0 || type == 'd' || type == 'n' || type == 'x' || type == 'X' ||
                 type == 'o' || type == 'b')) {
        if (prec >= 0)
            return vlm_jctx_fail(c, at, VLM_ERR_FORMAT,
                                 "ValueError: Precision not allowed in integer format specifier");
        bool neg = iv < 0;
        uint64_t mag = neg ? (uint64_t)0 - (uint64_t)iv : (uint64_t)iv;
        char digits[80];
        int nd = 0;
        if (type == 'b') {
            if (!mag) digits[nd++] = '0';
            char rev[70];
            int r = 0;
            while (mag) {
                rev[r++] = (char)('0' + (mag & 1));
                mag >>= 1;
            }
            while (r)
                digits[nd++] = rev[--r];
        } else {
            nd = snprintf(digits, sizeof digits,
                          type == 'x'   ? "%llx"
                          : type == 'X' ? "%llX"
                          : type == 'o' ? "%llo"
                                        : "%llu",
                          (unsigned long long)mag);
        }
        if (neg)
            body[bl++] = '-';
        else if (sign == '+' || sign == ' ')
            body[bl++] = sign;
        if (alt && (type == 'x' || type == 'X' || type == 'o' || type == 'b')) {
            body[bl++] = '0';
            body[bl++] = type;
        }
        prefix = bl;
        if (grouping) {
            int every = (type == 'x' || type == 'X' || type == 'o' || type == 'b') ? 4 : 3;
            if (grouping == ',' && every == 4)
                return vlm_jctx_fail(c, at, VLM_ERR_FORMAT,
                                     "ValueError: Cannot specify ',' with 'x'.");
            for (int k = 0; k < nd; k++) {
                body[bl++] = digits[k];
                int left = nd - k - 1;
                if (left > 0 && left % every == 0) body[bl++] = grouping;
            }
        } else {
            memcpy(body + bl, digits, (size_t)nd);
            bl += (size_t)nd;
        }
    } else if (type == 'c') {
        return vlm_jctx_fail(c, at, VLM_ERR_UNSUPPORTED, "format type 'c' is not supported");
    } else {
        if (type == 0 && isf) {
            if (prec >= 0 || grouping)
                return vlm_jctx_fail(c, at, VLM_ERR_UNSUPPORTED,
                                     "format specs with precision and no type are not supported");
            vlm_strbuf t;
            vlm_strbuf_init(&t);
            if (fv < 0 || signbit(fv))
                vlm_strbuf_putc(&t, '-');
            else if (sign == '+' || sign == ' ')
                vlm_strbuf_putc(&t, sign);
            prefix = t.len;
            vlm_py_float_repr(&t, fabs(fv));
            if (t.len >= sizeof body) {
                vlm_strbuf_free(&t);
                return vlm_jctx_fail(c, at, VLM_ERR_LIMIT, "number too long");
            }
            memcpy(body, t.data, t.len);
            bl = t.len;
            vlm_strbuf_free(&t);
        } else {
            if (grouping || !strchr("eEfFgG%", type ? type : 'g'))
                return vlm_jctx_fail(c, at, VLM_ERR_UNSUPPORTED,
                                     "the format spec '%.*s' is not supported", (int)fn, fs);
            double x = type == '%' ? fv * 100 : fv;
            char f[16];
            snprintf(f, sizeof f, "%%%s%s.*%c",
                     sign == '+'   ? "+"
                     : sign == ' ' ? " "
                                   : "",
                     alt ? "#" : "", type == '%' ? 'f' : type);
            int n = snprintf(body, sizeof body - 2, f, (int)(prec < 0 ? 6 : prec), x);
            if (n < 0 || (size_t)n >= sizeof body - 2)
                return vlm_jctx_fail(c, at, VLM_ERR_LIMIT, "number too long");
            bl = (size_t)n;
            if (type == '%') body[bl++] = '%';
            prefix = (body[0] == '-' || body[0] == '+' || body[0] == ' ') ? 1 : 0;
        }
    }
    put_padded(b, body, bl, count_cp(body, bl), width, align ? align : '>', fill, fill_len, prefix);
    return true;
}

/* Resolves a replacement field name: "", digits or identifier, then .attr / [key] parts. */
static bool field_value(vlm_jctx *c, const vlm_jnode *at, const vlm_jargs *a, const char *f,
                        size_t n, size_t *auto_idx, int *numbering, vlm_jv *out) {
    size_t i = 0;
    while (i < n && f[i] != '.' && f[i] != '[')
        i++;
    /* string.Formatter's rules (jinja2's SandboxedFormatter): "" numbers automatically, an
     * all-digit name numbers manually (mixing the two fails), and otherwise the first part
     * is an index when it is digits, else a keyword. */
    bool all_digits = n > 0;
    for (size_t k = 0; k < n; k++)
        if (f[k] < '0' || f[k] > '9') all_digits = false;
    bool first_digits = i > 0;
    for (size_t k = 0; k < i; k++)
        if (f[k] < '0' || f[k] > '9') first_digits = false;
    vlm_jv v;
    size_t idx = 0;
    if (n == 0) {
        if (*numbering == 2)
            return vlm_jctx_fail(c, at, VLM_ERR_FORMAT,
                                 "ValueError: cannot switch from manual field specification to "
                                 "automatic field numbering");
        *numbering = 1;
        idx = (*auto_idx)++;
    } else if (all_digits && *numbering == 1) {
        return vlm_jctx_fail(c, at, VLM_ERR_FORMAT,
                             "ValueError: cannot switch from automatic field numbering to "
                             "manual field specification");
    } else if (all_digits) {
        *numbering = 2;
    }
    if (n == 0 || first_digits) {
        for (size_t k = 0; n && k < i; k++) {
            if (idx > 100000)
                return vlm_jctx_fail(c, at, VLM_ERR_FORMAT, "IndexError: index too large");
            idx = idx * 10 + (size_t)(f[k] - '0');
        }
        if (idx >= a->npos)
            return vlm_jctx_fail(
                c, at, VLM_ERR_FORMAT,
                "IndexError: Replacement index %zu out of range for positional args tuple", idx);
        v = vlm_jv_incref(a->pos[idx]);
    } else {
        uint32_t k = 0;
        while (k < a->nkw && (a->kwnames[k].u.s->len != i || memcmp(a->kwnames[k].u.s->data, f, i)))
            k++;
        if (k == a->nkw) return vlm_jctx_fail(c, at, VLM_ERR_FORMAT, "KeyError: '%.*s'", (int)i, f);
        v = vlm_jv_incref(a->kwvals[k]);
    }
    while (i < n) {
        vlm_jv next, key;
        bool ok;
        if (f[i] == '.') {
            size_t j = ++i;
            while (j < n && f[j] != '.' && f[j] != '[')
                j++;
            ok = vlm_jctx_str(c, at, f + i, j - i, &key);
            if (ok) {
                /* jinja2's SandboxedFormatter looks up with env.getattr: missing
                 * attributes give an Undefined (formatted as ""), not an error. */
                ok = vlm_jctx_getattr(c, at, v, key, &next);
                vlm_jv_decref(key);
            }
            i = j;
        } else {
            size_t j = ++i;
            while (j < n && f[j] != ']')
                j++;
            if (j >= n) {
                vlm_jv_decref(v);
                return vlm_jctx_fail(c, at, VLM_ERR_FORMAT,
                                     "ValueError: Missing ']' in format string");
            }
            bool digits = j > i;
            int64_t key_idx = 0;
            for (size_t k = i; k < j; k++) {
                if (f[k] < '0' || f[k] > '9' || key_idx > 1000000000)
                    digits = false;
                else
                    key_idx = key_idx * 10 + (f[k] - '0');
            }
            ok = digits ? (key = vlm_jv_int(key_idx), true)
                        : vlm_jctx_str(c, at, f + i, j - i, &key);
            if (ok) {
                ok = vlm_jctx_getitem(c, at, v, key, &next);
                vlm_jv_decref(key);
            }
            i = j + 1;
        }
        vlm_jv_decref(v);
        if (!ok) return false;
        v = next;
    }
    *out = v;
    return true;
}

bool vlm_jinja_str_format(vlm_jctx *c, const vlm_jnode *at, const vlm_jstr *fmt, const vlm_jargs *a,
                          vlm_jv *out);
bool vlm_jinja_str_format(vlm_jctx *c, const vlm_jnode *at, const vlm_jstr *fmt, const vlm_jargs *a,
                          vlm_jv *out) {
    const char *s = fmt->data;
    size_t n = fmt->len, i = 0, auto_idx = 0;
    int numbering = 0;
    vlm_strbuf b;
    vlm_strbuf_init(&b);
    while (i < n) {
        char ch = s[i];
        if (ch == '}') {
            if (i + 1 < n && s[i + 1] == '}') {
                vlm_strbuf_putc(&b, '}');
                i += 2;
                continue;
            }
            vlm_strbuf_free(&b);
            return vlm_jctx_fail(c, at, VLM_ERR_FORMAT,
                                 "ValueError: Single '}' encountered in format string");
        }
        if (ch != '{') {
            size_t j = i;
            while (j < n && s[j] != '{' && s[j] != '}')
                j++;
            vlm_strbuf_append(&b, s + i, j - i);
            i = j;
            continue;
        }
        if (i + 1 < n && s[i + 1] == '{') {
            vlm_strbuf_putc(&b, '{');
            i += 2;
            continue;
        }
        size_t j = i + 1, name_end = 0, conv = 0, spec_start = 0;
        bool in_bracket = false; /* in the field name, [key] may hold any of }!: */
        for (; j < n; j++) {
            char fc = s[j];
            if (!name_end && !spec_start) {
                if (in_bracket) {
                    if (fc == ']') in_bracket = false;
                    continue;
                }
                if (fc == '[') {
                    in_bracket = true;
                    continue;
                }
            }
            if (fc == '{') {
                vlm_strbuf_free(&b);
                return vlm_jctx_fail(c, at, VLM_ERR_UNSUPPORTED,
                                     "nested format fields are not supported");
            } else if (fc == '}') {
                break;
            } else if (!name_end && fc == '!') {
                name_end = j;
                conv = j + 1;
            } else if (!spec_start && fc == ':') {
                if (!name_end) name_end = j;
                spec_start = j + 1;
            }
        }
        if (j >= n) {
            vlm_strbuf_free(&b);
            return vlm_jctx_fail(c, at, VLM_ERR_FORMAT,
                                 "ValueError: expected '}' before end of string");
        }
        if (!name_end) name_end = j;
        char conversion = 0;
        if (conv) {
            size_t cend = spec_start ? spec_start - 1 : j;
            if (cend != conv + 1 || (s[conv] != 'r' && s[conv] != 's')) {
                vlm_strbuf_free(&b);
                return vlm_jctx_fail(c, at, VLM_ERR_UNSUPPORTED,
                                     "format conversion must be !r or !s");
            }
            conversion = s[conv];
        }
        vlm_jv v;
        if (!field_value(c, at, a, s + i + 1, name_end - i - 1, &auto_idx, &numbering, &v)) {
            vlm_strbuf_free(&b);
            return false;
        }
        if (conversion) {
            vlm_strbuf t;
            vlm_strbuf_init(&t);
            const char *e = conversion == 'r' ? vlm_jv_write_repr(&t, v) : vlm_jv_write_str(&t, v);
            vlm_jv_decref(v);
            if (e) {
                vlm_strbuf_free(&t);
                vlm_strbuf_free(&b);
                return vlm_jctx_fail(c, at, VLM_ERR_UNSUPPORTED, "%s", e);
            }
            if (!vlm_jctx_buf(c, at, &t, &v)) {
                vlm_strbuf_free(&b);
                return false;
            }
        }
        bool ok = format_value(c, at, &b, v, spec_start ? s + spec_start : "",
                               spec_start ? j - spec_start : 0);
        vlm_jv_decref(v);
        if (!ok) {
            vlm_strbuf_free(&b);
            return false;
        }
        if (b.len > c->max_output) {
            vlm_strbuf_free(&b);
            return vlm_jctx_fail(c, at, VLM_ERR_LIMIT, "formatted string exceeds the output limit");
        }
        i = j + 1;
    }
    return vlm_jctx_buf(c, at, &b, out);
}
