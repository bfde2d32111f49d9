/* The Jinja evaluator: runs a parsed template (jinja_ast.h) against variables and writes the
 * output. Statements and expressions are evaluated as jinja2 3.1 compiles them: each frame
 * (a for iteration, a macro call, ...) gets its own scope, with the names jinja2 starts as
 * "missing" pre-bound (jinja_scope.c); macros see the scope they were defined in; Undefined
 * prints as "" but fails when used further. Operators, attribute access and calls live in
 * jinja_ops.c, jinja_access.c and jinja_call.c. Limits on steps, depth, output and
 * allocated bytes keep a hostile template from hanging or exhausting memory. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "text/jinja.h"
#include "text/jinja_eval.h"
#include "text/jinja_lexer.h"
#include "text/jinja_pystr.h"

typedef enum exec_result { EX_OK = 0, EX_ERR, EX_BREAK, EX_CONTINUE } exec_result;

#define SMALL_ARGS 8

/* ------------------------------------------------------------- evaluation */

static bool eval(vlm_jctx *c, vlm_jscope *sc, const vlm_jnode *nd, vlm_jv *out);
static exec_result exec_body(vlm_jctx *c, vlm_jscope *sc, vlm_jnode *const *kids, uint32_t n,
                             vlm_strbuf *out);

static bool enter(vlm_jctx *c, const vlm_jnode *at) {
    if (c->failed) return false;
    if (++c->steps > c->max_steps)
        return vlm_jctx_fail(c, at, VLM_ERR_LIMIT,
                             "the template ran more than %llu evaluation steps",
                             (unsigned long long)c->max_steps);
    if (++c->depth > c->max_depth) {
        c->depth--;
        return vlm_jctx_fail(c, at, VLM_ERR_LIMIT,
                             "evaluation nested more than %u levels (recursive macro?)",
                             c->max_depth);
    }
    return true;
}

static void leave(vlm_jctx *c) {
    c->depth--;
}

static bool lookup(vlm_jctx *c, vlm_jscope *sc, const vlm_jnode *nd, vlm_jv *out) {
    for (vlm_jscope *s = sc; s; s = s->parent) {
        const vlm_jv *v = vlm_jdict_get(s->vars, nd->val);
        if (v) {
            *out = vlm_jv_incref(*v);
            return true;
        }
    }
    bool oom = false;
    if (vlm_jinja_builtin_lookup(nd->val.u.s->data, out, &oom)) return true;
    if (oom) return vlm_jctx_oom(c, nd);
    *out = vlm_jv_undef_hint("'%s' is undefined", nd->val.u.s->data);
    return true;
}

static bool scope_set(vlm_jctx *c, const vlm_jnode *at, vlm_jscope *sc, vlm_jv name, vlm_jv v) {
    if (!vlm_jdict_set(sc->vars, vlm_jv_incref(name), v)) return vlm_jctx_oom(c, at);
    return true;
}

/* Binds a frame's "missing" names (jinja_scope.c) to Undefined at the frame's start. */
static bool bind_missing(vlm_jctx *c, const vlm_jnode *at, vlm_jscope *s, const vlm_jv *names,
                         uint32_t n) {
    for (uint32_t i = 0; i < n; i++)
        if (!scope_set(c, at, s, names[i],
                       vlm_jv_undef_hint("'%s' is undefined", names[i].u.s->data)))
            return false;
    return true;
}

/* Evaluated arguments of a call, filter or test node. */
typedef struct evargs {
    vlm_jv small[SMALL_ARGS];
    vlm_jv *vals; /* npos positional, then nkw keyword values */
    vlm_jargs a;
} evargs;

static void evargs_free(evargs *e) {
    uint32_t n = e->a.npos + e->a.nkw;
    for (uint32_t i = 0; i < n; i++)
        vlm_jv_decref(e->vals[i]);
    if (e->vals != e->small) free(e->vals);
    e->vals = e->small;
    e->a.npos = e->a.nkw = 0;
}

static bool eval_args(vlm_jctx *c, vlm_jscope *sc, const vlm_jnode *nd, evargs *e, uint32_t extra) {
    uint32_t n = nd->nkids + nd->nkids2;
    e->vals = e->small;
    memset(&e->a, 0, sizeof e->a);
    if (n + extra > SMALL_ARGS) {
        e->vals = vlm_malloc_array(n + extra, sizeof(vlm_jv));
        if (!e->vals) {
            e->vals = e->small;
            return vlm_jctx_oom(c, nd);
        }
    }
    for (uint32_t i = 0; i < nd->nkids; i++) {
        if (!eval(c, sc, nd->kids[i], &e->vals[i])) {
            evargs_free(e);
            return false;
        }
        e->a.npos++;
    }
    for (uint32_t i = 0; i < nd->nkids2; i++) {
        if (!eval(c, sc, nd->kids2[i], &e->vals[nd->nkids + i])) {
            evargs_free(e);
            return false;
        }
        e->a.nkw++;
    }
    e->a.pos = e->vals;
    e->a.kwnames = nd->names;
    e->a.kwvals = e->vals + nd->nkids;
    return true;
}

/* ------------------------------------------------------------- macros */

