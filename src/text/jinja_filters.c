/* Jinja filters: jinja2 3.1's builtin filters with their exact argument lists and results,
 * plus transformers' own tojson (json.dumps with ensure_ascii=False). Filters that return
 * iterators in jinja2 (map, select, reject, unique, batch, slice, items, reverse of a list)
 * return generator values here, with the same consequences: they cannot be printed or
 * measured with length, and they are consumed by one pass. A few rarely useful filters
 * (groupby, pprint, random, striptags, urlencode, urlize, wordwrap, xmlattr, filesizeformat)
 * are known but refused when reached.
 *
 * |safe and |escape make markupsafe.Markup strings. Printing one is plain, but jinja2
 * escapes the other operands of ~ and + once a Markup takes part; this engine keeps the
 * Markup mark through ~ and + and refuses the combination when escaping would change a
 * character, so it never prints something different. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "text/jinja_eval.h"
#include "text/jinja_lexer.h"
#include "text/jinja_pystr.h"

typedef enum filter_id {
    F_ABS,
    F_ATTR,
    F_BATCH,
    F_CAPITALIZE,
    F_CENTER,
    F_COUNT,
    F_D,
    F_DEFAULT,
    F_DICTSORT,
    F_E,
    F_ESCAPE,
    F_FILESIZEFORMAT,
    F_FIRST,
    F_FLOAT,
    F_FORCEESCAPE,
    F_FORMAT,
    F_GROUPBY,
    F_INDENT,
    F_INT,
    F_JOIN,
    F_LAST,
    F_LENGTH,
    F_LIST,
    F_LOWER,
    F_ITEMS,
    F_MAP,
    F_MIN,
    F_MAX,
    F_PPRINT,
    F_RANDOM,
    F_REJECT,
    F_REJECTATTR,
    F_REPLACE,
    F_REVERSE,
    F_ROUND,
    F_SAFE,
    F_SELECT,
    F_SELECTATTR,
    F_SLICE,
    F_SORT,
    F_STRING,
    F_STRIPTAGS,
    F_SUM,
    F_TITLE,
    F_TRIM,
    F_TRUNCATE,
    F_UNIQUE,
    F_UPPER,
    F_URLENCODE,
    F_URLIZE,
    F_WORDCOUNT,
    F_WORDWRAP,
    F_XMLATTR,
    F_TOJSON,
    F_COUNT_ALL
} filter_id;

static const char *const filter_names[F_COUNT_ALL] = {
    "abs",       "attr",       "batch",       "capitalize", "center",  "count",
    "d",         "default",    "dictsort",    "e",          "escape",  "filesizeformat",
    "first",     "float",      "forceescape", "format",     "groupby", "indent",
    "int",       "join",       "last",        "length",     "list",    "lower",
    "items",     "map",        "min",         "max",        "pprint",  "random",
    "reject",    "rejectattr", "replace",     "reverse",    "round",   "safe",
    "select",    "selectattr", "slice",       "sort",       "string",  "striptags",
    "sum",       "title",      "trim",        "truncate",   "unique",  "upper",
    "urlencode", "urlize",     "wordcount",   "wordwrap",   "xmlattr", "tojson"};

int vlm_jinja_filter_id(const char *name) {
    for (int i = 0; i < F_COUNT_ALL; i++)
        if (!strcmp(name, filter_names[i])) return i;
    return -1;
}

const char *vlm_jinja_filter_name(int id) {
    return id >= 0 && id < F_COUNT_ALL ? filter_names[id] : "?";
}

bool vlm_jinja_str_strip(vlm_jctx *c, const vlm_jnode *at, vlm_jv s, vlm_jv chars, int which,
                         vlm_jv *out);
bool vlm_jinja_str_replace(vlm_jctx *c, const vlm_jnode *at, const vlm_jstr *s, const vlm_jstr *old,
                           const vlm_jstr *rep, int64_t count, vlm_jv *out);

/* ------------------------------------------------------------- helpers */

#define MAX_PARAMS 6

typedef struct bound {
    vlm_jv v[MAX_PARAMS];
    bool given[MAX_PARAMS];
} bound;

static bool bind(vlm_jctx *c, const vlm_jnode *at, int id, const vlm_jargs *a,
                 const char *const *params, int n, bound *b) {
    return vlm_jargs_bind(c, at, filter_names[id], a, params, n, b->v, b->given);
}

static bool arg_int(vlm_jctx *c, const vlm_jnode *at, vlm_jv v, const char *what, int64_t *out) {
    if (v.type == VLM_JV_INT)
        *out = v.u.i;
    else if (v.type == VLM_JV_BOOL)
        *out = v.u.b;
    else if (v.type == VLM_JV_UNDEFINED)
        return vlm_jctx_fail_undefined(c, at, v);
    else
        return vlm_jctx_fail(c, at, VLM_ERR_FORMAT, "TypeError: %s must be an integer, not '%s'",
                             what, vlm_jv_type_name(v));
    return true;
}

/* soft_str(): strings stay, Undefined becomes "", others str(). */
static bool soft_str(vlm_jctx *c, const vlm_jnode *at, vlm_jv v, vlm_jv *out) {
    if (v.type == VLM_JV_UNDEFINED) return vlm_jctx_str(c, at, "", 0, out);
    return vlm_jctx_to_str(c, at, v, out);
}

static bool new_list(vlm_jctx *c, const vlm_jnode *at, uint8_t kind, size_t cap, vlm_jlist **out) {
    *out = vlm_jlist_new(kind, cap);
    return *out ? true : vlm_jctx_oom(c, at);
}

