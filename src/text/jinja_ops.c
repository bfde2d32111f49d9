/* Python's operators for the Jinja evaluator: arithmetic with int64 (overflow is refused
 * rather than wrapped) and IEEE floats (Python's floor division and modulo), sequence
 * concatenation and repetition, Markup's escaping +, comparisons with Python's ordering
 * rules, `in`, and unary minus/plus. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/checked.h"
#include "text/jinja_eval.h"
#include "text/jinja_lexer.h"
#include "text/jinja_pystr.h"

/* ------------------------------------------------------------- operators */

static bool is_num(vlm_jv v) {
    return v.type == VLM_JV_BOOL || v.type == VLM_JV_INT || v.type == VLM_JV_FLOAT;
}

static int64_t as_i64(vlm_jv v) {
    return v.type == VLM_JV_BOOL ? (int64_t)v.u.b : v.u.i;
}

static double as_f64(vlm_jv v) {
    return v.type == VLM_JV_FLOAT ? v.u.f : (double)as_i64(v);
}

static bool overflow(vlm_jctx *c, const vlm_jnode *at) {
    return vlm_jctx_fail(c, at, VLM_ERR_UNSUPPORTED,
                         "integer overflow (Python integers are unbounded; this engine uses 64 "
                         "bits)");
}

static bool type_error2(vlm_jctx *c, const vlm_jnode *at, const char *op, vlm_jv a, vlm_jv b) {
    return vlm_jctx_fail(c, at, VLM_ERR_FORMAT,
                         "TypeError: unsupported operand type(s) for %s: '%s' and '%s'", op,
                         vlm_jv_type_name(a), vlm_jv_type_name(b));
}

/* Python's float floor division and modulo (float_divmod). */
static void float_divmod(double vx, double wx, double *div, double *mod) {
    double m = fmod(vx, wx);
    double d = (vx - m) / wx;
    if (m) {
        if ((wx < 0) != (m < 0)) {
            m += wx;
            d -= 1.0;
        }
    } else {
        m = copysign(0.0, wx);
    }
    double fd;
    if (d) {
        fd = floor(d);
        if (d - fd > 0.5) fd += 1.0;
    } else {
        fd = copysign(0.0, vx / wx);
    }
    *div = fd;
    *mod = m;
}

static bool repeat(vlm_jctx *c, const vlm_jnode *at, vlm_jv seq, int64_t times, vlm_jv *out) {
    if (times < 0) times = 0;
    if (seq.type == VLM_JV_STR) {
        uint64_t total;
        if (!vlm_u64_mul(seq.u.s->len, (uint64_t)times, &total) || total > c->max_output)
            return vlm_jctx_fail(c, at, VLM_ERR_LIMIT,
                                 "string repetition exceeds the output limit");
        vlm_strbuf b;
        vlm_strbuf_init(&b);
        for (int64_t k = 0; k < times; k++)
            vlm_strbuf_append(&b, seq.u.s->data, seq.u.s->len);
        return vlm_jctx_buf(c, at, &b, out);
    }
    uint64_t total;
    if (!vlm_u64_mul(seq.u.l->n, (uint64_t)times, &total) ||
        total > (c->max_alloc / sizeof(vlm_jv)))
        return vlm_jctx_fail(c, at, VLM_ERR_LIMIT, "list repetition exceeds the allocation limit");
    vlm_jlist *l = vlm_jlist_new(seq.u.l->kind, (size_t)total);
    if (!l) return vlm_jctx_oom(c, at);
    for (int64_t k = 0; k < times; k++)
        for (size_t i = 0; i < seq.u.l->n; i++)
            if (!vlm_jctx_push(c, at, l, vlm_jv_incref(seq.u.l->items[i]))) {
                vlm_jlist_decref(l);
                return false;
            }
    *out = vlm_jv_list(l);
    return true;
}

static bool is_plain_seq(vlm_jv v) {
    return v.type == VLM_JV_LIST &&
           (v.u.l->kind == VLM_JLIST_LIST || v.u.l->kind == VLM_JLIST_TUPLE);
}

