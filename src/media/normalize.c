/* Rescale + normalize tables (see normalize.h). Every step is a separate IEEE operation in
 * the precision numpy uses for it; with FLT_EVAL_METHOD 0 (x86-64, aarch64) float
 * expressions are evaluated in float. */
#include "media/normalize.h"

#include <float.h>
#include <string.h>

#include "core/error.h"

#if !defined(FLT_EVAL_METHOD) || FLT_EVAL_METHOD != 0
#error "normalize.c needs float expressions evaluated in float (FLT_EVAL_METHOD 0)"
#endif

vlm_pixel_norm vlm_pixel_norm_clip(void) {
    vlm_pixel_norm n = {.do_rescale = 1,
                        .rescale_factor = 1.0 / 255.0,
                        .do_normalize = 1,
                        .mean = VLM_CLIP_MEAN,
                        .std = VLM_CLIP_STD};
    return n;
}

void vlm_pixel_norm_lut(const vlm_pixel_norm *n, float lut[3][256]) {
    for (int c = 0; c < 3; c++) {
        const float mean = (float)n->mean[c], std = (float)n->std[c];
        for (int v = 0; v < 256; v++) {
            /* rescale: float64 product, then one rounding to float32 */
            float x = n->do_rescale ? (float)((double)v * n->rescale_factor) : (float)v;
            if (n->do_normalize) x = (x - mean) / std;
            lut[c][v] = x;
        }
    }
}

void vlm_image_to_chw(const vlm_image *img, const vlm_pixel_norm *n, float *out) {
    float lut[3][256];
    vlm_pixel_norm_lut(n, lut);
    const size_t plane = (size_t)img->width * img->height;
    for (int y = 0; y < img->height; y++) {
        const uint8_t *row = img->data + (size_t)y * img->stride;
        float *o = out + (size_t)y * img->width;
        for (int x = 0; x < img->width; x++) {
            o[x] = lut[0][row[3 * x]];
            o[plane + x] = lut[1][row[3 * x + 1]];
            o[2 * plane + x] = lut[2][row[3 * x + 2]];
        }
    }
}

vlm_status vlm_chw_pad(const float *in, int channels, int height, int width, int out_height,
                       int out_width, float fill, float *out, vlm_error *err) {
    if (channels < 1 || height < 1 || width < 1 || out_height < height || out_width < width)
        return vlm_err(err, VLM_ERR_INVALID_ARGUMENT,
                       "pad: a %dx%d image does not fit %dx%d (%d channels)", width, height,
                       out_width, out_height, channels);
    for (int c = 0; c < channels; c++)
        for (int y = 0; y < out_height; y++) {
            float *o = out + ((size_t)c * out_height + y) * out_width;
            int x = 0;
            if (y < height) {
                memcpy(o, in + ((size_t)c * height + y) * width, (size_t)width * sizeof(float));
                x = width;
            }
            for (; x < out_width; x++)
                o[x] = fill;
        }
    return VLM_OK;
}
