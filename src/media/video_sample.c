/* Which frames of a video to keep: Qwen2VLVideoProcessor.sample_frames (transformers 5.x),
 * reproduced down to the float32 arithmetic of torch.arange on the CPU (see video.h). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/alloc.h"
#include "core/error.h"
#include "media/video.h"

/* Elements per ATen Vectorized<float> in torch's CPU arange kernel. torch.arange computes
 * blocks of 2 vectors with a float32 base (see arange_value), the tail one element at a
 * time. 8 reproduces all 2033 reference cases made with torch 2.11 on an AVX512 machine
 * (16, 4, 32 or a pure scalar loop each miss dozens of the long-video cases). */
#define VLM_TORCH_ARANGE_VEC 8

vlm_video_sampling vlm_video_sampling_default(void) {
    vlm_video_sampling s = {0};
    s.mode = VLM_VIDEO_SAMPLE_FPS;
    s.fps = 2.0;
    s.num_frames = 0;
    s.min_frames = 4;
    s.max_frames = 768;
    s.temporal_patch_size = 2;
    return s;
}

/* Element i of torch.arange(0, total, step, dtype=float32) on the CPU. ATen's arange kernel
 * accumulates in double: the scalar tail computes (float)(i * step); the vectorized body
 * computes, for each vector starting at element b, base = (float)(b * step) and then
 * (float)((double)base + j * step) for its elements j. Blocks of 2 * VEC elements take the
 * vector path while at least 2 * VEC elements remain. */
static float arange_value(int64_t i, int64_t n, double step) {
    const int64_t vec = VLM_TORCH_ARANGE_VEC;
    int64_t vec_end = n >= 2 * vec ? (n / (2 * vec)) * (2 * vec) : 0;
    if (i < vec_end) {
        int64_t b = i - i % vec;
        float base = (float)((double)b * step);
        return (float)((double)base + (double)(i - b) * step);
    }
    return (float)((double)i * step);
}

vlm_status vlm_video_sample_indices(const vlm_video_sampling *s, int64_t total_frames,
                                    double video_fps, int64_t **out, int64_t *count,
                                    vlm_error *err) {
    *out = NULL;
    *count = 0;
    if (!s) return vlm_err(err, VLM_ERR_INVALID_ARGUMENT, "video sampling: parameters are NULL");
    if (total_frames < 0 || total_frames > INT32_MAX)
        return vlm_err(err, VLM_ERR_INVALID_ARGUMENT,
                       "video sampling: total_frames %lld is invalid", (long long)total_frames);
    int64_t tps = s->temporal_patch_size;
    if (tps <= 0 || tps > 1024)
        return vlm_err(err, VLM_ERR_INVALID_ARGUMENT,
                       "video sampling: temporal_patch_size %lld must be in 1..1024",
                       (long long)tps);

    if (s->mode == VLM_VIDEO_SAMPLE_ALL) {
        if (total_frames == 0) return VLM_OK;
        int64_t *idx = vlm_malloc_array((size_t)total_frames, sizeof *idx);
        if (!idx) return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "video sampling: out of memory");
        for (int64_t i = 0; i < total_frames; i++)
            idx[i] = i;
        *out = idx;
        *count = total_frames;
        return VLM_OK;
    }

    int64_t n;
    if (s->mode == VLM_VIDEO_SAMPLE_COUNT) {
        if (s->num_frames < 0 || s->num_frames > INT32_MAX)
            return vlm_err(err, VLM_ERR_INVALID_ARGUMENT,
                           "video sampling: num_frames %lld is invalid", (long long)s->num_frames);
        /* round(num_frames / tps) * tps; Python's round() is half-to-even, as rint() is in
         * the default rounding mode. */
        n = (int64_t)rint((double)s->num_frames / (double)tps) * tps;
    } else if (s->mode == VLM_VIDEO_SAMPLE_FPS) {
        if (!(s->fps > 0) || !isfinite(s->fps))
            return vlm_err(err, VLM_ERR_INVALID_ARGUMENT, "video sampling: fps %g must be positive",
                           s->fps);
        if (!(video_fps > 0) || !isfinite(video_fps))
            return vlm_err(err, VLM_ERR_INVALID_ARGUMENT,
                           "video sampling: the video's frame rate (%g) is unknown; sampling by "
                           "fps needs it (sample by frame count instead)",
                           video_fps);
        if (s->min_frames < 0 || s->max_frames < 0)
            return vlm_err(err, VLM_ERR_INVALID_ARGUMENT,
                           "video sampling: min_frames/max_frames must not be negative");
        /* max_frames = floor(min(max_frames, total) / tps) * tps */
        int64_t mx = s->max_frames < total_frames ? s->max_frames : total_frames;
        double max_frames = floor((double)mx / (double)tps) * (double)tps;
        /* num_frames = total / video_fps * fps, clamped: min(max(x, min_frames), max, total)
         * (Python compares int and float exactly; all values here are far below 2^53). */
        double x = (double)total_frames / video_fps * s->fps;
        double lo = (double)s->min_frames;
        double v = x >= lo ? x : lo; /* max() keeps the first argument on a tie */
        if (max_frames < v) v = max_frames;
        if ((double)total_frames < v) v = (double)total_frames;
        n = (int64_t)(floor(v / (double)tps) * (double)tps);
    } else {
        return vlm_err(err, VLM_ERR_INVALID_ARGUMENT, "video sampling: unknown mode %d",
                       (int)s->mode);
    }

    if (n > total_frames)
        return vlm_err(
            err, VLM_ERR_INVALID_ARGUMENT,
            "video sampling: the inferred num_frames=%lld exceeds total_num_frames=%lld; "
            "decrease num_frames or fps",
            (long long)n, (long long)total_frames);
    if (n <= 0) /* transformers divides total by num_frames here and raises ZeroDivisionError. */
        return vlm_err(err, VLM_ERR_INVALID_ARGUMENT,
                       "video sampling: 0 frames to sample from a video of %lld frames (fewer "
                       "than the temporal patch size %lld, or num_frames rounds to 0)",
                       (long long)total_frames, (long long)tps);

    /* torch.arange(0, total, total / n).int(): length ceil(total / step), computed in double. */
    double step = (double)total_frames / (double)n;
    double len_d = ceil((double)total_frames / step);
    if (!(len_d >= 0) || len_d > (double)total_frames + 1)
        return vlm_err(err, VLM_ERR_INTERNAL, "video sampling: arange length %g is out of range",
                       len_d);
    int64_t len = (int64_t)len_d;
    if (len == 0) return VLM_OK;
    int64_t *idx = vlm_malloc_array((size_t)len, sizeof *idx);
    if (!idx) return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "video sampling: out of memory");
    for (int64_t i = 0; i < len; i++) {
        float f = arange_value(i, len, step);
        int64_t k = (int64_t)(int32_t)f; /* .int(): truncation toward zero */
        /* torch.arange's length is ceil(total / step) in double, which can be n + 1, and
         * float32 rounding can lift the last value to `total` itself: transformers returns
         * such an index (its loaders then raise or skip it; see video.h). Anything beyond is
         * only reachable for totals near 2^24, which the scan limit keeps out. */
        if (k < 0 || k > total_frames) {
            free(idx);
            return vlm_err(err, VLM_ERR_LIMIT,
                           "video sampling: index %lld is outside a video of %lld frames "
                           "(float32 rounding; the video has too many frames)",
                           (long long)k, (long long)total_frames);
        }
        idx[i] = k;
    }
    *out = idx;
    *count = len;
    return VLM_OK;
}
