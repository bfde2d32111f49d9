/* Jinja sequence filters: sort, dictsort, unique, min/max, select/reject(attr), map, join,
 * batch/slice and sum, with jinja2 3.1's argument lists, attribute paths ("a.b.0") and
 * case-insensitive keys. Results that jinja2 returns as iterators are generator values. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "text/jinja_filters.h"
#include "text/jinja_lexer.h"
#include "text/jinja_pystr.h"

/* jinja2's make_attrgetter path: "a.b.0" -> getitem chain, digit parts as ints. */
typedef struct attr_path {
    vlm_jv parts[16];
    int n;
} attr_path;

static void path_free(attr_path *p) {
    for (int i = 0; i < p->n; i++)
        vlm_jv_decref(p->parts[i]);
    p->n = 0;
}

static bool path_parse(vlm_jctx *c, const vlm_jnode *at, vlm_jv attr, const char *s, size_t len,
                       attr_path *p) {
    p->n = 0;
    if (!s) { /* a non-string attribute is a single key */
        p->parts[p->n++] = vlm_jv_incref(attr);
        return true;
    }
    size_t i = 0;
    for (;;) {
        size_t j = i;
        while (j < len && s[j] != '.')
            j++;
        if (p->n == 16) {
            path_free(p);
            return vlm_jctx_fail(c, at, VLM_ERR_LIMIT, "attribute path too long");
        }
        bool digits = j > i;
        int64_t v = 0;
        for (size_t k = i; k < j; k++) {
            if (s[k] < '0' || s[k] > '9' || v > 100000000000000LL)
                digits = false;
            else
                v = v * 10 + (s[k] - '0');
        }
        if (digits) {
            p->parts[p->n++] = vlm_jv_int(v);
        } else {
            vlm_jv part;
            if (!vlm_jctx_str(c, at, s + i, j - i, &part)) {
                path_free(p);
                return false;
            }
            p->parts[p->n++] = part;
        }
        if (j >= len) break;
        i = j + 1;
    }
    return true;
}

static bool path_get(vlm_jctx *c, const vlm_jnode *at, const attr_path *p, vlm_jv item,
                     const vlm_jv *dflt, vlm_jv *out) {
    vlm_jv cur = vlm_jv_incref(item);
    for (int i = 0; i < p->n; i++) {
        vlm_jv next;
        bool ok = vlm_jctx_getitem(c, at, cur, p->parts[i], &next);
        vlm_jv_decref(cur);
        if (!ok) return false;
        if (dflt && next.type == VLM_JV_UNDEFINED) {
            vlm_jv_decref(next);
            next = vlm_jv_incref(*dflt);
        }
        cur = next;
    }
    *out = cur;
    return true;
}

/* Parses an attribute argument: NONE/absent -> no path; str "a.b,c.d" -> several paths when
 * multi; int -> one path. */
typedef struct attr_spec {
    attr_path paths[8];
    int n;
    bool multi;
} attr_spec;

static void spec_free(attr_spec *s) {
    for (int i = 0; i < s->n; i++)
        path_free(&s->paths[i]);
    s->n = 0;
}

static bool spec_parse(vlm_jctx *c, const vlm_jnode *at, vlm_jv attr, bool multi, attr_spec *sp) {
    sp->n = 0;
    sp->multi = multi;
    if (attr.type == VLM_JV_NONE) return true;
    if (attr.type != VLM_JV_STR) { /* any other value is one key, looked up as it is */
        sp->n = 1;
        return path_parse(c, at, attr, NULL, 0, &sp->paths[0]);
    }
    const char *s = attr.u.s->data;
    size_t len = attr.u.s->len, i = 0;
    for (;;) {
        size_t j = i;
        while (multi && j < len && s[j] != ',')
            j++;
        if (!multi) j = len;
        if (sp->n == 8) {
            spec_free(sp);
            return vlm_jctx_fail(c, at, VLM_ERR_LIMIT, "too many attributes");
        }
        if (!path_parse(c, at, attr, s + i, j - i, &sp->paths[sp->n])) {
            spec_free(sp);
            return false;
        }
        sp->n++;
        if (j >= len) break;
        i = j + 1;
    }
    return true;
}

