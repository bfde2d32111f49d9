/* CPU softmax over the last dimension: max-subtracted, exp through cpu_expf (vectorized),
 * the sum in double, one row per iteration, rows split across threads. */
#include <math.h>

#include "tensor/cpu/cpu.h"
#include "tensor/cpu/simd.h"

CPU_CLONES static void softmax_row(const float *x, int64_t xs, float *o, int64_t os, int64_t d) {
    float m = -INFINITY;
#pragma omp simd reduction(max : m)
    for (int64_t i = 0; i < d; i++)
        m = fmaxf(m, x[i * xs]);
    double sum = 0.0;
    if (xs == 1 && os == 1) {
#pragma omp simd reduction(+ : sum)
        for (int64_t i = 0; i < d; i++) {
            float e = cpu_expf(x[i] - m);
            o[i] = e;
            sum += e;
        }
    } else {
        for (int64_t i = 0; i < d; i++) {
            float e = cpu_expf(x[i * xs] - m);
            o[i * os] = e;
            sum += e;
        }
    }
    float inv = (float)(1.0 / sum);
#pragma omp simd
    for (int64_t i = 0; i < d; i++)
        o[i * os] *= inv;
}

vlm_status cpu_softmax(vlm_ctx *ctx, const vlm_tensor *x, const vlm_tensor *out) {
    int64_t rows = cpu_rows(x), d = cpu_cols(x);
    int64_t xs = cpu_col_stride(x), os = cpu_col_stride(out);
    int nt = rows * d >= CPU_PAR_MIN ? ctx->n_threads : 1;
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = (const float *)(const void *)(cpu_ptr(x) + cpu_row_offset(x, r));
        float *o = (float *)(void *)(cpu_ptr(out) + cpu_row_offset(out, r));
        softmax_row(xr, xs, o, os, d);
    }
    return VLM_OK;
}
