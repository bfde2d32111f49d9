/* Pillow-exact resizing of RGB8 images: Image.resize(size, resample, box) with
 * reducing_gap=None, as transformers' PIL path calls it. The convolution filters follow
 * Pillow's src/libImaging/Resample.c bit for bit (double-precision coefficients turned
 * into 22-bit fixed point, horizontal pass into a uint8 intermediate, then vertical; a
 * pass is skipped when its axis is unchanged); NEAREST follows Pillow's own affine path
 * (Geometry.c, accumulated double coordinates). Rows are spread over OpenMP threads; the
 * result does not depend on the thread count (integer arithmetic). */
#ifndef VLM_MEDIA_RESAMPLE_H
#define VLM_MEDIA_RESAMPLE_H

#include "media/image.h"

/* Values are PIL's Image.Resampling numbers, which preprocessor_config.json stores in
 * "resample" (3 is BICUBIC). */
typedef enum vlm_resample_filter {
    VLM_RESAMPLE_NEAREST = 0,
    VLM_RESAMPLE_LANCZOS = 1,
    VLM_RESAMPLE_BILINEAR = 2,
    VLM_RESAMPLE_BICUBIC = 3,
    VLM_RESAMPLE_BOX = 4,
    VLM_RESAMPLE_HAMMING = 5
} vlm_resample_filter;

/* Which Pillow release to reproduce where releases differ. */
typedef enum vlm_pillow_compat {
    /* Pillow >= 12.2 (current): an image more than 100 times taller than wide whose
     * height shrinks is resized vertically first (two Image.resize calls in Image.py). */
    VLM_PILLOW_CURRENT = 0,
    /* Pillow < 12.2 (e.g. Debian's 9.4): always horizontal first. */
    VLM_PILLOW_BEFORE_12_2 = 1
} vlm_pillow_compat;

typedef struct vlm_resize_params {
    vlm_resample_filter filter;
    /* Source region (left, upper, right, lower) in input pixels, as Pillow's `box`; all
     * zero means the whole image. Values are stored as float, as Pillow stores them. */
    float box[4];
    vlm_pillow_compat compat;
    int n_threads; /* 0: OpenMP's default; 1: this thread only; n: at most n threads */
    int portable;  /* 1: portable C kernels only, no AVX2 (same results; for tests) */
} vlm_resize_params;

/* filter as given, whole image, current Pillow, default threads. */
vlm_resize_params vlm_resize_params_default(vlm_resample_filter filter);

/* Resizes `in` to out_width x out_height into a new image *out (zeroed on failure).
 * params may be NULL (BICUBIC, Pillow's default). Fails with VLM_ERR_INVALID_ARGUMENT on
 * a size < 1, an unknown filter or a box outside the image (Pillow's ValueErrors).
 * Thread-safe. */
vlm_status vlm_image_resize(const vlm_image *in, int out_width, int out_height,
                            const vlm_resize_params *params, vlm_image *out, vlm_error *err);

/* "nearest", "lanczos", "bilinear", "bicubic", "box", "hamming"; NULL for others. */
const char *vlm_resample_filter_name(vlm_resample_filter filter);
/* Maps a PIL resample number (a config's "resample") to the enum; VLM_ERR_UNSUPPORTED
 * names the value when it is not 0..5. */
vlm_status vlm_resample_filter_from_pil(int value, vlm_resample_filter *out, vlm_error *err);

#endif
