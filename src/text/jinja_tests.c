/* Jinja tests (`x is defined`, `x is divisibleby 3`, and the names select/selectattr take):
 * jinja2 3.1's builtin set with its exact definitions, most of which are Python isinstance
 * checks or operators. */
#include <string.h>

#include "text/jinja_eval.h"
#include "text/jinja_lexer.h"
#include "text/jinja_pystr.h"

typedef enum test_id {
    T_ODD,
    T_EVEN,
    T_DIVISIBLEBY,
    T_DEFINED,
    T_UNDEFINED,
    T_FILTER,
    T_TEST,
    T_NONE,
    T_BOOLEAN,
    T_FALSE,
    T_TRUE,
    T_INTEGER,
    T_FLOAT,
    T_LOWER,
    T_UPPER,
    T_STRING,
    T_MAPPING,
    T_NUMBER,
    T_SEQUENCE,
    T_ITERABLE,
    T_CALLABLE,
    T_SAMEAS,
    T_ESCAPED,
    T_IN,
    T_EQ_SYM,
    T_EQ,
    T_EQUALTO,
    T_NE_SYM,
    T_NE,
    T_GT_SYM,
    T_GT,
    T_GREATERTHAN,
    T_GE,
    T_GE_SYM,
    T_LT_SYM,
    T_LT,
    T_LESSTHAN,
    T_LE_SYM,
    T_LE,
    T_COUNT
} test_id;

static const char *const test_names[T_COUNT] = {
    "odd",     "even",   "divisibleby", "defined",  "undefined", "filter", "test",    "none",
    "boolean", "false",  "true",        "integer",  "float",     "lower",  "upper",   "string",
    "mapping", "number", "sequence",    "iterable", "callable",  "sameas", "escaped", "in",
    "==",      "eq",     "equalto",     "!=",       "ne",        ">",      "gt",      "greaterthan",
    "ge",      ">=",     "<",           "lt",       "lessthan",  "<=",     "le"};

int vlm_jinja_test_id(const char *name) {
    for (int i = 0; i < T_COUNT; i++)
        if (!strcmp(name, test_names[i])) return i;
    return -1;
}

const char *vlm_jinja_test_name(int id) {
    return id >= 0 && id < T_COUNT ? test_names[id] : "?";
}

static bool one_arg(vlm_jctx *c, const vlm_jnode *at, int id, const vlm_jargs *a, vlm_jv *arg) {
    static const char *const params[] = {"other"};
    bool given;
    if (!vlm_jargs_bind(c, at, test_names[id], a, params, 1, arg, &given)) return false;
    if (!given)
        return vlm_jctx_fail(c, at, VLM_ERR_FORMAT,
                             "TypeError: test '%s' missing 1 required positional argument",
                             test_names[id]);
    return true;
}

static bool no_args(vlm_jctx *c, const vlm_jnode *at, int id, const vlm_jargs *a) {
    if (a->npos || a->nkw)
        return vlm_jctx_fail(c, at, VLM_ERR_FORMAT, "TypeError: test '%s' takes no arguments",
                             test_names[id]);
    return true;
}

/* value % divisor == expect, with Python's operators (so '%d' % 2 behaves as in Python). */
static bool mod_equals(vlm_jctx *c, const vlm_jnode *at, vlm_jv v, vlm_jv divisor, int64_t expect,
                       bool *out) {
    vlm_jv r;
    if (!vlm_jctx_binop(c, at, VLM_JOP_MOD, v, divisor, &r)) return false;
    *out = vlm_jv_equal(r, vlm_jv_int(expect));
    vlm_jv_decref(r);
    return true;
}

static bool str_predicate(vlm_jctx *c, const vlm_jnode *at, vlm_jv v, bool upper, bool *out) {
    vlm_jv s;
    if (!vlm_jctx_to_str(c, at, v, &s)) return false;
    bool has_upper = false, has_lower = false;
    size_t i = 0;
    while (i < s.u.s->len) {
        uint32_t cp = vlm_utf8_next(s.u.s->data, s.u.s->len, &i);
        if (vlm_py_isupper(cp))
            has_upper = true;
        else if (vlm_py_islower(cp))
            has_lower = true;
        else if (vlm_py_iscased(cp))
            has_upper = has_lower = true; /* titlecase */
    }
    vlm_jv_decref(s);
    *out = upper ? (has_upper && !has_lower) : (has_lower && !has_upper);
    return true;
}

