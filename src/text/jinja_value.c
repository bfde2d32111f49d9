/* Jinja values (see jinja_value.h): construction, reference counting, the ordered dict,
 * and Python's truthiness, equality and ordering rules. */
#include "text/jinja_value.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/checked.h"

/* ------------------------------------------------------------- strings */

vlm_jstr *vlm_jstr_new(const char *s, size_t len) {
    size_t bytes;
    if (!vlm_size_add(sizeof(vlm_jstr), len, &bytes) || !vlm_size_add(bytes, 1, &bytes))
        return NULL;
    vlm_jstr *str = malloc(bytes);
    if (!str) return NULL;
    str->refs = 1;
    str->len = len;
    if (len) memcpy(str->data, s, len);
    str->data[len] = '\0';
    /* Code points = bytes that are not UTF-8 continuation bytes (the text is valid). */
    size_t ncp = 0;
    bool ascii = true;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)str->data[i];
        if (c >= 0x80) ascii = false;
        if ((c & 0xC0) != 0x80) ncp++;
    }
    str->ncp = ncp;
    str->ascii = ascii;
    str->markup = false;
    return str;
}

bool vlm_jv_str(const char *s, size_t len, vlm_jv *out) {
    *out = vlm_jv_undef();
    vlm_jstr *str = vlm_jstr_new(s, len);
    if (!str) return false;
    out->type = VLM_JV_STR;
    out->u.s = str;
    return true;
}

bool vlm_jv_cstr(const char *s, vlm_jv *out) {
    return vlm_jv_str(s, strlen(s), out);
}

vlm_jv vlm_jv_undef_hint(const char *fmt, ...) {
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    vlm_jv v = vlm_jv_undef();
    if (n < 0) return v;
    size_t len = (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1;
    /* Keep the truncated hint valid UTF-8: drop a cut multi-byte sequence. */
    while (len > 0 && ((unsigned char)buf[len - 1] & 0x80)) {
        size_t start = len - 1;
        while (start > 0 && ((unsigned char)buf[start] & 0xC0) == 0x80)
            start--;
        unsigned char lead = (unsigned char)buf[start];
        size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
        if (len - start == need) break;
        len = start;
    }
    v.u.s = vlm_jstr_new(buf, len); /* NULL on exhaustion: an Undefined without a hint */
    return v;
}

/* ------------------------------------------------------------- lists */

uint32_t vlm_jv_depth(vlm_jv v) {
    switch (v.type) {
    case VLM_JV_LIST:
        return v.u.l->depth;
    case VLM_JV_DICT:
        return v.u.d->depth;
    case VLM_JV_LOOP:
        return v.u.loop->items ? v.u.loop->items->depth + 1 : 1;
    case VLM_JV_FUNC:
        return vlm_jv_depth(v.u.fn->self) + 1;
    default:
        return 0; /* namespaces are registered with the renderer and break chains */
    }
}

vlm_jlist *vlm_jlist_new(uint8_t kind, size_t cap) {
    vlm_jlist *l = calloc(1, sizeof *l);
    if (!l) return NULL;
    l->refs = 1;
    l->depth = 1;
    l->kind = kind;
    if (cap) {
        l->items = vlm_malloc_array(cap, sizeof(vlm_jv));
        if (!l->items) {
            free(l);
            return NULL;
        }
        l->cap = cap;
    }
    return l;
}

bool vlm_jlist_push(vlm_jlist *l, vlm_jv v) {
    uint32_t depth = vlm_jv_depth(v) + 1;
    if (depth > VLM_JV_MAX_NEST) goto fail;
    if (depth > l->depth) l->depth = depth;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap : 4;
        if (!vlm_size_mul(cap, 2, &cap)) goto fail;
        vlm_jv *items = vlm_realloc_array(l->items, cap, sizeof(vlm_jv));
        if (!items) goto fail;
        l->items = items;
        l->cap = cap;
    }
    l->items[l->n++] = v;
    return true;
fail:
    vlm_jv_decref(v);
    return false;
}

