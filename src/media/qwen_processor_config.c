/* Reading Qwen2-VL / Qwen2.5-VL processor settings from a checkpoint directory (see
 * qwen_processor_config.h for the files, the order and the defaults). */
#include "media/qwen_processor_config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/file.h"

vlm_qwen_processor_config vlm_qwen_processor_config_default(void) {
    vlm_qwen_processor_config c;
    memset(&c, 0, sizeof c);
    c.image = vlm_qwen_vision_params_default();
    c.image.min_pixels = 56 * 56;
    c.image.max_pixels = 28 * 28 * 1280;
    c.video = c.image;
    c.video.min_pixels = 128 * 28 * 28;
    c.video.max_pixels = 28 * 28 * 768;
    c.sampling = vlm_video_sampling_default();
    c.sampling.mode = VLM_VIDEO_SAMPLE_ALL; /* do_sample_frames = False */
    c.sampling.fps = 0;
    c.sampling.num_frames = 0;
    return c;
}

/* An optional integer field in [lo, hi]; absent or null leaves *out. */
static vlm_status get_int(const vlm_json *o, const char *key, const char *origin, int64_t lo,
                          int64_t hi, int64_t *out, bool *present, vlm_error *err) {
    const vlm_json *v = vlm_json_get(o, key);
    if (present) *present = false;
    if (!v || vlm_json_is_null(v)) return VLM_OK;
    int64_t x;
    if (!vlm_json_int(v, &x))
        return vlm_err(err, VLM_ERR_FORMAT, "%s: field '%s' must be an integer, not %s", origin,
                       key, vlm_json_type_name(v));
    if (x < lo || x > hi)
        return vlm_err(err, VLM_ERR_FORMAT, "%s: field '%s' is %lld, outside %lld..%lld", origin,
                       key, (long long)x, (long long)lo, (long long)hi);
    *out = x;
    if (present) *present = true;
    return VLM_OK;
}

static vlm_status get_number(const vlm_json *o, const char *key, const char *origin, double *out,
                             bool *present, vlm_error *err) {
    const vlm_json *v = vlm_json_get(o, key);
    if (present) *present = false;
    if (!v || vlm_json_is_null(v)) return VLM_OK;
    if (!vlm_json_is_number(v))
        return vlm_err(err, VLM_ERR_FORMAT, "%s: field '%s' must be a number, not %s", origin, key,
                       vlm_json_type_name(v));
    double x = vlm_json_number(v);
    if (!isfinite(x))
        return vlm_err(err, VLM_ERR_FORMAT, "%s: field '%s' is not finite", origin, key);
    *out = x;
    if (present) *present = true;
    return VLM_OK;
}

static vlm_status get_bool(const vlm_json *o, const char *key, const char *origin, int *out,
                           vlm_error *err) {
    const vlm_json *v = vlm_json_get(o, key);
    if (!v || vlm_json_is_null(v)) return VLM_OK;
    if (!vlm_json_is_bool(v))
        return vlm_err(err, VLM_ERR_FORMAT, "%s: field '%s' must be true or false, not %s", origin,
                       key, vlm_json_type_name(v));
    *out = vlm_json_true(v) ? 1 : 0;
    return VLM_OK;
}

/* image_mean / image_std: one number for every channel, or three. */
static vlm_status get_triple(const vlm_json *o, const char *key, const char *origin, double out[3],
                             bool positive, vlm_error *err) {
    const vlm_json *v = vlm_json_get(o, key);
    if (!v || vlm_json_is_null(v)) return VLM_OK;
    double t[3];
    if (vlm_json_is_number(v)) {
        t[0] = t[1] = t[2] = vlm_json_number(v);
    } else if (vlm_json_is_array(v) && vlm_json_array_size(v) == 3) {
        for (size_t i = 0; i < 3; i++) {
            const vlm_json *e = vlm_json_array_at(v, i);
            if (!vlm_json_is_number(e))
                return vlm_err(err, VLM_ERR_FORMAT, "%s: field '%s'[%zu] must be a number", origin,
                               key, i);
            t[i] = vlm_json_number(e);
        }
    } else {
        return vlm_err(err, VLM_ERR_FORMAT,
                       "%s: field '%s' must be a number or a list of 3 numbers", origin, key);
    }
    for (int i = 0; i < 3; i++)
        if (!isfinite(t[i]) || (positive && !(t[i] > 0)))
            return vlm_err(err, VLM_ERR_FORMAT, "%s: field '%s' has an invalid value %g", origin,
                           key, t[i]);
    memcpy(out, t, sizeof t);
    return VLM_OK;
}

