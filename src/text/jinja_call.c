/* Callables of the Jinja evaluator: the global functions a chat template can call (range,
 * namespace, dict, raise_exception, strftime_now; jinja2's lipsum/cycler/joiner are known
 * but refused) and the methods of Python's str, dict, list and tuple, with Python's exact
 * results. transformers renders in jinja2's ImmutableSandboxedEnvironment, where methods
 * that modify a list or dict (append, update, pop, ...) are unsafe: looking them up gives an
 * Undefined whose use fails, as there. Methods Python has but this engine does not implement
 * fail with an error instead of returning something else. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "text/jinja_eval.h"
#include "text/jinja_pystr.h"

/* ------------------------------------------------------------- globals */

enum {
    B_RANGE,
    B_NAMESPACE,
    B_DICT,
    B_RAISE_EXCEPTION,
    B_STRFTIME_NOW,
    B_LIPSUM,
    B_CYCLER,
    B_JOINER,
    B_COUNT
};
static const char *const builtin_names[B_COUNT] = {
    "range", "namespace", "dict", "raise_exception", "strftime_now", "lipsum", "cycler", "joiner"};

#define MAX_RANGE 100000 /* jinja2.sandbox.MAX_RANGE */

static bool new_func(uint8_t kind, int id, vlm_jv self, const char *name, vlm_jv *out) {
    vlm_jfunc *fn = calloc(1, sizeof *fn);
    if (!fn) return false;
    fn->refs = 1;
    fn->kind = kind;
    fn->id = id;
    fn->self = vlm_jv_incref(self);
    fn->name = name;
    out->type = VLM_JV_FUNC;
    out->u.fn = fn;
    return true;
}

bool vlm_jinja_builtin_lookup(const char *name, vlm_jv *out, bool *oom) {
    for (int i = 0; i < B_COUNT; i++)
        if (!strcmp(name, builtin_names[i])) {
            if (!new_func(VLM_JFUNC_BUILTIN, i, vlm_jv_undef(), builtin_names[i], out)) {
                *oom = true;
                return false;
            }
            return true;
        }
    return false;
}

static bool want_int(vlm_jctx *c, const vlm_jnode *at, vlm_jv v, const char *what, int64_t *out) {
    if (v.type == VLM_JV_INT)
        *out = v.u.i;
    else if (v.type == VLM_JV_BOOL)
        *out = v.u.b;
    else if (v.type == VLM_JV_UNDEFINED)
        return vlm_jctx_fail_undefined(c, at, v);
    else
        return vlm_jctx_fail(c, at, VLM_ERR_FORMAT,
                             "TypeError: '%s' object cannot be interpreted as an integer (%s)",
                             vlm_jv_type_name(v), what);
    return true;
}

static bool call_range(vlm_jctx *c, const vlm_jnode *at, const vlm_jargs *a, vlm_jv *out) {
    if (a->nkw)
        return vlm_jctx_fail(c, at, VLM_ERR_FORMAT,
                             "TypeError: range() takes no keyword arguments");
    if (a->npos < 1 || a->npos > 3)
        return vlm_jctx_fail(c, at, VLM_ERR_FORMAT,
                             "TypeError: range expected 1 to 3 arguments, got %u", a->npos);
    int64_t v[3] = {0, 0, 1};
    for (uint32_t i = 0; i < a->npos; i++)
        if (!want_int(c, at, a->pos[i], "range", &v[a->npos == 1 ? 1 : i])) return false;
    int64_t start = v[0], stop = v[1], step = v[2];
    if (step == 0)
        return vlm_jctx_fail(c, at, VLM_ERR_FORMAT, "ValueError: range() arg 3 must not be zero");
    /* Length as Python computes it, in 128 bits to stay exact. */
    __int128 len = 0;
    if (step > 0 && start < stop) len = ((__int128)stop - start - 1) / step + 1;
    if (step < 0 && start > stop) len = ((__int128)start - stop - 1) / (-(__int128)step) + 1;
    if (len > MAX_RANGE)
        return vlm_jctx_fail(c, at, VLM_ERR_LIMIT,
                             "OverflowError: Range too big. The sandbox blocks ranges larger than "
                             "MAX_RANGE (%d).",
                             MAX_RANGE);
    vlm_jlist *l = vlm_jlist_new(VLM_JLIST_RANGE, (size_t)len);
    if (!l) return vlm_jctx_oom(c, at);
    l->range_start = start;
    l->range_stop = stop;
    l->range_step = step;
    for (__int128 k = 0; k < len; k++)
        if (!vlm_jctx_push(c, at, l, vlm_jv_int((int64_t)(start + k * step)))) {
            vlm_jlist_decref(l);
            return false;
        }
    *out = vlm_jv_list(l);
    return true;
}

/* dict(*args, **kwargs) as Python builds it: a mapping or an iterable of pairs, then kwargs. */
static bool build_dict(vlm_jctx *c, const vlm_jnode *at, const char *fname, const vlm_jargs *a,
                       vlm_jdict **out) {
    *out = NULL;
    if (a->npos > 1)
        return vlm_jctx_fail(c, at, VLM_ERR_FORMAT,
                             "TypeError: %s expected at most 1 argument, got %u", fname, a->npos);
    vlm_jdict *d = vlm_jdict_new(0);
    if (!d) return vlm_jctx_oom(c, at);
    if (a->npos == 1) {
        vlm_jv src = a->pos[0];
        if (src.type == VLM_JV_UNDEFINED) { /* dict() asks it for .keys first */
            vlm_jctx_fail_undefined(c, at, src);
            goto fail;
        }
        if (src.type == VLM_JV_DICT) {
            for (size_t i = 0; i < src.u.d->n; i++)
                if (!vlm_jdict_set(d, vlm_jv_incref(src.u.d->keys[i]),
                                   vlm_jv_incref(src.u.d->vals[i])))
                    goto oom;
        } else {
            vlm_jlist *items;
            if (!vlm_jctx_iterate(c, at, src, &items)) goto fail;
            for (size_t i = 0; i < items->n; i++) {
                vlm_jlist *pair = NULL;
                if (!vlm_jctx_iterate(c, at, items->items[i], &pair)) {
                    vlm_jlist_decref(items);
                    goto fail;
                }
                bool bad = pair->n != 2 || !vlm_jv_hashable(pair->items[0]);
                bool ok = !bad && vlm_jdict_set(d, vlm_jv_incref(pair->items[0]),
                                                vlm_jv_incref(pair->items[1]));
                vlm_jlist_decref(pair);
                if (!ok) {
                    vlm_jlist_decref(items);
                    if (bad) {
                        vlm_jctx_fail(c, at, VLM_ERR_FORMAT,
                                      "ValueError: dictionary update sequence element #%zu has "
                                      "the wrong length or an unhashable key",
                                      i);
                        goto fail;
                    }
                    goto oom;
                }
            }
            vlm_jlist_decref(items);
        }
    }
    for (uint32_t k = 0; k < a->nkw; k++)
        if (!vlm_jdict_set(d, vlm_jv_incref(a->kwnames[k]), vlm_jv_incref(a->kwvals[k]))) goto oom;
    *out = d;
    return true;
oom:
    vlm_jctx_oom(c, at);
fail:
    vlm_jdict_decref(d);
    return false;
}