vlm_jv vlm_jv_list(vlm_jlist *l) {
    vlm_jv v = {.type = VLM_JV_LIST};
    v.u.l = l;
    return v;
}

/* ------------------------------------------------------------- hashing */

static uint64_t mix64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

static uint64_t hash_bytes(const char *s, size_t n) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ULL;
    }
    return mix64(h);
}

/* Equal keys hash equally: 1, 1.0 and True share a hash, as in Python. */
static uint64_t jv_hash(vlm_jv v) {
    switch (v.type) {
    case VLM_JV_STR:
        return hash_bytes(v.u.s->data, v.u.s->len);
    case VLM_JV_BOOL:
        return mix64((uint64_t)v.u.b);
    case VLM_JV_INT:
        return mix64((uint64_t)v.u.i);
    case VLM_JV_FLOAT: {
        double f = v.u.f;
        if (f == floor(f) && f >= -9223372036854775808.0 && f < 9223372036854775808.0)
            return mix64((uint64_t)(int64_t)f);
        if (f == 0) return mix64(0);
        uint64_t bits;
        memcpy(&bits, &f, sizeof bits);
        return mix64(bits ^ 0x5bd1e995ULL);
    }
    case VLM_JV_NONE:
        return 0x9e3779b97f4a7c15ULL;
    case VLM_JV_UNDEFINED:
        return 0x7f4a7c159e3779b9ULL;
    case VLM_JV_LIST: {
        uint64_t h = 0x345678;
        for (size_t i = 0; i < v.u.l->n; i++)
            h = mix64(h ^ jv_hash(v.u.l->items[i]));
        return h;
    }
    default:
        return mix64((uint64_t)(uintptr_t)v.u.fn);
    }
}

bool vlm_jv_hashable(vlm_jv v) {
    switch (v.type) {
    case VLM_JV_STR:
    case VLM_JV_BOOL:
    case VLM_JV_INT:
    case VLM_JV_FLOAT:
    case VLM_JV_NONE:
    case VLM_JV_UNDEFINED: /* jinja2's Undefined defines __hash__ */
        return true;
    case VLM_JV_LIST:
        if (v.u.l->kind != VLM_JLIST_TUPLE) return false;
        for (size_t i = 0; i < v.u.l->n; i++)
            if (!vlm_jv_hashable(v.u.l->items[i])) return false;
        return true;
    default:
        return false;
    }
}

/* ------------------------------------------------------------- dicts */

vlm_jdict *vlm_jdict_new(size_t cap) {
    vlm_jdict *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    d->refs = 1;
    d->depth = 1;
    if (cap) {
        d->keys = vlm_malloc_array(cap, sizeof(vlm_jv));
        d->vals = vlm_malloc_array(cap, sizeof(vlm_jv));
        if (!d->keys || !d->vals) {
            free(d->keys);
            free(d->vals);
            free(d);
            return NULL;
        }
        d->cap = cap;
    }
    return d;
}

/* Index of key in d, or (size_t)-1. Small dicts are scanned; larger ones use the index. */
static size_t dict_find(const vlm_jdict *d, vlm_jv key, uint64_t h) {
    if (!d->slots) {
        for (size_t i = 0; i < d->n; i++)
            if (vlm_jv_equal(d->keys[i], key)) return i;
        return (size_t)-1;
    }
    size_t mask = d->nslots - 1;
    for (size_t p = (size_t)h & mask;; p = (p + 1) & mask) {
        uint32_t s = d->slots[p];
        if (!s) return (size_t)-1;
        if (vlm_jv_equal(d->keys[s - 1], key)) return s - 1;
    }
}