/* markupsafe's escape of a plain string appended to b. */
static void html_escape(vlm_strbuf *b, const vlm_jstr *s) {
    for (size_t i = 0; i < s->len; i++) {
        switch (s->data[i]) {
        case '&':
            vlm_strbuf_puts(b, "&amp;");
            break;
        case '<':
            vlm_strbuf_puts(b, "&lt;");
            break;
        case '>':
            vlm_strbuf_puts(b, "&gt;");
            break;
        case '"':
            vlm_strbuf_puts(b, "&#34;");
            break;
        case '\'':
            vlm_strbuf_puts(b, "&#39;");
            break;
        default:
            vlm_strbuf_putc(b, s->data[i]);
            break;
        }
    }
}

bool vlm_jctx_binop(vlm_jctx *c, const vlm_jnode *at, int op, vlm_jv a, vlm_jv b, vlm_jv *out) {
    *out = vlm_jv_undef();
    if (a.type == VLM_JV_UNDEFINED) return vlm_jctx_fail_undefined(c, at, a);
    /* str % Undefined formats it (as ""): str.__mod__ handles it before Undefined can. */
    if (b.type == VLM_JV_UNDEFINED && !(op == VLM_JOP_MOD && a.type == VLM_JV_STR))
        return vlm_jctx_fail_undefined(c, at, b);
    const char *sym = vlm_jop_text(op);
    if (is_num(a) && is_num(b)) {
        bool fl = a.type == VLM_JV_FLOAT || b.type == VLM_JV_FLOAT;
        int64_t x = as_i64(a), y = as_i64(b), r;
        double fx = as_f64(a), fy = as_f64(b);
        switch (op) {
        case VLM_JOP_ADD:
            if (fl)
                *out = vlm_jv_float(fx + fy);
            else if (__builtin_add_overflow(x, y, &r))
                return overflow(c, at);
            else
                *out = vlm_jv_int(r);
            return true;
        case VLM_JOP_SUB:
            if (fl)
                *out = vlm_jv_float(fx - fy);
            else if (__builtin_sub_overflow(x, y, &r))
                return overflow(c, at);
            else
                *out = vlm_jv_int(r);
            return true;
        case VLM_JOP_MUL:
            if (fl)
                *out = vlm_jv_float(fx * fy);
            else if (__builtin_mul_overflow(x, y, &r))
                return overflow(c, at);
            else
                *out = vlm_jv_int(r);
            return true;
        case VLM_JOP_DIV:
            if (fy == 0)
                return vlm_jctx_fail(c, at, VLM_ERR_FORMAT, "ZeroDivisionError: division by zero");
            if (!fl && (x > (1LL << 53) || x < -(1LL << 53) || y > (1LL << 53) || y < -(1LL << 53)))
                return vlm_jctx_fail(c, at, VLM_ERR_UNSUPPORTED,
                                     "true division of integers beyond 2**53 is not supported");
            *out = vlm_jv_float(fx / fy);
            return true;
        case VLM_JOP_FLOORDIV:
        case VLM_JOP_MOD:
            if (fl) {
                if (fy == 0)
                    return vlm_jctx_fail(c, at, VLM_ERR_FORMAT,
                                         "ZeroDivisionError: float division by zero");
                double d, m;
                float_divmod(fx, fy, &d, &m);
                *out = vlm_jv_float(op == VLM_JOP_MOD ? m : d);
                return true;
            }
            if (y == 0)
                return vlm_jctx_fail(c, at, VLM_ERR_FORMAT,
                                     "ZeroDivisionError: integer division or modulo by zero");
            if (x == INT64_MIN && y == -1) {
                if (op == VLM_JOP_MOD)
                    *out = vlm_jv_int(0);
                else
                    return overflow(c, at);
                return true;
            }
            {
                int64_t q = x / y, m = x % y;
                if (m != 0 && ((m < 0) != (y < 0))) {
                    q -= 1;
                    m += y;
                }
                *out = vlm_jv_int(op == VLM_JOP_MOD ? m : q);
            }
            return true;
        case VLM_JOP_POW:
            if (!fl && y >= 0) {
                int64_t acc = 1, base = x;
                int64_t e = y;
                while (e > 0) {
                    if (e & 1 && __builtin_mul_overflow(acc, base, &acc)) return overflow(c, at);
                    e >>= 1;
                    if (e && __builtin_mul_overflow(base, base, &base)) return overflow(c, at);
                }
                *out = vlm_jv_int(acc);
                return true;
            }
            if (fx == 0 && fy < 0)
                return vlm_jctx_fail(c, at, VLM_ERR_FORMAT,
                                     "ZeroDivisionError: 0.0 cannot be raised to a negative power");
            if (fx < 0 && fy != floor(fy))
                return vlm_jctx_fail(c, at, VLM_ERR_UNSUPPORTED,
                                     "a negative number to a fractional power is complex");
            *out = vlm_jv_float(pow(fx, fy));
            if (isinf(out->u.f) && !isinf(fx) && !isinf(fy))
                return vlm_jctx_fail(c, at, VLM_ERR_FORMAT,
                                     "OverflowError: (34, 'Numerical result out of range')");
            return true;
        default:
            break;
        }
    }
    switch (op) {
    case VLM_JOP_ADD:
        if (a.type == VLM_JV_STR && b.type == VLM_JV_STR) {
            /* Markup + str and str + Markup escape the plain side and stay Markup. */
            bool ma = a.u.s->markup, mb = b.u.s->markup;
            size_t n;
            if (!vlm_size_add(a.u.s->len, b.u.s->len, &n) || n > c->max_output)
                return vlm_jctx_fail(c, at, VLM_ERR_LIMIT, "string exceeds the output limit");
            vlm_strbuf buf;
            vlm_strbuf_init(&buf);
            vlm_strbuf_reserve(&buf, n);
            if (mb && !ma)
                html_escape(&buf, a.u.s);
            else
                vlm_strbuf_append(&buf, a.u.s->data, a.u.s->len);
            if (ma && !mb)
                html_escape(&buf, b.u.s);
            else
                vlm_strbuf_append(&buf, b.u.s->data, b.u.s->len);
            if (buf.len > c->max_output) {
                vlm_strbuf_free(&buf);
                return vlm_jctx_fail(c, at, VLM_ERR_LIMIT, "string exceeds the output limit");
            }
            if (!vlm_jctx_buf(c, at, &buf, out)) return false;
            if (ma || mb) out->u.s->markup = true;
            return true;
        }
        if (is_plain_seq(a) && is_plain_seq(b) && a.u.l->kind == b.u.l->kind) {
            vlm_jlist *l = vlm_jlist_new(a.u.l->kind, a.u.l->n + b.u.l->n);
            if (!l) return vlm_jctx_oom(c, at);
            for (int k = 0; k < 2; k++) {
                const vlm_jlist *src = k ? b.u.l : a.u.l;
                for (size_t i = 0; i < src->n; i++)
                    if (!vlm_jctx_push(c, at, l, vlm_jv_incref(src->items[i]))) {
                        vlm_jlist_decref(l);
                        return false;
                    }
            }
            *out = vlm_jv_list(l);
            return true;
        }
        if (a.type == VLM_JV_STR && b.type != VLM_JV_STR)
            return vlm_jctx_fail(c, at, VLM_ERR_FORMAT,
                                 "TypeError: can only concatenate str (not \"%s\") to str",
                                 vlm_jv_type_name(b));
        return type_error2(c, at, sym, a, b);
    case VLM_JOP_MUL:
        if ((a.type == VLM_JV_STR || is_plain_seq(a)) &&
            (b.type == VLM_JV_INT || b.type == VLM_JV_BOOL))
            return repeat(c, at, a, as_i64(b), out);
        if ((b.type == VLM_JV_STR || is_plain_seq(b)) &&
            (a.type == VLM_JV_INT || a.type == VLM_JV_BOOL))
            return repeat(c, at, b, as_i64(a), out);
        return type_error2(c, at, sym, a, b);
    case VLM_JOP_MOD:
        if (a.type == VLM_JV_STR && a.u.s->markup)
            return vlm_jctx_fail(c, at, VLM_ERR_UNSUPPORTED,
                                 "%% formatting of a Markup string (from |safe) is not supported");
        if (a.type == VLM_JV_STR) return vlm_jinja_percent_format(c, at, a, b, out);
        return type_error2(c, at, sym, a, b);
    default:
        return type_error2(c, at, op == VLM_JOP_POW ? "** or pow()" : sym, a, b);
    }
}

