/* The value type of the Jinja evaluator: what a chat template computes with. It mirrors the
 * Python objects jinja2 sees when transformers renders a template (None, bool, int, float,
 * str, list/tuple, dict, jinja2's Undefined, Namespace, macros, the loop object) closely
 * enough that printing, comparing and serializing give Python's exact text.
 *
 * A vlm_jv is a small tagged value passed by value. Heap parts (strings, lists, dicts, ...)
 * are reference counted; every function that returns a vlm_jv returns a new reference that
 * the caller releases with vlm_jv_decref, and arguments are borrowed. Objects created while a
 * template is parsed are immortal (refs < 0), so concurrent renders of one template never
 * write to them. Lists and dicts are immutable once built (transformers renders in jinja2's
 * ImmutableSandboxedEnvironment); only namespaces and scopes change, and those are the only
 * objects through which a cycle can form, so the renderer breaks cycles by clearing them at
 * the end of a render. Strings are valid UTF-8 (they come from validated templates and from
 * JSON) and may contain NUL bytes. */
#ifndef VLM_TEXT_JINJA_VALUE_H
#define VLM_TEXT_JINJA_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum vlm_jv_type {
    VLM_JV_UNDEFINED = 0, /* jinja2's Undefined; u.s holds an optional hint (the error text) */
    VLM_JV_NONE,
    VLM_JV_BOOL,
    VLM_JV_INT,
    VLM_JV_FLOAT,
    VLM_JV_STR,
    VLM_JV_LIST, /* list, tuple, range, generator or dict view: see vlm_jlist_kind */
    VLM_JV_DICT,
    VLM_JV_NAMESPACE,
    VLM_JV_FUNC, /* macro, caller, builtin global or bound method */
    VLM_JV_LOOP  /* the `loop` object of a for loop */
} vlm_jv_type;

typedef struct vlm_jstr vlm_jstr;
typedef struct vlm_jlist vlm_jlist;
typedef struct vlm_jdict vlm_jdict;
typedef struct vlm_jns vlm_jns;
typedef struct vlm_jfunc vlm_jfunc;
typedef struct vlm_jloop vlm_jloop;
typedef struct vlm_jscope vlm_jscope;

typedef struct vlm_jv {
    uint8_t type; /* vlm_jv_type */
    union {
        bool b;
        int64_t i;
        double f;
        vlm_jstr *s; /* STR, and UNDEFINED's hint (may be NULL) */
        vlm_jlist *l;
        vlm_jdict *d;
        vlm_jns *ns;
        vlm_jfunc *fn;
        vlm_jloop *loop;
    } u;
} vlm_jv;

struct vlm_jstr {
    int32_t refs; /* < 0: immortal */
    bool ascii;   /* every byte < 0x80: code point index == byte index */
    bool markup;  /* markupsafe.Markup (from |safe, |escape): see jinja_filters.c */
    size_t len;   /* bytes, NUL excluded */
    size_t ncp;   /* code points */
    char data[];  /* len bytes + NUL */
};

typedef enum vlm_jlist_kind {
    VLM_JLIST_LIST = 0,
    VLM_JLIST_TUPLE,
    VLM_JLIST_RANGE,     /* range(start, stop, step): items are materialized, params kept */
    VLM_JLIST_GENERATOR, /* a one-pass iterator (map, select, ...): no len, always true */
    VLM_JLIST_KEYS,      /* dict.keys() view */
    VLM_JLIST_VALUES,    /* dict.values() view */
    VLM_JLIST_ITEMS      /* dict.items() view */
} vlm_jlist_kind;

/* Lists and dicts nest at most this deep, so that releasing, comparing and printing them
 * (all recursive) stay within a small stack. JSON deeper than this is refused. */
#define VLM_JV_MAX_NEST 512

struct vlm_jlist {
    int32_t refs;
    uint8_t kind;   /* vlm_jlist_kind */
    uint32_t depth; /* 1 + the deepest item's depth */
    size_t n, cap;
    size_t pos; /* GENERATOR: items already consumed */
    int64_t range_start, range_stop, range_step;
    vlm_jv *items;
};

struct vlm_jdict {
    int32_t refs;
    uint32_t depth;
    size_t n, cap;
    vlm_jv *keys, *vals; /* insertion order */
    uint32_t *slots;     /* open-addressing index (entry + 1; 0 = empty), nslots a power of 2 */
    size_t nslots;
};

struct vlm_jns {
    int32_t refs;
    vlm_jdict *attrs; /* owned, mutable */
};

typedef enum vlm_jfunc_kind {
    VLM_JFUNC_MACRO = 0, /* a {% macro %} or the caller of a {% call %} block */
    VLM_JFUNC_BUILTIN,   /* a global function: id is a builtin id (jinja_call.c) */
    VLM_JFUNC_METHOD     /* a method bound to `self`: id is a method id */
} vlm_jfunc_kind;