static bool call_macro(vlm_jctx *c, const vlm_jnode *at, const vlm_jfunc *fn, const vlm_jargs *a,
                       vlm_jv *out) {
    const vlm_jnode *m = fn->node;
    const char *mname = fn->name;
    vlm_jscope *s = vlm_jscope_new(fn->closure);
    if (!s) return vlm_jctx_oom(c, at);
    if (!bind_missing(c, at, s, m->missing, m->nmissing)) {
        vlm_jscope_decref(s);
        return false;
    }
    bool ok = false;
    vlm_jlist *varargs = NULL;
    vlm_jdict *kwargs = NULL;
    bool *given = calloc(m->nnames + 1, sizeof *given);
    if (!given) goto oom;
    if (a->npos > m->nnames) {
        if (!(m->flags & VLM_JMACRO_VARARGS)) {
            vlm_jctx_fail(c, at, VLM_ERR_FORMAT,
                          "TypeError: macro '%s' takes not more than %u argument(s)", mname,
                          m->nnames);
            goto done;
        }
    }
    for (uint32_t i = 0; i < a->npos && i < m->nnames; i++) {
        if (!scope_set(c, at, s, m->names[i], vlm_jv_incref(a->pos[i]))) goto done;
        given[i] = true;
    }
    if (m->flags & VLM_JMACRO_VARARGS) {
        varargs = vlm_jlist_new(VLM_JLIST_TUPLE, 0);
        if (!varargs) goto oom;
        for (uint32_t i = m->nnames; i < a->npos; i++)
            if (!vlm_jctx_push(c, at, varargs, vlm_jv_incref(a->pos[i]))) goto done;
    }
    bool caller_given = false;
    for (uint32_t k = 0; k < a->nkw; k++) {
        vlm_jv name = a->kwnames[k];
        uint32_t i = 0;
        while (i < m->nnames && !vlm_jv_equal(m->names[i], name))
            i++;
        if (i < m->nnames) {
            if (given[i]) {
                vlm_jctx_fail(c, at, VLM_ERR_FORMAT,
                              "TypeError: macro '%s' got multiple values for argument '%s'", mname,
                              name.u.s->data);
                goto done;
            }
            if (!scope_set(c, at, s, name, vlm_jv_incref(a->kwvals[k]))) goto done;
            given[i] = true;
        } else if (!strcmp(name.u.s->data, "caller") && (m->flags & VLM_JMACRO_CALLER) &&
                   !fn->is_caller) {
            if (!scope_set(c, at, s, name, vlm_jv_incref(a->kwvals[k]))) goto done;
            caller_given = true;
        } else if (m->flags & VLM_JMACRO_KWARGS) {
            if (!kwargs && !(kwargs = vlm_jdict_new(0))) goto oom;
            if (!vlm_jdict_set(kwargs, vlm_jv_incref(name), vlm_jv_incref(a->kwvals[k]))) goto oom;
        } else {
            vlm_jctx_fail(c, at, VLM_ERR_FORMAT,
                          "TypeError: macro '%s' takes no keyword argument '%s'", mname,
                          name.u.s->data);
            goto done;
        }
    }
    /* Defaults are evaluated in the macro's own scope, left to right. */
    for (uint32_t i = 0; i < m->nnames; i++) {
        if (given[i]) continue;
        vlm_jv v;
        if (i < m->nkids2 && m->kids2[i]) {
            if (!eval(c, s, m->kids2[i], &v)) goto done;
        } else {
            v = vlm_jv_undef_hint("parameter '%s' was not provided", m->names[i].u.s->data);
        }
        if (!scope_set(c, at, s, m->names[i], v)) goto done;
    }
    if ((m->flags & VLM_JMACRO_CALLER) && !caller_given && !fn->is_caller) {
        static const char caller[] = "caller";
        vlm_jv name;
        if (!vlm_jctx_str(c, at, caller, sizeof caller - 1, &name)) goto done;
        bool set = scope_set(c, at, s, name, vlm_jv_undef_hint("No caller defined"));
        vlm_jv_decref(name);
        if (!set) goto done;
    }
    if (varargs) {
        vlm_jv name;
        if (!vlm_jctx_str(c, at, "varargs", 7, &name)) goto done;
        bool set = scope_set(c, at, s, name, vlm_jv_list(varargs));
        varargs = NULL;
        vlm_jv_decref(name);
        if (!set) goto done;
    }
    if (m->flags & VLM_JMACRO_KWARGS) {
        if (!kwargs && !(kwargs = vlm_jdict_new(0))) goto oom;
        vlm_jv name;
        if (!vlm_jctx_str(c, at, "kwargs", 6, &name)) goto done;
        bool set = scope_set(c, at, s, name, vlm_jv_dict(kwargs));
        kwargs = NULL;
        vlm_jv_decref(name);
        if (!set) goto done;
    }
    {
        vlm_strbuf b;
        vlm_strbuf_init(&b);
        exec_result r = exec_body(c, s, m->kids, m->nkids, &b);
        if (r == EX_ERR) {
            vlm_strbuf_free(&b);
            goto done;
        }
        ok = vlm_jctx_buf(c, at, &b, out);
    }
    goto done;
oom:
    vlm_jctx_oom(c, at);
done:
    free(given);
    vlm_jlist_decref(varargs);
    vlm_jdict_decref(kwargs);
    vlm_jscope_decref(s);
    return ok;
}

