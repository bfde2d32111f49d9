/* CPU softmax over the last dimension: max-subtracted, exp in f32, the sum in double, one
 * row per iteration, rows split across threads. */
#include <math.h>

#include "tensor/cpu/cpu.h"

vlm_status cpu_softmax(vlm_ctx *ctx, const vlm_tensor *x, const vlm_tensor *out) {
    int64_t rows = cpu_rows(x), d = cpu_cols(x);
    int64_t xs = cpu_col_stride(x), os = cpu_col_stride(out);
    int nt = rows * d >= CPU_PAR_MIN ? ctx->n_threads : 1;
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = (const float *)(const void *)(cpu_ptr(x) + cpu_row_offset(x, r));
        float *o = (float *)(void *)(cpu_ptr(out) + cpu_row_offset(out, r));
        float m = -INFINITY;
        for (int64_t i = 0; i < d; i++)
            m = fmaxf(m, xr[i * xs]);
        double sum = 0.0;
        for (int64_t i = 0; i < d; i++) {
            float e = expf(xr[i * xs] - m);
            o[i * os] = e;
            sum += e;
        }
        float inv = (float)(1.0 / sum);
        for (int64_t i = 0; i < d; i++)
            o[i * os] *= inv;
    }
    return VLM_OK;
}
