/* Base config parsing: model_type, eos ids with their promotion rules, MLX quantization.
 * See base_config.h and DESIGN.md "The load factory". */
#include "models/base_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"

bool vlm_token_ids_truthy(const vlm_json *v) {
    int64_t x;
    if (vlm_json_int(v, &x)) return x != 0;
    if (vlm_json_is_array(v)) return vlm_json_array_size(v) > 0;
    return false;
}

vlm_status vlm_parse_token_ids(const vlm_json *v, const char *path, const char *field,
                               int64_t **ids, size_t *n, vlm_error *err) {
    *ids = NULL;
    *n = 0;
    if (!v || vlm_json_is_null(v)) return VLM_OK;
    int64_t x;
    if (vlm_json_int(v, &x)) {
        if (x < 0)
            return vlm_err(err, VLM_ERR_FORMAT, "%s: field '%s' is %lld, a token id must be >= 0",
                           path, field, (long long)x);
        *ids = malloc(sizeof **ids);
        if (!*ids) return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
        (*ids)[0] = x;
        *n = 1;
        return VLM_OK;
    }
    if (!vlm_json_is_array(v))
        return vlm_err(err, VLM_ERR_FORMAT,
                       "%s: field '%s' must be an integer or a list of integers, not %s", path,
                       field, vlm_json_type_name(v));
    size_t count = vlm_json_array_size(v);
    int64_t *out = vlm_malloc_array(count, sizeof *out);
    if (!out) return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    for (size_t i = 0; i < count; i++) {
        const vlm_json *e = vlm_json_array_at(v, i);
        if (!vlm_json_int(e, &out[i]) || out[i] < 0) {
            free(out);
            return vlm_err(err, VLM_ERR_FORMAT,
                           "%s: field '%s[%zu]' must be a non-negative integer, not %s", path,
                           field, i, vlm_json_type_name(e));
        }
    }
    *ids = out;
    *n = count;
    return VLM_OK;
}

/* Reads an optional positive integer member of a quantization object. */
static vlm_status quant_int(const vlm_json *obj, const char *key, const char *path,
                            const char *where, int *out, vlm_error *err) {
    const vlm_json *v = vlm_json_get(obj, key);
    *out = 0;
    if (!v) return VLM_OK;
    int64_t x;
    if (!vlm_json_int(v, &x) || x <= 0 || x > 1024)
        return vlm_err(err, VLM_ERR_FORMAT,
                       "%s: field '%s.%s' must be a positive integer (at most 1024), not %s", path,
                       where, key, vlm_json_type_name(v));
    *out = (int)x;
    return VLM_OK;
}

static vlm_status parse_quantization(const vlm_json *q, const char *path, vlm_quant_config *out,
                                     vlm_error *err) {
    memset(out, 0, sizeof *out);
    if (!q || vlm_json_is_null(q)) return VLM_OK;
    if (!vlm_json_is_object(q))
        return vlm_err(err, VLM_ERR_FORMAT, "%s: field 'quantization' must be an object, not %s",
                       path, vlm_json_type_name(q));
    out->present = true;
    vlm_status s;
    if ((s = quant_int(q, "bits", path, "quantization", &out->bits, err)) != VLM_OK) return s;
    if ((s = quant_int(q, "group_size", path, "quantization", &out->group_size, err)) != VLM_OK)
        return s;
    const vlm_json *mode = vlm_json_get(q, "mode");
    if (mode && !vlm_json_is_string(mode))
        return vlm_err(err, VLM_ERR_FORMAT, "%s: field 'quantization.mode' must be a string, not %s",
                       path, vlm_json_type_name(mode));
    out->mode = vlm_strdup(mode ? vlm_json_string(mode) : "affine");
    size_t cap = vlm_json_object_size(q);
    out->overrides = vlm_calloc_array(cap, sizeof *out->overrides);
    if (!out->mode || !out->overrides)
        return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    for (void *it = vlm_json_iter(q); it; it = vlm_json_iter_next(q, it)) {
        const char *key = vlm_json_iter_key(it);
        const vlm_json *v = vlm_json_iter_value(it);
        if (!strcmp(key, "bits") || !strcmp(key, "group_size") || !strcmp(key, "mode")) continue;
        vlm_quant_override *o = &out->overrides[out->n_overrides];
        if (vlm_json_is_bool(v)) {
            o->quantized = vlm_json_true(v);
        } else if (vlm_json_is_object(v)) {
            char where[300];
            snprintf(where, sizeof where, "quantization.%s", key);
            o->quantized = vlm_json_object_size(v) > 0; /* {} is falsy in mlx-vlm */
            o->object = true;
            if ((s = quant_int(v, "bits", path, where, &o->bits, err)) != VLM_OK) return s;
            if ((s = quant_int(v, "group_size", path, where, &o->group_size, err)) != VLM_OK)
                return s;
        } else {
            return vlm_err(err, VLM_ERR_FORMAT,
                           "%s: field 'quantization.%s' must be an object or a boolean, not %s",
                           path, key, vlm_json_type_name(v));
        }
        if (!(o->module = vlm_strdup(key)))
            return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
        out->n_overrides++;
    }
    if (out->bits == 0 || out->group_size == 0)
        return vlm_err(err, VLM_ERR_FORMAT,
                       "%s: field 'quantization' needs both 'bits' and 'group_size'", path);
    return VLM_OK;
}