bool vlm_jctx_call(vlm_jctx *c, const vlm_jnode *at, vlm_jv fn, const vlm_jargs *a, vlm_jv *out) {
    *out = vlm_jv_undef();
    if (fn.type == VLM_JV_UNDEFINED) return vlm_jctx_fail_undefined(c, at, fn);
    if (fn.type != VLM_JV_FUNC)
        return vlm_jctx_fail(c, at, VLM_ERR_FORMAT, "TypeError: '%s' object is not callable",
                             vlm_jv_type_name(fn));
    if (!enter(c, at)) return false;
    bool ok;
    if (fn.u.fn->kind == VLM_JFUNC_MACRO)
        ok = call_macro(c, at, fn.u.fn, a, out);
    else
        ok = vlm_jinja_call_builtin(c, at, fn.u.fn, a, out);
    leave(c);
    return ok;
}

/* ------------------------------------------------------------- expressions */

static bool eval_filter(vlm_jctx *c, vlm_jscope *sc, const vlm_jnode *nd, const vlm_jv *input,
                        vlm_jv *out);

static bool eval_compare(vlm_jctx *c, vlm_jscope *sc, const vlm_jnode *nd, vlm_jv *out) {
    vlm_jv left;
    if (!eval(c, sc, nd->a, &left)) return false;
    bool result = true;
    for (uint32_t i = 0; i < nd->nkids && result; i++) {
        vlm_jv right;
        if (!eval(c, sc, nd->kids[i], &right)) {
            vlm_jv_decref(left);
            return false;
        }
        int op = nd->ops[i];
        bool ok;
        if (op == VLM_JCMP_IN || op == VLM_JCMP_NOTIN) {
            ok = vlm_jctx_contains(c, nd, right, left, &result);
            if (op == VLM_JCMP_NOTIN) result = !result;
        } else {
            ok = vlm_jctx_compare(c, nd, op, left, right, &result);
        }
        vlm_jv_decref(left);
        left = right;
        if (!ok) {
            vlm_jv_decref(left);
            return false;
        }
    }
    vlm_jv_decref(left);
    *out = vlm_jv_bool(result);
    return true;
}

static bool eval_call(vlm_jctx *c, vlm_jscope *sc, const vlm_jnode *nd, vlm_jv *out) {
    vlm_jv fn;
    if (!eval(c, sc, nd->a, &fn)) return false;
    evargs e;
    if (!eval_args(c, sc, nd, &e, 0)) {
        vlm_jv_decref(fn);
        return false;
    }
    bool ok = vlm_jctx_call(c, nd, fn, &e.a, out);
    evargs_free(&e);
    vlm_jv_decref(fn);
    return ok;
}

static bool eval_getitem(vlm_jctx *c, vlm_jscope *sc, const vlm_jnode *nd, vlm_jv *out) {
    vlm_jv obj;
    if (!eval(c, sc, nd->a, &obj)) return false;
    bool ok;
    if (nd->b->kind == VLM_JN_SLICE) {
        vlm_jv parts[3] = {vlm_jv_none(), vlm_jv_none(), vlm_jv_none()};
        const vlm_jnode *p3[3] = {nd->b->a, nd->b->b, nd->b->c};
        ok = true;
        for (int k = 0; k < 3 && ok; k++)
            if (p3[k]) ok = eval(c, sc, p3[k], &parts[k]);
        if (ok) ok = vlm_jctx_slice(c, nd, obj, parts, out);
        for (int k = 0; k < 3; k++)
            vlm_jv_decref(parts[k]);
    } else {
        vlm_jv key;
        ok = eval(c, sc, nd->b, &key);
        if (ok) {
            ok = vlm_jctx_getitem(c, nd, obj, key, out);
            vlm_jv_decref(key);
        }
    }
    vlm_jv_decref(obj);
    return ok;
}

static bool eval_seq(vlm_jctx *c, vlm_jscope *sc, const vlm_jnode *nd, vlm_jv *out) {
    vlm_jlist *l =
        vlm_jlist_new(nd->kind == VLM_JN_TUPLE ? VLM_JLIST_TUPLE : VLM_JLIST_LIST, nd->nkids);
    if (!l) return vlm_jctx_oom(c, nd);
    for (uint32_t i = 0; i < nd->nkids; i++) {
        vlm_jv v;
        if (!eval(c, sc, nd->kids[i], &v) || !vlm_jctx_push(c, nd, l, v)) {
            vlm_jlist_decref(l);
            return false;
        }
    }
    *out = vlm_jv_list(l);
    return true;
}