bool vlm_jctx_compare(vlm_jctx *c, const vlm_jnode *at, int op, vlm_jv a, vlm_jv b, bool *out) {
    if (op == VLM_JCMP_EQ || op == VLM_JCMP_NE) {
        bool eq = vlm_jv_equal(a, b);
        *out = op == VLM_JCMP_EQ ? eq : !eq;
        return true;
    }
    if (a.type == VLM_JV_UNDEFINED) return vlm_jctx_fail_undefined(c, at, a);
    if (b.type == VLM_JV_UNDEFINED) return vlm_jctx_fail_undefined(c, at, b);
    bool ok;
    int r = vlm_jv_compare(a, b, &ok);
    if (!ok) {
        static const char *const syms[] = {"", "==", "!=", "<", "<=", ">", ">="};
        return vlm_jctx_fail(c, at, VLM_ERR_FORMAT,
                             "TypeError: '%s' not supported between instances of '%s' and '%s'",
                             syms[op], vlm_jv_type_name(a), vlm_jv_type_name(b));
    }
    if (r == 2) { /* NaN */
        *out = false;
        return true;
    }
    switch (op) {
    case VLM_JCMP_LT:
        *out = r < 0;
        break;
    case VLM_JCMP_LTEQ:
        *out = r <= 0;
        break;
    case VLM_JCMP_GT:
        *out = r > 0;
        break;
    default:
        *out = r >= 0;
        break;
    }
    return true;
}

