/* The minimal base config every family shares, read from config.json before anything
 * else: model_type, the end-of-sequence ids (an integer or a list, with the promotion and
 * generation_config.json rules of DESIGN.md) and MLX quantization (global and per
 * module). Field errors name the file and the dotted field. */
#ifndef VLM_MODELS_BASE_CONFIG_H
#define VLM_MODELS_BASE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/json.h"
#include "vlm.h"

/* One per-module entry of "quantization": {"<module path>": {...} | false}. */
typedef struct vlm_quant_override {
    char *module;   /* e.g. "language_model.model.layers.0.mlp.gate_proj" */
    bool quantized; /* false for an explicit `false` */
    int bits;       /* 0 when inherited from the global setting */
    int group_size; /* 0 when inherited */
    bool object;    /* given as an object (else a boolean) */
} vlm_quant_override;

typedef struct vlm_quant_config {
    bool present;   /* config.json has a "quantization" object */
    int bits;       /* global; 0 when absent */
    int group_size; /* global; 0 when absent */
    char *mode;     /* "affine" when absent */
    vlm_quant_override *overrides;
    size_t n_overrides;
} vlm_quant_config;

typedef struct vlm_base_config {
    char *model_type_raw;   /* as written in config.json */
    int64_t *eos_ids;       /* may be NULL with n_eos == 0 */
    size_t n_eos;
    const char *eos_source; /* static: "generation_config.json", "config.json",
                               "config.json:text_config", "config.json:llm_config" or NULL */
    vlm_quant_config quant;
} vlm_base_config;

/* How the module at mlx path `module` (e.g. "language_model.model.layers.0.mlp.down_proj")
 * is quantized, as mlx-vlm decides it: its per-module entry, looked up under the path itself
 * and then under the path without a leading "language_model.", else the global setting.
 * *bits and *group_size are 0 when the entry is `false` or an empty object (mlx-vlm's
 * predicate then returns a falsy value) or the config has no quantization; `true` means the
 * global setting. A field missing from a non-empty object takes MLX's affine default (bits
 * 4, group size 64: mlx passes the object to to_quantized, not the global setting). Whether a module really is quantized is
 * decided by the checkpoint ("<module>.scales" exists); this gives its parameters. */
void vlm_quant_config_lookup(const vlm_quant_config *q, const char *module, int *bits,
                             int *group_size);

/* Parses config.json's base fields. `path` names the file in errors. */
vlm_status vlm_base_config_parse(const vlm_json *config, const char *path, vlm_base_config *out,
                                 vlm_error *err);

/* Applies generation_config.json: a truthy eos_token_id there replaces the config's.
 * A wrong type is an error naming the file. */
vlm_status vlm_base_config_apply_generation(vlm_base_config *cfg, const vlm_json *gen,
                                            const char *path, vlm_error *err);

/* Reads an eos_token_id value: an integer or a list of integers (each >= 0). NULL or JSON
 * null gives zero ids. `field` names the dotted field in errors. */
vlm_status vlm_parse_token_ids(const vlm_json *v, const char *path, const char *field,
                               int64_t **ids, size_t *n, vlm_error *err);

/* Python truthiness of an eos_token_id value: a nonzero integer, or a non-empty list. */
bool vlm_token_ids_truthy(const vlm_json *v);

void vlm_base_config_free(vlm_base_config *cfg);

#endif