static bool eval_dict(vlm_jctx *c, vlm_jscope *sc, const vlm_jnode *nd, vlm_jv *out) {
    vlm_jdict *d = vlm_jdict_new(nd->nkids);
    if (!d) return vlm_jctx_oom(c, nd);
    for (uint32_t i = 0; i < nd->nkids; i++) {
        vlm_jv k, v;
        if (!eval(c, sc, nd->kids[i], &k)) goto fail;
        if (!vlm_jv_hashable(k)) {
            vlm_jctx_fail(c, nd->kids[i], VLM_ERR_FORMAT, "TypeError: unhashable type: '%s'",
                          vlm_jv_type_name(k));
            vlm_jv_decref(k);
            goto fail;
        }
        if (!eval(c, sc, nd->kids2[i], &v)) {
            vlm_jv_decref(k);
            goto fail;
        }
        if (!vlm_jctx_charge(c, nd, 2 * sizeof(vlm_jv)) || !vlm_jdict_set(d, k, v)) {
            if (!c->failed) vlm_jctx_oom(c, nd);
            goto fail;
        }
    }
    *out = vlm_jv_dict(d);
    return true;
fail:
    vlm_jdict_decref(d);
    return false;
}

/* `~` joins str() of its operands (jinja2's str_join when autoescape is off: a Markup
 * operand does not escape the others). */
static bool eval_concat(vlm_jctx *c, vlm_jscope *sc, const vlm_jnode *nd, vlm_jv *out) {
    vlm_strbuf b;
    vlm_strbuf_init(&b);
    for (uint32_t i = 0; i < nd->nkids; i++) {
        vlm_jv v;
        if (!eval(c, sc, nd->kids[i], &v)) {
            vlm_strbuf_free(&b);
            return false;
        }
        bool ok = vlm_jctx_write(c, nd, &b, v);
        vlm_jv_decref(v);
        if (!ok) {
            vlm_strbuf_free(&b);
            return false;
        }
    }
    return vlm_jctx_buf(c, nd, &b, out);
}

static bool eval_unary(vlm_jctx *c, vlm_jscope *sc, const vlm_jnode *nd, vlm_jv *out) {
    vlm_jv v;
    if (!eval(c, sc, nd->a, &v)) return false;
    bool ok;
    if (nd->kind == VLM_JN_NOT) {
        *out = vlm_jv_bool(!vlm_jv_truthy(v));
        ok = true;
    } else {
        ok = vlm_jctx_unary(c, nd, nd->kind == VLM_JN_NEG, v, out);
    }
    vlm_jv_decref(v);
    return ok;
}

static bool eval_test(vlm_jctx *c, vlm_jscope *sc, const vlm_jnode *nd, vlm_jv *out) {
    vlm_jv v;
    if (!eval(c, sc, nd->a, &v)) return false;
    evargs e;
    if (!eval_args(c, sc, nd, &e, 0)) {
        vlm_jv_decref(v);
        return false;
    }
    bool r = false;
    bool ok = nd->id >= 0 ? vlm_jinja_apply_test(c, nd, nd->id, v, &e.a, &r)
                          : vlm_jctx_fail(c, nd, VLM_ERR_FORMAT,
                                          "TemplateRuntimeError: No test named '%s' found.",
                                          nd->val.u.s->data);
    evargs_free(&e);
    vlm_jv_decref(v);
    if (ok) *out = vlm_jv_bool(r);
    return ok;
}

/* A filter node; `input` replaces the innermost missing operand (filter blocks). */
static bool eval_filter(vlm_jctx *c, vlm_jscope *sc, const vlm_jnode *nd, const vlm_jv *input,
                        vlm_jv *out) {
    if (!enter(c, nd)) return false;
    vlm_jv v;
    bool ok;
    if (nd->a) {
        if (nd->a->kind == VLM_JN_FILTER)
            ok = eval_filter(c, sc, nd->a, input, &v);
        else
            ok = eval(c, sc, nd->a, &v);
    } else {
        v = input ? vlm_jv_incref(*input) : vlm_jv_undef();
        ok = true;
    }
    if (ok) {
        evargs e;
        ok = eval_args(c, sc, nd, &e, 0);
        if (ok) {
            ok = nd->id >= 0 ? vlm_jinja_apply_filter(c, nd, nd->id, v, &e.a, out)
                             : vlm_jctx_fail(c, nd, VLM_ERR_FORMAT,
                                             "TemplateRuntimeError: No filter named '%s' found.",
                                             nd->val.u.s->data);
            evargs_free(&e);
        }
        vlm_jv_decref(v);
    }
    leave(c);
    return ok;
}