/* Python str.lower() for strings (jinja2's ignore_case), others unchanged; takes v. */
static bool ignore_case(vlm_jctx *c, const vlm_jnode *at, vlm_jv v, vlm_jv *out) {
    if (v.type != VLM_JV_STR) {
        *out = v;
        return true;
    }
    vlm_strbuf b;
    vlm_strbuf_init(&b);
    const char *e = vlm_py_lower(&b, v.u.s->data, v.u.s->len);
    vlm_jv_decref(v);
    if (e) {
        vlm_strbuf_free(&b);
        return vlm_jctx_fail(c, at, VLM_ERR_UNSUPPORTED, "%s", e);
    }
    return vlm_jctx_buf(c, at, &b, out);
}

/* The sort/unique/min/max key of an item: the attribute(s), lowercased unless case_sensitive. */
static bool key_of(vlm_jctx *c, const vlm_jnode *at, const attr_spec *sp, bool case_sensitive,
                   vlm_jv item, vlm_jv *out) {
    if (!sp->multi) {
        vlm_jv k;
        if (sp->n == 0)
            k = vlm_jv_incref(item);
        else if (!path_get(c, at, &sp->paths[0], item, NULL, &k))
            return false;
        if (case_sensitive) {
            *out = k;
            return true;
        }
        return ignore_case(c, at, k, out);
    }
    vlm_jlist *l;
    if (!vlm_jf_new_list(c, at, VLM_JLIST_LIST, (size_t)(sp->n ? sp->n : 1), &l)) return false;
    int n = sp->n ? sp->n : 1;
    for (int i = 0; i < n; i++) {
        vlm_jv k;
        bool ok = sp->n ? path_get(c, at, &sp->paths[i], item, NULL, &k)
                        : (k = vlm_jv_incref(item), true);
        if (ok && !case_sensitive) ok = ignore_case(c, at, k, &k);
        if (!ok || !vlm_jctx_push(c, at, l, k)) {
            vlm_jlist_decref(l);
            return false;
        }
    }
    *out = vlm_jv_list(l);
    return true;
}

bool vlm_jinja_sort_indices(vlm_jctx *c, const vlm_jnode *at, size_t *idx, size_t n,
                            const vlm_jv *keys, bool reverse) {
    size_t *tmp = vlm_malloc_array(n ? n : 1, sizeof *tmp);
    if (!tmp) return vlm_jctx_oom(c, at);
    for (size_t width = 1; width < n; width *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * width) {
            size_t mid = lo + width < n ? lo + width : n;
            size_t hi = lo + 2 * width < n ? lo + 2 * width : n;
            size_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi) {
                /* ascending: right first only if right < left; descending: if left < right */
                bool take_right;
                vlm_jv x = reverse ? keys[idx[i]] : keys[idx[j]];
                vlm_jv y = reverse ? keys[idx[j]] : keys[idx[i]];
                if (!vlm_jctx_compare(c, at, VLM_JCMP_LT, x, y, &take_right)) {
                    free(tmp);
                    return false;
                }
                tmp[k++] = take_right ? idx[j++] : idx[i++];
            }
            while (i < mid)
                tmp[k++] = idx[i++];
            while (j < hi)
                tmp[k++] = idx[j++];
        }
        memcpy(idx, tmp, n * sizeof *idx);
    }
    free(tmp);
    return true;
}