static bool dict_reindex(vlm_jdict *d, size_t nslots) {
    uint32_t *slots = vlm_calloc_array(nslots, sizeof(uint32_t));
    if (!slots) return false;
    free(d->slots);
    d->slots = slots;
    d->nslots = nslots;
    size_t mask = nslots - 1;
    for (size_t i = 0; i < d->n; i++) {
        size_t p = (size_t)jv_hash(d->keys[i]) & mask;
        while (slots[p])
            p = (p + 1) & mask;
        slots[p] = (uint32_t)(i + 1);
    }
    return true;
}

#define DICT_INDEX_MIN 8

bool vlm_jdict_set(vlm_jdict *d, vlm_jv key, vlm_jv val) {
    uint32_t kd = vlm_jv_depth(key), vd = vlm_jv_depth(val);
    uint32_t depth = (kd > vd ? kd : vd) + 1;
    if (depth > VLM_JV_MAX_NEST) goto fail;
    if (depth > d->depth) d->depth = depth;
    uint64_t h = jv_hash(key);
    size_t at = dict_find(d, key, h);
    if (at != (size_t)-1) {
        vlm_jv_decref(key); /* Python keeps the first key object */
        vlm_jv_decref(d->vals[at]);
        d->vals[at] = val;
        return true;
    }
    if (d->n >= UINT32_MAX - 1) goto fail;
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap : 4;
        if (!vlm_size_mul(cap, 2, &cap)) goto fail;
        vlm_jv *keys = vlm_realloc_array(d->keys, cap, sizeof(vlm_jv));
        if (!keys) goto fail;
        d->keys = keys;
        vlm_jv *vals = vlm_realloc_array(d->vals, cap, sizeof(vlm_jv));
        if (!vals) goto fail;
        d->vals = vals;
        d->cap = cap;
    }
    d->keys[d->n] = key;
    d->vals[d->n] = val;
    d->n++;
    if (d->n >= DICT_INDEX_MIN) {
        /* Keep the load factor at most 1/2. */
        if (!d->slots || d->n * 2 > d->nslots) {
            size_t nslots = 16;
            while (nslots < d->n * 2)
                nslots *= 2;
            if (!dict_reindex(d, nslots)) {
                d->n--;
                goto fail;
            }
        } else {
            size_t mask = d->nslots - 1, p = (size_t)h & mask;
            while (d->slots[p])
                p = (p + 1) & mask;
            d->slots[p] = (uint32_t)d->n;
        }
    }
    return true;
fail:
    vlm_jv_decref(key);
    vlm_jv_decref(val);
    return false;
}

const vlm_jv *vlm_jdict_get(const vlm_jdict *d, vlm_jv key) {
    size_t at = dict_find(d, key, jv_hash(key));
    return at == (size_t)-1 ? NULL : &d->vals[at];
}

const vlm_jv *vlm_jdict_get_str(const vlm_jdict *d, const char *key, size_t len) {
    /* A stack string avoids an allocation per lookup; it is never stored. */
    _Alignas(vlm_jstr) unsigned char mem[sizeof(vlm_jstr) + 64];
    if (len >= 64) {
        for (size_t i = 0; i < d->n; i++) {
            vlm_jv k = d->keys[i];
            if (k.type == VLM_JV_STR && k.u.s->len == len && !memcmp(k.u.s->data, key, len))
                return &d->vals[i];
        }
        return NULL;
    }
    vlm_jstr *tmp = (vlm_jstr *)mem;
    tmp->refs = -1;
    tmp->len = len;
    tmp->ncp = 0;
    tmp->ascii = false;
    tmp->markup = false;
    memcpy(tmp->data, key, len);
    tmp->data[len] = '\0';
    vlm_jv k = {.type = VLM_JV_STR};
    k.u.s = tmp;
    return vlm_jdict_get(d, k);
}

void vlm_jdict_clear(vlm_jdict *d) {
    size_t n = d->n;
    d->n = 0;
    if (d->slots) memset(d->slots, 0, d->nslots * sizeof(uint32_t));
    for (size_t i = 0; i < n; i++) {
        vlm_jv_decref(d->keys[i]);
        vlm_jv_decref(d->vals[i]);
    }
}