static bool call_strftime(vlm_jctx *c, const vlm_jnode *at, const vlm_jargs *a, vlm_jv *out) {
    static const char *const params[] = {"format"};
    vlm_jv fmt;
    bool given;
    if (!vlm_jargs_bind(c, at, "strftime_now", a, params, 1, &fmt, &given)) return false;
    if (!given || fmt.type != VLM_JV_STR)
        return vlm_jctx_fail(c, at, VLM_ERR_FORMAT,
                             "TypeError: strftime_now() argument must be a str");
    time_t now = (time_t)c->now;
    struct tm tm;
    if (!localtime_r(&now, &tm))
        return vlm_jctx_fail(c, at, VLM_ERR_FORMAT, "strftime_now: bad clock");
    /* Python passes the format to the C library's strftime (which stops at a NUL). */
    char buf[1024];
    size_t flen = strlen(fmt.u.s->data);
    size_t n = flen ? strftime(buf, sizeof buf, fmt.u.s->data, &tm) : 0;
    if (n == 0 && flen > 0) {
        /* 0 is also a legitimate empty result ("%p" in some locales); refuse long output. */
        if (flen * 64 > sizeof buf)
            return vlm_jctx_fail(c, at, VLM_ERR_LIMIT, "strftime_now: format too long");
    }
    return vlm_jctx_str(c, at, buf, n, out);
}

static bool call_global(vlm_jctx *c, const vlm_jnode *at, int id, const vlm_jargs *a, vlm_jv *out) {
    switch (id) {
    case B_RANGE:
        return call_range(c, at, a, out);
    case B_NAMESPACE:
    case B_DICT: {
        vlm_jdict *d;
        if (!build_dict(c, at, id == B_DICT ? "dict" : "namespace", a, &d)) return false;
        if (id == B_DICT) {
            *out = vlm_jv_dict(d);
            return true;
        }
        vlm_jns *ns = calloc(1, sizeof *ns);
        if (!ns) {
            vlm_jdict_decref(d);
            return vlm_jctx_oom(c, at);
        }
        ns->refs = 1;
        ns->attrs = d;
        out->type = VLM_JV_NAMESPACE;
        out->u.ns = ns;
        return vlm_jctx_keep(c, at, *out);
    }
    case B_RAISE_EXCEPTION: {
        vlm_jv msg = a->npos ? a->pos[0] : vlm_jv_undef();
        if (a->npos != 1 || a->nkw)
            return vlm_jctx_fail(c, at, VLM_ERR_FORMAT,
                                 "TypeError: raise_exception() takes 1 positional argument");
        vlm_strbuf b;
        vlm_strbuf_init(&b);
        const char *e = vlm_jv_write_str(&b, msg);
        vlm_jctx_fail(c, at, VLM_ERR_FORMAT, "%s",
                      e ? "raise_exception() with an unprintable message" : vlm_strbuf_cstr(&b));
        vlm_strbuf_free(&b);
        return false;
    }
    case B_STRFTIME_NOW:
        return call_strftime(c, at, a, out);
    default:
        return vlm_jctx_fail(c, at, VLM_ERR_UNSUPPORTED, "the global '%s' is not supported",
                             builtin_names[id]);
    }
}

/* ------------------------------------------------------------- method table */

enum { T_STR = 1, T_DICT = 2, T_LIST = 4, T_TUPLE = 8, T_RANGE = 16 };
enum { M_OK = 0, M_MUTATING, M_UNSUPPORTED };

typedef enum method_id {
    /* str */
    M_CAPITALIZE,
    M_CASEFOLD,
    M_CENTER,
    M_COUNT,
    M_ENCODE,
    M_ENDSWITH,
    M_EXPANDTABS,
    M_FIND,
    M_FORMAT,
    M_FORMAT_MAP,
    M_INDEX,
    M_ISALNUM,
    M_ISALPHA,
    M_ISASCII,
    M_ISDECIMAL,
    M_ISDIGIT,
    M_ISIDENTIFIER,
    M_ISLOWER,
    M_ISNUMERIC,
    M_ISPRINTABLE,
    M_ISSPACE,
    M_ISTITLE,
    M_ISUPPER,
    M_JOIN,
    M_LJUST,
    M_LOWER,
    M_LSTRIP,
    M_MAKETRANS,
    M_PARTITION,
    M_REMOVEPREFIX,
    M_REMOVESUFFIX,
    M_REPLACE,
    M_RFIND,
    M_RINDEX,
    M_RJUST,
    M_RPARTITION,
    M_RSPLIT,
    M_RSTRIP,
    M_SPLIT,
    M_SPLITLINES,
    M_STARTSWITH,
    M_STRIP,
    M_SWAPCASE,
    M_TITLE,
    M_TRANSLATE,
    M_UPPER,
    M_ZFILL,
    /* dict */
    M_CLEAR,
    M_COPY,
    M_FROMKEYS,
    M_GET,
    M_ITEMS,
    M_KEYS,
    M_POP,
    M_POPITEM,
    M_SETDEFAULT,
    M_UPDATE,
    M_VALUES,
    /* list */
    M_APPEND,
    M_EXTEND,
    M_INSERT,
    M_REMOVE,
    M_REVERSE,
    M_SORT
} method_id;

typedef struct method_def {
    const char *name;
    uint8_t types;
    uint8_t kind;
    method_id id;
} method_def;

