/* Private interface between the GEMM entry points (gemm.c) and the per-path kernels
 * (gemm_portable.c, gemm_avx2.c, gemm_avx512.c). Shapes and strides as in gemm.h;
 * n_threads is already resolved (>= 1). */
#ifndef VLM_TENSOR_CPU_GEMM_INTERNAL_H
#define VLM_TENSOR_CPU_GEMM_INTERNAL_H

#include "tensor/cpu/gemm.h"

void vlm_cpu_gemm_nt_portable(int64_t m, int64_t n, int64_t k, const float *x, int64_t ldx,
                              const void *w, vlm_dtype wdt, int64_t ldw, const float *bias,
                              float *y, int64_t ldy, int n_threads);
void vlm_cpu_gemm_nn_portable(int64_t m, int64_t n, int64_t k, float alpha, const float *a,
                              int64_t lda, const float *b, int64_t ldb, float *y, int64_t ldy,
                              int accumulate, int n_threads);

#endif