vlm_jv vlm_jv_dict(vlm_jdict *d) {
    vlm_jv v = {.type = VLM_JV_DICT};
    v.u.d = d;
    return v;
}

vlm_jscope *vlm_jscope_new(vlm_jscope *parent) {
    vlm_jscope *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->vars = vlm_jdict_new(0);
    if (!s->vars) {
        free(s);
        return NULL;
    }
    s->refs = 1;
    s->parent = parent;
    if (parent && parent->refs > 0) parent->refs++;
    return s;
}

/* ------------------------------------------------------------- references */

static int32_t *heap_refs(vlm_jv v) {
    switch (v.type) {
    case VLM_JV_UNDEFINED:
    case VLM_JV_STR:
        return v.u.s ? &v.u.s->refs : NULL;
    case VLM_JV_LIST:
        return &v.u.l->refs;
    case VLM_JV_DICT:
        return &v.u.d->refs;
    case VLM_JV_NAMESPACE:
        return &v.u.ns->refs;
    case VLM_JV_FUNC:
        return &v.u.fn->refs;
    case VLM_JV_LOOP:
        return &v.u.loop->refs;
    default:
        return NULL;
    }
}

vlm_jv vlm_jv_incref(vlm_jv v) {
    int32_t *r = heap_refs(v);
    if (r && *r > 0) ++*r;
    return v;
}

void vlm_jlist_decref(vlm_jlist *l) {
    if (!l || l->refs < 0 || --l->refs > 0) return;
    for (size_t i = 0; i < l->n; i++)
        vlm_jv_decref(l->items[i]);
    free(l->items);
    free(l);
}

void vlm_jdict_decref(vlm_jdict *d) {
    if (!d || d->refs < 0 || --d->refs > 0) return;
    for (size_t i = 0; i < d->n; i++) {
        vlm_jv_decref(d->keys[i]);
        vlm_jv_decref(d->vals[i]);
    }
    free(d->keys);
    free(d->vals);
    free(d->slots);
    free(d);
}

void vlm_jscope_decref(vlm_jscope *s) {
    while (s && s->refs > 0 && --s->refs == 0) {
        vlm_jscope *parent = s->parent;
        vlm_jdict_decref(s->vars);
        free(s);
        s = parent; /* iterative: deep scope chains must not recurse */
    }
}

void vlm_jv_decref(vlm_jv v) {
    int32_t *r = heap_refs(v);
    if (!r || *r < 0) return;
    if (*r > 1) {
        --*r;
        return;
    }
    switch (v.type) {
    case VLM_JV_UNDEFINED:
    case VLM_JV_STR:
        free(v.u.s);
        break;
    case VLM_JV_LIST:
        vlm_jlist_decref(v.u.l);
        break;
    case VLM_JV_DICT:
        vlm_jdict_decref(v.u.d);
        break;
    case VLM_JV_NAMESPACE:
        vlm_jdict_decref(v.u.ns->attrs);
        free(v.u.ns);
        break;
    case VLM_JV_FUNC:
        vlm_jv_decref(v.u.fn->self);
        vlm_jscope_decref(v.u.fn->closure);
        free(v.u.fn);
        break;
    case VLM_JV_LOOP:
        vlm_jlist_decref(v.u.loop->items);
        vlm_jv_decref(v.u.loop->last_changed);
        free(v.u.loop);
        break;
    default:
        break;
    }
}

bool vlm_jpool_str(vlm_jpool *p, const char *s, size_t len, vlm_jv *out) {
    *out = vlm_jv_undef();
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 64;
        vlm_jstr **strs = vlm_realloc_array(p->strs, cap, sizeof *strs);
        if (!strs) return false;
        p->strs = strs;
        p->cap = cap;
    }
    vlm_jstr *str = vlm_jstr_new(s, len);
    if (!str) return false;
    str->refs = -1;
    p->strs[p->n++] = str;
    out->type = VLM_JV_STR;
    out->u.s = str;
    return true;
}