static const method_def methods[] = {
    {"capitalize", T_STR, M_OK, M_CAPITALIZE},
    {"casefold", T_STR, M_UNSUPPORTED, M_CASEFOLD},
    {"center", T_STR, M_OK, M_CENTER},
    {"count", T_STR | T_LIST | T_TUPLE | T_RANGE, M_OK, M_COUNT},
    {"encode", T_STR, M_UNSUPPORTED, M_ENCODE},
    {"endswith", T_STR, M_OK, M_ENDSWITH},
    {"expandtabs", T_STR, M_OK, M_EXPANDTABS},
    {"find", T_STR, M_OK, M_FIND},
    {"format", T_STR, M_OK, M_FORMAT},
    {"format_map", T_STR, M_UNSUPPORTED, M_FORMAT_MAP},
    {"index", T_STR | T_LIST | T_TUPLE | T_RANGE, M_OK, M_INDEX},
    {"isalnum", T_STR, M_OK, M_ISALNUM},
    {"isalpha", T_STR, M_OK, M_ISALPHA},
    {"isascii", T_STR, M_OK, M_ISASCII},
    {"isdecimal", T_STR, M_OK, M_ISDECIMAL},
    {"isdigit", T_STR, M_OK, M_ISDIGIT},
    {"isidentifier", T_STR, M_OK, M_ISIDENTIFIER},
    {"islower", T_STR, M_OK, M_ISLOWER},
    {"isnumeric", T_STR, M_UNSUPPORTED, M_ISNUMERIC},
    {"isprintable", T_STR, M_OK, M_ISPRINTABLE},
    {"isspace", T_STR, M_OK, M_ISSPACE},
    {"istitle", T_STR, M_OK, M_ISTITLE},
    {"isupper", T_STR, M_OK, M_ISUPPER},
    {"join", T_STR, M_OK, M_JOIN},
    {"ljust", T_STR, M_OK, M_LJUST},
    {"lower", T_STR, M_OK, M_LOWER},
    {"lstrip", T_STR, M_OK, M_LSTRIP},
    {"maketrans", T_STR, M_UNSUPPORTED, M_MAKETRANS},
    {"partition", T_STR, M_OK, M_PARTITION},
    {"removeprefix", T_STR, M_OK, M_REMOVEPREFIX},
    {"removesuffix", T_STR, M_OK, M_REMOVESUFFIX},
    {"replace", T_STR, M_OK, M_REPLACE},
    {"rfind", T_STR, M_OK, M_RFIND},
    {"rindex", T_STR, M_OK, M_RINDEX},
    {"rjust", T_STR, M_OK, M_RJUST},
    {"rpartition", T_STR, M_OK, M_RPARTITION},
    {"rsplit", T_STR, M_OK, M_RSPLIT},
    {"rstrip", T_STR, M_OK, M_RSTRIP},
    {"split", T_STR, M_OK, M_SPLIT},
    {"splitlines", T_STR, M_OK, M_SPLITLINES},
    {"startswith", T_STR, M_OK, M_STARTSWITH},
    {"strip", T_STR, M_OK, M_STRIP},
    {"swapcase", T_STR, M_OK, M_SWAPCASE},
    {"title", T_STR, M_OK, M_TITLE},
    {"translate", T_STR, M_UNSUPPORTED, M_TRANSLATE},
    {"upper", T_STR, M_OK, M_UPPER},
    {"zfill", T_STR, M_OK, M_ZFILL},
    {"clear", T_DICT | T_LIST, M_MUTATING, M_CLEAR},
    {"copy", T_DICT | T_LIST, M_OK, M_COPY},
    {"fromkeys", T_DICT, M_UNSUPPORTED, M_FROMKEYS},
    {"get", T_DICT, M_OK, M_GET},
    {"items", T_DICT, M_OK, M_ITEMS},
    {"keys", T_DICT, M_OK, M_KEYS},
    {"pop", T_DICT | T_LIST, M_MUTATING, M_POP},
    {"popitem", T_DICT, M_MUTATING, M_POPITEM},
    {"setdefault", T_DICT, M_MUTATING, M_SETDEFAULT},
    {"update", T_DICT, M_MUTATING, M_UPDATE},
    {"values", T_DICT, M_OK, M_VALUES},
    {"append", T_LIST, M_MUTATING, M_APPEND},
    {"extend", T_LIST, M_MUTATING, M_EXTEND},
    {"insert", T_LIST, M_MUTATING, M_INSERT},
    {"remove", T_LIST, M_MUTATING, M_REMOVE},
    {"reverse", T_LIST, M_MUTATING, M_REVERSE},
    {"sort", T_LIST, M_MUTATING, M_SORT},
};

static int type_bit(vlm_jv v) {
    if (v.type == VLM_JV_STR) return T_STR;
    if (v.type == VLM_JV_DICT) return T_DICT;
    if (v.type != VLM_JV_LIST) return 0;
    switch (v.u.l->kind) {
    case VLM_JLIST_LIST:
        return T_LIST;
    case VLM_JLIST_TUPLE:
        return T_TUPLE;
    case VLM_JLIST_RANGE:
        return T_RANGE;
    default:
        return 0;
    }
}

bool vlm_jinja_method_lookup(vlm_jctx *c, const vlm_jnode *at, vlm_jv obj, vlm_jv name, bool *found,
                             vlm_jv *out) {
    *found = false;
    int bit = type_bit(obj);
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
        const method_def *m = &methods[i];
        if (!(m->types & bit) || strcmp(m->name, name.u.s->data)) continue;
        *found = true;
        if (m->kind == M_MUTATING) {
            *out = vlm_jv_undef_hint("access to attribute '%s' of '%s' object is unsafe.", m->name,
                                     vlm_jv_type_name(obj));
            return true;
        }
        if (!new_func(VLM_JFUNC_METHOD, (int)i, obj, m->name, out)) return vlm_jctx_oom(c, at);
        return true;
    }
    return true;
}

/* ------------------------------------------------------------- str helpers */

static bool want_str(vlm_jctx *c, const vlm_jnode *at, vlm_jv v, const char *what) {
    if (v.type == VLM_JV_STR) return true;
    if (v.type == VLM_JV_UNDEFINED) return vlm_jctx_fail_undefined(c, at, v);
    return vlm_jctx_fail(c, at, VLM_ERR_FORMAT, "TypeError: %s must be str, not %s", what,
                         vlm_jv_type_name(v));
}

static bool cp_in(uint32_t cp, const vlm_jstr *set) {
    size_t i = 0;
    while (i < set->len)
        if (vlm_utf8_next(set->data, set->len, &i) == cp) return true;
    return false;
}

/* str.strip/lstrip/rstrip: which = 1 left, 2 right, 3 both. chars NULL: whitespace. */
static bool do_strip(vlm_jctx *c, const vlm_jnode *at, const vlm_jstr *s, const vlm_jstr *chars,
                     int which, vlm_jv *out) {
    size_t a = 0, b = s->len;
    if (which & 1) {
        while (a < b) {
            size_t j = a;
            uint32_t cp = vlm_utf8_next(s->data, s->len, &j);
            if (chars ? !cp_in(cp, chars) : !vlm_py_isspace(cp)) break;
            a = j;
        }
    }
    if (which & 2) {
        while (b > a) {
            size_t p = vlm_utf8_prev(s->data, b), j = p;
            uint32_t cp = vlm_utf8_next(s->data, s->len, &j);
            if (chars ? !cp_in(cp, chars) : !vlm_py_isspace(cp)) break;
            b = p;
        }
    }
    return vlm_jctx_str(c, at, s->data + a, b - a, out);
}

bool vlm_jinja_str_strip(vlm_jctx *c, const vlm_jnode *at, vlm_jv s, vlm_jv chars, int which,
                         vlm_jv *out);
bool vlm_jinja_str_strip(vlm_jctx *c, const vlm_jnode *at, vlm_jv s, vlm_jv chars, int which,
                         vlm_jv *out) {
    const vlm_jstr *set = NULL;
    if (chars.type == VLM_JV_STR)
        set = chars.u.s;
    else if (chars.type != VLM_JV_NONE)
        return vlm_jctx_fail(c, at, VLM_ERR_FORMAT,
                             "TypeError: strip arg must be None or str, not %s",
                             vlm_jv_type_name(chars));
    return do_strip(c, at, s.u.s, set, which, out);
}

static bool push_str(vlm_jctx *c, const vlm_jnode *at, vlm_jlist *l, const char *s, size_t n) {
    vlm_jv v;
    return vlm_jctx_str(c, at, s, n, &v) && vlm_jctx_push(c, at, l, v);
}