static bool eval(vlm_jctx *c, vlm_jscope *sc, const vlm_jnode *nd, vlm_jv *out) {
    *out = vlm_jv_undef();
    if (!enter(c, nd)) return false;
    bool ok = true;
    switch (nd->kind) {
    case VLM_JN_CONST:
        *out = vlm_jv_incref(nd->val);
        break;
    case VLM_JN_NAME:
        ok = lookup(c, sc, nd, out);
        break;
    case VLM_JN_LIST:
    case VLM_JN_TUPLE:
        ok = eval_seq(c, sc, nd, out);
        break;
    case VLM_JN_DICT:
        ok = eval_dict(c, sc, nd, out);
        break;
    case VLM_JN_GETATTR: {
        vlm_jv obj;
        ok = eval(c, sc, nd->a, &obj);
        if (ok) {
            ok = vlm_jctx_getattr(c, nd, obj, nd->val, out);
            vlm_jv_decref(obj);
        }
        break;
    }
    case VLM_JN_GETITEM:
        ok = eval_getitem(c, sc, nd, out);
        break;
    case VLM_JN_CALL:
        ok = eval_call(c, sc, nd, out);
        break;
    case VLM_JN_FILTER:
        ok = eval_filter(c, sc, nd, NULL, out);
        break;
    case VLM_JN_TEST:
        ok = eval_test(c, sc, nd, out);
        break;
    case VLM_JN_NOT:
    case VLM_JN_NEG:
    case VLM_JN_POS:
        ok = eval_unary(c, sc, nd, out);
        break;
    case VLM_JN_BINOP: {
        vlm_jv a, b;
        ok = eval(c, sc, nd->a, &a);
        if (!ok) break;
        ok = eval(c, sc, nd->b, &b);
        if (ok) {
            ok = vlm_jctx_binop(c, nd, nd->op, a, b, out);
            vlm_jv_decref(b);
        }
        vlm_jv_decref(a);
        break;
    }
    case VLM_JN_CONCAT:
        ok = eval_concat(c, sc, nd, out);
        break;
    case VLM_JN_AND:
    case VLM_JN_OR: {
        vlm_jv a;
        ok = eval(c, sc, nd->a, &a);
        if (!ok) break;
        bool t = vlm_jv_truthy(a);
        if ((nd->kind == VLM_JN_AND) != t) {
            *out = a; /* `a and b` is a when a is false; `a or b` is a when a is true */
        } else {
            vlm_jv_decref(a);
            ok = eval(c, sc, nd->b, out);
        }
        break;
    }
    case VLM_JN_COMPARE:
        ok = eval_compare(c, sc, nd, out);
        break;
    case VLM_JN_CONDEXPR: {
        vlm_jv t;
        ok = eval(c, sc, nd->a, &t);
        if (!ok) break;
        bool truth = vlm_jv_truthy(t);
        vlm_jv_decref(t);
        if (truth)
            ok = eval(c, sc, nd->b, out);
        else if (nd->c)
            ok = eval(c, sc, nd->c, out);
        else
            *out = vlm_jv_undef_hint("the inline if-expression on line %u evaluated to false and "
                                     "no else section was defined.",
                                     nd->line);
        break;
    }
    default:
        ok = vlm_jctx_fail(c, nd, VLM_ERR_INTERNAL, "internal error: node %d is no expression",
                           nd->kind);
        break;
    }
    leave(c);
    if (!ok) {
        vlm_jv_decref(*out);
        *out = vlm_jv_undef();
    }
    return ok;
}

/* ------------------------------------------------------------- statements */

/* Binds an assignment target (NAME or TUPLE of NAMEs) in scope sc; takes v. */
static bool assign(vlm_jctx *c, vlm_jscope *sc, const vlm_jnode *target, vlm_jv v) {
    if (target->kind == VLM_JN_NAME) return scope_set(c, target, sc, target->val, v);
    vlm_jlist *items;
    if (!vlm_jctx_iterate(c, target, v, &items)) {
        vlm_jv_decref(v);
        return false;
    }
    vlm_jv_decref(v);
    bool ok = true;
    if (items->n != target->nkids) {
        if (items->n > target->nkids)
            ok =
                vlm_jctx_fail(c, target, VLM_ERR_FORMAT,
                              "ValueError: too many values to unpack (expected %u)", target->nkids);
        else
            ok = vlm_jctx_fail(c, target, VLM_ERR_FORMAT,
                               "ValueError: not enough values to unpack (expected %u, got %zu)",
                               target->nkids, items->n);
    }
    for (uint32_t i = 0; ok && i < target->nkids; i++)
        ok = scope_set(c, target, sc, target->kids[i]->val, vlm_jv_incref(items->items[i]));
    vlm_jlist_decref(items);
    return ok;
}

static bool set_nsref(vlm_jctx *c, vlm_jscope *sc, const vlm_jnode *target, vlm_jv v) {
    vlm_jnode tmp = *target;
    tmp.kind = VLM_JN_NAME;
    vlm_jv ns;
    if (!lookup(c, sc, &tmp, &ns)) {
        vlm_jv_decref(v);
        return false;
    }
    bool ok;
    if (ns.type != VLM_JV_NAMESPACE) {
        ok = vlm_jctx_fail(c, target, VLM_ERR_FORMAT,
                           "TemplateRuntimeError: cannot assign attribute on non-namespace object");
        vlm_jv_decref(v);
    } else if (!vlm_jdict_set(ns.u.ns->attrs, vlm_jv_incref(target->val2), v)) {
        ok = vlm_jctx_oom(c, target);
    } else {
        ok = true;
    }
    vlm_jv_decref(ns);
    return ok;
}

static bool assign_target(vlm_jctx *c, vlm_jscope *sc, const vlm_jnode *target, vlm_jv v) {
    if (target->kind == VLM_JN_NSREF) return set_nsref(c, sc, target, v);
    return assign(c, sc, target, v);
}

static bool emit(vlm_jctx *c, const vlm_jnode *at, vlm_strbuf *out, const char *s, size_t n) {
    vlm_strbuf_append(out, s, n);
    if (out->failed) return vlm_jctx_oom(c, at);
    if (out->len > c->max_output)
        return vlm_jctx_fail(c, at, VLM_ERR_LIMIT, "output exceeds the limit of %zu bytes",
                             c->max_output);
    return true;
}