void vlm_jpool_free(vlm_jpool *p) {
    for (size_t i = 0; i < p->n; i++)
        free(p->strs[i]);
    free(p->strs);
    p->strs = NULL;
    p->n = p->cap = 0;
}

/* ------------------------------------------------------------- Python semantics */

bool vlm_jv_truthy(vlm_jv v) {
    switch (v.type) {
    case VLM_JV_UNDEFINED:
    case VLM_JV_NONE:
        return false;
    case VLM_JV_BOOL:
        return v.u.b;
    case VLM_JV_INT:
        return v.u.i != 0;
    case VLM_JV_FLOAT:
        return v.u.f != 0.0;
    case VLM_JV_STR:
        return v.u.s->len > 0;
    case VLM_JV_LIST:
        return v.u.l->kind == VLM_JLIST_GENERATOR || v.u.l->n > 0;
    case VLM_JV_DICT:
        return v.u.d->n > 0;
    default:
        return true;
    }
}

static bool is_number(vlm_jv v) {
    return v.type == VLM_JV_BOOL || v.type == VLM_JV_INT || v.type == VLM_JV_FLOAT;
}

/* Exact comparison of an int64 with a double, as Python compares int with float. */
static int cmp_int_float(int64_t i, double f) {
    if (isnan(f)) return 2; /* unordered */
    if (f >= 9223372036854775808.0) return -1;
    if (f < -9223372036854775808.0) return 1;
    double fl = floor(f);
    int64_t fi = (int64_t)fl;
    if (i < fi) return -1;
    if (i > fi) return 1;
    return fl < f ? -1 : 0; /* i == floor(f): equal only when f is integral */
}

/* <0, 0, >0, or 2 when unordered (NaN). */
static int cmp_numbers(vlm_jv a, vlm_jv b) {
    bool af = a.type == VLM_JV_FLOAT, bf = b.type == VLM_JV_FLOAT;
    int64_t ai = a.type == VLM_JV_BOOL ? a.u.b : a.u.i;
    int64_t bi = b.type == VLM_JV_BOOL ? b.u.b : b.u.i;
    if (!af && !bf) return ai < bi ? -1 : ai > bi;
    if (af && bf) {
        if (isnan(a.u.f) || isnan(b.u.f)) return 2;
        return a.u.f < b.u.f ? -1 : a.u.f > b.u.f;
    }
    if (af) {
        int c = cmp_int_float(bi, a.u.f);
        return c == 2 ? 2 : -c;
    }
    return cmp_int_float(ai, b.u.f);
}

static bool seq_kind_comparable(const vlm_jlist *a, const vlm_jlist *b) {
    bool alist = a->kind == VLM_JLIST_LIST, blist = b->kind == VLM_JLIST_LIST;
    bool atup = a->kind == VLM_JLIST_TUPLE, btup = b->kind == VLM_JLIST_TUPLE;
    return (alist && blist) || (atup && btup);
}