/* Sorts items by their keys into a new list (takes neither). */
static bool sorted_by(vlm_jctx *c, const vlm_jnode *at, const vlm_jlist *items, const vlm_jv *keys,
                      bool reverse, uint8_t kind, vlm_jv *out) {
    size_t n = items->n;
    size_t *idx = vlm_malloc_array(n ? n : 1, sizeof *idx);
    if (!idx) return vlm_jctx_oom(c, at);
    for (size_t i = 0; i < n; i++)
        idx[i] = i;
    bool ok = vlm_jinja_sort_indices(c, at, idx, n, keys, reverse);
    vlm_jlist *l = NULL;
    if (ok) ok = vlm_jf_new_list(c, at, kind, n, &l);
    for (size_t i = 0; ok && i < n; i++)
        ok = vlm_jctx_push(c, at, l, vlm_jv_incref(items->items[idx[i]]));
    free(idx);
    if (!ok) {
        vlm_jlist_decref(l);
        return false;
    }
    *out = vlm_jv_list(l);
    return true;
}

static void free_keys(vlm_jv *keys, size_t n) {
    for (size_t i = 0; i < n; i++)
        vlm_jv_decref(keys[i]);
    free(keys);
}

/* ------------------------------------------------------------- individual filters */

bool vlm_jf_sort(vlm_jctx *c, const vlm_jnode *at, vlm_jv v, const vlm_jargs *a, vlm_jv *out) {
    static const char *const params[] = {"reverse", "case_sensitive", "attribute"};
    vlm_jfargs b;
    if (!vlm_jf_bind(c, at, VLM_JF_SORT, a, params, 3, &b)) return false;
    attr_spec sp;
    if (!spec_parse(c, at, b.given[2] ? b.v[2] : vlm_jv_none(), true, &sp)) return false;
    /* jinja2 sorts by a list of keys even without an attribute ([item]), so equal items
     * never need ordering among themselves (a list of Undefined sorts fine). */
    vlm_jlist *items;
    if (!vlm_jctx_iterate(c, at, v, &items)) {
        spec_free(&sp);
        return false;
    }
    vlm_jv *keys = vlm_calloc_array(items->n ? items->n : 1, sizeof *keys);
    bool ok = keys != NULL;
    if (!ok) vlm_jctx_oom(c, at);
    size_t nk = 0;
    for (size_t i = 0; ok && i < items->n; i++, nk++)
        ok = key_of(c, at, &sp, vlm_jv_truthy(b.v[1]), items->items[i], &keys[i]);
    if (ok) ok = sorted_by(c, at, items, keys, vlm_jv_truthy(b.v[0]), VLM_JLIST_LIST, out);
    if (keys) free_keys(keys, nk);
    vlm_jlist_decref(items);
    spec_free(&sp);
    return ok;
}

bool vlm_jf_dictsort(vlm_jctx *c, const vlm_jnode *at, vlm_jv v, const vlm_jargs *a, vlm_jv *out) {
    static const char *const params[] = {"case_sensitive", "by", "reverse"};
    vlm_jfargs b;
    if (!vlm_jf_bind(c, at, VLM_JF_DICTSORT, a, params, 3, &b)) return false;
    int pos = 0;
    if (b.given[1]) {
        vlm_jv by = b.v[1];
        if (by.type == VLM_JV_STR && !strcmp(by.u.s->data, "value"))
            pos = 1;
        else if (!(by.type == VLM_JV_STR && !strcmp(by.u.s->data, "key")))
            return vlm_jctx_fail(
                c, at, VLM_ERR_FORMAT,
                "FilterArgumentError: You can only sort by either \"key\" or \"value\"");
    }
    if (v.type != VLM_JV_DICT)
        return vlm_jctx_fail(c, at, VLM_ERR_FORMAT,
                             "AttributeError: '%s' object has no attribute 'items'",
                             vlm_jv_type_name(v));
    const vlm_jdict *d = v.u.d;
    vlm_jlist *items;
    if (!vlm_jf_new_list(c, at, VLM_JLIST_LIST, d->n, &items)) return false;
    vlm_jv *keys = vlm_calloc_array(d->n ? d->n : 1, sizeof *keys);
    bool ok = keys != NULL;
    if (!ok) vlm_jctx_oom(c, at);
    size_t nk = 0;
    for (size_t i = 0; ok && i < d->n; i++) {
        vlm_jlist *pair;
        ok = vlm_jf_new_list(c, at, VLM_JLIST_TUPLE, 2, &pair);
        if (!ok) break;
        ok = vlm_jctx_push(c, at, pair, vlm_jv_incref(d->keys[i])) &&
             vlm_jctx_push(c, at, pair, vlm_jv_incref(d->vals[i]));
        if (!ok) {
            vlm_jlist_decref(pair);
            break;
        }
        ok = vlm_jctx_push(c, at, items, vlm_jv_list(pair));
        if (!ok) break;
        vlm_jv k = vlm_jv_incref(pos ? d->vals[i] : d->keys[i]);
        if (!vlm_jv_truthy(b.v[0])) ok = ignore_case(c, at, k, &k);
        if (!ok) break;
        keys[nk++] = k;
    }
    if (ok) ok = sorted_by(c, at, items, keys, vlm_jv_truthy(b.v[2]), VLM_JLIST_LIST, out);
    if (keys) free_keys(keys, nk);
    vlm_jlist_decref(items);
    return ok;
}