#define TRY(x)                                                                                     \
    do {                                                                                           \
        vlm_status s_ = (x);                                                                       \
        if (s_ != VLM_OK) return s_;                                                               \
    } while (0)

vlm_status vlm_qwen_processor_config_apply(const vlm_json *obj, const char *origin,
                                           vlm_qwen_vision_params *p, vlm_video_sampling *sampling,
                                           vlm_error *err) {
    if (!vlm_json_is_object(obj))
        return vlm_err(err, VLM_ERR_FORMAT, "%s: must be a JSON object, not %s", origin,
                       vlm_json_type_name(obj));
    const int64_t max_px = (int64_t)1 << 40;
    /* size first, then min_pixels/max_pixels override it (transformers' __init__). */
    const vlm_json *size = vlm_json_get(obj, "size");
    if (size && !vlm_json_is_null(size)) {
        if (!vlm_json_is_object(size))
            return vlm_err(err, VLM_ERR_FORMAT, "%s: field 'size' must be an object, not %s",
                           origin, vlm_json_type_name(size));
        char o2[512];
        snprintf(o2, sizeof o2, "%s: size", origin);
        TRY(get_int(size, "shortest_edge", o2, 0, max_px, &p->min_pixels, NULL, err));
        TRY(get_int(size, "longest_edge", o2, 1, max_px, &p->max_pixels, NULL, err));
        TRY(get_int(size, "min_pixels", o2, 0, max_px, &p->min_pixels, NULL, err));
        TRY(get_int(size, "max_pixels", o2, 1, max_px, &p->max_pixels, NULL, err));
    }
    TRY(get_int(obj, "min_pixels", origin, 0, max_px, &p->min_pixels, NULL, err));
    TRY(get_int(obj, "max_pixels", origin, 1, max_px, &p->max_pixels, NULL, err));
    int64_t v;
    v = p->patch_size;
    TRY(get_int(obj, "patch_size", origin, 1, 1024, &v, NULL, err));
    p->patch_size = (int)v;
    v = p->temporal_patch_size;
    TRY(get_int(obj, "temporal_patch_size", origin, 1, 64, &v, NULL, err));
    p->temporal_patch_size = (int)v;
    v = p->merge_size;
    TRY(get_int(obj, "merge_size", origin, 1, 64, &v, NULL, err));
    p->merge_size = (int)v;
    TRY(get_bool(obj, "do_resize", origin, &p->do_resize, err));
    bool have;
    v = 0;
    TRY(get_int(obj, "resample", origin, 0, 5, &v, &have, err));
    if (have) {
        vlm_resample_filter f;
        vlm_status s = vlm_resample_filter_from_pil((int)v, &f, err);
        if (s != VLM_OK) {
            vlm_err_prefix(err, "%s: field 'resample'", origin);
            return s;
        }
        p->resample = f;
    }
    TRY(get_bool(obj, "do_rescale", origin, &p->norm.do_rescale, err));
    TRY(get_number(obj, "rescale_factor", origin, &p->norm.rescale_factor, NULL, err));
    TRY(get_bool(obj, "do_normalize", origin, &p->norm.do_normalize, err));
    TRY(get_triple(obj, "image_mean", origin, p->norm.mean, false, err));
    TRY(get_triple(obj, "image_std", origin, p->norm.std, true, err));
    if (p->min_pixels > p->max_pixels)
        return vlm_err(err, VLM_ERR_FORMAT, "%s: min_pixels %lld is larger than max_pixels %lld",
                       origin, (long long)p->min_pixels, (long long)p->max_pixels);

    if (sampling) {
        int do_sample = sampling->mode != VLM_VIDEO_SAMPLE_ALL;
        TRY(get_bool(obj, "do_sample_frames", origin, &do_sample, err));
        bool have_fps = false, have_n = false;
        double fps = sampling->fps;
        int64_t n = sampling->num_frames;
        TRY(get_number(obj, "fps", origin, &fps, &have_fps, err));
        TRY(get_int(obj, "num_frames", origin, 0, INT32_MAX, &n, &have_n, err));
        TRY(get_int(obj, "min_frames", origin, 0, INT32_MAX, &sampling->min_frames, NULL, err));
        TRY(get_int(obj, "max_frames", origin, 0, INT32_MAX, &sampling->max_frames, NULL, err));
        if (have_fps && !(fps > 0))
            return vlm_err(err, VLM_ERR_FORMAT, "%s: field 'fps' must be positive", origin);
        if (have_fps) sampling->fps = fps;
        if (have_n) sampling->num_frames = n;
        sampling->temporal_patch_size = p->temporal_patch_size;
        if (!do_sample)
            sampling->mode = VLM_VIDEO_SAMPLE_ALL;
        else if (sampling->num_frames > 0 || have_n)
            sampling->mode = VLM_VIDEO_SAMPLE_COUNT;
        else if (sampling->fps > 0)
            sampling->mode = VLM_VIDEO_SAMPLE_FPS;
        else
            sampling->mode = VLM_VIDEO_SAMPLE_ALL;
    }
    return VLM_OK;
}

