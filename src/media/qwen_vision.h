/* The Qwen2-VL / Qwen2.5-VL vision preprocessing: smart_resize (sizes that are multiples
 * of patch_size * merge_size within [min_pixels, max_pixels]) and the patch layout of
 * pixel_values [rows, C * temporal_patch_size * patch_size^2] with grid (t, h, w), as
 * transformers' Qwen2VLImageProcessor PIL backend builds them. It takes a list of frames:
 * an image is one frame (repeated to temporal_patch_size); a video passes its sampled
 * frames (the last one repeated when the count is not a multiple).
 *
 * Layout (m = merge_size, p = patch_size, T = temporal_patch_size, gh/gw = grid h/w):
 *   row = ((t * gh/m + bh) * gw/m + bw) * m * m + mh * m + mw
 *   col = ((c * T + tt) * p + py) * p + px
 *   value = frame[t * T + tt][c][(bh * m + mh) * p + py][(bw * m + mw) * p + px]
 * so rows come in raster-ordered m x m merge blocks. */
#ifndef VLM_MEDIA_QWEN_VISION_H
#define VLM_MEDIA_QWEN_VISION_H

#include <stdint.h>

#include "media/image.h"
#include "media/normalize.h"
#include "media/resample.h"

typedef struct vlm_qwen_vision_params {
    int64_t min_pixels;      /* size.shortest_edge ("min_pixels"); Hub configs: 3136 */
    int64_t max_pixels;      /* size.longest_edge ("max_pixels"); Hub configs: 12845056 */
    int patch_size;          /* 14 */
    int temporal_patch_size; /* 2 */
    int merge_size;          /* 2 */
    int do_resize;           /* 1 */
    int resized_height;      /* > 0 with resized_width: use this size instead of smart_resize */
    int resized_width;
    vlm_resample_filter resample; /* BICUBIC */
    vlm_pillow_compat compat;     /* resize ordering of the reference Pillow */
    vlm_pixel_norm norm;          /* rescale 1/255, CLIP mean/std */
    int n_threads;                /* 0: OpenMP default; 1: this thread only */
} vlm_qwen_vision_params;

/* The values Qwen2-VL's and Qwen2.5-VL's Hub preprocessor_config.json give (min_pixels
 * 3136, max_pixels 12845056, patch 14, temporal 2, merge 2, BICUBIC, CLIP norm). */
vlm_qwen_vision_params vlm_qwen_vision_params_default(void);

/* smart_resize(height, width, factor, min_pixels, max_pixels) of transformers' Qwen2-VL:
 * round each side to a multiple of factor (half to even, as Python's round), then scale
 * by sqrt(h*w/max_pixels) down (floor, at least factor) or sqrt(min_pixels/(h*w)) up
 * (ceil) when the product is outside the range. Fails with VLM_ERR_LIMIT ("absolute
 * aspect ratio must be smaller than 200") as transformers raises. */
vlm_status vlm_qwen_smart_resize(int64_t height, int64_t width, int factor, int64_t min_pixels,
                                 int64_t max_pixels, int *out_height, int *out_width,
                                 vlm_error *err);

/* Grid and row count for n_frames frames of height x width (multiples of patch * merge):
 * grid = (ceil(n_frames / T), height / p, width / p), rows = product. */
vlm_status vlm_qwen_patch_grid(int n_frames, int height, int width, const vlm_qwen_vision_params *p,
                               int64_t grid_thw[3], int64_t *rows, vlm_error *err);

/* The layout alone: frames[i] are float planes [3][height][width] (already rescaled and
 * normalized); writes rows x (3 * T * p * p) floats to `out` (size from
 * vlm_qwen_patch_grid). */
vlm_status vlm_qwen_patchify_f32(const float *const *frames, int n_frames, int height, int width,
                                 const vlm_qwen_vision_params *p, float *out, vlm_error *err);

/* The whole pipeline on same-sized RGB8 frames: smart_resize (or the given size), Pillow
 * resize, rescale + normalize and the patch layout, fused (the uint8 resize output goes
 * through the per-channel table straight into its patch slot). On success
 * *pixel_values is a malloc'd [*rows][3 * T * p * p] float32 array (free()).
 * Thread-safe. */
vlm_status vlm_qwen_preprocess(const vlm_image *frames, int n_frames,
                               const vlm_qwen_vision_params *p, float **pixel_values, int64_t *rows,
                               int64_t grid_thw[3], vlm_error *err);

#endif