bool vlm_jf_unique(vlm_jctx *c, const vlm_jnode *at, vlm_jv v, const vlm_jargs *a, vlm_jv *out) {
    static const char *const params[] = {"case_sensitive", "attribute"};
    vlm_jfargs b;
    if (!vlm_jf_bind(c, at, VLM_JF_UNIQUE, a, params, 2, &b)) return false;
    attr_spec sp;
    if (!spec_parse(c, at, b.given[1] ? b.v[1] : vlm_jv_none(), false, &sp)) return false;
    vlm_jlist *items, *res = NULL;
    if (!vlm_jctx_iterate(c, at, v, &items)) {
        spec_free(&sp);
        return false;
    }
    vlm_jdict *seen = vlm_jdict_new(0);
    bool ok = seen && vlm_jf_new_list(c, at, VLM_JLIST_GENERATOR, 0, &res);
    if (!seen) vlm_jctx_oom(c, at);
    for (size_t i = 0; ok && i < items->n; i++) {
        vlm_jv k;
        ok = key_of(c, at, &sp, vlm_jv_truthy(b.v[0]), items->items[i], &k);
        if (!ok) break;
        if (!vlm_jv_hashable(k)) {
            ok = vlm_jctx_fail(c, at, VLM_ERR_FORMAT, "TypeError: unhashable type: '%s'",
                               vlm_jv_type_name(k));
            vlm_jv_decref(k);
            break;
        }
        if (vlm_jdict_get(seen, k)) {
            vlm_jv_decref(k);
            continue;
        }
        ok = vlm_jdict_set(seen, k, vlm_jv_none()) || vlm_jctx_oom(c, at);
        if (ok) ok = vlm_jctx_push(c, at, res, vlm_jv_incref(items->items[i]));
    }
    vlm_jdict_decref(seen);
    vlm_jlist_decref(items);
    spec_free(&sp);
    if (!ok) {
        vlm_jlist_decref(res);
        return false;
    }
    return vlm_jf_finish_list(res, out);
}