/* A body that is its own frame in jinja2 (a for loop's else, filter and set blocks,
 * {% generation %}): assignments inside stay inside. */
static exec_result exec_frame(vlm_jctx *c, vlm_jscope *sc, const vlm_jnode *nd,
                              const vlm_jv *missing, uint32_t nmissing, vlm_jnode *const *kids,
                              uint32_t n, vlm_strbuf *out) {
    vlm_jscope *f = vlm_jscope_new(sc);
    if (!f) {
        vlm_jctx_oom(c, nd);
        return EX_ERR;
    }
    exec_result r =
        bind_missing(c, nd, f, missing, nmissing) ? exec_body(c, f, kids, n, out) : EX_ERR;
    vlm_jscope_decref(f);
    return r;
}

static exec_result exec_for(vlm_jctx *c, vlm_jscope *sc, const vlm_jnode *nd, vlm_strbuf *out) {
    vlm_jv seqv;
    if (!eval(c, sc, nd->b, &seqv)) return EX_ERR;
    vlm_jlist *items;
    bool ok = vlm_jctx_iterate(c, nd->b, seqv, &items);
    vlm_jv_decref(seqv);
    if (!ok) return EX_ERR;
    if (nd->c) { /* `for x in xs if cond`: filter first; loop.* counts the kept items */
        vlm_jlist *kept = vlm_jlist_new(VLM_JLIST_LIST, 0);
        if (!kept) {
            vlm_jlist_decref(items);
            vlm_jctx_oom(c, nd);
            return EX_ERR;
        }
        for (size_t i = 0; ok && i < items->n; i++) {
            vlm_jscope *tmp = vlm_jscope_new(sc);
            if (!tmp) {
                ok = vlm_jctx_oom(c, nd);
                break;
            }
            vlm_jv t;
            ok = assign(c, tmp, nd->a, vlm_jv_incref(items->items[i])) && eval(c, tmp, nd->c, &t);
            if (ok) {
                if (vlm_jv_truthy(t))
                    ok = vlm_jctx_push(c, nd, kept, vlm_jv_incref(items->items[i]));
                vlm_jv_decref(t);
            }
            vlm_jscope_decref(tmp);
        }
        vlm_jlist_decref(items);
        items = kept;
        if (!ok) {
            vlm_jlist_decref(items);
            return EX_ERR;
        }
    }
    exec_result r = EX_OK;
    bool completed = false;
    if (items->n == 0) {
        vlm_jlist_decref(items);
        return exec_frame(c, sc, nd, nd->missing2, nd->nmissing2, nd->kids2, nd->nkids2, out);
    }
    vlm_jloop *lp = calloc(1, sizeof *lp);
    if (!lp) {
        vlm_jlist_decref(items);
        vlm_jctx_oom(c, nd);
        return EX_ERR;
    }
    lp->refs = 1;
    lp->items = items; /* the loop owns the reference now */
    lp->last_changed = vlm_jv_undef();
    vlm_jv loopv = {.type = VLM_JV_LOOP};
    loopv.u.loop = lp;
    static const char loop_name[] = "loop";
    vlm_jv lname;
    if (!vlm_jctx_str(c, nd, loop_name, sizeof loop_name - 1, &lname)) {
        vlm_jv_decref(loopv);
        return EX_ERR;
    }
    for (size_t i = 0; i < items->n; i++) {
        if (!enter(c, nd)) { /* one step per iteration, so empty bodies count too */
            r = EX_ERR;
            break;
        }
        leave(c);
        lp->index0 = i;
        vlm_jscope *it = vlm_jscope_new(sc);
        if (!it) {
            vlm_jctx_oom(c, nd);
            r = EX_ERR;
            break;
        }
        if (!bind_missing(c, nd, it, nd->missing, nd->nmissing) ||
            !scope_set(c, nd, it, lname, vlm_jv_incref(loopv)) ||
            !assign(c, it, nd->a, vlm_jv_incref(items->items[i]))) {
            vlm_jscope_decref(it);
            r = EX_ERR;
            break;
        }
        r = exec_body(c, it, nd->kids, nd->nkids, out);
        vlm_jscope_decref(it);
        if (r == EX_OK) completed = true;
        if (r == EX_CONTINUE) r = EX_OK;
        if (r == EX_BREAK) {
            r = EX_OK;
            break;
        }
        if (r == EX_ERR) break;
    }
    vlm_jv_decref(lname);
    vlm_jv_decref(loopv);
    /* jinja2 clears its "no iteration" flag at the end of the body, which break and
     * continue skip: the else block runs unless some iteration ran to its end. */
    if (r == EX_OK && !completed && nd->nkids2)
        r = exec_frame(c, sc, nd, nd->missing2, nd->nmissing2, nd->kids2, nd->nkids2, out);
    return r;
}

