/* Internal interface of the Jinja evaluator, shared by the files that implement it:
 * jinja_eval.c (statements, expressions, scopes), jinja_ctx.c (the render context),
 * jinja_access.c (attributes, items, slices, iteration), jinja_ops.c (operators),
 * jinja_call.c (global functions and the methods of str/dict/list), jinja_format.c,
 * jinja_filters.c, jinja_tests.c and jinja_json.c. Every
 * function that can fail returns false after recording the error (with the template
 * position of `at`) in the render context; values follow jinja_value.h's ownership rule. */
#ifndef VLM_TEXT_JINJA_EVAL_H
#define VLM_TEXT_JINJA_EVAL_H

#include <stdbool.h>
#include <stdint.h>

#include "core/error.h"
#include "core/strbuf.h"
#include "text/jinja_ast.h"
#include "text/jinja_value.h"

typedef struct vlm_jctx {
    const vlm_jinja_template *tpl;
    vlm_error *err;
    bool failed;
    vlm_status status;
    uint64_t steps, max_steps;
    uint32_t depth, max_depth;
    size_t max_output;
    uint64_t alloc, max_alloc;
    int64_t now;
    /* Namespaces and captured scopes: cleared at the end of the render to break cycles. */
    vlm_jv *keep;
    size_t nkeep, capkeep;
    vlm_jscope **scopes;
    size_t nscopes, capscopes;
} vlm_jctx;

/* Arguments of a call, filter or test (borrowed). */
typedef struct vlm_jargs {
    const vlm_jv *pos;
    uint32_t npos;
    const vlm_jv *kwnames; /* strings */
    const vlm_jv *kwvals;
    uint32_t nkw;
} vlm_jargs;

/* Records an error "template:line:col: message" (the first one wins); returns false. */
bool vlm_jctx_fail(vlm_jctx *c, const vlm_jnode *at, vlm_status st, const char *fmt, ...)
    VLM_PRINTF(4, 5);
/* Fails with the message an Undefined carries ("'x' is undefined"). */
bool vlm_jctx_fail_undefined(vlm_jctx *c, const vlm_jnode *at, vlm_jv undef);
bool vlm_jctx_oom(vlm_jctx *c, const vlm_jnode *at);

/* Counts `bytes` against the render's allocation budget. */
bool vlm_jctx_charge(vlm_jctx *c, const vlm_jnode *at, uint64_t bytes);
/* New string value from bytes / from a buffer (freed). */
bool vlm_jctx_str(vlm_jctx *c, const vlm_jnode *at, const char *s, size_t n, vlm_jv *out);
bool vlm_jctx_buf(vlm_jctx *c, const vlm_jnode *at, vlm_strbuf *b, vlm_jv *out);
/* Appends to a list being built; takes v. Fails on exhaustion or too deep nesting. */
bool vlm_jctx_push(vlm_jctx *c, const vlm_jnode *at, vlm_jlist *l, vlm_jv v);
/* str(v) appended to b; fails for values with no reproducible text. */
bool vlm_jctx_write(vlm_jctx *c, const vlm_jnode *at, vlm_strbuf *b, vlm_jv v);
/* str(v) as a value. */
bool vlm_jctx_to_str(vlm_jctx *c, const vlm_jnode *at, vlm_jv v, vlm_jv *out);

/* Binds args to Python-style parameters: slots[i] gets the argument for params[i] (borrowed)
 * or stays VLM_JV_UNDEFINED with given[i] false. Extra or unknown arguments fail. */
bool vlm_jargs_bind(vlm_jctx *c, const vlm_jnode *at, const char *fname, const vlm_jargs *a,
                    const char *const *params, int nparams, vlm_jv *slots, bool *given);