/* str.split / str.rsplit. sep NULL: runs of whitespace. */
static bool do_split(vlm_jctx *c, const vlm_jnode *at, const vlm_jstr *s, const vlm_jstr *sep,
                     int64_t maxsplit, bool right, vlm_jv *out) {
    vlm_jlist *l = vlm_jlist_new(VLM_JLIST_LIST, 0);
    if (!l) return vlm_jctx_oom(c, at);
    bool ok = true;
    const char *d = s->data;
    size_t n = s->len;
    if (sep && sep->len == 0) {
        vlm_jlist_decref(l);
        return vlm_jctx_fail(c, at, VLM_ERR_FORMAT, "ValueError: empty separator");
    }
    if (maxsplit < 0) maxsplit = INT64_MAX;
    if (!right) {
        size_t i = 0;
        int64_t splits = 0;
        if (!sep) {
            for (;;) {
                while (i < n) { /* skip whitespace */
                    size_t j = i;
                    if (!vlm_py_isspace(vlm_utf8_next(d, n, &j))) break;
                    i = j;
                }
                if (i >= n) break;
                if (splits == maxsplit) { /* the rest, trailing whitespace kept */
                    ok = push_str(c, at, l, d + i, n - i);
                    break;
                }
                size_t start = i;
                while (i < n) {
                    size_t j = i;
                    if (vlm_py_isspace(vlm_utf8_next(d, n, &j))) break;
                    i = j;
                }
                if (!(ok = push_str(c, at, l, d + start, i - start))) break;
                splits++;
            }
        } else {
            size_t start = 0;
            while (splits < maxsplit) {
                const char *hit = n - start >= sep->len
                                      ? memmem(d + start, n - start, sep->data, sep->len)
                                      : NULL;
                if (!hit) break;
                size_t h = (size_t)(hit - d);
                if (!(ok = push_str(c, at, l, d + start, h - start))) break;
                start = h + sep->len;
                splits++;
            }
            if (ok) ok = push_str(c, at, l, d + start, n - start);
        }
    } else {
        /* Collect from the right, then reverse. */
        size_t e = n;
        int64_t splits = 0;
        if (!sep) {
            for (;;) {
                while (e > 0) {
                    size_t p = vlm_utf8_prev(d, e), j = p;
                    if (!vlm_py_isspace(vlm_utf8_next(d, n, &j))) break;
                    e = p;
                }
                if (e == 0) break;
                if (splits == maxsplit) { /* the rest, leading whitespace kept */
                    ok = push_str(c, at, l, d, e);
                    break;
                }
                size_t end = e;
                while (e > 0) {
                    size_t p = vlm_utf8_prev(d, e), j = p;
                    if (vlm_py_isspace(vlm_utf8_next(d, n, &j))) break;
                    e = p;
                }
                if (!(ok = push_str(c, at, l, d + e, end - e))) break;
                splits++;
            }
        } else {
            while (splits < maxsplit && e >= sep->len) {
                size_t h = (size_t)-1;
                for (size_t k = e - sep->len + 1; k-- > 0;)
                    if (!memcmp(d + k, sep->data, sep->len)) {
                        h = k;
                        break;
                    }
                if (h == (size_t)-1) break;
                if (!(ok = push_str(c, at, l, d + h + sep->len, e - h - sep->len))) break;
                e = h;
                splits++;
            }
            if (ok) ok = push_str(c, at, l, d, e);
        }
        for (size_t i = 0, j = l->n ? l->n - 1 : 0; i < j; i++, j--) {
            vlm_jv t = l->items[i];
            l->items[i] = l->items[j];
            l->items[j] = t;
        }
    }
    if (!ok) {
        vlm_jlist_decref(l);
        return false;
    }
    *out = vlm_jv_list(l);
    return true;
}

/* Code point index of a byte offset. */
static size_t cp_index(const vlm_jstr *s, size_t off) {
    if (s->ascii) return off;
    size_t n = 0;
    for (size_t i = 0; i < off; i++)
        n += ((unsigned char)s->data[i] & 0xC0) != 0x80;
    return n;
}

/* Optional [start, end) bounds of find/count/startswith, adjusted as CPython's
 * ADJUST_INDICES does (end clamped to the length, start not): *span is end - start in code
 * points (may be negative) and lo/hi the byte offsets when the span is not negative. */
static bool bounds(vlm_jctx *c, const vlm_jnode *at, const vlm_jstr *s, const vlm_jargs *a,
                   uint32_t first, size_t *lo, size_t *hi, int64_t *span) {
    int64_t n = (int64_t)s->ncp, v[2] = {0, n};
    for (uint32_t k = 0; k < 2; k++) {
        if (first + k >= a->npos || a->pos[first + k].type == VLM_JV_NONE) continue;
        if (!want_int(c, at, a->pos[first + k], "slice index", &v[k])) return false;
        if (v[k] < 0) {
            v[k] += n;
            if (v[k] < 0) v[k] = 0;
        } else if (k == 1 && v[k] > n) {
            v[k] = n;
        }
    }
    *span = v[1] - v[0];
    *lo = *hi = 0;
    if (*span >= 0) {
        *lo = vlm_jstr_offset(s, (size_t)v[0]);
        *hi = vlm_jstr_offset(s, (size_t)v[1]);
    }
    return true;
}

static bool check_npos(vlm_jctx *c, const vlm_jnode *at, const char *name, const vlm_jargs *a,
                       uint32_t min, uint32_t max) {
    if (a->nkw)
        return vlm_jctx_fail(c, at, VLM_ERR_FORMAT, "TypeError: %s() takes no keyword arguments",
                             name);
    if (a->npos < min || a->npos > max)
        return vlm_jctx_fail(c, at, VLM_ERR_FORMAT,
                             "TypeError: %s() takes from %u to %u arguments (%u given)", name, min,
                             max, a->npos);
    return true;
}

static bool pad(vlm_jctx *c, const vlm_jnode *at, const vlm_jstr *s, const vlm_jargs *a,
                const char *name, int where, vlm_jv *out) {
    if (!check_npos(c, at, name, a, 1, 2)) return false;
    int64_t width;
    if (!want_int(c, at, a->pos[0], "width", &width)) return false;
    const char *fill = " ";
    size_t fill_len = 1;
    if (a->npos == 2) {
        vlm_jv f = a->pos[1];
        if (f.type != VLM_JV_STR || f.u.s->ncp != 1)
            return vlm_jctx_fail(
                c, at, VLM_ERR_FORMAT,
                "TypeError: The fill character must be exactly one character long");
        fill = f.u.s->data;
        fill_len = f.u.s->len;
    }
    if (width <= (int64_t)s->ncp) return vlm_jctx_str(c, at, s->data, s->len, out);
    if ((uint64_t)width > c->max_output)
        return vlm_jctx_fail(c, at, VLM_ERR_LIMIT, "padding width exceeds the output limit");
    size_t total = (size_t)width - s->ncp, left;
    if (where == 0) { /* center: Python puts the extra space on the right unless odd width */
        left = total / 2 + (total & (size_t)width & 1);
    } else {
        left = where < 0 ? 0 : total;
    }
    vlm_strbuf b;
    vlm_strbuf_init(&b);
    for (size_t k = 0; k < left; k++)
        vlm_strbuf_append(&b, fill, fill_len);
    vlm_strbuf_append(&b, s->data, s->len);
    for (size_t k = left; k < total; k++)
        vlm_strbuf_append(&b, fill, fill_len);
    return vlm_jctx_buf(c, at, &b, out);
}