static const vlm_quant_override *find_override(const vlm_quant_config *q, const char *key) {
    for (size_t i = 0; i < q->n_overrides; i++)
        if (!strcmp(q->overrides[i].module, key)) return &q->overrides[i];
    return NULL;
}

void vlm_quant_config_lookup(const vlm_quant_config *q, const char *module, int *bits,
                             int *group_size) {
    *bits = *group_size = 0;
    if (!q->present) return;
    static const char lm[] = "language_model.";
    const vlm_quant_override *o = find_override(q, module);
    if (!o && !strncmp(module, lm, sizeof lm - 1)) o = find_override(q, module + sizeof lm - 1);
    if (o && !o->quantized) return;
    if (o && o->object) {
        *bits = o->bits ? o->bits : 4;
        *group_size = o->group_size ? o->group_size : 64;
        return;
    }
    *bits = q->bits;
    *group_size = q->group_size;
}

vlm_status vlm_base_config_parse(const vlm_json *config, const char *path, vlm_base_config *out,
                                 vlm_error *err) {
    memset(out, 0, sizeof *out);
    if (!vlm_json_is_object(config))
        return vlm_err(err, VLM_ERR_FORMAT, "%s: top level must be an object, not %s", path,
                       vlm_json_type_name(config));
    const vlm_json *mt = vlm_json_get(config, "model_type");
    if (!mt) return vlm_err(err, VLM_ERR_FORMAT, "%s: field 'model_type' is missing", path);
    if (!vlm_json_is_string(mt) || vlm_json_string_len(mt) == 0 ||
        strlen(vlm_json_string(mt)) != vlm_json_string_len(mt))
        return vlm_err(err, VLM_ERR_FORMAT, "%s: field 'model_type' must be a non-empty string, not %s",
                       path, vlm_json_type_name(mt));
    if (!(out->model_type_raw = vlm_strdup(vlm_json_string(mt))))
        return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "%s: out of memory", path);

    /* eos: the top level when truthy, else text_config's, else llm_config's. Every value
     * present is type-checked, even one that is not used. */
    static const char *const fields[3] = {"eos_token_id", "text_config.eos_token_id",
                                          "llm_config.eos_token_id"};
    static const char *const sources[3] = {"config.json", "config.json:text_config",
                                           "config.json:llm_config"};
    const vlm_json *vals[3] = {
        vlm_json_get(config, "eos_token_id"),
        vlm_json_get(vlm_json_get(config, "text_config"), "eos_token_id"),
        vlm_json_get(vlm_json_get(config, "llm_config"), "eos_token_id"),
    };
    for (int i = 0; i < 3; i++) {
        int64_t *ids;
        size_t n;
        vlm_status s = vlm_parse_token_ids(vals[i], path, fields[i], &ids, &n, err);
        if (s != VLM_OK) return s;
        if (!out->eos_source && vlm_token_ids_truthy(vals[i])) {
            out->eos_ids = ids;
            out->n_eos = n;
            out->eos_source = sources[i];
        } else {
            free(ids);
        }
    }
    return parse_quantization(vlm_json_get(config, "quantization"), path, &out->quant, err);
}

vlm_status vlm_base_config_apply_generation(vlm_base_config *cfg, const vlm_json *gen,
                                            const char *path, vlm_error *err) {
    if (!vlm_json_is_object(gen))
        return vlm_err(err, VLM_ERR_FORMAT, "%s: top level must be an object, not %s", path,
                       vlm_json_type_name(gen));
    const vlm_json *v = vlm_json_get(gen, "eos_token_id");
    int64_t *ids;
    size_t n;
    vlm_status s = vlm_parse_token_ids(v, path, "eos_token_id", &ids, &n, err);
    if (s != VLM_OK) return s;
    if (!vlm_token_ids_truthy(v)) {
        free(ids);
        return VLM_OK;
    }
    free(cfg->eos_ids);
    cfg->eos_ids = ids;
    cfg->n_eos = n;
    cfg->eos_source = "generation_config.json";
    return VLM_OK;
}

void vlm_base_config_free(vlm_base_config *cfg) {
    if (!cfg) return;
    free(cfg->model_type_raw);
    free(cfg->eos_ids);
    for (size_t i = 0; i < cfg->quant.n_overrides; i++) free(cfg->quant.overrides[i].module);
    free(cfg->quant.overrides);
    free(cfg->quant.mode);
    memset(cfg, 0, sizeof *cfg);
}
