/* Entry points of the CPU matrix products (gemm.h): resolve the thread count and the path,
 * then hand over to the kernels of that path. */
#include "tensor/cpu/gemm_internal.h"

#include <omp.h>

static int resolve_threads(int n_threads) {
    if (omp_in_parallel()) return 1;
    int t = n_threads > 0 ? n_threads : omp_get_max_threads();
    return t < 1 ? 1 : t;
}

static vlm_cpu_isa resolve_isa(vlm_cpu_isa isa) {
    return vlm_cpu_isa_supported(isa) ? isa : vlm_cpu_isa_best();
}

void vlm_cpu_gemm_nt_isa(vlm_cpu_isa isa, int64_t m, int64_t n, int64_t k, const float *x,
                         int64_t ldx, const void *w, vlm_dtype wdt, int64_t ldw, const float *bias,
                         float *y, int64_t ldy, int n_threads) {
    if (m <= 0 || n <= 0) return;
    int nt = resolve_threads(n_threads);
    (void)resolve_isa(isa);
    vlm_cpu_gemm_nt_portable(m, n, k, x, ldx, w, wdt, ldw, bias, y, ldy, nt);
}

void vlm_cpu_gemm_nn_f32_isa(vlm_cpu_isa isa, int64_t m, int64_t n, int64_t k, float alpha,
                             const float *a, int64_t lda, const float *b, int64_t ldb, float *y,
                             int64_t ldy, int accumulate, int n_threads) {
    if (m <= 0 || n <= 0) return;
    int nt = resolve_threads(n_threads);
    (void)resolve_isa(isa);
    vlm_cpu_gemm_nn_portable(m, n, k, alpha, a, lda, b, ldb, y, ldy, accumulate, nt);
}

void vlm_cpu_gemm_nt(int64_t m, int64_t n, int64_t k, const float *x, int64_t ldx, const void *w,
                     vlm_dtype wdt, int64_t ldw, const float *bias, float *y, int64_t ldy,
                     int n_threads) {
    vlm_cpu_gemm_nt_isa(vlm_cpu_isa_selected(), m, n, k, x, ldx, w, wdt, ldw, bias, y, ldy,
                        n_threads);
}

void vlm_cpu_gemm_nn_f32(int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
                         const float *b, int64_t ldb, float *y, int64_t ldy, int accumulate,
                         int n_threads) {
    vlm_cpu_gemm_nn_f32_isa(vlm_cpu_isa_selected(), m, n, k, alpha, a, lda, b, ldb, y, ldy,
                            accumulate, n_threads);
}