bool vlm_jinja_apply_test(vlm_jctx *c, const vlm_jnode *at, int id, vlm_jv v, const vlm_jargs *a,
                          bool *out) {
    *out = false;
    vlm_jv arg;
    switch ((test_id)id) {
    case T_ODD:
    case T_EVEN:
        if (!no_args(c, at, id, a)) return false;
        return mod_equals(c, at, v, vlm_jv_int(2), id == T_ODD ? 1 : 0, out);
    case T_DIVISIBLEBY:
        if (!one_arg(c, at, id, a, &arg)) return false;
        return mod_equals(c, at, v, arg, 0, out);
    case T_DEFINED:
    case T_UNDEFINED:
        if (!no_args(c, at, id, a)) return false;
        *out = (v.type == VLM_JV_UNDEFINED) == (id == T_UNDEFINED);
        return true;
    case T_FILTER:
    case T_TEST:
        if (!no_args(c, at, id, a)) return false;
        if (v.type == VLM_JV_STR && strlen(v.u.s->data) == v.u.s->len)
            *out = (id == T_FILTER ? vlm_jinja_filter_id(v.u.s->data)
                                   : vlm_jinja_test_id(v.u.s->data)) >= 0;
        return true;
    default:
        break;
    }
    if (id >= T_IN) {
        if (!one_arg(c, at, id, a, &arg)) return false;
        if (id == T_IN) return vlm_jctx_contains(c, at, arg, v, out);
        int op;
        switch ((test_id)id) {
        case T_EQ_SYM:
        case T_EQ:
        case T_EQUALTO:
            op = VLM_JCMP_EQ;
            break;
        case T_NE_SYM:
        case T_NE:
            op = VLM_JCMP_NE;
            break;
        case T_GT_SYM:
        case T_GT:
        case T_GREATERTHAN:
            op = VLM_JCMP_GT;
            break;
        case T_GE:
        case T_GE_SYM:
            op = VLM_JCMP_GTEQ;
            break;
        case T_LT_SYM:
        case T_LT:
        case T_LESSTHAN:
            op = VLM_JCMP_LT;
            break;
        default:
            op = VLM_JCMP_LTEQ;
            break;
        }
        return vlm_jctx_compare(c, at, op, v, arg, out);
    }
    if (id == T_SAMEAS) {
        if (!one_arg(c, at, id, a, &arg)) return false;
        /* Python identity: singletons, CPython's cached small ints, else the same object. */
        if (v.type != arg.type) return true;
        switch (v.type) {
        case VLM_JV_NONE:
        case VLM_JV_UNDEFINED:
            *out = v.type == VLM_JV_NONE || v.u.s == arg.u.s;
            break;
        case VLM_JV_BOOL:
            *out = v.u.b == arg.u.b;
            break;
        case VLM_JV_INT:
            *out = v.u.i == arg.u.i && v.u.i >= -5 && v.u.i <= 256;
            break;
        case VLM_JV_FLOAT:
            *out = false;
            break;
        default:
            *out = v.u.s == arg.u.s;
            break;
        }
        return true;
    }
    if (!no_args(c, at, id, a)) return false;
    switch ((test_id)id) {
    case T_NONE:
        *out = v.type == VLM_JV_NONE;
        return true;
    case T_BOOLEAN:
        *out = v.type == VLM_JV_BOOL;
        return true;
    case T_FALSE:
        *out = v.type == VLM_JV_BOOL && !v.u.b;
        return true;
    case T_TRUE:
        *out = v.type == VLM_JV_BOOL && v.u.b;
        return true;
    case T_INTEGER:
        *out = v.type == VLM_JV_INT;
        return true;
    case T_FLOAT:
        *out = v.type == VLM_JV_FLOAT;
        return true;
    case T_LOWER:
        return str_predicate(c, at, v, false, out);
    case T_UPPER:
        return str_predicate(c, at, v, true, out);
    case T_STRING:
        *out = v.type == VLM_JV_STR;
        return true;
    case T_MAPPING:
        *out = v.type == VLM_JV_DICT;
        return true;
    case T_NUMBER:
        *out = v.type == VLM_JV_INT || v.type == VLM_JV_FLOAT || v.type == VLM_JV_BOOL;
        return true;
    case T_SEQUENCE:
        /* len() and __getitem__ both exist. */
        *out = v.type == VLM_JV_STR || v.type == VLM_JV_DICT || v.type == VLM_JV_UNDEFINED ||
               (v.type == VLM_JV_LIST &&
                (v.u.l->kind == VLM_JLIST_LIST || v.u.l->kind == VLM_JLIST_TUPLE ||
                 v.u.l->kind == VLM_JLIST_RANGE));
        return true;
    case T_ITERABLE:
        *out = v.type == VLM_JV_STR || v.type == VLM_JV_LIST || v.type == VLM_JV_DICT ||
               v.type == VLM_JV_UNDEFINED || v.type == VLM_JV_LOOP;
        return true;
    case T_CALLABLE:
        /* jinja2's Undefined defines __call__ (to fail), so callable() is true for it. */
        *out = v.type == VLM_JV_FUNC || v.type == VLM_JV_UNDEFINED;
        return true;
    case T_ESCAPED:
        *out = v.type == VLM_JV_STR && v.u.s->markup;
        return true;
    default:
        break;
    }
    return vlm_jctx_fail(c, at, VLM_ERR_INTERNAL, "internal error: unknown test id %d", id);
}