bool vlm_jv_equal(vlm_jv a, vlm_jv b) {
    if (is_number(a) && is_number(b)) return cmp_numbers(a, b) == 0;
    if (a.type != b.type) return false;
    switch (a.type) {
    case VLM_JV_UNDEFINED:
    case VLM_JV_NONE:
        return true;
    case VLM_JV_STR:
        return a.u.s == b.u.s ||
               (a.u.s->len == b.u.s->len && !memcmp(a.u.s->data, b.u.s->data, a.u.s->len));
    case VLM_JV_LIST: {
        const vlm_jlist *x = a.u.l, *y = b.u.l;
        if (x == y) return true;
        bool ranges = x->kind == VLM_JLIST_RANGE && y->kind == VLM_JLIST_RANGE;
        if (!ranges && !seq_kind_comparable(x, y)) return false;
        if (x->n != y->n) return false;
        for (size_t i = 0; i < x->n; i++)
            if (!vlm_jv_equal(x->items[i], y->items[i])) return false;
        return true;
    }
    case VLM_JV_DICT: {
        const vlm_jdict *x = a.u.d, *y = b.u.d;
        if (x == y) return true;
        if (x->n != y->n) return false;
        for (size_t i = 0; i < x->n; i++) {
            const vlm_jv *other = vlm_jdict_get(y, x->keys[i]);
            if (!other || !vlm_jv_equal(x->vals[i], *other)) return false;
        }
        return true;
    }
    case VLM_JV_FUNC:
        if (a.u.fn == b.u.fn) return true;
        /* Bound methods are equal when they bind the same method to the same object. */
        return a.u.fn->kind == VLM_JFUNC_METHOD && b.u.fn->kind == VLM_JFUNC_METHOD &&
               a.u.fn->id == b.u.fn->id && a.u.fn->self.type == b.u.fn->self.type &&
               a.u.fn->self.u.fn == b.u.fn->self.u.fn;
    default:
        return a.u.fn == b.u.fn; /* identity */
    }
}

int vlm_jv_compare(vlm_jv a, vlm_jv b, bool *ok) {
    *ok = true;
    if (is_number(a) && is_number(b)) {
        int c = cmp_numbers(a, b);
        if (c == 2) return 2; /* NaN: every ordering test is false */
        return c;
    }
    if (a.type == VLM_JV_STR && b.type == VLM_JV_STR) {
        /* UTF-8 byte order is code point order. */
        size_t n = a.u.s->len < b.u.s->len ? a.u.s->len : b.u.s->len;
        int c = memcmp(a.u.s->data, b.u.s->data, n);
        if (c) return c < 0 ? -1 : 1;
        return a.u.s->len < b.u.s->len ? -1 : a.u.s->len > b.u.s->len;
    }
    if (a.type == VLM_JV_LIST && b.type == VLM_JV_LIST && seq_kind_comparable(a.u.l, b.u.l)) {
        const vlm_jlist *x = a.u.l, *y = b.u.l;
        size_t n = x->n < y->n ? x->n : y->n;
        for (size_t i = 0; i < n; i++) {
            if (vlm_jv_equal(x->items[i], y->items[i])) continue;
            return vlm_jv_compare(x->items[i], y->items[i], ok);
        }
        return x->n < y->n ? -1 : x->n > y->n;
    }
    *ok = false;
    return 0;
}

const char *vlm_jv_type_name(vlm_jv v) {
    switch (v.type) {
    case VLM_JV_UNDEFINED:
        return "Undefined";
    case VLM_JV_NONE:
        return "NoneType";
    case VLM_JV_BOOL:
        return "bool";
    case VLM_JV_INT:
        return "int";
    case VLM_JV_FLOAT:
        return "float";
    case VLM_JV_STR:
        return "str";
    case VLM_JV_LIST:
        switch (v.u.l->kind) {
        case VLM_JLIST_TUPLE:
            return "tuple";
        case VLM_JLIST_RANGE:
            return "range";
        case VLM_JLIST_GENERATOR:
            return "generator";
        case VLM_JLIST_KEYS:
            return "dict_keys";
        case VLM_JLIST_VALUES:
            return "dict_values";
        case VLM_JLIST_ITEMS:
            return "dict_items";
        default:
            return "list";
        }
    case VLM_JV_DICT:
        return "dict";
    case VLM_JV_NAMESPACE:
        return "Namespace";
    case VLM_JV_FUNC:
        return v.u.fn->kind == VLM_JFUNC_MACRO ? "Macro" : "builtin_function_or_method";
    case VLM_JV_LOOP:
        return "LoopContext";
    default:
        return "object";
    }
}
