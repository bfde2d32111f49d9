/* Reading from values, as jinja2's sandboxed environment does: iteration (what a for loop
 * sees), env.getattr and env.getitem with their fallbacks (obj.x tries the attribute, then
 * the item; obj['x'] the item, then the attribute; misses give an Undefined that knows
 * why), the loop object's attributes, and Python slicing (which jinja2 compiles to a plain
 * subscript, so failures there are errors). */
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

bool vlm_jctx_slice(vlm_jctx *c, const vlm_jnode *at, vlm_jv obj, const vlm_jv *parts,
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