/* Materializes anything a for loop can iterate (a generator is consumed). */
bool vlm_jctx_iterate(vlm_jctx *c, const vlm_jnode *at, vlm_jv v, vlm_jlist **out);
/* env.getattr / env.getitem with jinja2's sandbox fallbacks. */
bool vlm_jctx_getattr(vlm_jctx *c, const vlm_jnode *at, vlm_jv obj, vlm_jv name, vlm_jv *out);
bool vlm_jctx_getitem(vlm_jctx *c, const vlm_jnode *at, vlm_jv obj, vlm_jv key, vlm_jv *out);
/* Calls any callable value. */
bool vlm_jctx_call(vlm_jctx *c, const vlm_jnode *at, vlm_jv fn, const vlm_jargs *a, vlm_jv *out);
/* Python's `a in b`. */
bool vlm_jctx_contains(vlm_jctx *c, const vlm_jnode *at, vlm_jv b, vlm_jv a, bool *out);
/* Python's ==, and < <= > >= (op: VLM_JCMP_*). */
bool vlm_jctx_compare(vlm_jctx *c, const vlm_jnode *at, int op, vlm_jv a, vlm_jv b, bool *out);
/* Python's binary operators (op: VLM_JOP_ADD ... VLM_JOP_POW). */
bool vlm_jctx_binop(vlm_jctx *c, const vlm_jnode *at, int op, vlm_jv a, vlm_jv b, vlm_jv *out);
/* Registers a namespace (or a scope a macro captured) for the end-of-render cycle break. */
bool vlm_jctx_keep(vlm_jctx *c, const vlm_jnode *at, vlm_jv ns);
bool vlm_jctx_keep_scope(vlm_jctx *c, const vlm_jnode *at, vlm_jscope *s);
/* obj[start:stop:step] (parts: None where absent), and unary minus (neg) or plus. */
bool vlm_jctx_slice(vlm_jctx *c, const vlm_jnode *at, vlm_jv obj, const vlm_jv *parts, vlm_jv *out);
bool vlm_jctx_unary(vlm_jctx *c, const vlm_jnode *at, bool neg, vlm_jv v, vlm_jv *out);

/* Builtin globals (range, namespace, dict, raise_exception, strftime_now, ...) and methods
 * (jinja_call.c). lookup: false when `name` is no builtin. */
bool vlm_jinja_builtin_lookup(const char *name, vlm_jv *out, bool *oom);
bool vlm_jinja_call_builtin(vlm_jctx *c, const vlm_jnode *at, const vlm_jfunc *fn,
                            const vlm_jargs *a, vlm_jv *out);
/* Attribute lookup on str/dict/list/tuple: *found false when Python has no such attribute;
 * *out may be an Undefined (a mutating method the sandbox refuses). */
bool vlm_jinja_method_lookup(vlm_jctx *c, const vlm_jnode *at, vlm_jv obj, vlm_jv name, bool *found,
                             vlm_jv *out);

/* Stable sort of idx[0..n) by keys[idx[i]] with Python's < (sorted(..., reverse=)). */
bool vlm_jinja_sort_indices(vlm_jctx *c, const vlm_jnode *at, size_t *idx, size_t n,
                            const vlm_jv *keys, bool reverse);
/* Python's printf-style `fmt % args` (also the `format` filter). */
bool vlm_jinja_percent_format(vlm_jctx *c, const vlm_jnode *at, vlm_jv fmt, vlm_jv args,
                              vlm_jv *out);

/* Method ids of the loop object's bound methods (others are defined in jinja_call.c). */
enum { VLM_JMETHOD_LOOP_CYCLE = 1000, VLM_JMETHOD_LOOP_CHANGED = 1001 };

/* Filters and tests by id (from vlm_jinja_filter_id / vlm_jinja_test_id). */
bool vlm_jinja_apply_filter(vlm_jctx *c, const vlm_jnode *at, int id, vlm_jv v, const vlm_jargs *a,
                            vlm_jv *out);
bool vlm_jinja_apply_test(vlm_jctx *c, const vlm_jnode *at, int id, vlm_jv v, const vlm_jargs *a,
                          bool *out);
const char *vlm_jinja_filter_name(int id);
const char *vlm_jinja_test_name(int id);

/* transformers' tojson: json.dumps(v, ensure_ascii, indent, separators, sort_keys). indent
 * is NULL for none, else the per-level text. */
bool vlm_jinja_tojson(vlm_jctx *c, const vlm_jnode *at, vlm_strbuf *b, vlm_jv v, bool ensure_ascii,
                      const char *indent, size_t indent_len, const char *item_sep,
                      size_t item_sep_len, const char *key_sep, size_t key_sep_len, bool sort_keys);

#endif
