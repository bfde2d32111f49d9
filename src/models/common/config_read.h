/* Reading model hyper-parameters from config.json across checkpoint layouts. A field may
 * live in several places (transformers-5 nests text fields under text_config, Hub 4.x
 * keeps them at the top level), so a lookup names the candidate objects in order and
 * takes the first that has the key. Type errors and missing required fields name the file
 * and the dotted field. */
#ifndef VLM_MODELS_COMMON_CONFIG_READ_H
#define VLM_MODELS_COMMON_CONFIG_READ_H

#include <stdbool.h>
#include <stdint.h>

#include "core/json.h"
#include "vlm.h"

#define VLM_CFG_MAX_SCOPES 4

/* Candidate objects, searched in order, each with the dotted prefix used in messages. */
typedef struct vlm_cfg_scope {
    const char *path; /* the file, for messages */
    int n;
    const vlm_json *obj[VLM_CFG_MAX_SCOPES];
    const char *prefix[VLM_CFG_MAX_SCOPES]; /* "" for the top level, "text_config." ... */
} vlm_cfg_scope;

void vlm_cfg_scope_init(vlm_cfg_scope *s, const char *path);
/* Adds obj (ignored when NULL or not an object). */
void vlm_cfg_scope_add(vlm_cfg_scope *s, const vlm_json *obj, const char *prefix);

/* The first value for key in the scopes (NULL if none; JSON null counts as absent). */
const vlm_json *vlm_cfg_find(const vlm_cfg_scope *s, const char *key, const char **prefix);

/* Integer in [lo, hi]. required: absent is an error; else *out = def. */
vlm_status vlm_cfg_int(const vlm_cfg_scope *s, const char *key, bool required, int64_t def,
                       int64_t lo, int64_t hi, int64_t *out, vlm_error *err);
/* Number (integer or real) > 0 unless allow_zero. */
vlm_status vlm_cfg_float(const vlm_cfg_scope *s, const char *key, bool required, double def,
                         double *out, vlm_error *err);
vlm_status vlm_cfg_bool(const vlm_cfg_scope *s, const char *key, bool def, bool *out,
                        vlm_error *err);
/* String; *out points into the JSON tree (NULL when absent and not required). */
vlm_status vlm_cfg_string(const vlm_cfg_scope *s, const char *key, bool required,
                          const char **out, vlm_error *err);
/* Integer list of at most max entries, each in [lo, hi]; *n = count (0 when absent). */
vlm_status vlm_cfg_int_list(const vlm_cfg_scope *s, const char *key, bool required, int max,
                            int64_t lo, int64_t hi, int64_t *out, int *n, vlm_error *err);

#endif