static bool make_macro(vlm_jctx *c, vlm_jscope *sc, const vlm_jnode *nd, bool is_caller,
                       vlm_jv *out) {
    vlm_jfunc *fn = calloc(1, sizeof *fn);
    if (!fn) return vlm_jctx_oom(c, nd);
    fn->refs = 1;
    fn->kind = VLM_JFUNC_MACRO;
    fn->node = nd;
    fn->is_caller = is_caller;
    fn->name = is_caller ? "caller" : nd->val.u.s->data;
    fn->self = vlm_jv_undef();
    fn->closure = sc;
    sc->refs++;
    out->type = VLM_JV_FUNC;
    out->u.fn = fn;
    return vlm_jctx_keep_scope(c, nd, sc);
}

static exec_result exec_stmt(vlm_jctx *c, vlm_jscope *sc, const vlm_jnode *nd, vlm_strbuf *out) {
    switch (nd->kind) {
    case VLM_JN_OUTPUT:
        for (uint32_t i = 0; i < nd->nkids; i++) {
            const vlm_jnode *k = nd->kids[i];
            if (k->kind == VLM_JN_CONST && k->val.type == VLM_JV_STR) {
                if (!emit(c, k, out, k->val.u.s->data, k->val.u.s->len)) return EX_ERR;
                continue;
            }
            vlm_jv v;
            if (!eval(c, sc, k, &v)) return EX_ERR;
            bool ok = vlm_jctx_write(c, k, out, v);
            vlm_jv_decref(v);
            if (!ok) return EX_ERR;
        }
        return EX_OK;
    case VLM_JN_IF: {
        vlm_jv t;
        if (!eval(c, sc, nd->a, &t)) return EX_ERR;
        bool truth = vlm_jv_truthy(t);
        vlm_jv_decref(t);
        if (truth) return exec_body(c, sc, nd->kids, nd->nkids, out);
        return exec_body(c, sc, nd->kids2, nd->nkids2, out);
    }
    case VLM_JN_FOR:
        return exec_for(c, sc, nd, out);
    case VLM_JN_SET: {
        vlm_jv v;
        if (!eval(c, sc, nd->b, &v)) return EX_ERR;
        return assign_target(c, sc, nd->a, v) ? EX_OK : EX_ERR;
    }
    case VLM_JN_SETBLOCK: {
        vlm_strbuf b;
        vlm_strbuf_init(&b);
        exec_result r = exec_frame(c, sc, nd, nd->missing, nd->nmissing, nd->kids, nd->nkids, &b);
        if (r == EX_ERR) {
            vlm_strbuf_free(&b);
            return EX_ERR;
        }
        vlm_jv v;
        if (!vlm_jctx_buf(c, nd, &b, &v)) return EX_ERR;
        if (nd->b) {
            vlm_jv f;
            bool ok = eval_filter(c, sc, nd->b, &v, &f);
            vlm_jv_decref(v);
            if (!ok) return EX_ERR;
            v = f;
        }
        return assign_target(c, sc, nd->a, v) ? EX_OK : EX_ERR;
    }
    case VLM_JN_MACRO: {
        vlm_jv fn = vlm_jv_undef();
        if (!make_macro(c, sc, nd, false, &fn)) {
            vlm_jv_decref(fn);
            return EX_ERR;
        }
        return scope_set(c, nd, sc, nd->val, fn) ? EX_OK : EX_ERR;
    }
    case VLM_JN_CALLBLOCK: {
        const vlm_jnode *call = nd->a;
        vlm_jv fn, caller = vlm_jv_undef(), result;
        if (!eval(c, sc, call->a, &fn)) return EX_ERR;
        evargs e;
        if (!eval_args(c, sc, call, &e, 1)) {
            vlm_jv_decref(fn);
            return EX_ERR;
        }
        bool ok = make_macro(c, sc, nd, true, &caller);
        /* caller= is passed as one more keyword argument. */
        vlm_jv *names = NULL;
        if (ok) {
            names = vlm_malloc_array(call->nnames + 1, sizeof *names);
            vlm_jv cname;
            ok = names && vlm_jctx_str(c, nd, "caller", 6, &cname);
            if (!names) vlm_jctx_oom(c, nd);
            if (ok) {
                for (uint32_t i = 0; i < call->nnames; i++)
                    names[i] = call->names[i];
                names[call->nnames] = cname;
                e.vals[e.a.npos + e.a.nkw] = caller;
                caller = vlm_jv_undef();
                e.a.nkw++;
                e.a.kwnames = names;
                e.a.kwvals = e.vals + e.a.npos;
                ok = vlm_jctx_call(c, nd, fn, &e.a, &result);
                vlm_jv_decref(cname);
                if (ok) {
                    ok = vlm_jctx_write(c, nd, out, result);
                    vlm_jv_decref(result);
                }
            }
        }
        vlm_jv_decref(caller);
        free(names);
        evargs_free(&e);
        vlm_jv_decref(fn);
        return ok ? EX_OK : EX_ERR;
    }
    case VLM_JN_FILTERBLOCK: {
        vlm_strbuf b;
        vlm_strbuf_init(&b);
        exec_result r = exec_frame(c, sc, nd, nd->missing, nd->nmissing, nd->kids, nd->nkids, &b);
        if (r == EX_ERR) {
            vlm_strbuf_free(&b);
            return EX_ERR;
        }
        vlm_jv v, f;
        if (!vlm_jctx_buf(c, nd, &b, &v)) return EX_ERR;
        bool ok = eval_filter(c, sc, nd->b, &v, &f);
        vlm_jv_decref(v);
        if (!ok) return EX_ERR;
        ok = vlm_jctx_write(c, nd, out, f);
        vlm_jv_decref(f);
        return ok ? EX_OK : EX_ERR;
    }
    case VLM_JN_WITH: {
        vlm_jscope *w = vlm_jscope_new(sc);
        if (!w) {
            vlm_jctx_oom(c, nd);
            return EX_ERR;
        }
        exec_result r = bind_missing(c, nd, w, nd->missing, nd->nmissing) ? EX_OK : EX_ERR;
        for (uint32_t i = 0; i < nd->nnames && r == EX_OK; i++) {
            vlm_jv v;
            if (!eval(c, sc, nd->kids2[i], &v) || !scope_set(c, nd, w, nd->names[i], v)) r = EX_ERR;
        }
        if (r == EX_OK) r = exec_body(c, w, nd->kids, nd->nkids, out);
        vlm_jscope_decref(w);
        return r;
    }
    case VLM_JN_BREAK:
        return EX_BREAK;
    case VLM_JN_CONTINUE:
        return EX_CONTINUE;
    case VLM_JN_SCOPE: /* {% generation %}: a {% call %} body in jinja2 */
        return exec_frame(c, sc, nd, nd->missing, nd->nmissing, nd->kids, nd->nkids, out);
    default:
        vlm_jctx_fail(c, nd, VLM_ERR_INTERNAL, "internal error: node %d is no statement", nd->kind);
        return EX_ERR;
    }
}

