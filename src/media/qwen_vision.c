/* Qwen2-VL smart_resize and patch layout (see qwen_vision.h). The fused path resizes each
 * frame once and scatters its bytes, through the rescale/normalize table, into every
 * temporal slot the frame fills (an image fills all T slots of its one group). */
#include "media/qwen_vision.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "core/checked.h"
#include "core/error.h"
#include "media/buffer.h"

vlm_qwen_vision_params vlm_qwen_vision_params_default(void) {
    vlm_qwen_vision_params p;
    memset(&p, 0, sizeof p);
    p.min_pixels = 3136;
    p.max_pixels = 12845056;
    p.patch_size = 14;
    p.temporal_patch_size = 2;
    p.merge_size = 2;
    p.do_resize = 1;
    p.resample = VLM_RESAMPLE_BICUBIC;
    p.compat = VLM_PILLOW_CURRENT;
    p.norm = vlm_pixel_norm_clip();
    return p;
}

vlm_status vlm_qwen_smart_resize(int64_t height, int64_t width, int factor, int64_t min_pixels,
                                 int64_t max_pixels, int *out_height, int *out_width,
                                 vlm_error *err) {
    *out_height = *out_width = 0;
    if (height < 1 || width < 1 || factor < 1 || height > INT32_MAX || width > INT32_MAX)
        return vlm_err(err, VLM_ERR_INVALID_ARGUMENT,
                       "smart_resize: size %lldx%lld (factor %d) is not valid", (long long)height,
                       (long long)width, factor);
    const double hi = (double)(height > width ? height : width);
    const double lo = (double)(height > width ? width : height);
    if (hi / lo > 200)
        return vlm_err(err, VLM_ERR_LIMIT,
                       "smart_resize: absolute aspect ratio must be smaller than 200, got %g "
                       "(%lldx%lld)",
                       hi / lo, (long long)width, (long long)height);
    /* Python: round(height / factor) * factor, round half to even */
    int64_t h_bar = (int64_t)nearbyint((double)height / factor) * factor;
    int64_t w_bar = (int64_t)nearbyint((double)width / factor) * factor;
    const double hw = (double)(height * width);
    if (max_pixels > 0 && h_bar * w_bar > max_pixels) {
        double beta = sqrt(hw / (double)max_pixels);
        h_bar = (int64_t)floor((double)height / beta / factor) * factor;
        w_bar = (int64_t)floor((double)width / beta / factor) * factor;
        if (h_bar < factor) h_bar = factor;
        if (w_bar < factor) w_bar = factor;
    } else if (min_pixels > 0 && h_bar * w_bar < min_pixels) {
        double beta = sqrt((double)min_pixels / hw);
        h_bar = (int64_t)ceil((double)height * beta / factor) * factor;
        w_bar = (int64_t)ceil((double)width * beta / factor) * factor;
    }
    if (h_bar < factor || w_bar < factor || h_bar > INT32_MAX || w_bar > INT32_MAX)
        return vlm_err(err, VLM_ERR_INVALID_ARGUMENT,
                       "smart_resize: %lldx%lld gives %lldx%lld with min_pixels %lld, "
                       "max_pixels %lld",
                       (long long)width, (long long)height, (long long)w_bar, (long long)h_bar,
                       (long long)min_pixels, (long long)max_pixels);
    *out_height = (int)h_bar;
    *out_width = (int)w_bar;
    return VLM_OK;
}

vlm_status vlm_qwen_patch_grid(int n_frames, int height, int width, const vlm_qwen_vision_params *p,
                               int64_t grid_thw[3], int64_t *rows, vlm_error *err) {
    const int ps = p->patch_size, m = p->merge_size, T = p->temporal_patch_size;
    if (ps < 1 || m < 1 || T < 1 || n_frames < 1)
        return vlm_err(err, VLM_ERR_INVALID_ARGUMENT,
                       "qwen patches: patch_size %d, merge_size %d, temporal_patch_size %d, "
                       "%d frames",
                       ps, m, T, n_frames);
    if (height < 1 || width < 1 || height % (ps * m) != 0 || width % (ps * m) != 0)
        return vlm_err(err, VLM_ERR_INVALID_ARGUMENT,
                       "qwen patches: %dx%d is not a multiple of patch_size * merge_size = %d",
                       width, height, ps * m);
    grid_thw[0] = (n_frames + T - 1) / T;
    grid_thw[1] = height / ps;
    grid_thw[2] = width / ps;
    if (!vlm_i64_product(grid_thw, 3, rows))
        return vlm_err(err, VLM_ERR_LIMIT, "qwen patches: grid overflows");
    return VLM_OK;
}

/* Source of one frame for the scatter: either uint8 RGB through a table or float planes. */
typedef struct frame_src {
    const vlm_image *u8;
    const float (*lut)[256];
    const float *f32; /* [3][h][w] */
    int height, width;
} frame_src;

/* Writes frame `src` into temporal slots tt0 .. tt0 + ntt - 1 of group gt, every patch row,
 * in one pass (the extra slots are copies of the first: an image fills all T). */