/* Loads dir/name when it is a file; *out stays NULL when it does not exist. */
static vlm_status load_optional(const char *dir, const char *name, vlm_json **out, char *origin,
                                size_t origin_size, vlm_error *err) {
    *out = NULL;
    char *path = vlm_path_join(dir, name);
    if (!path) return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "%s: out of memory", dir);
    vlm_status s = VLM_OK;
    if (vlm_path_kind_of(path) != VLM_PATH_MISSING)
        s = vlm_json_load_file(path, VLM_CONFIG_MAX_BYTES, 0, out, err);
    snprintf(origin, origin_size, "%s", path);
    free(path);
    return s;
}

static bool names_qwen25(const vlm_json *o) {
    const char *pc = vlm_json_string(vlm_json_get(o, "processor_class"));
    return pc && strstr(pc, "Qwen2_5_VL") != NULL;
}

vlm_status vlm_qwen_processor_config_load(const char *dir, const char *model_type,
                                          vlm_qwen_processor_config *out, vlm_error *err) {
    *out = vlm_qwen_processor_config_default();
    if (!dir) return vlm_err(err, VLM_ERR_INVALID_ARGUMENT, "processor config: directory is NULL");
    vlm_json *video_cfg = NULL, *pre = NULL, *proc = NULL;
    char o_video[4096], o_pre[4096], o_proc[4096];
    vlm_status s = load_optional(dir, "video_preprocessor_config.json", &video_cfg, o_video,
                                 sizeof o_video, err);
    if (s == VLM_OK)
        s = load_optional(dir, "preprocessor_config.json", &pre, o_pre, sizeof o_pre, err);
    if (s == VLM_OK)
        s = load_optional(dir, "processor_config.json", &proc, o_proc, sizeof o_proc, err);
    if (s != VLM_OK) goto done;

    /* Image processor. */
    if (pre) {
        s = vlm_qwen_processor_config_apply(pre, o_pre, &out->image, NULL, err);
        snprintf(out->image_source, sizeof out->image_source, "preprocessor_config.json");
    } else if (proc && vlm_json_get(proc, "image_processor")) {
        char o2[4200];
        snprintf(o2, sizeof o2, "%s: image_processor", o_proc);
        s = vlm_qwen_processor_config_apply(vlm_json_get(proc, "image_processor"), o2, &out->image,
                                            NULL, err);
        snprintf(out->image_source, sizeof out->image_source, "processor_config.json");
    }
    if (s != VLM_OK) goto done;

    /* Video processor, in transformers' order of files. */
    if (video_cfg) {
        s = vlm_qwen_processor_config_apply(video_cfg, o_video, &out->video, &out->sampling, err);
        snprintf(out->video_source, sizeof out->video_source, "video_preprocessor_config.json");
    } else if (pre) {
        s = vlm_qwen_processor_config_apply(pre, o_pre, &out->video, &out->sampling, err);
        snprintf(out->video_source, sizeof out->video_source, "preprocessor_config.json");
    } else if (proc && vlm_json_get(proc, "video_processor")) {
        char o2[4200];
        snprintf(o2, sizeof o2, "%s: video_processor", o_proc);
        s = vlm_qwen_processor_config_apply(vlm_json_get(proc, "video_processor"), o2, &out->video,
                                            &out->sampling, err);
        snprintf(out->video_source, sizeof out->video_source, "processor_config.json");
    }
    if (s != VLM_OK) goto done;

    out->second_per_grid_ts = (model_type && !strcmp(model_type, "qwen2_5_vl")) ||
                              (pre && names_qwen25(pre)) || (proc && names_qwen25(proc)) ||
                              (video_cfg && names_qwen25(video_cfg));
done:
    vlm_json_free(video_cfg);
    vlm_json_free(pre);
    vlm_json_free(proc);
    if (s != VLM_OK) *out = vlm_qwen_processor_config_default();
    return s;
}