static exec_result exec_body(vlm_jctx *c, vlm_jscope *sc, vlm_jnode *const *kids, uint32_t n,
                             vlm_strbuf *out) {
    for (uint32_t i = 0; i < n; i++) {
        if (!enter(c, kids[i])) return EX_ERR;
        exec_result r = exec_stmt(c, sc, kids[i], out);
        leave(c);
        if (r != EX_OK) return r;
    }
    return EX_OK;
}

/* ------------------------------------------------------------- entry point */

vlm_jinja_render_params vlm_jinja_render_params_default(void) {
    vlm_jinja_render_params p = {0};
    p.now = -1;
    return p;
}

vlm_status vlm_jinja_render(const vlm_jinja_template *t, const vlm_jdict *vars,
                            const vlm_jinja_render_params *params, char **out, size_t *out_len,
                            vlm_error *err) {
    *out = NULL;
    if (out_len) *out_len = 0;
    if (!t || !vars)
        return vlm_err(err, VLM_ERR_INVALID_ARGUMENT, "vlm_jinja_render: NULL argument");
    vlm_jinja_render_params p = params ? *params : vlm_jinja_render_params_default();
    vlm_jctx c = {.tpl = t, .err = err};
    c.max_output = p.max_output_bytes ? p.max_output_bytes : (64u << 20);
    c.max_steps = p.max_steps ? p.max_steps : 10000000u;
    c.max_depth = p.max_depth ? p.max_depth : 1000u;
    c.max_alloc = p.max_alloc_bytes ? p.max_alloc_bytes : (512ull << 20);
    c.now = p.now >= 0 ? p.now : (int64_t)time(NULL);

    /* The caller's variables form the outermost scope (never written: template-level
     * assignments go to the scope above it). */
    vlm_jscope *ctx_scope = vlm_jscope_new(NULL);
    vlm_jscope *top = NULL;
    vlm_strbuf b;
    vlm_strbuf_init(&b);
    if (ctx_scope) {
        vlm_jdict_decref(ctx_scope->vars);
        ctx_scope->vars = (vlm_jdict *)vars;
        if (ctx_scope->vars->refs > 0) ctx_scope->vars->refs++;
        top = vlm_jscope_new(ctx_scope);
    }
    if (!top) {
        vlm_jctx_oom(&c, NULL);
    } else if (bind_missing(&c, t->root, top, t->root->missing, t->root->nmissing)) {
        exec_result r = exec_body(&c, top, t->root->kids, t->root->nkids, &b);
        if (r != EX_ERR && b.failed) vlm_jctx_oom(&c, NULL);
    }
    /* Break cycles through namespaces and captured scopes, then release everything. */
    for (size_t i = 0; i < c.nscopes; i++)
        vlm_jdict_clear(c.scopes[i]->vars);
    for (size_t i = 0; i < c.nkeep; i++)
        vlm_jdict_clear(c.keep[i].u.ns->attrs);
    for (size_t i = 0; i < c.nscopes; i++)
        vlm_jscope_decref(c.scopes[i]);
    for (size_t i = 0; i < c.nkeep; i++)
        vlm_jv_decref(c.keep[i]);
    free(c.scopes);
    free(c.keep);
    vlm_jscope_decref(top);
    vlm_jscope_decref(ctx_scope);
    if (c.failed) {
        vlm_strbuf_free(&b);
        return c.status;
    }
    size_t len = b.len;
    char *text = vlm_strbuf_take(&b);
    if (!text) text = calloc(1, 1);
    if (!text) return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "%s: out of memory", t->name);
    *out = text;
    if (out_len) *out_len = len;
    return vlm_err_ok(err);
}