static bool case_map(vlm_jctx *c, const vlm_jnode *at, const vlm_jstr *s,
                     const char *(*fn)(vlm_strbuf *, const char *, size_t), vlm_jv *out) {
    vlm_strbuf b;
    vlm_strbuf_init(&b);
    const char *e = fn(&b, s->data, s->len);
    if (e) {
        vlm_strbuf_free(&b);
        return vlm_jctx_fail(c, at, VLM_ERR_UNSUPPORTED, "%s", e);
    }
    return vlm_jctx_buf(c, at, &b, out);
}

static bool predicate(const vlm_jstr *s, method_id id) {
    size_t i = 0;
    if (id == M_ISASCII) return s->ascii;
    if (s->len == 0) return false;
    bool cased = false, upper = false, lower = false;
    bool prev_cased = false, title_ok = true;
    while (i < s->len) {
        uint32_t cp = vlm_utf8_next(s->data, s->len, &i);
        switch (id) {
        case M_ISALNUM:
            if (!vlm_py_isalnum(cp)) return false;
            break;
        case M_ISALPHA:
            if (!vlm_py_isalpha(cp)) return false;
            break;
        case M_ISDECIMAL:
            if (!vlm_py_isdecimal(cp)) return false;
            break;
        case M_ISDIGIT:
            if (!vlm_py_isdigit(cp)) return false;
            break;
        case M_ISSPACE:
            if (!vlm_py_isspace(cp)) return false;
            break;
        case M_ISPRINTABLE:
            if (!vlm_py_isprintable(cp)) return false;
            break;
        case M_ISLOWER:
        case M_ISUPPER:
            if (vlm_py_isupper(cp))
                upper = true;
            else if (vlm_py_islower(cp))
                lower = true;
            else if (vlm_py_iscased(cp))
                upper = lower = true; /* titlecase */
            break;
        case M_ISTITLE: {
            bool up = vlm_py_isupper(cp) || (vlm_py_iscased(cp) && !vlm_py_islower(cp));
            if (up) {
                if (prev_cased) title_ok = false;
                prev_cased = cased = true;
            } else if (vlm_py_islower(cp)) {
                if (!prev_cased) title_ok = false;
                prev_cased = cased = true;
            } else {
                prev_cased = false;
            }
            break;
        }
        default:
            return false;
        }
    }
    if (id == M_ISLOWER) return lower && !upper;
    if (id == M_ISUPPER) return upper && !lower;
    if (id == M_ISTITLE) return cased && title_ok;
    return true;
}

static bool str_find(vlm_jctx *c, const vlm_jnode *at, const vlm_jstr *s, const vlm_jargs *a,
                     method_id id, vlm_jv *out) {
    const char *name = methods[0].name;
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
        if (methods[i].id == id) name = methods[i].name;
    if (!check_npos(c, at, name, a, 1, 3) || !want_str(c, at, a->pos[0], "substring")) return false;
    const vlm_jstr *sub = a->pos[0].u.s;
    size_t lo, hi;
    int64_t span;
    if (!bounds(c, at, s, a, 1, &lo, &hi, &span)) return false;
    bool in_range = span >= (int64_t)sub->ncp;
    if (id == M_COUNT) {
        int64_t count = 0;
        if (in_range) {
            if (sub->len == 0) {
                count = span + 1;
            } else {
                for (size_t i = lo; i + sub->len <= hi;) {
                    const char *h = memmem(s->data + i, hi - i, sub->data, sub->len);
                    if (!h) break;
                    count++;
                    i = (size_t)(h - s->data) + sub->len;
                }
            }
        }
        *out = vlm_jv_int(count);
        return true;
    }
    bool rev = id == M_RFIND || id == M_RINDEX;
    int64_t found = -1;
    if (in_range) {
        if (!rev) {
            const char *h = memmem(s->data + lo, hi - lo, sub->data, sub->len);
            if (h) found = (int64_t)cp_index(s, (size_t)(h - s->data));
        } else {
            for (size_t k = hi - sub->len + 1; k-- > lo;)
                if (!memcmp(s->data + k, sub->data, sub->len)) {
                    found = (int64_t)cp_index(s, k);
                    break;
                }
        }
    }
    if (found < 0 && (id == M_INDEX || id == M_RINDEX))
        return vlm_jctx_fail(c, at, VLM_ERR_FORMAT, "ValueError: substring not found");
    *out = vlm_jv_int(found);
    return true;
}

static bool str_affix(vlm_jctx *c, const vlm_jnode *at, const vlm_jstr *s, const vlm_jargs *a,
                      bool ends, vlm_jv *out) {
    const char *name = ends ? "endswith" : "startswith";
    if (!check_npos(c, at, name, a, 1, 3)) return false;
    size_t lo, hi;
    int64_t span;
    if (!bounds(c, at, s, a, 1, &lo, &hi, &span)) return false;
    vlm_jv p = a->pos[0];
    const vlm_jv *cands = &p;
    size_t ncand = 1;
    if (p.type == VLM_JV_LIST && p.u.l->kind == VLM_JLIST_TUPLE) {
        cands = p.u.l->items;
        ncand = p.u.l->n;
    }
    for (size_t k = 0; k < ncand; k++) {
        if (cands[k].type != VLM_JV_STR)
            return vlm_jctx_fail(c, at, VLM_ERR_FORMAT,
                                 "TypeError: %s first arg must be str or a tuple of str, not %s",
                                 name, vlm_jv_type_name(cands[k]));
        const vlm_jstr *x = cands[k].u.s;
        if (span < (int64_t)x->ncp || x->len > hi - lo) continue;
        const char *at_ = ends ? s->data + hi - x->len : s->data + lo;
        if (!memcmp(at_, x->data, x->len)) {
            *out = vlm_jv_bool(true);
            return true;
        }
    }
    *out = vlm_jv_bool(false);
    return true;
}

bool vlm_jinja_str_replace(vlm_jctx *c, const vlm_jnode *at, const vlm_jstr *s, const vlm_jstr *old,
                           const vlm_jstr *rep, int64_t count, vlm_jv *out);
bool vlm_jinja_str_replace(vlm_jctx *c, const vlm_jnode *at, const vlm_jstr *s, const vlm_jstr *old,
                           const vlm_jstr *rep, int64_t count, vlm_jv *out) {
    if (count < 0) count = INT64_MAX;
    vlm_strbuf b;
    vlm_strbuf_init(&b);
    int64_t done = 0;
    if (old->len == 0) {
        /* Inserted before every code point and at the end. */
        size_t i = 0;
        while (i < s->len) {
            if (done < count) {
                vlm_strbuf_append(&b, rep->data, rep->len);
                done++;
            }
            size_t j = i;
            vlm_utf8_next(s->data, s->len, &j);
            vlm_strbuf_append(&b, s->data + i, j - i);
            i = j;
            if (b.len > c->max_output) break;
        }
        if (done < count) vlm_strbuf_append(&b, rep->data, rep->len);
    } else {
        size_t i = 0;
        while (i < s->len && done < count) {
            const char *h = memmem(s->data + i, s->len - i, old->data, old->len);
            if (!h) break;
            size_t k = (size_t)(h - s->data);
            vlm_strbuf_append(&b, s->data + i, k - i);
            vlm_strbuf_append(&b, rep->data, rep->len);
            i = k + old->len;
            done++;
            if (b.len > c->max_output) break;
        }
        vlm_strbuf_append(&b, s->data + i, s->len - i);
    }
    if (b.len > c->max_output) {
        vlm_strbuf_free(&b);
        return vlm_jctx_fail(c, at, VLM_ERR_LIMIT, "replace() result exceeds the output limit");
    }
    return vlm_jctx_buf(c, at, &b, out);
}

