/* The Jinja evaluator: runs a parsed template (jinja_ast.h) against variables and writes the
 * output. Statements and expressions are evaluated as jinja2 3.1 compiles them: a for loop
 * body gets a fresh scope per iteration (assignments inside do not leak out), macros see the
 * scope they were defined in, Undefined prints as "" but fails when used further, and every
 * operator follows Python's rules. Limits on steps, depth, output and allocated bytes keep a
 * hostile template from hanging or exhausting memory. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "core/checked.h"
#include "text/jinja.h"
#include "text/jinja_eval.h"
#include "text/jinja_lexer.h"
#include "text/jinja_pystr.h"

typedef enum exec_result { EX_OK = 0, EX_ERR, EX_BREAK, EX_CONTINUE } exec_result;

#define SMALL_ARGS 8

/* ------------------------------------------------------------- context helpers */

bool vlm_jctx_fail(vlm_jctx *c, const vlm_jnode *at, vlm_status st, const char *fmt, ...) {
    if (c->failed) return false;
    c->failed = true;
    c->status = st;
    char msg[400], full[sizeof(((vlm_error *)0)->message)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (at)
        snprintf(full, sizeof full, "%s:%u:%u: %s", c->tpl->name, at->line, at->col, msg);
    else
        snprintf(full, sizeof full, "%s: %s", c->tpl->name, msg);
    vlm_utf8_trim_partial(full); /* truncation must not leave half a character */
    vlm_err(c->err, st, "%s", full);
    return false;
}

bool vlm_jctx_fail_undefined(vlm_jctx *c, const vlm_jnode *at, vlm_jv undef) {
    if (undef.type == VLM_JV_UNDEFINED && undef.u.s)
        return vlm_jctx_fail(c, at, VLM_ERR_FORMAT, "UndefinedError: %s", undef.u.s->data);
    return vlm_jctx_fail(c, at, VLM_ERR_FORMAT, "UndefinedError: a value is undefined");
}

bool vlm_jctx_oom(vlm_jctx *c, const vlm_jnode *at) {
    return vlm_jctx_fail(c, at, VLM_ERR_OUT_OF_MEMORY,
                         "out of memory (or a value nested deeper than %d levels)",
                         VLM_JV_MAX_NEST);
}

bool vlm_jctx_charge(vlm_jctx *c, const vlm_jnode *at, uint64_t bytes) {
    c->alloc += bytes;
    if (c->alloc > c->max_alloc)
        return vlm_jctx_fail(c, at, VLM_ERR_LIMIT,
                             "the template built more than %llu bytes of strings",
                             (unsigned long long)c->max_alloc);
    return true;
}

bool vlm_jctx_str(vlm_jctx *c, const vlm_jnode *at, const char *s, size_t n, vlm_jv *out) {
    *out = vlm_jv_undef();
    if (n > c->max_output)
        return vlm_jctx_fail(c, at, VLM_ERR_LIMIT, "a string of %zu bytes exceeds the output limit",
                             n);
    if (!vlm_jctx_charge(c, at, n)) return false;
    if (!vlm_jv_str(s, n, out)) return vlm_jctx_oom(c, at);
    return true;
}

bool vlm_jctx_buf(vlm_jctx *c, const vlm_jnode *at, vlm_strbuf *b, vlm_jv *out) {
    bool ok;
    if (b->failed)
        ok = vlm_jctx_oom(c, at);
    else
        ok = vlm_jctx_str(c, at, vlm_strbuf_cstr(b), b->len, out);
    vlm_strbuf_free(b);
    return ok;
}

bool vlm_jctx_push(vlm_jctx *c, const vlm_jnode *at, vlm_jlist *l, vlm_jv v) {
    if (!vlm_jctx_charge(c, at, sizeof(vlm_jv))) {
        vlm_jv_decref(v);
        return false;
    }
    if (!vlm_jlist_push(l, v)) return vlm_jctx_oom(c, at);
    return true;
}

bool vlm_jctx_write(vlm_jctx *c, const vlm_jnode *at, vlm_strbuf *b, vlm_jv v) {
    const char *e = vlm_jv_write_str(b, v);
    if (e) return vlm_jctx_fail(c, at, VLM_ERR_UNSUPPORTED, "%s", e);
    if (b->failed) return vlm_jctx_oom(c, at);
    if (b->len > c->max_output)
        return vlm_jctx_fail(c, at, VLM_ERR_LIMIT, "output exceeds the limit of %zu bytes",
                             c->max_output);
    return true;
}

bool vlm_jctx_to_str(vlm_jctx *c, const vlm_jnode *at, vlm_jv v, vlm_jv *out) {
    if (v.type == VLM_JV_STR) {
        *out = vlm_jv_incref(v);
        return true;
    }
    vlm_strbuf b;
    vlm_strbuf_init(&b);
    if (!vlm_jctx_write(c, at, &b, v)) {
        vlm_strbuf_free(&b);
        *out = vlm_jv_undef();
        return false;
    }
    return vlm_jctx_buf(c, at, &b, out);
}

bool vlm_jctx_keep(vlm_jctx *c, const vlm_jnode *at, vlm_jv ns) {
    if (c->nkeep == c->capkeep) {
        size_t cap = c->capkeep ? c->capkeep * 2 : 8;
        vlm_jv *keep = vlm_realloc_array(c->keep, cap, sizeof *keep);
        if (!keep) return vlm_jctx_oom(c, at);
        c->keep = keep;
        c->capkeep = cap;
    }
    c->keep[c->nkeep++] = vlm_jv_incref(ns);
    return true;
}

static bool keep_scope(vlm_jctx *c, const vlm_jnode *at, vlm_jscope *s) {
    if (s->registered) return true;
    if (c->nscopes == c->capscopes) {
        size_t cap = c->capscopes ? c->capscopes * 2 : 8;
        vlm_jscope **scopes = vlm_realloc_array(c->scopes, cap, sizeof *scopes);
        if (!scopes) return vlm_jctx_oom(c, at);
        c->scopes = scopes;
        c->capscopes = cap;
    }
    s->registered = true;
    s->refs++;
    c->scopes[c->nscopes++] = s;
    return true;
}

bool vlm_jargs_bind(vlm_jctx *c, const vlm_jnode *at, const char *fname, const vlm_jargs *a,
                    const char *const *params, int nparams, vlm_jv *slots, bool *given) {
    for (int i = 0; i < nparams; i++) {
        slots[i] = vlm_jv_undef();
        given[i] = false;
    }
    if (a->npos > (uint32_t)nparams)
        return vlm_jctx_fail(c, at, VLM_ERR_FORMAT,
                             "TypeError: %s() takes at most %d argument(s) (%u given)", fname,
                             nparams, a->npos);
    for (uint32_t i = 0; i < a->npos; i++) {
        slots[i] = a->pos[i];
        given[i] = true;
    }
    for (uint32_t k = 0; k < a->nkw; k++) {
        const char *name = a->kwnames[k].u.s->data;
        int i = 0;
        while (i < nparams && strcmp(params[i], name))
            i++;
        if (i == nparams)
            return vlm_jctx_fail(c, at, VLM_ERR_FORMAT,
                                 "TypeError: %s() got an unexpected keyword argument '%s'", fname,
                                 name);
        if (given[i])
            return vlm_jctx_fail(c, at, VLM_ERR_FORMAT,
                                 "TypeError: %s() got multiple values for argument '%s'", fname,
                                 name);
        slots[i] = a->kwvals[k];
        given[i] = true;
    }
    return true;
}

/* ------------------------------------------------------------- iteration */

static bool str_chars(vlm_jctx *c, const vlm_jnode *at, const vlm_jstr *s, vlm_jlist **out) {
    vlm_jlist *l = vlm_jlist_new(VLM_JLIST_LIST, s->ncp);
    if (!l) return vlm_jctx_oom(c, at);
    size_t i = 0;
    while (i < s->len) {
        size_t start = i;
        vlm_utf8_next(s->data, s->len, &i);
        vlm_jv ch;
        if (!vlm_jctx_str(c, at, s->data + start, i - start, &ch) || !vlm_jctx_push(c, at, l, ch)) {
            vlm_jlist_decref(l);
            return false;
        }
    }
    *out = l;
    return true;
}

bool vlm_jctx_iterate(vlm_jctx *c, const vlm_jnode *at, vlm_jv v, vlm_jlist **out) {
    *out = NULL;
    switch (v.type) {
    case VLM_JV_LIST: {
        vlm_jlist *l = v.u.l;
        if (l->kind != VLM_JLIST_GENERATOR) {
            if (l->refs > 0) l->refs++;
            *out = l;
            return true;
        }
        vlm_jlist *copy = vlm_jlist_new(VLM_JLIST_LIST, l->n - l->pos);
        if (!copy) return vlm_jctx_oom(c, at);
        for (size_t i = l->pos; i < l->n; i++)
            if (!vlm_jctx_push(c, at, copy, vlm_jv_incref(l->items[i]))) {
                vlm_jlist_decref(copy);
                return false;
            }
        l->pos = l->n; /* consumed, as a Python generator would be */
        *out = copy;
        return true;
    }
    case VLM_JV_DICT: {
        vlm_jlist *keys = vlm_jlist_new(VLM_JLIST_LIST, v.u.d->n);
        if (!keys) return vlm_jctx_oom(c, at);
        for (size_t i = 0; i < v.u.d->n; i++)
            if (!vlm_jctx_push(c, at, keys, vlm_jv_incref(v.u.d->keys[i]))) {
                vlm_jlist_decref(keys);
                return false;
            }
        *out = keys;
        return true;
    }
    case VLM_JV_STR:
        return str_chars(c, at, v.u.s, out);
    case VLM_JV_UNDEFINED:
        *out = vlm_jlist_new(VLM_JLIST_LIST, 0);
        return *out ? true : vlm_jctx_oom(c, at);
    default:
        return vlm_jctx_fail(c, at, VLM_ERR_FORMAT, "TypeError: '%s' object is not iterable",
                             vlm_jv_type_name(v));
    }
}

/* ------------------------------------------------------------- attribute / item access */

static const char *type_repr(vlm_jv v) {
    /* jinja2's object_type_repr, for Undefined hints. */
    switch (v.type) {
    case VLM_JV_NONE:
        return "None";
    case VLM_JV_NAMESPACE:
        return "jinja2.utils.Namespace object";
    case VLM_JV_LOOP:
        return "jinja2.runtime.LoopContext object";
    case VLM_JV_FUNC:
        return v.u.fn->kind == VLM_JFUNC_MACRO ? "jinja2.runtime.Macro object"
                                               : "builtin_function_or_method object";
    default:
        return NULL;
    }
}

static vlm_jv no_attribute(vlm_jv obj, vlm_jv name) {
    const char *t = type_repr(obj);
    if (t) return vlm_jv_undef_hint("'%s' has no attribute '%s'", t, name.u.s->data);
    return vlm_jv_undef_hint("'%s object' has no attribute '%s'", vlm_jv_type_name(obj),
                             name.u.s->data);
}

static bool loop_attr(vlm_jctx *c, const vlm_jnode *at, vlm_jv obj, const char *name, vlm_jv *out) {
    vlm_jloop *lp = obj.u.loop;
    size_t n = lp->items->n, i = lp->index0;
    if (!strcmp(name, "index"))
        *out = vlm_jv_int((int64_t)i + 1);
    else if (!strcmp(name, "index0"))
        *out = vlm_jv_int((int64_t)i);
    else if (!strcmp(name, "revindex"))
        *out = vlm_jv_int((int64_t)(n - i));
    else if (!strcmp(name, "revindex0"))
        *out = vlm_jv_int((int64_t)(n - i - 1));
    else if (!strcmp(name, "first"))
        *out = vlm_jv_bool(i == 0);
    else if (!strcmp(name, "last"))
        *out = vlm_jv_bool(i + 1 == n);
    else if (!strcmp(name, "length"))
        *out = vlm_jv_int((int64_t)n);
    else if (!strcmp(name, "depth"))
        *out = vlm_jv_int(lp->depth0 + 1);
    else if (!strcmp(name, "depth0"))
        *out = vlm_jv_int(lp->depth0);
    else if (!strcmp(name, "previtem"))
        *out = i > 0 ? vlm_jv_incref(lp->items->items[i - 1])
                     : vlm_jv_undef_hint("there is no previous item");
    else if (!strcmp(name, "nextitem"))
        *out = i + 1 < n ? vlm_jv_incref(lp->items->items[i + 1])
                         : vlm_jv_undef_hint("there is no next item");
    else if (!strcmp(name, "cycle") || !strcmp(name, "changed")) {
        vlm_jfunc *fn = calloc(1, sizeof *fn);
        if (!fn) return vlm_jctx_oom(c, at);
        fn->refs = 1;
        fn->kind = VLM_JFUNC_METHOD;
        fn->id = name[1] == 'y' ? VLM_JMETHOD_LOOP_CYCLE : VLM_JMETHOD_LOOP_CHANGED;
        fn->self = vlm_jv_incref(obj);
        fn->name = name[1] == 'y' ? "cycle" : "changed";
        out->type = VLM_JV_FUNC;
        out->u.fn = fn;
    } else {
        *out = vlm_jv_undef_hint("'jinja2.runtime.LoopContext object' has no attribute '%s'", name);
    }
    return true;
}

static bool is_number_attr(const char *name) {
    static const char *const names[] = {
        "real",       "imag",      "numerator", "denominator", "conjugate",
        "bit_length", "bit_count", "to_bytes",  "from_bytes",  "as_integer_ratio",
        "is_integer", "hex",       "fromhex"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(name, names[i])) return true;
    return false;
}

bool vlm_jctx_getattr(vlm_jctx *c, const vlm_jnode *at, vlm_jv obj, vlm_jv name, vlm_jv *out) {
    *out = vlm_jv_undef();
    const char *s = name.u.s->data;
    bool found = false;
    switch (obj.type) {
    case VLM_JV_UNDEFINED:
        /* Attributes every Python object has exist on Undefined too; the sandbox hides them
         * behind an Undefined instead of failing. */
        if (!strcmp(s, "__class__") || !strcmp(s, "__doc__") || !strcmp(s, "__init__") ||
            !strcmp(s, "__module__") || !strcmp(s, "__slots__") || !strcmp(s, "__hash__") ||
            !strcmp(s, "__eq__") || !strcmp(s, "__str__") || !strcmp(s, "__repr__")) {
            *out =
                vlm_jv_undef_hint("access to attribute '%s' of 'Undefined' object is unsafe.", s);
            return true;
        }
        return vlm_jctx_fail_undefined(c, at, obj);
    case VLM_JV_DICT: {
        if (s[0] != '_') {
            if (!vlm_jinja_method_lookup(c, at, obj, name, &found, out)) return false;
            if (found) return true;
        }
        const vlm_jv *v = vlm_jdict_get(obj.u.d, name);
        *out = v ? vlm_jv_incref(*v) : no_attribute(obj, name);
        return true;
    }
    case VLM_JV_STR:
    case VLM_JV_LIST:
        if (s[0] != '_') {
            if (!vlm_jinja_method_lookup(c, at, obj, name, &found, out)) return false;
            if (found) return true;
        }
        *out = no_attribute(obj, name);
        return true;
    case VLM_JV_NAMESPACE: {
        const vlm_jv *v = vlm_jdict_get(obj.u.ns->attrs, name);
        *out = v ? vlm_jv_incref(*v) : no_attribute(obj, name);
        return true;
    }
    case VLM_JV_LOOP:
        return loop_attr(c, at, obj, s, out);
    case VLM_JV_BOOL:
    case VLM_JV_INT:
    case VLM_JV_FLOAT:
        if (is_number_attr(s))
            return vlm_jctx_fail(c, at, VLM_ERR_UNSUPPORTED,
                                 "the attribute '%s' of numbers is not supported", s);
        *out = no_attribute(obj, name);
        return true;
    case VLM_JV_FUNC:
        if (obj.u.fn->kind == VLM_JFUNC_MACRO &&
            (!strcmp(s, "name") || !strcmp(s, "arguments") || !strcmp(s, "defaults") ||
             !strcmp(s, "catch_kwargs") || !strcmp(s, "catch_varargs") || !strcmp(s, "caller")))
            return vlm_jctx_fail(c, at, VLM_ERR_UNSUPPORTED,
                                 "the attribute '%s' of macros is not supported", s);
        *out = no_attribute(obj, name);
        return true;
    default:
        *out = no_attribute(obj, name);
        return true;
    }
}

static bool index_of(vlm_jv key, int64_t *i) {
    if (key.type == VLM_JV_INT)
        *i = key.u.i;
    else if (key.type == VLM_JV_BOOL)
        *i = key.u.b;
    else
        return false;
    return true;
}

static vlm_jv no_element(vlm_jv obj, vlm_jv key) {
    vlm_strbuf b;
    vlm_strbuf_init(&b);
    vlm_jv_write_repr(&b, key);
    const char *t = type_repr(obj);
    vlm_jv u = t ? vlm_jv_undef_hint("%s has no element %s", t, vlm_strbuf_cstr(&b))
                 : vlm_jv_undef_hint("%s object has no element %s", vlm_jv_type_name(obj),
                                     vlm_strbuf_cstr(&b));
    vlm_strbuf_free(&b);
    return u;
}

bool vlm_jctx_getitem(vlm_jctx *c, const vlm_jnode *at, vlm_jv obj, vlm_jv key, vlm_jv *out) {
    *out = vlm_jv_undef();
    int64_t i;
    switch (obj.type) {
    case VLM_JV_UNDEFINED:
        return vlm_jctx_fail_undefined(c, at, obj);
    case VLM_JV_DICT:
        if (vlm_jv_hashable(key)) {
            const vlm_jv *v = vlm_jdict_get(obj.u.d, key);
            if (v) {
                *out = vlm_jv_incref(*v);
                return true;
            }
        }
        break;
    case VLM_JV_LIST: {
        const vlm_jlist *l = obj.u.l;
        bool indexable =
            l->kind == VLM_JLIST_LIST || l->kind == VLM_JLIST_TUPLE || l->kind == VLM_JLIST_RANGE;
        if (indexable && index_of(key, &i)) {
            if (i < 0) i += (int64_t)l->n;
            if (i >= 0 && (uint64_t)i < l->n) {
                *out = vlm_jv_incref(l->items[i]);
                return true;
            }
            *out = no_element(obj, key);
            return true;
        }
        break;
    }
    case VLM_JV_STR:
        if (index_of(key, &i)) {
            const vlm_jstr *s = obj.u.s;
            if (i < 0) i += (int64_t)s->ncp;
            if (i >= 0 && (uint64_t)i < s->ncp) {
                size_t off = vlm_jstr_offset(s, (size_t)i), end = off;
                vlm_utf8_next(s->data, s->len, &end);
                return vlm_jctx_str(c, at, s->data + off, end - off, out);
            }
            *out = no_element(obj, key);
            return true;
        }
        break;
    default:
        break;
    }
    if (key.type == VLM_JV_STR) return vlm_jctx_getattr(c, at, obj, key, out);
    *out = no_element(obj, key);
    return true;
}

/* Python slice.indices(): normalizes start/stop/step for a sequence of length n. */
static bool slice_indices(vlm_jctx *c, const vlm_jnode *at, const vlm_jv *parts, int64_t n,
                          int64_t *start, int64_t *stop, int64_t *step, bool *type_ok) {
    *type_ok = true;
    int64_t v[3];
    bool have[3];
    for (int k = 0; k < 3; k++) {
        have[k] = parts[k].type != VLM_JV_NONE;
        if (have[k] && !index_of(parts[k], &v[k])) {
            *type_ok = false;
            return true;
        }
    }
    *step = have[2] ? v[2] : 1;
    if (*step == 0)
        return vlm_jctx_fail(c, at, VLM_ERR_FORMAT, "ValueError: slice step cannot be zero");
    if (*step == INT64_MIN) *step = -INT64_MAX;
    int64_t lower = *step > 0 ? 0 : -1, upper = *step > 0 ? n : n - 1;
    for (int k = 0; k < 2; k++) {
        int64_t x;
        if (!have[k]) {
            x = (k == 0) == (*step > 0) ? lower : upper;
        } else {
            x = v[k];
            if (x < 0) {
                x = x < -n ? lower : x + n;
                if (x < lower) x = lower;
            } else if (x > upper) {
                x = upper;
            }
        }
        if (k == 0)
            *start = x;
        else
            *stop = x;
    }
    return true;
}

static bool do_slice(vlm_jctx *c, const vlm_jnode *at, vlm_jv obj, const vlm_jv *parts,
                     vlm_jv *out) {
    *out = vlm_jv_undef();
    if (obj.type == VLM_JV_UNDEFINED) return vlm_jctx_fail_undefined(c, at, obj);
    bool seq = obj.type == VLM_JV_STR ||
               (obj.type == VLM_JV_LIST &&
                (obj.u.l->kind == VLM_JLIST_LIST || obj.u.l->kind == VLM_JLIST_TUPLE ||
                 obj.u.l->kind == VLM_JLIST_RANGE));
    /* jinja2 compiles a slice to a plain Python subscript (no getitem fallback). */
    if (!seq)
        return vlm_jctx_fail(c, at, VLM_ERR_FORMAT,
                             "TypeError: '%s' object is not subscriptable with a slice",
                             vlm_jv_type_name(obj));
    int64_t n = obj.type == VLM_JV_STR ? (int64_t)obj.u.s->ncp : (int64_t)obj.u.l->n;
    int64_t start = 0, stop = 0, step = 1;
    bool type_ok;
    if (!slice_indices(c, at, parts, n, &start, &stop, &step, &type_ok)) return false;
    if (!type_ok)
        return vlm_jctx_fail(c, at, VLM_ERR_FORMAT,
                             "TypeError: slice indices must be integers or None or have an "
                             "__index__ method");
    if (obj.type == VLM_JV_STR) {
        const vlm_jstr *s = obj.u.s;
        if (step == 1) {
            if (stop < start) stop = start;
            size_t a = vlm_jstr_offset(s, (size_t)start), b = vlm_jstr_offset(s, (size_t)stop);
            return vlm_jctx_str(c, at, s->data + a, b - a, out);
        }
        /* General step: walk the code point offsets once. */
        size_t *offs = vlm_malloc_array(s->ncp + 1, sizeof *offs);
        if (!offs) return vlm_jctx_oom(c, at);
        size_t i = 0, k = 0;
        while (i < s->len) {
            offs[k++] = i;
            vlm_utf8_next(s->data, s->len, &i);
        }
        offs[k] = s->len;
        vlm_strbuf b;
        vlm_strbuf_init(&b);
        for (int64_t j = start; step > 0 ? j < stop : j > stop; j += step) {
            vlm_strbuf_append(&b, s->data + offs[j], offs[j + 1] - offs[j]);
            if (step < 0 && j < INT64_MIN - step) break;
            if (step > 0 && j > INT64_MAX - step) break;
        }
        free(offs);
        return vlm_jctx_buf(c, at, &b, out);
    }
    const vlm_jlist *l = obj.u.l;
    vlm_jlist *r = vlm_jlist_new(l->kind, 0);
    if (!r) return vlm_jctx_oom(c, at);
    for (int64_t j = start; step > 0 ? j < stop : j > stop; j += step) {
        if (!vlm_jctx_push(c, at, r, vlm_jv_incref(l->items[j]))) {
            vlm_jlist_decref(r);
            return false;
        }
        if ((step < 0 && j < INT64_MIN - step) || (step > 0 && j > INT64_MAX - step)) break;
    }
    if (l->kind == VLM_JLIST_RANGE) {
        /* range(start, stop, step)[a:b:c] is range(start + a*step, start + b*step, step*c). */
        int64_t s0 = l->range_start, st = l->range_step;
        r->range_start = s0 + start * st;
        r->range_stop = s0 + stop * st;
        r->range_step = st * step;
    }
    *out = vlm_jv_list(r);
    return true;
}

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
        if (ok) ok = do_slice(c, nd, obj, parts, out);
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
    if (nd->kind == VLM_JN_NOT) {
        *out = vlm_jv_bool(!vlm_jv_truthy(v));
        vlm_jv_decref(v);
        return true;
    }
    bool neg = nd->kind == VLM_JN_NEG;
    bool ok = true;
    if (v.type == VLM_JV_INT || v.type == VLM_JV_BOOL) {
        int64_t i = as_i64(v);
        if (neg && i == INT64_MIN)
            ok = overflow(c, nd);
        else
            *out = vlm_jv_int(neg ? -i : i);
    } else if (v.type == VLM_JV_FLOAT) {
        *out = vlm_jv_float(neg ? -v.u.f : v.u.f);
    } else if (v.type == VLM_JV_UNDEFINED) {
        ok = vlm_jctx_fail_undefined(c, nd, v);
    } else {
        ok = vlm_jctx_fail(c, nd, VLM_ERR_FORMAT, "TypeError: bad operand type for unary %c: '%s'",
                           neg ? '-' : '+', vlm_jv_type_name(v));
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
    return keep_scope(c, nd, sc);
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
