/* CUDA bilinear / bicubic interpolation of the last two dimensions (torch's
 * F.interpolate on f32, with or without antialias), as the CPU backend computes it: the
 * per-axis taps (source indices and weights) are made on the host with the CPU backend's
 * f32/f64 arithmetic, uploaded, and applied in two separable passes (width into an f32
 * temporary, then height), each output the sum w0 * x0 + w1 * x1 + ... in tap order with
 * unfused f32 products and sums, so the results equal the CPU's. An axis whose size does not
 * change is copied. */
#include <math.h>
#include <stdlib.h>

#include "tensor/cuda/cuda_internal.cuh"

/* Taps of one axis: `taps` slots per output, n[i] of them used. */
typedef struct axis_taps {
    int taps;
    int64_t *idx; /* [out * taps] */
    float *w;     /* [out * taps] */
    int *n;       /* [out] */
} axis_taps;

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

/* Fills ax (host memory the caller frees with free(ax->idx)); false when out of memory. */
static bool taps_init(axis_taps *ax, int64_t in, int64_t out, vlm_interp_mode mode,
                      int align_corners, int antialias) {
    float scale = area_scale(in, out, align_corners);
    int interp = mode == VLM_INTERP_BILINEAR ? 2 : 4;
    float support = 0.0f;
    if (antialias) {
        support = scale >= 1.0f ? (float)((interp * 0.5) * (double)scale) : (float)(interp * 0.5);
        ax->taps = (int)ceilf(support) * 2 + 1;
    } else {
        ax->taps = interp;
    }
    size_t n = (size_t)out * (size_t)ax->taps;
    char *mem = (char *)malloc(n * (sizeof(int64_t) + sizeof(float)) + (size_t)out * sizeof(int));
    if (!mem) return false;
    ax->idx = (int64_t *)(void *)mem;
    ax->w = (float *)(void *)(mem + n * sizeof(int64_t));
    ax->n = (int *)(void *)(mem + n * (sizeof(int64_t) + sizeof(float)));
    for (int64_t i = 0; i < out; i++) {
        int64_t *id = ax->idx + i * ax->taps;
        float *w = ax->w + i * ax->taps;
        for (int j = 0; j < ax->taps; j++) {
            id[j] = 0;
            w[j] = 0.0f;
        }
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
                float dist = (float)(j + xmin) - center;
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
    return true;
}

/* Device copies of one axis's taps. */
typedef struct dev_taps {
    int taps;
    const int64_t *idx;
    const float *w;
    const int *n;
} dev_taps;

static vlm_status taps_upload(vlm_ctx *ctx, const axis_taps *ax, int64_t out, dev_taps *d) {
    size_t n = (size_t)out * (size_t)ax->taps;
    size_t bytes = n * (sizeof(int64_t) + sizeof(float)) + (size_t)out * sizeof(int);
    void *p;
    vlm_status st = cuda_scratch_upload(ctx, "interpolate", ax->idx, bytes, &p);
    if (st != VLM_OK) return st;
    d->taps = ax->taps;
    d->idx = (const int64_t *)p;
    d->w = (const float *)(const void *)((const char *)p + n * sizeof(int64_t));
    d->n = (const int *)(const void *)((const char *)p + n * (sizeof(int64_t) + sizeof(float)));
    return VLM_OK;
}

typedef struct interp_args {
    const char *x;
    char *out;
    float *tmp;     /* [planes, h, ow] */
    cu_rows xp, op; /* planes: the leading dims (row-major over them) */
    int64_t planes, h, w, oh, ow;
    int64_t xsh, xsw, osh, osw; /* bytes */
} interp_args;

/* Pass 1: tmp[l, y, i] = sum_j x[l, y, idx_j(i)] * w_j(i). */
__global__ void interp_w_kernel(interp_args a, dev_taps t) {
    int64_t total = a.planes * a.h * a.ow;
    for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < total;
         e += (int64_t)gridDim.x * blockDim.x) {
        int64_t i = e % a.ow, r = e / a.ow, y = r % a.h, l = r / a.h;
        const char *src = a.x + cu_row_offset(a.xp, l) + y * a.xsh;
        float acc;
        if (a.w == a.ow) {
            acc = *(const float *)(src + i * a.xsw);
        } else {
            const int64_t *id = t.idx + i * t.taps;
            const float *wt = t.w + i * t.taps;
            int n = t.n[i];
            acc = n > 0 ? __fmul_rn(*(const float *)(src + id[0] * a.xsw), wt[0]) : 0.0f;
            for (int j = 1; j < n; j++)
                acc = __fadd_rn(acc, __fmul_rn(*(const float *)(src + id[j] * a.xsw), wt[j]));
        }
        a.tmp[e] = acc;
    }
}