static bool str_join(vlm_jctx *c, const vlm_jnode *at, const vlm_jstr *sep, vlm_jv iterable,
                     vlm_jv *out) {
    vlm_jlist *items;
    if (!vlm_jctx_iterate(c, at, iterable, &items)) return false;
    vlm_strbuf b;
    vlm_strbuf_init(&b);
    bool ok = true;
    for (size_t i = 0; i < items->n && ok; i++) {
        vlm_jv it = items->items[i];
        if (it.type != VLM_JV_STR) {
            ok = vlm_jctx_fail(c, at, VLM_ERR_FORMAT,
                               "TypeError: sequence item %zu: expected str instance, %s found", i,
                               vlm_jv_type_name(it));
            break;
        }
        if (i) vlm_strbuf_append(&b, sep->data, sep->len);
        vlm_strbuf_append(&b, it.u.s->data, it.u.s->len);
        if (b.len > c->max_output)
            ok = vlm_jctx_fail(c, at, VLM_ERR_LIMIT, "join() result exceeds the output limit");
    }
    vlm_jlist_decref(items);
    if (!ok) {
        vlm_strbuf_free(&b);
        return false;
    }
    return vlm_jctx_buf(c, at, &b, out);
}

static bool splitlines(vlm_jctx *c, const vlm_jnode *at, const vlm_jstr *s, bool keepends,
                       vlm_jv *out) {
    vlm_jlist *l = vlm_jlist_new(VLM_JLIST_LIST, 0);
    if (!l) return vlm_jctx_oom(c, at);
    size_t i = 0, start = 0;
    while (i < s->len) {
        size_t j = i;
        uint32_t cp = vlm_utf8_next(s->data, s->len, &j);
        if (!vlm_py_islinebreak(cp)) {
            i = j;
            continue;
        }
        size_t eol = j;
        if (cp == '\r' && j < s->len && s->data[j] == '\n') eol = j + 1;
        if (!push_str(c, at, l, s->data + start, (keepends ? eol : i) - start)) {
            vlm_jlist_decref(l);
            return false;
        }
        i = start = eol;
    }
    if (start < s->len && !push_str(c, at, l, s->data + start, s->len - start)) {
        vlm_jlist_decref(l);
        return false;
    }
    *out = vlm_jv_list(l);
    return true;
}

static bool partition(vlm_jctx *c, const vlm_jnode *at, const vlm_jstr *s, vlm_jv sepv, bool right,
                      vlm_jv *out) {
    if (!want_str(c, at, sepv, "separator")) return false;
    const vlm_jstr *sep = sepv.u.s;
    if (sep->len == 0) return vlm_jctx_fail(c, at, VLM_ERR_FORMAT, "ValueError: empty separator");
    size_t h = (size_t)-1;
    if (!right) {
        const char *p = memmem(s->data, s->len, sep->data, sep->len);
        if (p) h = (size_t)(p - s->data);
    } else if (s->len >= sep->len) {
        for (size_t k = s->len - sep->len + 1; k-- > 0;)
            if (!memcmp(s->data + k, sep->data, sep->len)) {
                h = k;
                break;
            }
    }
    vlm_jlist *l = vlm_jlist_new(VLM_JLIST_TUPLE, 3);
    if (!l) return vlm_jctx_oom(c, at);
    bool ok;
    if (h == (size_t)-1) {
        ok = right ? (push_str(c, at, l, "", 0) && push_str(c, at, l, "", 0) &&
                      push_str(c, at, l, s->data, s->len))
                   : (push_str(c, at, l, s->data, s->len) && push_str(c, at, l, "", 0) &&
                      push_str(c, at, l, "", 0));
    } else {
        ok = push_str(c, at, l, s->data, h) && push_str(c, at, l, sep->data, sep->len) &&
             push_str(c, at, l, s->data + h + sep->len, s->len - h - sep->len);
    }
    if (!ok) {
        vlm_jlist_decref(l);
        return false;
    }
    *out = vlm_jv_list(l);
    return true;
}

static bool expandtabs(vlm_jctx *c, const vlm_jnode *at, const vlm_jstr *s, int64_t tab,
                       vlm_jv *out) {
    vlm_strbuf b;
    vlm_strbuf_init(&b);
    int64_t col = 0;
    size_t i = 0;
    while (i < s->len) {
        size_t j = i;
        uint32_t cp = vlm_utf8_next(s->data, s->len, &j);
        if (cp == '\t') {
            if (tab > 0) {
                int64_t spaces = tab - col % tab;
                for (int64_t k = 0; k < spaces && b.len <= c->max_output; k++)
                    vlm_strbuf_putc(&b, ' ');
                col += spaces;
            }
        } else {
            vlm_strbuf_append(&b, s->data + i, j - i);
            col = (cp == '\n' || cp == '\r') ? 0 : col + 1;
        }
        i = j;
        if (b.len > c->max_output) {
            vlm_strbuf_free(&b);
            return vlm_jctx_fail(c, at, VLM_ERR_LIMIT,
                                 "expandtabs() result exceeds the output limit");
        }
    }
    return vlm_jctx_buf(c, at, &b, out);
}

bool vlm_jinja_str_format(vlm_jctx *c, const vlm_jnode *at, const vlm_jstr *fmt, const vlm_jargs *a,
                          vlm_jv *out);

