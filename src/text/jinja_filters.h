/* Internals shared by the Jinja filter files: the filter ids (the order of jinja_filters.c's
 * name table), argument binding by jinja2's parameter names, and the filters implemented
 * outside jinja_filters.c (sequence filters in jinja_filters_seq.c, number conversions in
 * jinja_filters_num.c). Not for use outside src/text/jinja_filters*.c. */
#ifndef VLM_TEXT_JINJA_FILTERS_H
#define VLM_TEXT_JINJA_FILTERS_H

#include "text/jinja_eval.h"

typedef enum vlm_jfilter_id {
    VLM_JF_ABS,
    VLM_JF_ATTR,
    VLM_JF_BATCH,
    VLM_JF_CAPITALIZE,
    VLM_JF_CENTER,
    VLM_JF_COUNT,
    VLM_JF_D,
    VLM_JF_DEFAULT,
    VLM_JF_DICTSORT,
    VLM_JF_E,
    VLM_JF_ESCAPE,
    VLM_JF_FILESIZEFORMAT,
    VLM_JF_FIRST,
    VLM_JF_FLOAT,
    VLM_JF_FORCEESCAPE,
    VLM_JF_FORMAT,
    VLM_JF_GROUPBY,
    VLM_JF_INDENT,
    VLM_JF_INT,
    VLM_JF_JOIN,
    VLM_JF_LAST,
    VLM_JF_LENGTH,
    VLM_JF_LIST,
    VLM_JF_LOWER,
    VLM_JF_ITEMS,
    VLM_JF_MAP,
    VLM_JF_MIN,
    VLM_JF_MAX,
    VLM_JF_PPRINT,
    VLM_JF_RANDOM,
    VLM_JF_REJECT,
    VLM_JF_REJECTATTR,
    VLM_JF_REPLACE,
    VLM_JF_REVERSE,
    VLM_JF_ROUND,
    VLM_JF_SAFE,
    VLM_JF_SELECT,
    VLM_JF_SELECTATTR,
    VLM_JF_SLICE,
    VLM_JF_SORT,
    VLM_JF_STRING,
    VLM_JF_STRIPTAGS,
    VLM_JF_SUM,
    VLM_JF_TITLE,
    VLM_JF_TRIM,
    VLM_JF_TRUNCATE,
    VLM_JF_UNIQUE,
    VLM_JF_UPPER,
    VLM_JF_URLENCODE,
    VLM_JF_URLIZE,
    VLM_JF_WORDCOUNT,
    VLM_JF_WORDWRAP,
    VLM_JF_XMLATTR,
    VLM_JF_TOJSON,
    VLM_JF_COUNT_ALL
} vlm_jfilter_id;

#define VLM_JF_MAX_PARAMS 6

/* Bound arguments of one filter call: v[i] is parameter i's value when given[i]. */
typedef struct vlm_jfargs {
    vlm_jv v[VLM_JF_MAX_PARAMS];
    bool given[VLM_JF_MAX_PARAMS];
} vlm_jfargs;

/* Binds a's positional and keyword arguments to params[0..n) (n <= VLM_JF_MAX_PARAMS). */
bool vlm_jf_bind(vlm_jctx *c, const vlm_jnode *at, int id, const vlm_jargs *a,
                 const char *const *params, int n, vlm_jfargs *b);
/* An int argument (bools count as ints, as in Python). */
bool vlm_jf_arg_int(vlm_jctx *c, const vlm_jnode *at, vlm_jv v, const char *what, int64_t *out);
/* jinja2's soft_str(): strings stay, Undefined becomes "", others str(). */
bool vlm_jf_soft_str(vlm_jctx *c, const vlm_jnode *at, vlm_jv v, vlm_jv *out);

static inline bool vlm_jf_new_list(vlm_jctx *c, const vlm_jnode *at, uint8_t kind, size_t cap,
                                   vlm_jlist **out) {
    *out = vlm_jlist_new(kind, cap);
    return *out ? true : vlm_jctx_oom(c, at);
}

static inline bool vlm_jf_finish_list(vlm_jlist *l, vlm_jv *out) {
    *out = vlm_jv_list(l);
    return true;
}

/* jinja_filters_seq.c */
bool vlm_jf_sort(vlm_jctx *c, const vlm_jnode *at, vlm_jv v, const vlm_jargs *a, vlm_jv *out);
bool vlm_jf_dictsort(vlm_jctx *c, const vlm_jnode *at, vlm_jv v, const vlm_jargs *a, vlm_jv *out);
bool vlm_jf_unique(vlm_jctx *c, const vlm_jnode *at, vlm_jv v, const vlm_jargs *a, vlm_jv *out);
bool vlm_jf_minmax(vlm_jctx *c, const vlm_jnode *at, int id, vlm_jv v, const vlm_jargs *a,
                   vlm_jv *out);
bool vlm_jf_select(vlm_jctx *c, const vlm_jnode *at, int id, vlm_jv v, const vlm_jargs *a,
                   vlm_jv *out);
bool vlm_jf_map(vlm_jctx *c, const vlm_jnode *at, vlm_jv v, const vlm_jargs *a, vlm_jv *out);
bool vlm_jf_join(vlm_jctx *c, const vlm_jnode *at, vlm_jv v, const vlm_jargs *a, vlm_jv *out);
bool vlm_jf_batch_slice(vlm_jctx *c, const vlm_jnode *at, int id, vlm_jv v, const vlm_jargs *a,
                        vlm_jv *out);
bool vlm_jf_sum(vlm_jctx *c, const vlm_jnode *at, vlm_jv v, const vlm_jargs *a, vlm_jv *out);

/* jinja_filters_num.c */
bool vlm_jf_int(vlm_jctx *c, const vlm_jnode *at, vlm_jv v, const vlm_jargs *a, vlm_jv *out);
bool vlm_jf_float(vlm_jctx *c, const vlm_jnode *at, vlm_jv v, const vlm_jargs *a, vlm_jv *out);
bool vlm_jf_round(vlm_jctx *c, const vlm_jnode *at, vlm_jv v, const vlm_jargs *a, vlm_jv *out);

#endif