bool vlm_jf_minmax(vlm_jctx *c, const vlm_jnode *at, int id, vlm_jv v, const vlm_jargs *a,
                   vlm_jv *out) {
    static const char *const params[] = {"case_sensitive", "attribute"};
    vlm_jfargs b;
    if (!vlm_jf_bind(c, at, id, a, params, 2, &b)) return false;
    vlm_jlist *items;
    if (!vlm_jctx_iterate(c, at, v, &items)) return false;
    attr_spec sp = {.n = 0};
    bool ok = true;
    if (items->n == 0) { /* jinja2 returns before it looks at the attribute */
        *out = vlm_jv_undef_hint("No aggregated item, sequence was empty.");
    } else if (!(ok = spec_parse(c, at, b.given[1] ? b.v[1] : vlm_jv_none(), false, &sp))) {
        /* error recorded */
    } else {
        size_t best = 0;
        vlm_jv best_key = vlm_jv_undef();
        ok = key_of(c, at, &sp, vlm_jv_truthy(b.v[0]), items->items[0], &best_key);
        for (size_t i = 1; ok && i < items->n; i++) {
            vlm_jv k;
            bool better;
            ok = key_of(c, at, &sp, vlm_jv_truthy(b.v[0]), items->items[i], &k);
            if (!ok) break;
            ok = vlm_jctx_compare(c, at, id == VLM_JF_MAX ? VLM_JCMP_GT : VLM_JCMP_LT, k, best_key,
                                  &better);
            if (ok && better) {
                vlm_jv_decref(best_key);
                best_key = k;
                best = i;
            } else {
                vlm_jv_decref(k);
            }
        }
        vlm_jv_decref(best_key);
        if (ok) *out = vlm_jv_incref(items->items[best]);
    }
    vlm_jlist_decref(items);
    spec_free(&sp);
    return ok;
}

/* select / reject / selectattr / rejectattr */
bool vlm_jf_select(vlm_jctx *c, const vlm_jnode *at, int id, vlm_jv v, const vlm_jargs *a,
                   vlm_jv *out) {
    bool attr = id == VLM_JF_SELECTATTR || id == VLM_JF_REJECTATTR;
    bool keep_if = id == VLM_JF_SELECT || id == VLM_JF_SELECTATTR;
    vlm_jlist *res;
    if (!vlm_jf_new_list(c, at, VLM_JLIST_GENERATOR, 0, &res)) return false;
    if (!vlm_jv_truthy(v)) return vlm_jf_finish_list(res, out); /* `if value:` guards the loop */
    uint32_t off = 0;
    attr_spec sp = {.n = 0};
    if (attr) {
        if (a->npos < 1) {
            vlm_jlist_decref(res);
            return vlm_jctx_fail(c, at, VLM_ERR_FORMAT,
                                 "FilterArgumentError: Missing parameter for attribute name");
        }
        if (!spec_parse(c, at, a->pos[0], false, &sp)) {
            vlm_jlist_decref(res);
            return false;
        }
        off = 1;
    }
    int test = -1;
    if (a->npos > off) {
        vlm_jv name = a->pos[off];
        if (name.type != VLM_JV_STR || strlen(name.u.s->data) != name.u.s->len ||
            (test = vlm_jinja_test_id(name.u.s->data)) < 0) {
            spec_free(&sp);
            vlm_jlist_decref(res);
            if (name.type != VLM_JV_STR)
                return vlm_jctx_fail(c, at, VLM_ERR_FORMAT,
                                     "TemplateRuntimeError: test name must be a string");
            return vlm_jctx_fail(c, at, VLM_ERR_FORMAT, "TemplateRuntimeError: No test named '%s'.",
                                 name.u.s->data);
        }
        off++;
    } else if (a->nkw) {
        spec_free(&sp);
        vlm_jlist_decref(res);
        return vlm_jctx_fail(c, at, VLM_ERR_FORMAT, "TypeError: unexpected keyword arguments");
    }
    vlm_jargs targs = {.pos = a->pos + off,
                       .npos = a->npos - off,
                       .kwnames = a->kwnames,
                       .kwvals = a->kwvals,
                       .nkw = a->nkw};
    vlm_jlist *items = NULL;
    bool ok = vlm_jctx_iterate(c, at, v, &items);
    for (size_t i = 0; ok && i < items->n; i++) {
        vlm_jv x;
        if (attr)
            ok = path_get(c, at, &sp.paths[0], items->items[i], NULL, &x);
        else
            x = vlm_jv_incref(items->items[i]);
        if (!ok) break;
        bool r;
        if (test >= 0)
            ok = vlm_jinja_apply_test(c, at, test, x, &targs, &r);
        else
            r = vlm_jv_truthy(x);
        vlm_jv_decref(x);
        if (ok && r == keep_if) ok = vlm_jctx_push(c, at, res, vlm_jv_incref(items->items[i]));
    }
    vlm_jlist_decref(items);
    spec_free(&sp);
    if (!ok) {
        vlm_jlist_decref(res);
        return false;
    }
    return vlm_jf_finish_list(res, out);
}

