/* CPU RMSNorm and LayerNorm over the last dimension, one row per iteration, rows split
 * across threads. Row statistics are accumulated in double (at least as accurate as torch's
 * f32 reductions); the normalization itself is f32 arithmetic in HF's order:
 * rms: (x * rsqrt(mean(x^2) + eps)) * (w + w_offset); layer: (x - mean) * rstd * w + b. */
#include <math.h>

#include "tensor/cpu/cpu.h"
#include "tensor/cpu/simd.h"

typedef struct row_view {
    const char *x;
    char *o;
    int64_t xs, os; /* element strides of the last dimension */
} row_view;

static inline row_view row_at(const vlm_tensor *x, const vlm_tensor *out, int64_t r) {
    row_view v = {cpu_ptr(x) + cpu_row_offset(x, r), cpu_ptr(out) + cpu_row_offset(out, r),
                  cpu_col_stride(x), cpu_col_stride(out)};
    return v;
}

/* The per-element factor w + w_offset as f32 (NULL when there is no weight). */
static vlm_status weight_factor(vlm_ctx *ctx, const char *op, const vlm_tensor *w, float w_offset,
                                const float **out) {
    if (w_offset == 0.0f || !w) return cpu_param_f32(ctx, op, w, out);
    float *f;
    vlm_status st = cpu_scratch(ctx, op, (size_t)w->shape[0], &f);
    if (st != VLM_OK) return st;
    const char *base = cpu_ptr(w);
    for (int64_t i = 0; i < w->shape[0]; i++)
        f[i] = cpu_load(base + i * w->stride[0], w->dtype) + w_offset;
    *out = f;
    return VLM_OK;
}

CPU_CLONES static void rms_row(row_view v, int64_t d, const float *w, float eps) {
    const float *x = (const float *)(const void *)v.x;
    float *o = (float *)(void *)v.o;
    double ss = 0.0;
    if (v.xs == 1) {
#pragma omp simd reduction(+ : ss)
        for (int64_t i = 0; i < d; i++)
            ss += (double)x[i] * (double)x[i];
    } else {
        for (int64_t i = 0; i < d; i++)
            ss += (double)x[i * v.xs] * (double)x[i * v.xs];
    }
    float var = (float)(ss / (double)d);
    float r = 1.0f / sqrtf(var + eps);
    if (v.xs == 1 && v.os == 1) {
        if (w) {
#pragma omp simd
            for (int64_t i = 0; i < d; i++)
                o[i] = (x[i] * r) * w[i];
        } else {
#pragma omp simd
            for (int64_t i = 0; i < d; i++)
                o[i] = x[i] * r;
        }
        return;
    }
    for (int64_t i = 0; i < d; i++)
        o[i * v.os] = (x[i * v.xs] * r) * (w ? w[i] : 1.0f);
}

vlm_status cpu_rms_norm(vlm_ctx *ctx, const vlm_tensor *x, const vlm_tensor *w, float eps,
                        float w_offset, const vlm_tensor *out) {
    vlm_arena_mark mark = vlm_arena_get_mark(ctx->arena);
    const float *wf;
    vlm_status st = weight_factor(ctx, "rms_norm", w, w_offset, &wf);
    if (st != VLM_OK) {
        vlm_arena_release(ctx->arena, mark);
        return st;
    }
    int64_t rows = cpu_rows(x), d = cpu_cols(x);
    int nt = rows * d >= CPU_PAR_MIN ? ctx->n_threads : 1;
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t r = 0; r < rows; r++)
        rms_row(row_at(x, out, r), d, wf, eps);
    vlm_arena_release(ctx->arena, mark);
    return VLM_OK;
}

CPU_CLONES static void ln_row(row_view v, int64_t d, const float *w, const float *b, float eps) {
    const float *x = (const float *)(const void *)v.x;
    float *o = (float *)(void *)v.o;
    int64_t xs = v.xs;
    double s = 0.0, ss = 0.0;
#pragma omp simd reduction(+ : s)
    for (int64_t i = 0; i < d; i++)
        s += x[i * xs];
    double mean = s / (double)d;
#pragma omp simd reduction(+ : ss)
    for (int64_t i = 0; i < d; i++) {
        double c = x[i * xs] - mean;
        ss += c * c;
    }
    float rstd = (float)(1.0 / sqrt(ss / (double)d + (double)eps));
    float m = (float)mean;
    if (xs == 1 && v.os == 1 && w && b) {
#pragma omp simd
        for (int64_t i = 0; i < d; i++)
            o[i] = (x[i] - m) * rstd * w[i] + b[i];
        return;
    }
    for (int64_t i = 0; i < d; i++) {
        float y = (x[i * xs] - m) * rstd;
        if (w) y *= w[i];
        if (b) y += b[i];
        o[i * v.os] = y;
    }
}

vlm_status cpu_layer_norm(vlm_ctx *ctx, const vlm_tensor *x, const vlm_tensor *w,
                          const vlm_tensor *b, float eps, const vlm_tensor *out) {
    vlm_arena_mark mark = vlm_arena_get_mark(ctx->arena);
    const float *wf, *bf;
    vlm_status st = cpu_param_f32(ctx, "layer_norm", w, &wf);
    if (st == VLM_OK) st = cpu_param_f32(ctx, "layer_norm", b, &bf);
    if (st != VLM_OK) {
        vlm_arena_release(ctx->arena, mark);
        return st;
    }
    int64_t rows = cpu_rows(x), d = cpu_cols(x);
    int nt = rows * d >= CPU_PAR_MIN ? ctx->n_threads : 1;
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t r = 0; r < rows; r++)
        ln_row(row_at(x, out, r), d, wf, bf, eps);
    vlm_arena_release(ctx->arena, mark);
    return VLM_OK;
}