static bool call_str_method(vlm_jctx *c, const vlm_jnode *at, method_id id, vlm_jv self,
                            const vlm_jargs *a, vlm_jv *out) {
    const vlm_jstr *s = self.u.s;
    switch (id) {
    case M_CAPITALIZE:
    case M_LOWER:
    case M_UPPER:
    case M_TITLE:
    case M_SWAPCASE: {
        static const char *const names[] = {"capitalize", "lower", "upper", "title", "swapcase"};
        const char *name = id == M_CAPITALIZE ? names[0]
                           : id == M_LOWER    ? names[1]
                           : id == M_UPPER    ? names[2]
                           : id == M_TITLE    ? names[3]
                                              : names[4];
        if (!check_npos(c, at, name, a, 0, 0)) return false;
        return case_map(c, at, s,
                        id == M_CAPITALIZE ? vlm_py_capitalize
                        : id == M_LOWER    ? vlm_py_lower
                        : id == M_UPPER    ? vlm_py_upper
                        : id == M_TITLE    ? vlm_py_title
                                           : vlm_py_swapcase,
                        out);
    }
    case M_CENTER:
        return pad(c, at, s, a, "center", 0, out);
    case M_LJUST:
        return pad(c, at, s, a, "ljust", -1, out);
    case M_RJUST:
        return pad(c, at, s, a, "rjust", 1, out);
    case M_ZFILL: {
        if (!check_npos(c, at, "zfill", a, 1, 1)) return false;
        int64_t width;
        if (!want_int(c, at, a->pos[0], "width", &width)) return false;
        if (width <= (int64_t)s->ncp) return vlm_jctx_str(c, at, s->data, s->len, out);
        if ((uint64_t)width > c->max_output)
            return vlm_jctx_fail(c, at, VLM_ERR_LIMIT, "zfill width exceeds the output limit");
        vlm_strbuf b;
        vlm_strbuf_init(&b);
        size_t skip = (s->len && (s->data[0] == '+' || s->data[0] == '-')) ? 1 : 0;
        vlm_strbuf_append(&b, s->data, skip);
        for (int64_t k = (int64_t)s->ncp; k < width; k++)
            vlm_strbuf_putc(&b, '0');
        vlm_strbuf_append(&b, s->data + skip, s->len - skip);
        return vlm_jctx_buf(c, at, &b, out);
    }
    case M_COUNT:
    case M_FIND:
    case M_RFIND:
    case M_INDEX:
    case M_RINDEX:
        return str_find(c, at, s, a, id, out);
    case M_STARTSWITH:
    case M_ENDSWITH:
        return str_affix(c, at, s, a, id == M_ENDSWITH, out);
    case M_STRIP:
    case M_LSTRIP:
    case M_RSTRIP: {
        const char *name = id == M_STRIP ? "strip" : id == M_LSTRIP ? "lstrip" : "rstrip";
        if (!check_npos(c, at, name, a, 0, 1)) return false;
        return vlm_jinja_str_strip(c, at, self, a->npos ? a->pos[0] : vlm_jv_none(),
                                   id == M_STRIP    ? 3
                                   : id == M_LSTRIP ? 1
                                                    : 2,
                                   out);
    }
    case M_SPLIT:
    case M_RSPLIT: {
        static const char *const params[] = {"sep", "maxsplit"};
        vlm_jv slot[2];
        bool given[2];
        if (!vlm_jargs_bind(c, at, id == M_SPLIT ? "split" : "rsplit", a, params, 2, slot, given))
            return false;
        const vlm_jstr *sep = NULL;
        if (given[0] && slot[0].type != VLM_JV_NONE) {
            if (!want_str(c, at, slot[0], "separator")) return false;
            sep = slot[0].u.s;
        }
        int64_t maxsplit = -1;
        if (given[1] && !want_int(c, at, slot[1], "maxsplit", &maxsplit)) return false;
        return do_split(c, at, s, sep, maxsplit, id == M_RSPLIT, out);
    }
    case M_SPLITLINES: {
        static const char *const params[] = {"keepends"};
        vlm_jv slot;
        bool given;
        if (!vlm_jargs_bind(c, at, "splitlines", a, params, 1, &slot, &given)) return false;
        int64_t keep = 0;
        if (given && !want_int(c, at, slot, "keepends", &keep)) return false;
        return splitlines(c, at, s, keep != 0, out);
    }
    case M_REPLACE: {
        if (!check_npos(c, at, "replace", a, 2, 3)) return false;
        if (!want_str(c, at, a->pos[0], "replace() argument 1") ||
            !want_str(c, at, a->pos[1], "replace() argument 2"))
            return false;
        int64_t count = -1;
        if (a->npos == 3 && !want_int(c, at, a->pos[2], "count", &count)) return false;
        return vlm_jinja_str_replace(c, at, s, a->pos[0].u.s, a->pos[1].u.s, count, out);
    }
    case M_JOIN:
        if (!check_npos(c, at, "join", a, 1, 1)) return false;
        return str_join(c, at, s, a->pos[0], out);
    case M_PARTITION:
    case M_RPARTITION:
        if (!check_npos(c, at, id == M_PARTITION ? "partition" : "rpartition", a, 1, 1))
            return false;
        return partition(c, at, s, a->pos[0], id == M_RPARTITION, out);
    case M_REMOVEPREFIX:
    case M_REMOVESUFFIX: {
        bool suffix = id == M_REMOVESUFFIX;
        if (!check_npos(c, at, suffix ? "removesuffix" : "removeprefix", a, 1, 1) ||
            !want_str(c, at, a->pos[0], "argument"))
            return false;
        const vlm_jstr *x = a->pos[0].u.s;
        bool hit = x->len <= s->len &&
                   !memcmp(suffix ? s->data + s->len - x->len : s->data, x->data, x->len);
        if (!hit) return vlm_jctx_str(c, at, s->data, s->len, out);
        return vlm_jctx_str(c, at, suffix ? s->data : s->data + x->len, s->len - x->len, out);
    }
    case M_EXPANDTABS: {
        static const char *const params[] = {"tabsize"};
        vlm_jv slot;
        bool given;
        int64_t tab = 8;
        if (!vlm_jargs_bind(c, at, "expandtabs", a, params, 1, &slot, &given)) return false;
        if (given && !want_int(c, at, slot, "tabsize", &tab)) return false;
        return expandtabs(c, at, s, tab, out);
    }
    case M_FORMAT:
        return vlm_jinja_str_format(c, at, s, a, out);
    case M_ISIDENTIFIER: {
        if (!check_npos(c, at, "isidentifier", a, 0, 0)) return false;
        if (!s->ascii)
            return vlm_jctx_fail(c, at, VLM_ERR_UNSUPPORTED,
                                 "isidentifier() of non-ASCII text is not supported");
        bool ok = s->len > 0 && !(s->data[0] >= '0' && s->data[0] <= '9');
        for (size_t i = 0; ok && i < s->len; i++) {
            char ch = s->data[i];
            ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                 ch == '_';
        }
        *out = vlm_jv_bool(ok);
        return true;
    }
    case M_ISALNUM:
    case M_ISALPHA:
    case M_ISASCII:
    case M_ISDECIMAL:
    case M_ISDIGIT:
    case M_ISLOWER:
    case M_ISPRINTABLE:
    case M_ISSPACE:
    case M_ISTITLE:
    case M_ISUPPER:
        if (!check_npos(c, at, "is...", a, 0, 0)) return false;
        *out = vlm_jv_bool(id == M_ISPRINTABLE && s->len == 0 ? true : predicate(s, id));
        return true;
    default:
        break;
    }
    return vlm_jctx_fail(c, at, VLM_ERR_UNSUPPORTED, "this str method is not supported");
}

static bool make_view(vlm_jctx *c, const vlm_jnode *at, const vlm_jdict *d, uint8_t kind,
                      vlm_jv *out) {
    vlm_jlist *l = vlm_jlist_new(kind, d->n);
    if (!l) return vlm_jctx_oom(c, at);
    for (size_t i = 0; i < d->n; i++) {
        vlm_jv item;
        if (kind == VLM_JLIST_KEYS) {
            item = vlm_jv_incref(d->keys[i]);
        } else if (kind == VLM_JLIST_VALUES) {
            item = vlm_jv_incref(d->vals[i]);
        } else {
            vlm_jlist *pair = vlm_jlist_new(VLM_JLIST_TUPLE, 2);
            if (!pair || !vlm_jlist_push(pair, vlm_jv_incref(d->keys[i])) ||
                !vlm_jlist_push(pair, vlm_jv_incref(d->vals[i]))) {
                vlm_jlist_decref(pair);
                vlm_jlist_decref(l);
                return vlm_jctx_oom(c, at);
            }
            item = vlm_jv_list(pair);
        }
        if (!vlm_jctx_push(c, at, l, item)) {
            vlm_jlist_decref(l);
            return false;
        }
    }
    *out = vlm_jv_list(l);
    return true;
}