bool vlm_jf_map(vlm_jctx *c, const vlm_jnode *at, vlm_jv v, const vlm_jargs *a, vlm_jv *out) {
    vlm_jlist *items, *res;
    if (!vlm_jv_truthy(v)) { /* `if value:` guards jinja2's map; its arguments go unchecked */
        if (!vlm_jf_new_list(c, at, VLM_JLIST_GENERATOR, 0, &res)) return false;
        return vlm_jf_finish_list(res, out);
    }
    if (!vlm_jctx_iterate(c, at, v, &items)) return false;
    if (!vlm_jf_new_list(c, at, VLM_JLIST_GENERATOR, items->n, &res)) {
        vlm_jlist_decref(items);
        return false;
    }
    bool ok = true;
    if (a->npos == 0 && a->nkw > 0) {
        /* map(attribute=..., default=...) */
        const vlm_jv *attrv = NULL, *dflt = NULL;
        for (uint32_t k = 0; k < a->nkw; k++) {
            const char *n = a->kwnames[k].u.s->data;
            if (!strcmp(n, "attribute"))
                attrv = &a->kwvals[k];
            else if (!strcmp(n, "default"))
                dflt = &a->kwvals[k];
            else {
                ok = vlm_jctx_fail(c, at, VLM_ERR_FORMAT,
                                   "FilterArgumentError: Unexpected keyword argument '%s'", n);
            }
        }
        if (ok && !attrv)
            ok = vlm_jctx_fail(c, at, VLM_ERR_FORMAT,
                               "FilterArgumentError: map requires a filter argument");
        attr_spec sp = {.n = 0};
        if (ok) ok = spec_parse(c, at, *attrv, false, &sp);
        /* jinja2 substitutes the default only when it is not None. */
        if (dflt && dflt->type == VLM_JV_NONE) dflt = NULL;
        for (size_t i = 0; ok && i < items->n; i++) {
            vlm_jv x;
            if (sp.n)
                ok = path_get(c, at, &sp.paths[0], items->items[i], dflt, &x);
            else
                x = vlm_jv_incref(items->items[i]);
            if (ok) ok = vlm_jctx_push(c, at, res, x);
        }
        spec_free(&sp);
    } else {
        if (a->npos == 0)
            ok = vlm_jctx_fail(c, at, VLM_ERR_FORMAT,
                               "FilterArgumentError: map requires a filter argument");
        int fid = -1;
        if (ok) {
            vlm_jv name = a->pos[0];
            if (name.type != VLM_JV_STR || strlen(name.u.s->data) != name.u.s->len ||
                (fid = vlm_jinja_filter_id(name.u.s->data)) < 0)
                ok = vlm_jctx_fail(c, at, VLM_ERR_FORMAT,
                                   "TemplateRuntimeError: No filter named '%s'.",
                                   name.type == VLM_JV_STR ? name.u.s->data : "?");
        }
        vlm_jargs fargs = {.pos = a->pos + 1,
                           .npos = a->npos ? a->npos - 1 : 0,
                           .kwnames = a->kwnames,
                           .kwvals = a->kwvals,
                           .nkw = a->nkw};
        for (size_t i = 0; ok && i < items->n; i++) {
            vlm_jv x;
            ok = vlm_jinja_apply_filter(c, at, fid, items->items[i], &fargs, &x);
            if (ok) ok = vlm_jctx_push(c, at, res, x);
        }
    }
    vlm_jlist_decref(items);
    if (!ok) {
        vlm_jlist_decref(res);
        return false;
    }
    return vlm_jf_finish_list(res, out);
}