static bool finish_list(vlm_jlist *l, vlm_jv *out) {
    *out = vlm_jv_list(l);
    return true;
}

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
    if (!new_list(c, at, VLM_JLIST_LIST, (size_t)(sp->n ? sp->n : 1), &l)) return false;
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
    if (ok) ok = new_list(c, at, kind, n, &l);
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

static bool f_sort(vlm_jctx *c, const vlm_jnode *at, vlm_jv v, const vlm_jargs *a, vlm_jv *out) {
    static const char *const params[] = {"reverse", "case_sensitive", "attribute"};
    bound b;
    if (!bind(c, at, F_SORT, a, params, 3, &b)) return false;
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

static bool f_dictsort(vlm_jctx *c, const vlm_jnode *at, vlm_jv v, const vlm_jargs *a,
                       vlm_jv *out) {
    static const char *const params[] = {"case_sensitive", "by", "reverse"};
    bound b;
    if (!bind(c, at, F_DICTSORT, a, params, 3, &b)) return false;
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
    if (!new_list(c, at, VLM_JLIST_LIST, d->n, &items)) return false;
    vlm_jv *keys = vlm_calloc_array(d->n ? d->n : 1, sizeof *keys);
    bool ok = keys != NULL;
    if (!ok) vlm_jctx_oom(c, at);
    size_t nk = 0;
    for (size_t i = 0; ok && i < d->n; i++) {
        vlm_jlist *pair;
        ok = new_list(c, at, VLM_JLIST_TUPLE, 2, &pair);
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

static bool f_unique(vlm_jctx *c, const vlm_jnode *at, vlm_jv v, const vlm_jargs *a, vlm_jv *out) {
    static const char *const params[] = {"case_sensitive", "attribute"};
    bound b;
    if (!bind(c, at, F_UNIQUE, a, params, 2, &b)) return false;
    attr_spec sp;
    if (!spec_parse(c, at, b.given[1] ? b.v[1] : vlm_jv_none(), false, &sp)) return false;
    vlm_jlist *items, *res = NULL;
    if (!vlm_jctx_iterate(c, at, v, &items)) {
        spec_free(&sp);
        return false;
    }
    vlm_jdict *seen = vlm_jdict_new(0);
    bool ok = seen && new_list(c, at, VLM_JLIST_GENERATOR, 0, &res);
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
    return finish_list(res, out);
}

static bool f_minmax(vlm_jctx *c, const vlm_jnode *at, int id, vlm_jv v, const vlm_jargs *a,
                     vlm_jv *out) {
    static const char *const params[] = {"case_sensitive", "attribute"};
    bound b;
    if (!bind(c, at, id, a, params, 2, &b)) return false;
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
            ok = vlm_jctx_compare(c, at, id == F_MAX ? VLM_JCMP_GT : VLM_JCMP_LT, k, best_key,
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
static bool f_select(vlm_jctx *c, const vlm_jnode *at, int id, vlm_jv v, const vlm_jargs *a,
                     vlm_jv *out) {
    bool attr = id == F_SELECTATTR || id == F_REJECTATTR;
    bool keep_if = id == F_SELECT || id == F_SELECTATTR;
    vlm_jlist *res;
    if (!new_list(c, at, VLM_JLIST_GENERATOR, 0, &res)) return false;
    if (!vlm_jv_truthy(v)) return finish_list(res, out); /* `if value:` guards the loop */
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
    return finish_list(res, out);
}

static bool f_map(vlm_jctx *c, const vlm_jnode *at, vlm_jv v, const vlm_jargs *a, vlm_jv *out) {
    vlm_jlist *items, *res;
    if (!vlm_jv_truthy(v)) { /* `if value:` guards jinja2's map; its arguments go unchecked */
        if (!new_list(c, at, VLM_JLIST_GENERATOR, 0, &res)) return false;
        return finish_list(res, out);
    }
    if (!vlm_jctx_iterate(c, at, v, &items)) return false;
    if (!new_list(c, at, VLM_JLIST_GENERATOR, items->n, &res)) {
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
    return finish_list(res, out);
}

static bool f_join(vlm_jctx *c, const vlm_jnode *at, vlm_jv v, const vlm_jargs *a, vlm_jv *out) {
    static const char *const params[] = {"d", "attribute"};
    bound b;
    if (!bind(c, at, F_JOIN, a, params, 2, &b)) return false;
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

static bool f_batch_slice(vlm_jctx *c, const vlm_jnode *at, int id, vlm_jv v, const vlm_jargs *a,
                          vlm_jv *out) {
    static const char *const bparams[] = {"linecount", "fill_with"};
    static const char *const sparams[] = {"slices", "fill_with"};
    bound b;
    if (!bind(c, at, id, a, id == F_BATCH ? bparams : sparams, 2, &b)) return false;
    if (!b.given[0])
        return vlm_jctx_fail(c, at, VLM_ERR_FORMAT, "TypeError: %s() missing 1 required argument",
                             filter_names[id]);
    int64_t n;
    if (!arg_int(c, at, b.v[0], filter_names[id], &n)) return false;
    bool fill = b.given[1] && b.v[1].type != VLM_JV_NONE;
    vlm_jlist *items, *res;
    if (!vlm_jctx_iterate(c, at, v, &items)) return false;
    if (!new_list(c, at, VLM_JLIST_GENERATOR, 0, &res)) {
        vlm_jlist_decref(items);
        return false;
    }
    bool ok = true;
    if (id == F_BATCH) {
        vlm_jlist *tmp = NULL;
        ok = new_list(c, at, VLM_JLIST_LIST, 0, &tmp);
        for (size_t i = 0; ok && i < items->n; i++) {
            if ((int64_t)tmp->n == n) { /* full (with 0, an empty batch comes first) */
                ok = vlm_jctx_push(c, at, res, vlm_jv_list(tmp));
                tmp = NULL;
                if (!ok || !(ok = new_list(c, at, VLM_JLIST_LIST, 0, &tmp))) break;
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
            if (!(ok = new_list(c, at, VLM_JLIST_LIST, 0, &tmp))) break;
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
    return finish_list(res, out);
}

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

static bool f_int(vlm_jctx *c, const vlm_jnode *at, vlm_jv v, const vlm_jargs *a, vlm_jv *out) {
    static const char *const params[] = {"default", "base"};
    bound b;
    if (!bind(c, at, F_INT, a, params, 2, &b)) return false;
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

static bool f_float(vlm_jctx *c, const vlm_jnode *at, vlm_jv v, const vlm_jargs *a, vlm_jv *out) {
    static const char *const params[] = {"default"};
    bound b;
    if (!bind(c, at, F_FLOAT, a, params, 1, &b)) return false;
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

static bool f_round(vlm_jctx *c, const vlm_jnode *at, vlm_jv v, const vlm_jargs *a, vlm_jv *out) {
    static const char *const params[] = {"precision", "method"};
    bound b;
    if (!bind(c, at, F_ROUND, a, params, 2, &b)) return false;
    int64_t prec = 0;
    if (b.given[0] && !arg_int(c, at, b.v[0], "precision", &prec)) return false;
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

static bool f_indent(vlm_jctx *c, const vlm_jnode *at, vlm_jv v, const vlm_jargs *a, vlm_jv *out) {
    static const char *const params[] = {"width", "first", "blank"};
    bound b;
    if (!bind(c, at, F_INDENT, a, params, 3, &b)) return false;
    vlm_strbuf ind;
    vlm_strbuf_init(&ind);
    if (b.given[0] && b.v[0].type == VLM_JV_STR) {
        vlm_strbuf_append(&ind, b.v[0].u.s->data, b.v[0].u.s->len);
    } else {
        int64_t w = 4;
        if (b.given[0] && !arg_int(c, at, b.v[0], "width", &w)) return false;
        if (w > 100000) return vlm_jctx_fail(c, at, VLM_ERR_LIMIT, "indent width too large");
        for (int64_t k = 0; k < w; k++)
            vlm_strbuf_putc(&ind, ' ');
    }
    if (v.type == VLM_JV_UNDEFINED) {
        vlm_strbuf_free(&ind);
        return vlm_jctx_fail_undefined(c, at, v);
    }
    if (v.type != VLM_JV_STR) {
        vlm_strbuf_free(&ind);
        return vlm_jctx_fail(c, at, VLM_ERR_FORMAT,
                             "TypeError: unsupported operand type(s) for +=: '%s' and 'str'",
                             vlm_jv_type_name(v));
    }
    /* s + "\n", split into lines as str.splitlines() does, rejoined with "\n". */
    const vlm_jstr *s = v.u.s;
    vlm_strbuf text;
    vlm_strbuf_init(&text);
    vlm_strbuf_append(&text, s->data, s->len);
    vlm_strbuf_putc(&text, '\n');
    vlm_strbuf r;
    vlm_strbuf_init(&r);
    bool blank = vlm_jv_truthy(b.v[2]);
    if (vlm_jv_truthy(b.v[1])) vlm_strbuf_append(&r, vlm_strbuf_cstr(&ind), ind.len);
    size_t i = 0, start = 0, line = 0;
    const char *d = vlm_strbuf_cstr(&text);
    size_t n = text.len;
    while (i < n) {
        size_t j = i;
        uint32_t cp = vlm_utf8_next(d, n, &j);
        if (!vlm_py_islinebreak(cp)) {
            i = j;
            continue;
        }
        size_t eol = j;
        if (cp == '\r' && j < n && d[j] == '\n') eol = j + 1;
        if (line > 0) {
            vlm_strbuf_putc(&r, '\n');
            if (blank || i > start) vlm_strbuf_append(&r, vlm_strbuf_cstr(&ind), ind.len);
        }
        vlm_strbuf_append(&r, d + start, i - start);
        line++;
        i = start = eol;
        if (r.len > c->max_output) break;
    }
    vlm_strbuf_free(&text);
    vlm_strbuf_free(&ind);
    if (r.len > c->max_output) {
        vlm_strbuf_free(&r);
        return vlm_jctx_fail(c, at, VLM_ERR_LIMIT, "indent() result exceeds the output limit");
    }
    return vlm_jctx_buf(c, at, &r, out);
}

static bool f_length(vlm_jctx *c, const vlm_jnode *at, vlm_jv v, vlm_jv *out);

static bool f_truncate(vlm_jctx *c, const vlm_jnode *at, vlm_jv v, const vlm_jargs *a,
                       vlm_jv *out) {
    static const char *const params[] = {"length", "killwords", "end", "leeway"};
    bound b;
    if (!bind(c, at, F_TRUNCATE, a, params, 4, &b)) return false;
    int64_t length = 255, leeway = 5;
    if (b.given[0] && !arg_int(c, at, b.v[0], "length", &length)) return false;
    if (b.given[3] && b.v[3].type != VLM_JV_NONE && !arg_int(c, at, b.v[3], "leeway", &leeway))
        return false;
    vlm_jv endv = b.given[2] ? b.v[2] : vlm_jv_undef();
    const char *end = "...";
    size_t end_len = 3, end_ncp = 3;
    if (b.given[2]) {
        if (endv.type != VLM_JV_STR)
            return vlm_jctx_fail(c, at, VLM_ERR_UNSUPPORTED, "truncate(end=) must be a string");
        end = endv.u.s->data;
        end_len = endv.u.s->len;
        end_ncp = endv.u.s->ncp;
    }
    if (length < (int64_t)end_ncp)
        return vlm_jctx_fail(c, at, VLM_ERR_FORMAT,
                             "AssertionError: expected length >= %zu, got %lld", end_ncp,
                             (long long)length);
    if (leeway < 0)
        return vlm_jctx_fail(c, at, VLM_ERR_FORMAT,
                             "AssertionError: expected leeway >= 0, got %lld", (long long)leeway);
    if (v.type == VLM_JV_UNDEFINED) {
        *out = vlm_jv_incref(v);
        return true;
    }
    if (v.type != VLM_JV_STR) {
        /* Anything with a len() short enough comes back unchanged; longer ones fail in
         * jinja2 too (lists have no rsplit, dicts cannot be sliced). */
        vlm_jv n;
        if (!f_length(c, at, v, &n)) return false;
        if (n.u.i <= length + leeway) {
            *out = vlm_jv_incref(v);
            return true;
        }
        return vlm_jctx_fail(c, at, VLM_ERR_FORMAT, "TypeError: cannot truncate a '%s'",
                             vlm_jv_type_name(v));
    }
    const vlm_jstr *s = v.u.s;
    if ((int64_t)s->ncp <= length + leeway) {
        *out = vlm_jv_incref(v);
        return true;
    }
    size_t cut = vlm_jstr_offset(s, (size_t)(length - (int64_t)end_ncp));
    if (!vlm_jv_truthy(b.v[1])) {
        /* s[:cut].rsplit(" ", 1)[0] */
        for (size_t k = cut; k-- > 0;)
            if (s->data[k] == ' ') {
                cut = k;
                break;
            }
    }
    vlm_strbuf r;
    vlm_strbuf_init(&r);
    vlm_strbuf_append(&r, s->data, cut);
    vlm_strbuf_append(&r, end, end_len);
    return vlm_jctx_buf(c, at, &r, out);
}

static bool f_title(vlm_jctx *c, const vlm_jnode *at, const vlm_jstr *s, vlm_jv *out) {
    /* Split on runs of [-\s({\[<]; each piece: first char upper, rest lower. */
    vlm_strbuf r;
    vlm_strbuf_init(&r);
    size_t i = 0;
    bool word_start = true;
    while (i < s->len) {
        size_t j = i;
        uint32_t cp = vlm_utf8_next(s->data, s->len, &j);
        bool sep =
            cp == '-' || cp == '(' || cp == '{' || cp == '[' || cp == '<' || vlm_py_isspace(cp);
        const char *e;
        if (sep) {
            /* A separator run is its own piece: its first char is uppercased (a no-op). */
            e = vlm_py_case_put(&r, cp, word_start ? VLM_PY_UPPER : VLM_PY_LOWER);
            word_start = false;
            /* the next non-separator starts a new piece */
            size_t k = j;
            bool next_sep = false;
            if (k < s->len) {
                uint32_t nx = vlm_utf8_next(s->data, s->len, &k);
                next_sep = nx == '-' || nx == '(' || nx == '{' || nx == '[' || nx == '<' ||
                           vlm_py_isspace(nx);
            }
            if (!next_sep) word_start = true;
        } else {
            e = vlm_py_case_put(&r, cp, word_start ? VLM_PY_UPPER : VLM_PY_LOWER);
            word_start = false;
        }
        if (e) {
            vlm_strbuf_free(&r);
            return vlm_jctx_fail(c, at, VLM_ERR_UNSUPPORTED, "%s", e);
        }
        i = j;
    }
    return vlm_jctx_buf(c, at, &r, out);
}

static bool f_escape(vlm_jctx *c, const vlm_jnode *at, vlm_jv v, bool force, vlm_jv *out) {
    if (v.type == VLM_JV_STR && v.u.s->markup && !force) {
        *out = vlm_jv_incref(v);
        return true;
    }
    vlm_jv s;
    if (!soft_str(c, at, v, &s)) return false;
    vlm_strbuf r;
    vlm_strbuf_init(&r);
    for (size_t i = 0; i < s.u.s->len; i++) {
        char ch = s.u.s->data[i];
        switch (ch) {
        case '&':
            vlm_strbuf_puts(&r, "&amp;");
            break;
        case '<':
            vlm_strbuf_puts(&r, "&lt;");
            break;
        case '>':
            vlm_strbuf_puts(&r, "&gt;");
            break;
        case '"':
            vlm_strbuf_puts(&r, "&#34;");
            break;
        case '\'':
            vlm_strbuf_puts(&r, "&#39;");
            break;
        default:
            vlm_strbuf_putc(&r, ch);
            break;
        }
    }
    vlm_jv_decref(s);
    if (!vlm_jctx_buf(c, at, &r, out)) return false;
    out->u.s->markup = true;
    return true;
}

static bool f_length(vlm_jctx *c, const vlm_jnode *at, vlm_jv v, vlm_jv *out) {
    switch (v.type) {
    case VLM_JV_UNDEFINED:
        *out = vlm_jv_int(0);
        return true;
    case VLM_JV_STR:
        *out = vlm_jv_int((int64_t)v.u.s->ncp);
        return true;
    case VLM_JV_DICT:
        *out = vlm_jv_int((int64_t)v.u.d->n);
        return true;
    case VLM_JV_NAMESPACE:
        break;
    case VLM_JV_LOOP:
        *out = vlm_jv_int((int64_t)v.u.loop->items->n);
        return true;
    case VLM_JV_LIST:
        if (v.u.l->kind == VLM_JLIST_GENERATOR) break;
        *out = vlm_jv_int((int64_t)v.u.l->n);
        return true;
    default:
        break;
    }
    return vlm_jctx_fail(c, at, VLM_ERR_FORMAT, "TypeError: object of type '%s' has no len()",
                         vlm_jv_type_name(v));
}

static bool f_first_last(vlm_jctx *c, const vlm_jnode *at, vlm_jv v, bool last, vlm_jv *out) {
    if (v.type == VLM_JV_LIST && v.u.l->kind == VLM_JLIST_GENERATOR) {
        vlm_jlist *l = v.u.l;
        if (last)
            return vlm_jctx_fail(c, at, VLM_ERR_FORMAT,
                                 "TypeError: 'generator' object is not reversible");
        if (l->pos >= l->n) {
            *out = vlm_jv_undef_hint("No first item, sequence was empty.");
            return true;
        }
        *out = vlm_jv_incref(l->items[l->pos++]);
        return true;
    }
    vlm_jlist *items;
    if (!vlm_jctx_iterate(c, at, v, &items)) return false;
    if (items->n == 0)
        *out = vlm_jv_undef_hint(last ? "No last item, sequence was empty."
                                      : "No first item, sequence was empty.");
    else
        *out = vlm_jv_incref(items->items[last ? items->n - 1 : 0]);
    vlm_jlist_decref(items);
    return true;
}

static bool f_reverse(vlm_jctx *c, const vlm_jnode *at, vlm_jv v, vlm_jv *out) {
    if (v.type == VLM_JV_STR) {
        const vlm_jstr *s = v.u.s;
        vlm_strbuf r;
        vlm_strbuf_init(&r);
        size_t e = s->len;
        while (e > 0) {
            size_t p = vlm_utf8_prev(s->data, e);
            vlm_strbuf_append(&r, s->data + p, e - p);
            e = p;
        }
        return vlm_jctx_buf(c, at, &r, out);
    }
    /* reversed() gives an iterator for sequences and dicts; a generator becomes a list. */
    bool to_list = v.type == VLM_JV_LIST && v.u.l->kind == VLM_JLIST_GENERATOR;
    vlm_jlist *items, *res;
    if (!vlm_jctx_iterate(c, at, v, &items)) return false;
    if (!new_list(c, at, to_list ? VLM_JLIST_LIST : VLM_JLIST_GENERATOR, items->n, &res)) {
        vlm_jlist_decref(items);
        return false;
    }
    bool ok = true;
    for (size_t i = items->n; ok && i-- > 0;)
        ok = vlm_jctx_push(c, at, res, vlm_jv_incref(items->items[i]));
    vlm_jlist_decref(items);
    if (!ok) {
        vlm_jlist_decref(res);
        return false;
    }
    return finish_list(res, out);
}

static bool f_sum(vlm_jctx *c, const vlm_jnode *at, vlm_jv v, const vlm_jargs *a, vlm_jv *out) {
    static const char *const params[] = {"attribute", "start"};
    bound b;
    if (!bind(c, at, F_SUM, a, params, 2, &b)) return false;
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

static bool f_attr(vlm_jctx *c, const vlm_jnode *at, vlm_jv v, const vlm_jargs *a, vlm_jv *out) {
    static const char *const params[] = {"name"};
    bound b;
    if (!bind(c, at, F_ATTR, a, params, 1, &b)) return false;
    if (!b.given[0] || b.v[0].type != VLM_JV_STR)
        return vlm_jctx_fail(c, at, VLM_ERR_FORMAT,
                             "TypeError: attr() needs an attribute name string");
    vlm_jv name = b.v[0];
    switch (v.type) {
    case VLM_JV_UNDEFINED:
        return vlm_jctx_fail_undefined(c, at, v);
    case VLM_JV_NAMESPACE:
    case VLM_JV_LOOP:
        return vlm_jctx_getattr(c, at, v, name, out);
    case VLM_JV_STR:
    case VLM_JV_DICT:
    case VLM_JV_LIST: {
        /* Only real attributes (methods), never dict keys. */
        bool found = false;
        if (name.u.s->data[0] != '_' && !vlm_jinja_method_lookup(c, at, v, name, &found, out))
            return false;
        if (!found)
            *out = vlm_jv_undef_hint("'%s object' has no attribute '%s'", vlm_jv_type_name(v),
                                     name.u.s->data);
        return true;
    }
    default:
        return vlm_jctx_getattr(c, at, v, name, out);
    }
}

static bool f_items(vlm_jctx *c, const vlm_jnode *at, vlm_jv v, vlm_jv *out) {
    vlm_jlist *res;
    if (!new_list(c, at, VLM_JLIST_GENERATOR, 0, &res)) return false;
    if (v.type == VLM_JV_UNDEFINED) return finish_list(res, out);
    if (v.type != VLM_JV_DICT) {
        vlm_jlist_decref(res);
        return vlm_jctx_fail(c, at, VLM_ERR_FORMAT,
                             "TypeError: Can only get item pairs from a mapping.");
    }
    for (size_t i = 0; i < v.u.d->n; i++) {
        vlm_jlist *pair;
        if (!new_list(c, at, VLM_JLIST_TUPLE, 2, &pair)) goto fail;
        if (!vlm_jctx_push(c, at, pair, vlm_jv_incref(v.u.d->keys[i])) ||
            !vlm_jctx_push(c, at, pair, vlm_jv_incref(v.u.d->vals[i]))) {
            vlm_jlist_decref(pair);
            goto fail;
        }
        if (!vlm_jctx_push(c, at, res, vlm_jv_list(pair))) goto fail;
    }
    return finish_list(res, out);
fail:
    vlm_jlist_decref(res);
    return false;
}

static bool f_wordcount(vlm_jctx *c, const vlm_jnode *at, vlm_jv v, vlm_jv *out) {
    vlm_jv s;
    if (!soft_str(c, at, v, &s)) return false;
    int64_t n = 0;
    bool in_word = false;
    size_t i = 0;
    while (i < s.u.s->len) {
        uint32_t cp = vlm_utf8_next(s.u.s->data, s.u.s->len, &i);
        bool w = cp == '_' || vlm_py_isalnum(cp);
        if (w && !in_word) n++;
        in_word = w;
    }
    vlm_jv_decref(s);
    *out = vlm_jv_int(n);
    return true;
}

/* ------------------------------------------------------------- dispatch */

static bool str_filter(vlm_jctx *c, const vlm_jnode *at, int id, vlm_jv v, const vlm_jargs *a,
                       vlm_jv *out) {
    vlm_jv s;
    if (!soft_str(c, at, v, &s)) return false;
    bool ok;
    switch (id) {
    case F_UPPER:
    case F_LOWER:
    case F_CAPITALIZE: {
        if (a->npos || a->nkw) {
            vlm_jv_decref(s);
            return vlm_jctx_fail(c, at, VLM_ERR_FORMAT, "TypeError: %s() takes no arguments",
                                 filter_names[id]);
        }
        vlm_strbuf r;
        vlm_strbuf_init(&r);
        const char *e = id == F_UPPER   ? vlm_py_upper(&r, s.u.s->data, s.u.s->len)
                        : id == F_LOWER ? vlm_py_lower(&r, s.u.s->data, s.u.s->len)
                                        : vlm_py_capitalize(&r, s.u.s->data, s.u.s->len);
        if (e) {
            vlm_strbuf_free(&r);
            ok = vlm_jctx_fail(c, at, VLM_ERR_UNSUPPORTED, "%s", e);
        } else {
            ok = vlm_jctx_buf(c, at, &r, out);
        }
        break;
    }
    case F_TITLE:
        if (a->npos || a->nkw) {
            vlm_jv_decref(s);
            return vlm_jctx_fail(c, at, VLM_ERR_FORMAT, "TypeError: title() takes no arguments");
        }
        ok = f_title(c, at, s.u.s, out);
        break;
    case F_TRIM: {
        static const char *const params[] = {"chars"};
        bound b;
        ok = bind(c, at, id, a, params, 1, &b) &&
             vlm_jinja_str_strip(c, at, s, b.given[0] ? b.v[0] : vlm_jv_none(), 3, out);
        break;
    }
    case F_CENTER: {
        static const char *const params[] = {"width"};
        bound b;
        ok = bind(c, at, id, a, params, 1, &b);
        if (ok) {
            vlm_jv w = b.given[0] ? b.v[0] : vlm_jv_int(80);
            int64_t width;
            ok = arg_int(c, at, w, "width", &width);
            if (ok) {
                size_t ncp = s.u.s->ncp;
                if (width > (int64_t)c->max_output) {
                    ok = vlm_jctx_fail(c, at, VLM_ERR_LIMIT,
                                       "center width exceeds the output limit");
                } else if (width <= (int64_t)ncp) {
                    *out = vlm_jv_incref(s);
                } else {
                    size_t total = (size_t)width - ncp;
                    size_t left = total / 2 + (total & (size_t)width & 1);
                    vlm_strbuf r;
                    vlm_strbuf_init(&r);
                    for (size_t k = 0; k < left; k++)
                        vlm_strbuf_putc(&r, ' ');
                    vlm_strbuf_append(&r, s.u.s->data, s.u.s->len);
                    for (size_t k = left; k < total; k++)
                        vlm_strbuf_putc(&r, ' ');
                    ok = vlm_jctx_buf(c, at, &r, out);
                }
            }
        }
        break;
    }
    case F_FORMAT:
        if (a->npos && a->nkw) {
            ok = vlm_jctx_fail(c, at, VLM_ERR_FORMAT,
                               "FilterArgumentError: can't handle positional and keyword arguments "
                               "at the same time");
        } else if (a->nkw) {
            vlm_jdict *d = vlm_jdict_new(a->nkw);
            ok = d != NULL;
            for (uint32_t k = 0; ok && k < a->nkw; k++)
                ok = vlm_jdict_set(d, vlm_jv_incref(a->kwnames[k]), vlm_jv_incref(a->kwvals[k]));
            if (!ok) {
                vlm_jdict_decref(d);
                ok = vlm_jctx_oom(c, at);
            } else {
                vlm_jv dv = vlm_jv_dict(d);
                ok = vlm_jinja_percent_format(c, at, s, dv, out);
                vlm_jv_decref(dv);
            }
        } else {
            vlm_jlist *t = vlm_jlist_new(VLM_JLIST_TUPLE, a->npos);
            ok = t != NULL;
            for (uint32_t k = 0; ok && k < a->npos; k++)
                ok = vlm_jlist_push(t, vlm_jv_incref(a->pos[k]));
            if (!ok) {
                vlm_jlist_decref(t);
                ok = vlm_jctx_oom(c, at);
            } else {
                vlm_jv tv = vlm_jv_list(t);
                ok = vlm_jinja_percent_format(c, at, s, tv, out);
                vlm_jv_decref(tv);
            }
        }
        break;
    case F_STRING:
        *out = vlm_jv_incref(s);
        ok = true;
        break;
    default:
        ok = vlm_jctx_fail(c, at, VLM_ERR_INTERNAL, "internal error: bad string filter");
        break;
    }
    vlm_jv_decref(s);
    return ok;
}

bool vlm_jinja_apply_filter(vlm_jctx *c, const vlm_jnode *at, int id, vlm_jv v, const vlm_jargs *a,
                            vlm_jv *out) {
    *out = vlm_jv_undef();
    switch ((filter_id)id) {
    case F_UPPER:
    case F_LOWER:
    case F_CAPITALIZE:
    case F_TITLE:
    case F_TRIM:
    case F_CENTER:
    case F_FORMAT:
        return str_filter(c, at, id, v, a, out);
    case F_STRING:
        if (a->npos || a->nkw)
            return vlm_jctx_fail(c, at, VLM_ERR_FORMAT, "TypeError: string() takes no arguments");
        if (v.type == VLM_JV_STR) {
            *out = vlm_jv_incref(v);
            return true;
        }
        return str_filter(c, at, id, v, a, out);
    case F_SAFE: {
        if (a->npos || a->nkw)
            return vlm_jctx_fail(c, at, VLM_ERR_FORMAT, "TypeError: safe() takes no arguments");
        if (v.type == VLM_JV_STR && v.u.s->markup) {
            *out = vlm_jv_incref(v);
            return true;
        }
        vlm_jv s;
        if (!soft_str(c, at, v, &s)) return false;
        bool ok = vlm_jctx_str(c, at, s.u.s->data, s.u.s->len, out);
        vlm_jv_decref(s);
        if (ok) out->u.s->markup = true;
        return ok;
    }
    case F_E:
    case F_ESCAPE:
    case F_FORCEESCAPE:
        if (a->npos || a->nkw)
            return vlm_jctx_fail(c, at, VLM_ERR_FORMAT,
                                 "TypeError: escape() takes exactly one argument");
        return f_escape(c, at, v, id == F_FORCEESCAPE, out);
    case F_DEFAULT:
    case F_D: {
        static const char *const params[] = {"default_value", "boolean"};
        bound b;
        if (!bind(c, at, id, a, params, 2, &b)) return false;
        bool use_default =
            v.type == VLM_JV_UNDEFINED || (vlm_jv_truthy(b.v[1]) && !vlm_jv_truthy(v));
        if (!use_default)
            *out = vlm_jv_incref(v);
        else if (b.given[0])
            *out = vlm_jv_incref(b.v[0]);
        else
            return vlm_jctx_str(c, at, "", 0, out);
        return true;
    }
    case F_LENGTH:
    case F_COUNT:
        if (a->npos || a->nkw)
            return vlm_jctx_fail(c, at, VLM_ERR_FORMAT,
                                 "TypeError: len() takes exactly one argument");
        return f_length(c, at, v, out);
    case F_FIRST:
    case F_LAST:
        if (a->npos || a->nkw)
            return vlm_jctx_fail(c, at, VLM_ERR_FORMAT, "TypeError: %s() takes no arguments",
                                 filter_names[id]);
        return f_first_last(c, at, v, id == F_LAST, out);
    case F_LIST: {
        if (a->npos || a->nkw)
            return vlm_jctx_fail(c, at, VLM_ERR_FORMAT, "TypeError: list() takes no arguments");
        vlm_jlist *items, *res;
        if (!vlm_jctx_iterate(c, at, v, &items)) return false;
        if (!new_list(c, at, VLM_JLIST_LIST, items->n, &res)) {
            vlm_jlist_decref(items);
            return false;
        }
        bool ok = true;
        for (size_t i = 0; ok && i < items->n; i++)
            ok = vlm_jctx_push(c, at, res, vlm_jv_incref(items->items[i]));
        vlm_jlist_decref(items);
        if (!ok) {
            vlm_jlist_decref(res);
            return false;
        }
        return finish_list(res, out);
    }
    case F_JOIN:
        return f_join(c, at, v, a, out);
    case F_MAP:
        return f_map(c, at, v, a, out);
    case F_SELECT:
    case F_REJECT:
    case F_SELECTATTR:
    case F_REJECTATTR:
        return f_select(c, at, id, v, a, out);
    case F_SORT:
        return f_sort(c, at, v, a, out);
    case F_DICTSORT:
        return f_dictsort(c, at, v, a, out);
    case F_UNIQUE:
        return f_unique(c, at, v, a, out);
    case F_MIN:
    case F_MAX:
        return f_minmax(c, at, id, v, a, out);
    case F_INT:
        return f_int(c, at, v, a, out);
    case F_FLOAT:
        return f_float(c, at, v, a, out);
    case F_ROUND:
        return f_round(c, at, v, a, out);
    case F_ABS:
        if (a->npos || a->nkw)
            return vlm_jctx_fail(c, at, VLM_ERR_FORMAT,
                                 "TypeError: abs() takes exactly one argument");
        if (v.type == VLM_JV_INT || v.type == VLM_JV_BOOL) {
            int64_t i = v.type == VLM_JV_BOOL ? v.u.b : v.u.i;
            if (i == INT64_MIN)
                return vlm_jctx_fail(c, at, VLM_ERR_UNSUPPORTED, "integer overflow in abs()");
            *out = vlm_jv_int(i < 0 ? -i : i);
            return true;
        }
        if (v.type == VLM_JV_FLOAT) {
            *out = vlm_jv_float(fabs(v.u.f));
            return true;
        }
        if (v.type == VLM_JV_UNDEFINED) return vlm_jctx_fail_undefined(c, at, v);
        return vlm_jctx_fail(c, at, VLM_ERR_FORMAT, "TypeError: bad operand type for abs(): '%s'",
                             vlm_jv_type_name(v));
    case F_REPLACE: {
        static const char *const params[] = {"old", "new", "count"};
        bound b;
        if (!bind(c, at, id, a, params, 3, &b)) return false;
        if (!b.given[0] || !b.given[1])
            return vlm_jctx_fail(c, at, VLM_ERR_FORMAT,
                                 "TypeError: replace() missing required arguments");
        int64_t count = -1;
        if (b.given[2] && b.v[2].type != VLM_JV_NONE && !arg_int(c, at, b.v[2], "count", &count))
            return false;
        vlm_jv s, o, n;
        if (!vlm_jctx_to_str(c, at, v, &s)) return false;
        if (!vlm_jctx_to_str(c, at, b.v[0], &o)) {
            vlm_jv_decref(s);
            return false;
        }
        bool ok = vlm_jctx_to_str(c, at, b.v[1], &n);
        if (ok) {
            ok = vlm_jinja_str_replace(c, at, s.u.s, o.u.s, n.u.s, count, out);
            vlm_jv_decref(n);
        }
        vlm_jv_decref(o);
        vlm_jv_decref(s);
        return ok;
    }
    case F_REVERSE:
        if (a->npos || a->nkw)
            return vlm_jctx_fail(c, at, VLM_ERR_FORMAT, "TypeError: reverse() takes no arguments");
        return f_reverse(c, at, v, out);
    case F_INDENT:
        return f_indent(c, at, v, a, out);
    case F_TRUNCATE:
        return f_truncate(c, at, v, a, out);
    case F_BATCH:
    case F_SLICE:
        return f_batch_slice(c, at, id, v, a, out);
    case F_SUM:
        return f_sum(c, at, v, a, out);
    case F_ATTR:
        return f_attr(c, at, v, a, out);
    case F_ITEMS:
        if (a->npos || a->nkw)
            return vlm_jctx_fail(c, at, VLM_ERR_FORMAT, "TypeError: items() takes no arguments");
        return f_items(c, at, v, out);
    case F_WORDCOUNT:
        if (a->npos || a->nkw)
            return vlm_jctx_fail(c, at, VLM_ERR_FORMAT,
                                 "TypeError: wordcount() takes no arguments");
        return f_wordcount(c, at, v, out);
    case F_TOJSON: {
        static const char *const params[] = {"ensure_ascii", "indent", "separators", "sort_keys"};
        bound b;
        if (!bind(c, at, id, a, params, 4, &b)) return false;
        vlm_strbuf ind;
        vlm_strbuf_init(&ind);
        bool has_indent = b.given[1] && b.v[1].type != VLM_JV_NONE;
        if (has_indent) {
            vlm_jv iv = b.v[1];
            if (iv.type == VLM_JV_STR) {
                vlm_strbuf_append(&ind, iv.u.s->data, iv.u.s->len);
            } else if (iv.type == VLM_JV_INT || iv.type == VLM_JV_BOOL) {
                int64_t w = iv.type == VLM_JV_BOOL ? iv.u.b : iv.u.i;
                if (w > 1000) return vlm_jctx_fail(c, at, VLM_ERR_LIMIT, "tojson indent too large");
                for (int64_t k = 0; k < w; k++)
                    vlm_strbuf_putc(&ind, ' ');
            } else {
                return vlm_jctx_fail(c, at, VLM_ERR_FORMAT,
                                     "TypeError: tojson indent must be an int or str");
            }
        }
        const char *isep = has_indent ? "," : ", ", *ksep = ": ";
        size_t isl = strlen(isep), ksl = 2;
        if (b.given[2] && b.v[2].type != VLM_JV_NONE) {
            vlm_jv sv = b.v[2];
            if (sv.type != VLM_JV_LIST || sv.u.l->n != 2 || sv.u.l->items[0].type != VLM_JV_STR ||
                sv.u.l->items[1].type != VLM_JV_STR) {
                vlm_strbuf_free(&ind);
                return vlm_jctx_fail(c, at, VLM_ERR_FORMAT,
                                     "tojson separators must be a pair of strings");
            }
            isep = sv.u.l->items[0].u.s->data;
            isl = sv.u.l->items[0].u.s->len;
            ksep = sv.u.l->items[1].u.s->data;
            ksl = sv.u.l->items[1].u.s->len;
        }
        vlm_strbuf r;
        vlm_strbuf_init(&r);
        bool ok = vlm_jinja_tojson(c, at, &r, v, vlm_jv_truthy(b.v[0]),
                                   has_indent ? vlm_strbuf_cstr(&ind) : NULL, ind.len, isep, isl,
                                   ksep, ksl, vlm_jv_truthy(b.v[3]));
        vlm_strbuf_free(&ind);
        if (!ok) {
            vlm_strbuf_free(&r);
            return false;
        }
        return vlm_jctx_buf(c, at, &r, out);
    }
    default:
        if (id >= 0 && id < F_COUNT_ALL)
            return vlm_jctx_fail(c, at, VLM_ERR_UNSUPPORTED, "the filter '%s' is not supported",
                                 filter_names[id]);
        return vlm_jctx_fail(c, at, VLM_ERR_INTERNAL, "internal error: bad filter id %d", id);
    }
}
