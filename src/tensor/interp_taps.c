/* torch F.interpolate tap tables (see interp_taps.h), the one copy both backends use. */
#include "tensor/interp_taps.h"

#include <math.h>

#include "core/checked.h"

static float cc1(float x, float a) { /* |x| <= 1 */
    return ((a + 2.0f) * x - (a + 3.0f)) * x * x + 1.0f;
}

static float cc2(float x, float a) { /* 1 < |x| < 2 */
    return ((a * x - 5.0f * a) * x + 8.0f * a) * x - 4.0f * a;
}

static float aa_filter(vlm_interp_mode mode, float x) {
    x = fabsf(x);
    if (mode == VLM_INTERP_BILINEAR) return x < 1.0f ? (float)(1.0 - (double)x) : 0.0f;
    if (x < 1.0f) return cc1(x, -0.5f);
    if (x < 2.0f) return cc2(x, -0.5f);
    return 0.0f;
}

static float area_scale(int64_t in, int64_t out, int align_corners) {
    if (align_corners) return out > 1 ? (float)(in - 1) / (float)(out - 1) : 0.0f;
    return (float)in / (float)out;
}

/* Half-width of the antialias filter in input samples (torch: interp_size / 2, times the
 * scale when downsampling). */
static float aa_support(vlm_interp_mode mode, float scale) {
    int interp = mode == VLM_INTERP_BILINEAR ? 2 : 4;
    return scale >= 1.0f ? (float)((interp * 0.5) * (double)scale) : (float)(interp * 0.5);
}

size_t vlm_interp_taps_plan(vlm_interp_taps *t, int64_t in, int64_t out, vlm_interp_mode mode,
                            int align_corners, int antialias) {
    t->in = in;
    t->out = out;
    t->mode = mode;
    t->align_corners = align_corners;
    t->antialias = antialias;
    t->idx = NULL;
    t->w = NULL;
    t->n = NULL;
    if (antialias)
        t->taps = (int)ceilf(aa_support(mode, area_scale(in, out, align_corners))) * 2 + 1;
    else
        t->taps = mode == VLM_INTERP_BILINEAR ? 2 : 4;
    /* out * taps * (int64 + float) + out * int */
    size_t slots, per_slot, per_out, bytes;
    if (out < 0 || !vlm_size_mul((size_t)out, (size_t)t->taps, &slots) ||
        !vlm_size_mul(slots, sizeof(int64_t) + sizeof(float), &per_slot) ||
        !vlm_size_mul((size_t)out, sizeof(int), &per_out) ||
        !vlm_size_add(per_slot, per_out, &bytes))
        return SIZE_MAX;
    return bytes;
}

void vlm_interp_taps_fill(vlm_interp_taps *t, void *mem) {
    int64_t in = t->in, out = t->out;
    vlm_interp_mode mode = t->mode;
    int align_corners = t->align_corners;
    size_t slots = (size_t)out * (size_t)t->taps;
    t->idx = (int64_t *)mem;
    t->w = (float *)(void *)(t->idx + slots);
    t->n = (int *)(void *)(t->w + slots);
    float scale = area_scale(in, out, align_corners);
    float support = t->antialias ? aa_support(mode, scale) : 0.0f;
    for (int64_t i = 0; i < out; i++) {
        int64_t *id = t->idx + i * t->taps;
        float *w = t->w + i * t->taps;
        for (int j = 0; j < t->taps; j++) {
            id[j] = 0;
            w[j] = 0.0f;
        }
        if (t->antialias) {
            float center = (float)((double)scale * ((double)i + 0.5));
            float invscale = scale >= 1.0f ? (float)(1.0 / (double)scale) : 1.0f;
            int64_t xmin = (int64_t)((double)(center - support) + 0.5);
            if (xmin < 0) xmin = 0;
            int64_t xmax = (int64_t)((double)(center + support) + 0.5);
            if (xmax > in) xmax = in;
            int64_t xsize = xmax - xmin;
            if (xsize < 0) xsize = 0;
            if (xsize > t->taps) xsize = t->taps;
            float total = 0.0f;
            for (int64_t j = 0; j < xsize; j++) {
                float dist = (float)(j + xmin) - center; /* int64 - float is f32 in C++ too */
                w[j] = aa_filter(mode, (float)(((double)dist + 0.5) * (double)invscale));
                id[j] = xmin + j;
                total += w[j];
            }
            if (total != 0.0f)
                for (int64_t j = 0; j < xsize; j++)
                    w[j] /= total;
            t->n[i] = (int)xsize;
        } else if (mode == VLM_INTERP_BILINEAR) {
            if (in == out) {
                id[0] = id[1] = i;
                w[0] = 1.0f;
                w[1] = 0.0f;
            } else {
                float real = align_corners ? scale * (float)i : scale * ((float)i + 0.5f) - 0.5f;
                if (!align_corners && real < 0.0f) real = 0.0f;
                int64_t i0 = (int64_t)floorf(real);
                if (i0 > in - 1) i0 = in - 1;
                float l1 = fminf(fmaxf(real - (float)i0, 0.0f), 1.0f);
                id[0] = i0;
                id[1] = i0 + (i0 < in - 1 ? 1 : 0);
                w[0] = 1.0f - l1;
                w[1] = l1;
            }
            t->n[i] = 2;
        } else {
            float real = align_corners ? scale * (float)i : scale * ((float)i + 0.5f) - 0.5f;
            int64_t i0 = (int64_t)floorf(real);
            if (i0 > in - 1) i0 = in - 1;
            float f = fminf(fmaxf(real - (float)i0, 0.0f), 1.0f);
            const float a = -0.75f;
            w[0] = cc2(f + 1.0f, a);
            w[1] = cc1(f, a);
            w[2] = cc1(1.0f - f, a);
            w[3] = cc2((1.0f - f) + 1.0f, a);
            for (int j = 0; j < 4; j++) {
                int64_t k = i0 - 1 + j;
                id[j] = k < 0 ? 0 : (k > in - 1 ? in - 1 : k);
            }
            t->n[i] = 4;
        }
    }
}