bool vlm_jf_join(vlm_jctx *c, const vlm_jnode *at, vlm_jv v, const vlm_jargs *a, vlm_jv *out) {
    static const char *const params[] = {"d", "attribute"};
    vlm_jfargs b;
    if (!vlm_jf_bind(c, at, VLM_JF_JOIN, a, params, 2, &b)) return false;
    vlm_strbuf sep;
    vlm_strbuf_init(&sep);
    if (b.given[0] && !vlm_jctx_write(c, at, &sep, b.v[0])) {
        vlm_strbuf_free(&sep);
        return false;
    }
    attr_spec sp = {.n = 0};
    if (b.given[1] && !spec_parse(c, at, b.v[1], false, &sp)) {
        vlm_strbuf_free(&sep);
        return false;
    }
    vlm_jlist *items;
    if (!vlm_jctx_iterate(c, at, v, &items)) {
        spec_free(&sp);
        vlm_strbuf_free(&sep);
        return false;
    }
    vlm_strbuf r;
    vlm_strbuf_init(&r);
    bool ok = true;
    for (size_t i = 0; ok && i < items->n; i++) {
        if (i) vlm_strbuf_append(&r, vlm_strbuf_cstr(&sep), sep.len);
        vlm_jv x;
        if (sp.n)
            ok = path_get(c, at, &sp.paths[0], items->items[i], NULL, &x);
        else
            x = vlm_jv_incref(items->items[i]);
        if (ok) ok = vlm_jctx_write(c, at, &r, x);
        vlm_jv_decref(x);
    }
    vlm_jlist_decref(items);
    spec_free(&sp);
    vlm_strbuf_free(&sep);
    if (!ok) {
        vlm_strbuf_free(&r);
        return false;
    }
    return vlm_jctx_buf(c, at, &r, out);
}

