/* Layout-tolerant config lookups (see config_read.h). */
#include "models/common/config_read.h"

#include <math.h>
#include <string.h>

#include "core/error.h"

void vlm_cfg_scope_init(vlm_cfg_scope *s, const char *path) {
    memset(s, 0, sizeof *s);
    s->path = path;
}

void vlm_cfg_scope_add(vlm_cfg_scope *s, const vlm_json *obj, const char *prefix) {
    if (!vlm_json_is_object(obj) || s->n == VLM_CFG_MAX_SCOPES) return;
    s->obj[s->n] = obj;
    s->prefix[s->n] = prefix;
    s->n++;
}

const vlm_json *vlm_cfg_find(const vlm_cfg_scope *s, const char *key, const char **prefix) {
    for (int i = 0; i < s->n; i++) {
        const vlm_json *v = vlm_json_get(s->obj[i], key);
        if (v && !vlm_json_is_null(v)) {
            if (prefix) *prefix = s->prefix[i];
            return v;
        }
    }
    if (prefix) *prefix = s->n ? s->prefix[0] : "";
    return NULL;
}

static vlm_status missing(const vlm_cfg_scope *s, const char *key, vlm_error *err) {
    return vlm_err(err, VLM_ERR_FORMAT, "%s: field '%s%s' is missing", s->path,
                   s->n ? s->prefix[0] : "", key);
}

vlm_status vlm_cfg_int(const vlm_cfg_scope *s, const char *key, bool required, int64_t def,
                       int64_t lo, int64_t hi, int64_t *out, vlm_error *err) {
    const char *prefix;
    const vlm_json *v = vlm_cfg_find(s, key, &prefix);
    if (!v) {
        if (required) return missing(s, key, err);
        *out = def;
        return VLM_OK;
    }
    int64_t x;
    if (!vlm_json_int(v, &x))
        return vlm_err(err, VLM_ERR_FORMAT, "%s: field '%s%s' must be an integer, not %s", s->path,
                       prefix, key, vlm_json_type_name(v));
    if (x < lo || x > hi)
        return vlm_err(err, VLM_ERR_FORMAT, "%s: field '%s%s' is %lld, outside [%lld, %lld]",
                       s->path, prefix, key, (long long)x, (long long)lo, (long long)hi);
    *out = x;
    return VLM_OK;
}

vlm_status vlm_cfg_float(const vlm_cfg_scope *s, const char *key, bool required, double def,
                         double *out, vlm_error *err) {
    const char *prefix;
    const vlm_json *v = vlm_cfg_find(s, key, &prefix);
    if (!v) {
        if (required) return missing(s, key, err);
        *out = def;
        return VLM_OK;
    }
    if (!vlm_json_is_number(v))
        return vlm_err(err, VLM_ERR_FORMAT, "%s: field '%s%s' must be a number, not %s", s->path,
                       prefix, key, vlm_json_type_name(v));
    double x = vlm_json_number(v);
    if (!isfinite(x) || x < 0)
        return vlm_err(err, VLM_ERR_FORMAT, "%s: field '%s%s' must be a finite number >= 0",
                       s->path, prefix, key);
    *out = x;
    return VLM_OK;
}

vlm_status vlm_cfg_bool(const vlm_cfg_scope *s, const char *key, bool def, bool *out,
                        vlm_error *err) {
    const char *prefix;
    const vlm_json *v = vlm_cfg_find(s, key, &prefix);
    if (!v) {
        *out = def;
        return VLM_OK;
    }
    if (!vlm_json_is_bool(v))
        return vlm_err(err, VLM_ERR_FORMAT, "%s: field '%s%s' must be true or false, not %s",
                       s->path, prefix, key, vlm_json_type_name(v));
    *out = vlm_json_true(v);
    return VLM_OK;
}

vlm_status vlm_cfg_string(const vlm_cfg_scope *s, const char *key, bool required,
                          const char **out, vlm_error *err) {
    const char *prefix;
    const vlm_json *v = vlm_cfg_find(s, key, &prefix);
    *out = NULL;
    if (!v) return required ? missing(s, key, err) : VLM_OK;
    if (!vlm_json_is_string(v))
        return vlm_err(err, VLM_ERR_FORMAT, "%s: field '%s%s' must be a string, not %s", s->path,
                       prefix, key, vlm_json_type_name(v));
    *out = vlm_json_string(v);
    return VLM_OK;
}

vlm_status vlm_cfg_int_list(const vlm_cfg_scope *s, const char *key, bool required, int max,
                            int64_t lo, int64_t hi, int64_t *out, int *n, vlm_error *err) {
    const char *prefix;
    const vlm_json *v = vlm_cfg_find(s, key, &prefix);
    *n = 0;
    if (!v) return required ? missing(s, key, err) : VLM_OK;
    if (!vlm_json_is_array(v))
        return vlm_err(err, VLM_ERR_FORMAT, "%s: field '%s%s' must be a list of integers, not %s",
                       s->path, prefix, key, vlm_json_type_name(v));
    size_t count = vlm_json_array_size(v);
    if (count > (size_t)max)
        return vlm_err(err, VLM_ERR_FORMAT, "%s: field '%s%s' has %zu entries, at most %d allowed",
                       s->path, prefix, key, count, max);
    for (size_t i = 0; i < count; i++) {
        int64_t x;
        if (!vlm_json_int(vlm_json_array_at(v, i), &x) || x < lo || x > hi)
            return vlm_err(err, VLM_ERR_FORMAT,
                           "%s: field '%s%s[%zu]' must be an integer in [%lld, %lld]", s->path,
                           prefix, key, i, (long long)lo, (long long)hi);
        out[i] = x;
    }
    *n = (int)count;
    return VLM_OK;
}
