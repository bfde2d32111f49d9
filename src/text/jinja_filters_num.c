/* Jinja number filters: int (Python int(x, base) parsing incl. prefixes and '_'), float
 * (Python float() syntax) and round (Python's correctly rounded half-even round and jinja2's
 * floor/ceil methods). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "text/jinja_filters.h"
#include "text/jinja_pystr.h"

/* Python int(str, base) syntax: whitespace, sign, optional prefix, digits with single '_'. */
static bool parse_py_int(const vlm_jstr *s, int64_t base, bool *overflowed, int64_t *out) {
    *overflowed = false;
    const char *p = s->data, *e = s->data + s->len;
    size_t i = 0;
    while (p + i < e) { /* leading Unicode whitespace */
        size_t j = i;
        if (!vlm_py_isspace(vlm_utf8_next(s->data, s->len, &j))) break;
        i = j;
    }
    size_t end = s->len;
    while (end > i) {
        size_t q = vlm_utf8_prev(s->data, end), j = q;
        if (!vlm_py_isspace(vlm_utf8_next(s->data, s->len, &j))) break;
        end = q;
    }
    bool neg = false;
    if (i < end && (p[i] == '+' || p[i] == '-')) neg = p[i++] == '-';
    if (i + 1 < end && p[i] == '0') {
        char k = (char)(p[i + 1] | 0x20);
        int pb = k == 'x' ? 16 : k == 'o' ? 8 : k == 'b' ? 2 : 0;
        if (pb && (base == pb || base == 0)) {
            base = pb;
            i += 2;
            if (i < end && p[i] == '_') i++;
        }
    }
    if (base == 0) base = 10; /* (a leading-zero check would apply; not reached by filters) */
    if (base < 2 || base > 36 || i >= end) return false;
    uint64_t v = 0;
    bool prev_digit = false;
    for (; i < end; i++) {
        char ch = p[i];
        if (ch == '_') {
            if (!prev_digit) return false;
            prev_digit = false;
            continue;
        }
        int d = ch >= '0' && ch <= '9'                     ? ch - '0'
                : (ch | 0x20) >= 'a' && (ch | 0x20) <= 'z' ? (ch | 0x20) - 'a' + 10
                                                           : 99;
        if (d >= base) return false;
        if (v > (UINT64_MAX - (uint64_t)d) / (uint64_t)base) *overflowed = true;
        v = v * (uint64_t)base + (uint64_t)d;
        prev_digit = true;
    }
    if (!prev_digit) return false;
    if (*overflowed || v > (uint64_t)INT64_MAX + (neg ? 1 : 0)) {
        *overflowed = true;
        return true;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return true;
}

/* Python float(str) syntax. */
static bool parse_py_float(const vlm_jstr *s, double *out) {
    size_t i = 0, end = s->len;
    while (i < end) {
        size_t j = i;
        if (!vlm_py_isspace(vlm_utf8_next(s->data, s->len, &j))) break;
        i = j;
    }
    while (end > i) {
        size_t q = vlm_utf8_prev(s->data, end), j = q;
        if (!vlm_py_isspace(vlm_utf8_next(s->data, s->len, &j))) break;
        end = q;
    }
    if (i >= end || end - i > 400) return false;
    char buf[512];
    size_t n = 0;
    const char *p = s->data;
    size_t k = i;
    if (p[k] == '+' || p[k] == '-') buf[n++] = p[k++];
    /* inf / infinity / nan */
    size_t rest = end - k;
    const char *words[] = {"infinity", "inf", "nan"};
    for (int w = 0; w < 3; w++) {
        size_t wl = strlen(words[w]);
        if (rest == wl && !strncasecmp(p + k, words[w], wl)) {
            memcpy(buf + n, words[w], wl);
            buf[n + wl] = '\0';
            *out = strtod(buf, NULL);
            return true;
        }
    }
    bool digits = false, prev_digit = false, dot = false, exp = false, exp_digits = false;
    for (; k < end; k++) {
        char ch = p[k];
        if (ch >= '0' && ch <= '9') {
            prev_digit = true;
            if (exp)
                exp_digits = true;
            else
                digits = true;
            buf[n++] = ch;
        } else if (ch == '_') {
            if (!prev_digit || k + 1 >= end || !(p[k + 1] >= '0' && p[k + 1] <= '9')) return false;
            prev_digit = false;
        } else if (ch == '.' && !dot && !exp) {
            dot = true;
            prev_digit = false;
            buf[n++] = ch;
        } else if ((ch == 'e' || ch == 'E') && !exp && digits) {
            exp = true;
            prev_digit = false;
            buf[n++] = 'e';
            if (k + 1 < end && (p[k + 1] == '+' || p[k + 1] == '-')) buf[n++] = p[++k];
        } else {
            return false;
        }
    }
    if (!digits || (exp && !exp_digits)) return false;
    buf[n] = '\0';
    *out = strtod(buf, NULL);
    return true;
}

bool vlm_jf_int(vlm_jctx *c, const vlm_jnode *at, vlm_jv v, const vlm_jargs *a, vlm_jv *out) {
    static const char *const params[] = {"default", "base"};
    vlm_jfargs b;
    if (!vlm_jf_bind(c, at, VLM_JF_INT, a, params, 2, &b)) return false;
    vlm_jv dflt = b.given[0] ? b.v[0] : vlm_jv_int(0);
    /* A bad base makes int(value, base) raise TypeError/ValueError, which do_int catches
     * before trying int(float(value)). */
    int64_t base = 10;
    bool base_ok = true;
    if (b.given[1]) {
        vlm_jv bv = b.v[1];
        base_ok = bv.type == VLM_JV_INT || bv.type == VLM_JV_BOOL;
        if (base_ok) base = bv.type == VLM_JV_BOOL ? bv.u.b : bv.u.i;
        if (base != 0 && (base < 2 || base > 36)) base_ok = false;
    }
    switch (v.type) {
    case VLM_JV_UNDEFINED:
        return vlm_jctx_fail_undefined(c, at, v);
    case VLM_JV_BOOL:
        *out = vlm_jv_int(v.u.b);
        return true;
    case VLM_JV_INT:
        *out = v;
        return true;
    case VLM_JV_FLOAT:
        if (isinf(v.u.f))
            return vlm_jctx_fail(c, at, VLM_ERR_FORMAT,
                                 "OverflowError: cannot convert float infinity to integer");
        if (isnan(v.u.f)) break;
        if (v.u.f >= 9223372036854775808.0 || v.u.f < -9223372036854775808.0)
            return vlm_jctx_fail(c, at, VLM_ERR_UNSUPPORTED, "integer overflow converting a float");
        *out = vlm_jv_int((int64_t)v.u.f);
        return true;
    case VLM_JV_STR: {
        int64_t i;
        bool over;
        if (base_ok && parse_py_int(v.u.s, base, &over, &i)) {
            if (over) return vlm_jctx_fail(c, at, VLM_ERR_UNSUPPORTED, "integer overflow in int()");
            *out = vlm_jv_int(i);
            return true;
        }
        double f;
        if (parse_py_float(v.u.s, &f)) {
            if (isinf(f))
                return vlm_jctx_fail(c, at, VLM_ERR_FORMAT,
                                     "OverflowError: cannot convert float infinity to integer");
            if (!isnan(f)) {
                if (f >= 9223372036854775808.0 || f < -9223372036854775808.0)
                    return vlm_jctx_fail(c, at, VLM_ERR_UNSUPPORTED, "integer overflow in int()");
                *out = vlm_jv_int((int64_t)f);
                return true;
            }
        }
        break;
    }
    default:
        break;
    }
    *out = vlm_jv_incref(dflt);
    return true;
}

bool vlm_jf_float(vlm_jctx *c, const vlm_jnode *at, vlm_jv v, const vlm_jargs *a, vlm_jv *out) {
    static const char *const params[] = {"default"};
    vlm_jfargs b;
    if (!vlm_jf_bind(c, at, VLM_JF_FLOAT, a, params, 1, &b)) return false;
    double f;
    switch (v.type) {
    case VLM_JV_UNDEFINED:
        return vlm_jctx_fail_undefined(c, at, v);
    case VLM_JV_BOOL:
        *out = vlm_jv_float(v.u.b);
        return true;
    case VLM_JV_INT:
        *out = vlm_jv_float((double)v.u.i);
        return true;
    case VLM_JV_FLOAT:
        *out = v;
        return true;
    case VLM_JV_STR:
        if (parse_py_float(v.u.s, &f)) {
            *out = vlm_jv_float(f);
            return true;
        }
        break;
    default:
        break;
    }
    *out = b.given[0] ? vlm_jv_incref(b.v[0]) : vlm_jv_float(0.0);
    return true;
}

/* x rounded to a multiple of 10**k (k >= 1), half to even on the exact value, as Python's
 * round(x, -k) does: the integer part's exact digits decide, the fraction breaks ties. */
static double round_to_power(double x, int k) {
    double ax = fabs(x), ip = trunc(ax), frac = ax - ip;
    char digits[400];
    int len = snprintf(digits, sizeof digits, "%.0f", ip); /* exact for integral doubles */
    char res[420];
    if (len < k) { /* below 10**(k-1), under half a unit: rounds to 0 */
        snprintf(res, sizeof res, "0");
    } else {
        int keep = len - k;
        /* Compare the dropped digits (+ fraction) with 5 followed by zeros. */
        int cmp = 0;
        if (digits[keep] != '5') {
            cmp = digits[keep] > '5' ? 1 : -1;
        } else {
            for (int i = keep + 1; i < len && !cmp; i++)
                if (digits[i] != '0') cmp = 1;
            if (!cmp && frac > 0) cmp = 1;
        }
        char kept[400];
        memcpy(kept, digits, (size_t)keep);
        kept[keep] = '\0';
        if (keep == 0) snprintf(kept, sizeof kept, "0");
        int last = kept[strlen(kept) - 1] - '0';
        bool up = cmp > 0 || (cmp == 0 && (last & 1));
        if (up) { /* add one to the kept decimal digits */
            int i = (int)strlen(kept) - 1;
            while (i >= 0 && kept[i] == '9')
                kept[i--] = '0';
            if (i >= 0) {
                kept[i]++;
            } else {
                memmove(kept + 1, kept, strlen(kept) + 1);
                kept[0] = '1';
            }
        }
        snprintf(res, sizeof res, "%s", kept);
        if (strcmp(kept, "0") != 0) {
            size_t rl = strlen(res);
            for (int z = 0; z < k && rl + 1 < sizeof res; z++)
                res[rl++] = '0';
            res[rl] = '\0';
        }
    }
    return copysign(strtod(res, NULL), x);
}

bool vlm_jf_round(vlm_jctx *c, const vlm_jnode *at, vlm_jv v, const vlm_jargs *a, vlm_jv *out) {
    static const char *const params[] = {"precision", "method"};
    vlm_jfargs b;
    if (!vlm_jf_bind(c, at, VLM_JF_ROUND, a, params, 2, &b)) return false;
    int64_t prec = 0;
    if (b.given[0] && !vlm_jf_arg_int(c, at, b.v[0], "precision", &prec)) return false;
    int method = 0; /* common, ceil, floor */
    if (b.given[1]) {
        vlm_jv m = b.v[1];
        if (m.type == VLM_JV_STR && !strcmp(m.u.s->data, "ceil"))
            method = 1;
        else if (m.type == VLM_JV_STR && !strcmp(m.u.s->data, "floor"))
            method = 2;
        else if (!(m.type == VLM_JV_STR && !strcmp(m.u.s->data, "common")))
            return vlm_jctx_fail(c, at, VLM_ERR_FORMAT,
                                 "FilterArgumentError: method must be common, ceil or floor");
    }
    if (v.type == VLM_JV_UNDEFINED) return vlm_jctx_fail_undefined(c, at, v);
    if (v.type != VLM_JV_INT && v.type != VLM_JV_FLOAT && v.type != VLM_JV_BOOL)
        return vlm_jctx_fail(c, at, VLM_ERR_FORMAT,
                             "TypeError: type %s doesn't define __round__ method",
                             vlm_jv_type_name(v));
    double x = v.type == VLM_JV_FLOAT ? v.u.f : (double)(v.type == VLM_JV_BOOL ? v.u.b : v.u.i);
    if (method) {
        /* math.ceil/floor(value * 10**p) / 10**p: 10**p is exact as a double up to p = 22
         * (beyond, Python divides by an exact big integer). */
        if (prec > 22 || prec < -300)
            return vlm_jctx_fail(c, at, VLM_ERR_UNSUPPORTED,
                                 "round(): ceil/floor with this precision is not supported");
        double scale = pow(10.0, (double)prec);
        double y = x * scale;
        if (isinf(y))
            return vlm_jctx_fail(c, at, VLM_ERR_FORMAT,
                                 "OverflowError: cannot convert float infinity to integer");
        if (isnan(y))
            return vlm_jctx_fail(c, at, VLM_ERR_FORMAT,
                                 "ValueError: cannot convert float NaN to integer");
        double r = method == 1 ? ceil(y) : floor(y);
        if (r == 0) r = 0.0; /* math.ceil/floor return ints, which have no negative zero */
        *out = vlm_jv_float(r / scale);
        return true;
    }
    if (v.type != VLM_JV_FLOAT) {
        /* round(int, n) stays an int; negative n rounds half to even at 10**-n. */
        int64_t i = v.type == VLM_JV_BOOL ? v.u.b : v.u.i;
        if (prec >= 0) {
            *out = vlm_jv_int(i);
            return true;
        }
        if (prec < -19) { /* 10**20 / 2 exceeds every int64 */
            *out = vlm_jv_int(0);
            return true;
        }
        __int128 p = 1;
        for (int64_t k = 0; k < -prec; k++)
            p *= 10;
        __int128 q = i / p, r = i % p;
        if (r < 0) {
            q -= 1;
            r += p;
        }
        if (2 * r > p || (2 * r == p && (q & 1))) q += 1;
        __int128 res = q * p;
        if (res > INT64_MAX || res < INT64_MIN)
            return vlm_jctx_fail(c, at, VLM_ERR_UNSUPPORTED, "integer overflow in round()");
        *out = vlm_jv_int((int64_t)res);
        return true;
    }
    if (!isfinite(x)) {
        *out = v;
        return true;
    }
    if (prec == 0) {
        *out = vlm_jv_float(nearbyint(x)); /* half to even, on the exact value */
        return true;
    }
    /* Python's float round: beyond these precisions the value is unchanged or zero. */
    if (prec > 323) {
        *out = v;
        return true;
    }
    if (prec < -308) {
        *out = vlm_jv_float(0.0 * x);
        return true;
    }
    if (prec < 0) {
        *out = vlm_jv_float(round_to_power(x, (int)-prec));
        return true;
    }
    /* Correctly rounded to prec decimals (glibc printf rounds the exact binary value, half
     * to even, as Python's dtoa does), then read back. */
    char buf[720];
    snprintf(buf, sizeof buf, "%.*f", (int)prec, x);
    *out = vlm_jv_float(strtod(buf, NULL));
    return true;
}
