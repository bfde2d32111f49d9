/* CUDA bilinear / bicubic interpolation of the last two dimensions (torch's
 * F.interpolate on f32, with or without antialias), as the CPU backend computes it: the
 * per-axis taps (source indices and weights) are made on the host by interp_taps.h, the
 * same code the CPU backend uses, uploaded, and applied in two separable passes (width
 * into an f32 temporary, then height), each output the sum w0 * x0 + w1 * x1 + ... in tap
 * order with unfused f32 products and sums, so the results equal the CPU's. An axis whose
 * size does not change is copied. */
#include <stdlib.h>

#include "tensor/cuda/cuda_internal.cuh"
#include "tensor/interp_taps.h"

/* Fills ax in host memory (the caller frees it with free(ax->idx)); returns its size in
 * bytes, 0 when out of memory. */
static size_t taps_init(vlm_interp_taps *ax, int64_t in, int64_t out, vlm_interp_mode mode,
                        int align_corners, int antialias) {
    size_t bytes = vlm_interp_taps_plan(ax, in, out, mode, align_corners, antialias);
    void *mem = bytes == SIZE_MAX ? NULL : malloc(bytes);
    if (!mem) return 0;
    vlm_interp_taps_fill(ax, mem);
    return bytes;
}

/* Device copies of one axis's taps. */
typedef struct dev_taps {
    int taps;
    const int64_t *idx;
    const float *w;
    const int *n;
} dev_taps;

static vlm_status taps_upload(vlm_ctx *ctx, const vlm_interp_taps *ax, size_t bytes, dev_taps *d) {
    void *p;
    vlm_status st = cuda_scratch_upload(ctx, "interpolate", ax->idx, bytes, &p);
    if (st != VLM_OK) return st;
    /* The table is one block from ax->idx: the device copy has the same offsets. */
    const char *host = (const char *)ax->idx, *dev = (const char *)p;
    d->taps = ax->taps;
    d->idx = (const int64_t *)p;
    d->w = (const float *)(const void *)(dev + ((const char *)ax->w - host));
    d->n = (const int *)(const void *)(dev + ((const char *)ax->n - host));
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
    vlm_interp_taps aw, ah;
    size_t bw = taps_init(&aw, a.w, a.ow, mode, align_corners, antialias);
    if (!bw) return vlm_ctx_fail(ctx, VLM_ERR_OUT_OF_MEMORY, "%s: out of memory", op);
    size_t bh = taps_init(&ah, a.h, a.oh, mode, align_corners, antialias);
    if (!bh) {
        free(aw.idx);
        return vlm_ctx_fail(ctx, VLM_ERR_OUT_OF_MEMORY, "%s: out of memory", op);
    }
    vlm_arena_mark mark = vlm_arena_get_mark(ctx->arena);
    dev_taps tw, th;
    void *tmp;
    st = taps_upload(ctx, &aw, bw, &tw);
    if (st == VLM_OK) st = taps_upload(ctx, &ah, bh, &th);
    free(aw.idx);
    free(ah.idx);
    if (st == VLM_OK)
        st = cuda_scratch(ctx, op, (size_t)(a.planes * a.h * a.ow) * sizeof(float), &tmp);
    if (st == VLM_OK) {
        a.tmp = (float *)tmp;
        interp_w_kernel<<<cuda_blocks(a.planes * a.h * a.ow, 256, dev), 256, 0, cuda_stream(ctx)>>>(a,
                                                                                               tw);
        st = cuda_check_launch(ctx, op);
    }
    if (st == VLM_OK) {
        interp_h_kernel<<<cuda_blocks(a.planes * a.oh * a.ow, 256, dev), 256, 0, cuda_stream(ctx)>>>(a,
                                                                                                th);
        st = cuda_check_launch(ctx, op);
    }
    vlm_arena_release(ctx->arena, mark);
    return st;
}