bool vlm_jf_batch_slice(vlm_jctx *c, const vlm_jnode *at, int id, vlm_jv v, const vlm_jargs *a,
                        vlm_jv *out) {
    static const char *const bparams[] = {"linecount", "fill_with"};
    static const char *const sparams[] = {"slices", "fill_with"};
    vlm_jfargs b;
    if (!vlm_jf_bind(c, at, id, a, id == VLM_JF_BATCH ? bparams : sparams, 2, &b)) return false;
    if (!b.given[0])
        return vlm_jctx_fail(c, at, VLM_ERR_FORMAT, "TypeError: %s() missing 1 required argument",
                             vlm_jinja_filter_name(id));
    int64_t n;
    if (!vlm_jf_arg_int(c, at, b.v[0], vlm_jinja_filter_name(id), &n)) return false;
    bool fill = b.given[1] && b.v[1].type != VLM_JV_NONE;
    vlm_jlist *items, *res;
    if (!vlm_jctx_iterate(c, at, v, &items)) return false;
    if (!vlm_jf_new_list(c, at, VLM_JLIST_GENERATOR, 0, &res)) {
        vlm_jlist_decref(items);
        return false;
    }
    bool ok = true;
    if (id == VLM_JF_BATCH) {
        vlm_jlist *tmp = NULL;
        ok = vlm_jf_new_list(c, at, VLM_JLIST_LIST, 0, &tmp);
        for (size_t i = 0; ok && i < items->n; i++) {
            if ((int64_t)tmp->n == n) { /* full (with 0, an empty batch comes first) */
                ok = vlm_jctx_push(c, at, res, vlm_jv_list(tmp));
                tmp = NULL;
                if (!ok || !(ok = vlm_jf_new_list(c, at, VLM_JLIST_LIST, 0, &tmp))) break;
            }
            ok = vlm_jctx_push(c, at, tmp, vlm_jv_incref(items->items[i]));
        }
        if (ok && tmp && tmp->n) {
            if (fill && (int64_t)tmp->n < n) {
                if (n - (int64_t)tmp->n > 100000)
                    ok = vlm_jctx_fail(c, at, VLM_ERR_LIMIT, "batch fill too large");
                while (ok && (int64_t)tmp->n < n)
                    ok = vlm_jctx_push(c, at, tmp, vlm_jv_incref(b.v[1]));
            }
            if (ok) {
                ok = vlm_jctx_push(c, at, res, vlm_jv_list(tmp));
                tmp = NULL;
            }
        }
        vlm_jlist_decref(tmp);
    } else {
        if (n <= 0) {
            ok = vlm_jctx_fail(c, at, VLM_ERR_FORMAT,
                               n == 0 ? "ZeroDivisionError: integer division or modulo by zero"
                                      : "slice(): a negative number of slices is not supported");
        } else if (n > 100000) {
            ok = vlm_jctx_fail(c, at, VLM_ERR_LIMIT, "slice(): too many slices");
        }
        int64_t len = (int64_t)items->n, per = ok ? len / n : 0, extra = ok ? len % n : 0,
                offset = 0;
        for (int64_t k = 0; ok && k < n; k++) {
            int64_t start = offset + k * per;
            if (k < extra) offset++;
            int64_t end = offset + (k + 1) * per;
            vlm_jlist *tmp;
            if (!(ok = vlm_jf_new_list(c, at, VLM_JLIST_LIST, 0, &tmp))) break;
            for (int64_t i = start; ok && i < end; i++)
                ok = vlm_jctx_push(c, at, tmp, vlm_jv_incref(items->items[i]));
            if (ok && fill && k >= extra) ok = vlm_jctx_push(c, at, tmp, vlm_jv_incref(b.v[1]));
            if (ok)
                ok = vlm_jctx_push(c, at, res, vlm_jv_list(tmp));
            else
                vlm_jlist_decref(tmp);
        }
    }
    vlm_jlist_decref(items);
    if (!ok) {
        vlm_jlist_decref(res);
        return false;
    }
    return vlm_jf_finish_list(res, out);
}

bool vlm_jf_sum(vlm_jctx *c, const vlm_jnode *at, vlm_jv v, const vlm_jargs *a, vlm_jv *out) {
    static const char *const params[] = {"attribute", "start"};
    vlm_jfargs b;
    if (!vlm_jf_bind(c, at, VLM_JF_SUM, a, params, 2, &b)) return false;
    vlm_jv acc = b.given[1] ? vlm_jv_incref(b.v[1]) : vlm_jv_int(0);
    if (acc.type == VLM_JV_STR) {
        vlm_jv_decref(acc);
        return vlm_jctx_fail(c, at, VLM_ERR_FORMAT,
                             "TypeError: sum() can't sum strings [use ''.join(seq) instead]");
    }
    attr_spec sp = {.n = 0};
    if (b.given[0] && !spec_parse(c, at, b.v[0], false, &sp)) {
        vlm_jv_decref(acc);
        return false;
    }
    vlm_jlist *items = NULL;
    bool ok = vlm_jctx_iterate(c, at, v, &items);
    for (size_t i = 0; ok && i < items->n; i++) {
        vlm_jv x, r;
        if (sp.n)
            ok = path_get(c, at, &sp.paths[0], items->items[i], NULL, &x);
        else
            x = vlm_jv_incref(items->items[i]);
        if (!ok) break;
        ok = vlm_jctx_binop(c, at, VLM_JOP_ADD, acc, x, &r);
        vlm_jv_decref(x);
        if (ok) {
            vlm_jv_decref(acc);
            acc = r;
        }
    }
    vlm_jlist_decref(items);
    spec_free(&sp);
    if (!ok) {
        vlm_jv_decref(acc);
        return false;
    }
    *out = acc;
    return true;
}
