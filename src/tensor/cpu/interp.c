/* CPU bilinear / bicubic interpolation of the last two dimensions, as
 * torch.nn.functional.interpolate computes it for f32 tensors (aten UpSampleKernel.cpp and
 * UpSample.h), including its f32/f64 mixing when it computes source positions and weights:
 * - without antialias: source index = scale * (i + 0.5) - 0.5 (align_corners: scale * i),
 *   linear taps clamped at the border, cubic taps with A = -0.75 and clamped indices;
 * - with antialias: PIL-style separable filters (triangle, Keys cubic a = -0.5) whose
 *   support widens by the scale when downsampling, weights normalized per output.
 * Both run as two separable passes, width first into an f32 temporary, then height, each
 * output the sum w0 * x0 + w1 * x1 + ... in tap order. An axis whose size does not change
 * is copied. */
#include <math.h>

#include "tensor/cpu/cpu.h"

typedef struct interp_axis {
    int taps;     /* weights per output */
    int64_t *idx; /* [out * taps] source indices */
    float *w;     /* [out * taps] */
    int *n;       /* [out] taps used */
} interp_axis;

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

static vlm_status axis_init(vlm_ctx *ctx, interp_axis *ax, int64_t in, int64_t out,
                            vlm_interp_mode mode, int align_corners, int antialias) {
    float scale = area_scale(in, out, align_corners);
    int interp = mode == VLM_INTERP_BILINEAR ? 2 : 4;
    float support = 0.0f;
    if (antialias) {
        support = scale >= 1.0f ? (float)((interp * 0.5) * (double)scale) : (float)(interp * 0.5);
        ax->taps = (int)ceilf(support) * 2 + 1;
    } else {
        ax->taps = interp;
    }
    size_t n = (size_t)(out * ax->taps);
    float *mem;
    /* idx (int64) + w + n (int), carved from one float scratch. */
    vlm_status st = cpu_scratch(ctx, "interpolate", 2 * n + n + (size_t)out + 16, &mem);
    if (st != VLM_OK) return st;
    ax->idx = (int64_t *)(void *)mem;
    ax->w = mem + 2 * n;
    ax->n = (int *)(void *)(ax->w + n);
    for (int64_t i = 0; i < out; i++) {
        int64_t *id = ax->idx + i * ax->taps;
        float *w = ax->w + i * ax->taps;
        if (antialias) {
            float center = (float)((double)scale * ((double)i + 0.5));
            float invscale = scale >= 1.0f ? (float)(1.0 / (double)scale) : 1.0f;
            int64_t xmin = (int64_t)((double)(center - support) + 0.5);
            if (xmin < 0) xmin = 0;
            int64_t xmax = (int64_t)((double)(center + support) + 0.5);
            if (xmax > in) xmax = in;
            int64_t xsize = xmax - xmin;
            if (xsize < 0) xsize = 0;
            if (xsize > ax->taps) xsize = ax->taps;
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
            ax->n[i] = (int)xsize;
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
            ax->n[i] = 2;
        } else {
            float real = align_corners ? scale * (float)i : scale * ((float)i + 0.5f) - 0.5f;
            int64_t i0 = (int64_t)floorf(real);
            if (i0 > in - 1) i0 = in - 1;
            float t = fminf(fmaxf(real - (float)i0, 0.0f), 1.0f);
            const float a = -0.75f;
            w[0] = cc2(t + 1.0f, a);
            w[1] = cc1(t, a);
            w[2] = cc1(1.0f - t, a);
            w[3] = cc2((1.0f - t) + 1.0f, a);
            for (int j = 0; j < 4; j++) {
                int64_t k = i0 - 1 + j;
                id[j] = k < 0 ? 0 : (k > in - 1 ? in - 1 : k);
            }
            ax->n[i] = 4;
        }
    }
    return VLM_OK;
}

/* Byte offset of plane l (row-major over the leading nd - 2 dims). */
static int64_t plane_offset(const vlm_tensor *t, int64_t l) {
    int64_t off = 0;
    for (int i = t->ndim - 3; i >= 0; i--) {
        off += (l % t->shape[i]) * t->stride[i];
        l /= t->shape[i];
    }
    return off;
}

vlm_status cpu_interpolate(vlm_ctx *ctx, const vlm_tensor *x, vlm_interp_mode mode,
                           int align_corners, int antialias, const vlm_tensor *out) {
    int nd = x->ndim;
    int64_t h = x->shape[nd - 2], w = x->shape[nd - 1];
    int64_t oh = out->shape[nd - 2], ow = out->shape[nd - 1];
    int64_t planes = 1;
    for (int i = 0; i < nd - 2; i++)
        planes *= x->shape[i];
    int64_t xsh = x->stride[nd - 2], xsw = x->stride[nd - 1] / 4;
    int64_t osh = out->stride[nd - 2], osw = out->stride[nd - 1] / 4;
    vlm_arena_mark mark = vlm_arena_get_mark(ctx->arena);
    interp_axis axw, axh;
    float *tmp;
    vlm_status st = axis_init(ctx, &axw, w, ow, mode, align_corners, antialias);
    if (st == VLM_OK) st = axis_init(ctx, &axh, h, oh, mode, align_corners, antialias);
    if (st == VLM_OK) st = cpu_scratch(ctx, "interpolate", (size_t)(planes * h * ow), &tmp);
    if (st != VLM_OK) {
        vlm_arena_release(ctx->arena, mark);
        return st;
    }
    const char *xb = cpu_ptr(x);
    char *ob = cpu_ptr(out);
    int nt = planes * (h * ow + oh * ow) * axw.taps >= CPU_PAR_MIN ? ctx->n_threads : 1;

    /* Pass 1: width. tmp[l, y, :] from x[l, y, :]. */
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t r = 0; r < planes * h; r++) {
        int64_t l = r / h, y = r % h;
        const float *src = (const float *)(const void *)(xb + plane_offset(x, l) + y * xsh);
        float *dst = tmp + r * ow;
        if (w == ow) {
            for (int64_t i = 0; i < ow; i++)
                dst[i] = src[i * xsw];
            continue;
        }
        for (int64_t i = 0; i < ow; i++) {
            const int64_t *id = axw.idx + i * axw.taps;
            const float *wt = axw.w + i * axw.taps;
            int n = axw.n[i];
            float acc = n > 0 ? src[id[0] * xsw] * wt[0] : 0.0f;
            for (int j = 1; j < n; j++)
                acc += src[id[j] * xsw] * wt[j];
            dst[i] = acc;
        }
    }
    /* Pass 2: height. out[l, y, :] from tmp[l, idx, :]. */
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t r = 0; r < planes * oh; r++) {
        int64_t l = r / oh, y = r % oh;
        float *dst = (float *)(void *)(ob + plane_offset(out, l) + y * osh);
        const float *pl = tmp + l * h * ow;
        if (h == oh) {
            for (int64_t i = 0; i < ow; i++)
                dst[i * osw] = pl[y * ow + i];
            continue;
        }
        const int64_t *id = axh.idx + y * axh.taps;
        const float *wt = axh.w + y * axh.taps;
        int n = axh.n[y];
        for (int64_t i = 0; i < ow; i++)
            dst[i * osw] = n > 0 ? pl[id[0] * ow + i] * wt[0] : 0.0f;
        for (int j = 1; j < n; j++) {
            const float *row = pl + id[j] * ow;
            for (int64_t i = 0; i < ow; i++)
                dst[i * osw] += row[i] * wt[j];
        }
    }
    vlm_arena_release(ctx->arena, mark);
    return VLM_OK;
}
