/* CPU bilinear / bicubic interpolation of the last two dimensions, as
 * torch.nn.functional.interpolate computes it for f32 tensors, with or without antialias.
 * The per-axis source indices and weights come from interp_taps.h (shared with the CUDA
 * backend). Both axes run as two separable passes, width first into an f32 temporary,
 * then height, each output the sum w0 * x0 + w1 * x1 + ... in tap order. An axis whose
 * size does not change is copied. */
#include "tensor/cpu/cpu.h"
#include "tensor/interp_taps.h"

/* The table of one axis, in arena scratch. */
static vlm_status axis_init(vlm_ctx *ctx, vlm_interp_taps *ax, int64_t in, int64_t out,
                            vlm_interp_mode mode, int align_corners, int antialias) {
    size_t bytes = vlm_interp_taps_plan(ax, in, out, mode, align_corners, antialias);
    float *mem;
    vlm_status st = cpu_scratch(ctx, "interpolate", bytes / sizeof(float), &mem);
    if (st != VLM_OK) return st;
    vlm_interp_taps_fill(ax, mem);
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
    vlm_interp_taps axw, axh;
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