struct vlm_jfunc {
    int32_t refs;
    uint8_t kind;
    int id;
    vlm_jv self;         /* METHOD: the receiver */
    const void *node;    /* MACRO: the defining AST node (owned by the template) */
    vlm_jscope *closure; /* MACRO: the scope it was defined in */
    bool is_caller;      /* MACRO: the body of a {% call %} block */
    const char *name;    /* static or owned by the template; for repr and messages */
};

struct vlm_jloop {
    int32_t refs;
    vlm_jlist *items; /* the (filtered) sequence being iterated */
    size_t index0;
    int depth0;
    vlm_jv last_changed; /* loop.changed() memory; UNDEFINED before the first call */
    bool has_changed;
};

/* A variable scope: a dict of names plus the enclosing scope. */
struct vlm_jscope {
    int32_t refs;
    bool registered; /* captured by a macro: the renderer clears it at the end */
    vlm_jdict *vars;
    vlm_jscope *parent;
};

/* ------------------------------------------------------------- construction */
static inline vlm_jv vlm_jv_undef(void) {
    vlm_jv v = {.type = VLM_JV_UNDEFINED};
    v.u.s = NULL;
    return v;
}
static inline vlm_jv vlm_jv_none(void) {
    vlm_jv v = {.type = VLM_JV_NONE};
    v.u.i = 0;
    return v;
}
static inline vlm_jv vlm_jv_bool(bool b) {
    vlm_jv v = {.type = VLM_JV_BOOL};
    v.u.b = b;
    return v;
}
static inline vlm_jv vlm_jv_int(int64_t i) {
    vlm_jv v = {.type = VLM_JV_INT};
    v.u.i = i;
    return v;
}
static inline vlm_jv vlm_jv_float(double f) {
    vlm_jv v = {.type = VLM_JV_FLOAT};
    v.u.f = f;
    return v;
}

/* All constructors return false (and leave *out UNDEFINED) only when memory runs out or,
 * for lists and dicts, when an item would nest deeper than VLM_JV_MAX_NEST. */
bool vlm_jv_str(const char *s, size_t len, vlm_jv *out); /* s must be valid UTF-8 */
bool vlm_jv_cstr(const char *s, vlm_jv *out);
vlm_jstr *vlm_jstr_new(const char *s, size_t len);
/* An Undefined carrying the message that using it should raise ("'x' is undefined"). */
vlm_jv vlm_jv_undef_hint(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

vlm_jlist *vlm_jlist_new(uint8_t kind, size_t cap);
bool vlm_jlist_push(vlm_jlist *l, vlm_jv v); /* takes ownership of v (released on failure) */
vlm_jv vlm_jv_list(vlm_jlist *l);            /* wraps, taking the reference */

vlm_jdict *vlm_jdict_new(size_t cap);
/* Inserts or replaces; takes ownership of key and val (released on failure). */
bool vlm_jdict_set(vlm_jdict *d, vlm_jv key, vlm_jv val);
/* Borrowed value or NULL. Keys compare as Python does (1 == 1.0 == True). */
const vlm_jv *vlm_jdict_get(const vlm_jdict *d, vlm_jv key);
const vlm_jv *vlm_jdict_get_str(const vlm_jdict *d, const char *key, size_t len);
void vlm_jdict_clear(vlm_jdict *d);
vlm_jv vlm_jv_dict(vlm_jdict *d);
/* Whether a value can be a dict key (str, int, float, bool, None, Undefined, tuples). */
bool vlm_jv_hashable(vlm_jv v);
/* Nesting depth of a value: 0 for scalars, 1 + deepest item for containers. */
uint32_t vlm_jv_depth(vlm_jv v);

vlm_jscope *vlm_jscope_new(vlm_jscope *parent); /* takes a new reference to parent */

/* Immortal strings made while a template is parsed; the template frees them all at once. */
typedef struct vlm_jpool {
    vlm_jstr **strs;
    size_t n, cap;
} vlm_jpool;
bool vlm_jpool_str(vlm_jpool *p, const char *s, size_t len, vlm_jv *out);
void vlm_jpool_free(vlm_jpool *p);

/* ------------------------------------------------------------- references */
vlm_jv vlm_jv_incref(vlm_jv v); /* returns v */
void vlm_jv_decref(vlm_jv v);
void vlm_jscope_decref(vlm_jscope *s);
void vlm_jlist_decref(vlm_jlist *l);
void vlm_jdict_decref(vlm_jdict *d);

/* ------------------------------------------------------------- Python semantics */
bool vlm_jv_truthy(vlm_jv v);
bool vlm_jv_equal(vlm_jv a, vlm_jv b);
/* Python's <: returns false and sets *ok = false when the types are not orderable. */
int vlm_jv_compare(vlm_jv a, vlm_jv b, bool *ok); /* <0, 0, >0 */
/* Python's type name for messages: 'str', 'int', 'dict', 'list', 'NoneType', ... */
const char *vlm_jv_type_name(vlm_jv v);
/* Number of items a for loop over v would see, when v is a list-like value. */
static inline size_t vlm_jlist_remaining(const vlm_jlist *l) {
    return l->kind == VLM_JLIST_GENERATOR ? l->n - l->pos : l->n;
}

#endif