bool vlm_jctx_contains(vlm_jctx *c, const vlm_jnode *at, vlm_jv b, vlm_jv a, bool *out) {
    *out = false;
    switch (b.type) {
    case VLM_JV_STR:
        if (a.type != VLM_JV_STR)
            return vlm_jctx_fail(c, at, VLM_ERR_FORMAT,
                                 "TypeError: 'in <string>' requires string as left operand, not %s",
                                 vlm_jv_type_name(a));
        *out = a.u.s->len == 0 || memmem(b.u.s->data, b.u.s->len, a.u.s->data, a.u.s->len);
        return true;
    case VLM_JV_DICT:
        if (!vlm_jv_hashable(a))
            return vlm_jctx_fail(c, at, VLM_ERR_FORMAT, "TypeError: unhashable type: '%s'",
                                 vlm_jv_type_name(a));
        *out = vlm_jdict_get(b.u.d, a) != NULL;
        return true;
    case VLM_JV_LIST: {
        vlm_jlist *l = b.u.l;
        size_t from = l->kind == VLM_JLIST_GENERATOR ? l->pos : 0;
        for (size_t i = from; i < l->n; i++) {
            bool eq = l->kind == VLM_JLIST_ITEMS ? vlm_jv_equal(l->items[i], a)
                                                 : vlm_jv_equal(l->items[i], a);
            if (eq) {
                *out = true;
                if (l->kind == VLM_JLIST_GENERATOR) l->pos = i + 1;
                return true;
            }
        }
        if (l->kind == VLM_JLIST_GENERATOR) l->pos = l->n;
        return true;
    }
    case VLM_JV_UNDEFINED:
        return true; /* iterates as empty */
    default:
        return vlm_jctx_fail(c, at, VLM_ERR_FORMAT,
                             "TypeError: argument of type '%s' is not iterable",
                             vlm_jv_type_name(b));
    }
}

bool vlm_jctx_unary(vlm_jctx *c, const vlm_jnode *at, bool neg, vlm_jv v, vlm_jv *out) {
    *out = vlm_jv_undef();
    if (v.type == VLM_JV_INT || v.type == VLM_JV_BOOL) {
        int64_t i = as_i64(v);
        if (neg && i == INT64_MIN) return overflow(c, at);
        *out = vlm_jv_int(neg ? -i : i);
        return true;
    }
    if (v.type == VLM_JV_FLOAT) {
        *out = vlm_jv_float(neg ? -v.u.f : v.u.f);
        return true;
    }
    if (v.type == VLM_JV_UNDEFINED) return vlm_jctx_fail_undefined(c, at, v);
    return vlm_jctx_fail(c, at, VLM_ERR_FORMAT, "TypeError: bad operand type for unary %c: '%s'",
                         neg ? '-' : '+', vlm_jv_type_name(v));
}