static void scatter_frame(const frame_src *src, int64_t gt, int tt0, int ntt, const int64_t grid[3],
                          const vlm_qwen_vision_params *p, float *out, int nthreads) {
    const int ps = p->patch_size, m = p->merge_size, T = p->temporal_patch_size;
    const int64_t gh = grid[1], gw = grid[2];
    const int64_t per_t = gh * gw;
    const size_t cols = (size_t)3 * T * ps * ps;
    const size_t plane = (size_t)src->height * src->width;
    const size_t slot = (size_t)ps * ps; /* floats of one (c, tt) block */
#pragma omp parallel for schedule(static) num_threads(nthreads) if (nthreads > 1 && per_t > 64)
    for (int64_t r = 0; r < per_t; r++) {
        /* r = ((bh * gw/m + bw) * m + mh) * m + mw */
        const int64_t mw = r % m, mh = (r / m) % m, blk = r / ((int64_t)m * m);
        const int64_t bw = blk % (gw / m), bh = blk / (gw / m);
        const int64_t y0 = (bh * m + mh) * ps, x0 = (bw * m + mw) * ps;
        float *dst_row = out + (size_t)(gt * per_t + r) * cols;
        for (int c = 0; c < 3; c++) {
            float *d0 = dst_row + (size_t)(c * T + tt0) * slot;
            for (int py = 0; py < ps; py++) {
                float *d = d0 + (size_t)py * ps;
                if (src->u8) {
                    const uint8_t *s =
                        src->u8->data + (size_t)(y0 + py) * src->u8->stride + (size_t)x0 * 3 + c;
                    const float *lut = src->lut[c];
                    for (int px = 0; px < ps; px++)
                        d[px] = lut[s[3 * px]];
                } else {
                    memcpy(d, src->f32 + c * plane + (size_t)(y0 + py) * src->width + x0,
                           (size_t)ps * sizeof(float));
                }
            }
            for (int k = 1; k < ntt; k++)
                memcpy(d0 + k * slot, d0, slot * sizeof(float));
        }
    }
}

static int thread_count(int requested) {
    int n = requested > 0 ? requested : omp_get_max_threads();
    return n < 1 ? 1 : n;
}

/* Frame i fills slot i; the last frame also fills the padding slots after it. */
static void scatter_all_slots(const frame_src *src, int i, int n_frames, const int64_t grid[3],
                              const vlm_qwen_vision_params *p, float *out, int nthreads) {
    const int T = p->temporal_patch_size;
    const int64_t slots = grid[0] * T;
    const int64_t end = (i == n_frames - 1) ? slots : i + 1; /* padding stays in i's group */
    scatter_frame(src, i / T, i % T, (int)(end - i), grid, p, out, nthreads);
}

vlm_status vlm_qwen_patchify_f32(const float *const *frames, int n_frames, int height, int width,
                                 const vlm_qwen_vision_params *p, float *out, vlm_error *err) {
    int64_t grid[3], rows;
    vlm_status s = vlm_qwen_patch_grid(n_frames, height, width, p, grid, &rows, err);
    if (s != VLM_OK) return s;
    const int nt = thread_count(p->n_threads);
    for (int i = 0; i < n_frames; i++) {
        frame_src src = {.f32 = frames[i], .height = height, .width = width};
        scatter_all_slots(&src, i, n_frames, grid, p, out, nt);
    }
    return VLM_OK;
}

vlm_status vlm_qwen_preprocess(const vlm_image *frames, int n_frames,
                               const vlm_qwen_vision_params *p, float **pixel_values, int64_t *rows,
                               int64_t grid_thw[3], vlm_error *err) {
    *pixel_values = NULL;
    *rows = 0;
    if (!frames || n_frames < 1)
        return vlm_err(err, VLM_ERR_INVALID_ARGUMENT, "qwen preprocess: no frames");
    const int h = frames[0].height, w = frames[0].width;
    for (int i = 1; i < n_frames; i++)
        if (frames[i].height != h || frames[i].width != w)
            return vlm_err(err, VLM_ERR_INVALID_ARGUMENT,
                           "qwen preprocess: frame %d is %dx%d, frame 0 is %dx%d", i,
                           frames[i].width, frames[i].height, w, h);
    int rh = h, rw = w;
    vlm_status s = VLM_OK;
    if (p->resized_height > 0 && p->resized_width > 0) {
        rh = p->resized_height;
        rw = p->resized_width;
    } else if (p->do_resize) {
        s = vlm_qwen_smart_resize(h, w, p->patch_size * p->merge_size, p->min_pixels, p->max_pixels,
                                  &rh, &rw, err);
        if (s != VLM_OK) return s;
    }
    int64_t grid[3], nrows;
    s = vlm_qwen_patch_grid(n_frames, rh, rw, p, grid, &nrows, err);
    if (s != VLM_OK) return s;
    size_t cols = (size_t)3 * p->temporal_patch_size * p->patch_size * p->patch_size, total;
    if (!vlm_size_mul((size_t)nrows, cols, &total) || !vlm_size_mul(total, sizeof(float), &total))
        return vlm_err(err, VLM_ERR_LIMIT, "qwen preprocess: pixel_values size overflows");
    float *out = vlm_media_alloc(total);
    if (!out)
        return vlm_err(err, VLM_ERR_OUT_OF_MEMORY,
                       "qwen preprocess: cannot allocate %zu bytes of pixel values", total);
    float lut[3][256];
    vlm_pixel_norm_lut(&p->norm, lut);
    vlm_resize_params rp = vlm_resize_params_default(p->resample);
    rp.compat = p->compat;
    rp.n_threads = p->n_threads;
    const int nt = thread_count(p->n_threads);
    for (int i = 0; i < n_frames; i++) {
        vlm_image resized = {0};
        const vlm_image *img = &frames[i];
        if (rh != h || rw != w) {
            s = vlm_image_resize(&frames[i], rw, rh, &rp, &resized, err);
            if (s != VLM_OK) {
                vlm_err_prefix(err, "qwen preprocess: frame %d", i);
                free(out);
                return s;
            }
            img = &resized;
        }
        frame_src src = {.u8 = img, .lut = (const float(*)[256])lut, .height = rh, .width = rw};
        scatter_all_slots(&src, i, n_frames, grid, p, out, nt);
        vlm_image_free(&resized);
    }
    *pixel_values = out;
    *rows = nrows;
    memcpy(grid_thw, grid, sizeof grid);
    return VLM_OK;
}