/* Pass 2: out[l, y, i] = sum_j tmp[l, idx_j(y), i] * w_j(y). */
__global__ void interp_h_kernel(interp_args a, dev_taps t) {
    int64_t total = a.planes * a.oh * a.ow;
    for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < total;
         e += (int64_t)gridDim.x * blockDim.x) {
        int64_t i = e % a.ow, r = e / a.ow, y = r % a.oh, l = r / a.oh;
        const float *pl = a.tmp + l * a.h * a.ow;
        float acc;
        if (a.h == a.oh) {
            acc = pl[y * a.ow + i];
        } else {
            const int64_t *id = t.idx + y * t.taps;
            const float *wt = t.w + y * t.taps;
            int n = t.n[y];
            acc = n > 0 ? __fmul_rn(pl[id[0] * a.ow + i], wt[0]) : 0.0f;
            for (int j = 1; j < n; j++)
                acc = __fadd_rn(acc, __fmul_rn(pl[id[j] * a.ow + i], wt[j]));
        }
        *(float *)(a.out + cu_row_offset(a.op, l) + y * a.osh + i * a.osw) = acc;
    }
}

/* The leading (plane) dimensions of t as a cu_rows walker. */
static cu_rows planes_of(const vlm_tensor *t) {
    cu_rows r;
    r.nd = t->ndim - 2;
    for (int i = 0; i < VLM_MAX_DIMS; i++) {
        r.shape[i] = i < r.nd ? t->shape[i] : 1;
        r.stride[i] = i < r.nd ? t->stride[i] : 0;
    }
    return r;
}

extern "C" vlm_status cuda_interpolate(vlm_ctx *ctx, const vlm_tensor *x, vlm_interp_mode mode,
                                       int align_corners, int antialias, const vlm_tensor *out) {
    const char *op = "interpolate";
    cuda_dev *dev;
    vlm_status st = cuda_begin(ctx, op, &dev);
    if (st != VLM_OK) return st;
    int nd = x->ndim;
    interp_args a;
    a.x = cuda_ptr(x);
    a.out = cuda_ptr(out);
    a.xp = planes_of(x);
    a.op = planes_of(out);
    a.planes = 1;
    for (int i = 0; i < nd - 2; i++)
        a.planes *= x->shape[i];
    a.h = x->shape[nd - 2];
    a.w = x->shape[nd - 1];
    a.oh = out->shape[nd - 2];
    a.ow = out->shape[nd - 1];
    a.xsh = x->stride[nd - 2];
    a.xsw = x->stride[nd - 1];
    a.osh = out->stride[nd - 2];
    a.osw = out->stride[nd - 1];
    axis_taps aw, ah;
    if (!taps_init(&aw, a.w, a.ow, mode, align_corners, antialias))
        return vlm_ctx_fail(ctx, VLM_ERR_OUT_OF_MEMORY, "%s: out of memory", op);
    if (!taps_init(&ah, a.h, a.oh, mode, align_corners, antialias)) {
        free(aw.idx);
        return vlm_ctx_fail(ctx, VLM_ERR_OUT_OF_MEMORY, "%s: out of memory", op);
    }
    vlm_arena_mark mark = vlm_arena_get_mark(ctx->arena);
    dev_taps tw, th;
    void *tmp;
    st = taps_upload(ctx, &aw, a.ow, &tw);
    if (st == VLM_OK) st = taps_upload(ctx, &ah, a.oh, &th);
    free(aw.idx);
    free(ah.idx);
    if (st == VLM_OK)
        st = cuda_scratch(ctx, op, (size_t)(a.planes * a.h * a.ow) * sizeof(float), &tmp);
    if (st == VLM_OK) {
        a.tmp = (float *)tmp;
        interp_w_kernel<<<cuda_blocks(a.planes * a.h * a.ow, 256, dev), 256, 0, dev->stream>>>(a,
                                                                                               tw);
        st = cuda_check_launch(ctx, op);
    }
    if (st == VLM_OK) {
        interp_h_kernel<<<cuda_blocks(a.planes * a.oh * a.ow, 256, dev), 256, 0, dev->stream>>>(a,
                                                                                                th);
        st = cuda_check_launch(ctx, op);
    }
    vlm_arena_release(ctx->arena, mark);
    return st;
}