static bool call_dict_method(vlm_jctx *c, const vlm_jnode *at, method_id id, vlm_jv self,
                             const vlm_jargs *a, vlm_jv *out) {
    const vlm_jdict *d = self.u.d;
    switch (id) {
    case M_GET: {
        if (!check_npos(c, at, "get", a, 1, 2)) return false;
        if (!vlm_jv_hashable(a->pos[0]))
            return vlm_jctx_fail(c, at, VLM_ERR_FORMAT, "TypeError: unhashable type: '%s'",
                                 vlm_jv_type_name(a->pos[0]));
        const vlm_jv *v = vlm_jdict_get(d, a->pos[0]);
        *out = v ? vlm_jv_incref(*v) : a->npos == 2 ? vlm_jv_incref(a->pos[1]) : vlm_jv_none();
        return true;
    }
    case M_ITEMS:
    case M_KEYS:
    case M_VALUES:
        if (!check_npos(c, at, id == M_ITEMS ? "items" : id == M_KEYS ? "keys" : "values", a, 0, 0))
            return false;
        return make_view(c, at, d,
                         id == M_ITEMS  ? VLM_JLIST_ITEMS
                         : id == M_KEYS ? VLM_JLIST_KEYS
                                        : VLM_JLIST_VALUES,
                         out);
    case M_COPY: {
        if (!check_npos(c, at, "copy", a, 0, 0)) return false;
        vlm_jdict *copy = vlm_jdict_new(d->n);
        if (!copy) return vlm_jctx_oom(c, at);
        for (size_t i = 0; i < d->n; i++)
            if (!vlm_jdict_set(copy, vlm_jv_incref(d->keys[i]), vlm_jv_incref(d->vals[i]))) {
                vlm_jdict_decref(copy);
                return vlm_jctx_oom(c, at);
            }
        *out = vlm_jv_dict(copy);
        return true;
    }
    default:
        break;
    }
    return vlm_jctx_fail(c, at, VLM_ERR_UNSUPPORTED, "this dict method is not supported");
}

static bool call_list_method(vlm_jctx *c, const vlm_jnode *at, method_id id, vlm_jv self,
                             const vlm_jargs *a, vlm_jv *out) {
    const vlm_jlist *l = self.u.l;
    switch (id) {
    case M_COUNT: {
        if (!check_npos(c, at, "count", a, 1, 1)) return false;
        int64_t n = 0;
        for (size_t i = 0; i < l->n; i++)
            n += vlm_jv_equal(l->items[i], a->pos[0]);
        *out = vlm_jv_int(n);
        return true;
    }
    case M_INDEX: {
        if (!check_npos(c, at, "index", a, 1, 3)) return false;
        int64_t lo = 0, hi = (int64_t)l->n, n = (int64_t)l->n;
        if (a->npos >= 2 && !want_int(c, at, a->pos[1], "start", &lo)) return false;
        if (a->npos >= 3 && !want_int(c, at, a->pos[2], "stop", &hi)) return false;
        if (lo < 0) lo = lo + n < 0 ? 0 : lo + n;
        if (hi < 0) hi = hi + n < 0 ? 0 : hi + n;
        if (hi > n) hi = n;
        for (int64_t i = lo; i < hi; i++)
            if (vlm_jv_equal(l->items[i], a->pos[0])) {
                *out = vlm_jv_int(i);
                return true;
            }
        return vlm_jctx_fail(c, at, VLM_ERR_FORMAT, "ValueError: value is not in %s",
                             vlm_jv_type_name(self));
    }
    case M_COPY: {
        if (!check_npos(c, at, "copy", a, 0, 0)) return false;
        vlm_jlist *copy = vlm_jlist_new(VLM_JLIST_LIST, l->n);
        if (!copy) return vlm_jctx_oom(c, at);
        for (size_t i = 0; i < l->n; i++)
            if (!vlm_jctx_push(c, at, copy, vlm_jv_incref(l->items[i]))) {
                vlm_jlist_decref(copy);
                return false;
            }
        *out = vlm_jv_list(copy);
        return true;
    }
    default:
        break;
    }
    return vlm_jctx_fail(c, at, VLM_ERR_UNSUPPORTED, "this list method is not supported");
}

static bool call_loop_method(vlm_jctx *c, const vlm_jnode *at, int id, vlm_jv self,
                             const vlm_jargs *a, vlm_jv *out) {
    vlm_jloop *lp = self.u.loop;
    if (a->nkw)
        return vlm_jctx_fail(c, at, VLM_ERR_FORMAT,
                             "TypeError: loop methods take no keyword arguments");
    if (id == VLM_JMETHOD_LOOP_CYCLE) {
        if (a->npos == 0)
            return vlm_jctx_fail(c, at, VLM_ERR_FORMAT, "TypeError: no items for cycling given");
        *out = vlm_jv_incref(a->pos[lp->index0 % a->npos]);
        return true;
    }
    /* loop.changed(*values): true when the values differ from the previous call's. */
    vlm_jlist *now = vlm_jlist_new(VLM_JLIST_LIST, a->npos);
    if (!now) return vlm_jctx_oom(c, at);
    for (uint32_t i = 0; i < a->npos; i++)
        if (!vlm_jctx_push(c, at, now, vlm_jv_incref(a->pos[i]))) {
            vlm_jlist_decref(now);
            return false;
        }
    vlm_jv nv = vlm_jv_list(now);
    bool changed = !lp->has_changed || !vlm_jv_equal(lp->last_changed, nv);
    if (changed) {
        vlm_jv_decref(lp->last_changed);
        lp->last_changed = nv;
        lp->has_changed = true;
    } else {
        vlm_jv_decref(nv);
    }
    *out = vlm_jv_bool(changed);
    return true;
}

bool vlm_jinja_call_builtin(vlm_jctx *c, const vlm_jnode *at, const vlm_jfunc *fn,
                            const vlm_jargs *a, vlm_jv *out) {
    *out = vlm_jv_undef();
    if (fn->kind == VLM_JFUNC_BUILTIN) return call_global(c, at, fn->id, a, out);
    if (fn->id == VLM_JMETHOD_LOOP_CYCLE || fn->id == VLM_JMETHOD_LOOP_CHANGED)
        return call_loop_method(c, at, fn->id, fn->self, a, out);
    if (fn->id < 0 || (size_t)fn->id >= sizeof methods / sizeof methods[0])
        return vlm_jctx_fail(c, at, VLM_ERR_INTERNAL, "internal error: bad method id");
    const method_def *m = &methods[fn->id];
    if (m->kind == M_UNSUPPORTED)
        return vlm_jctx_fail(c, at, VLM_ERR_UNSUPPORTED, "the method %s.%s() is not supported",
                             vlm_jv_type_name(fn->self), m->name);
    switch (fn->self.type) {
    case VLM_JV_STR:
        return call_str_method(c, at, m->id, fn->self, a, out);
    case VLM_JV_DICT:
        return call_dict_method(c, at, m->id, fn->self, a, out);
    default:
        return call_list_method(c, at, m->id, fn->self, a, out);
    }
}
