/* Private interface between the GEMM entry points and driver (gemm.c) and the per-path
 * kernels (gemm_portable.c, gemm_avx2.c, gemm_avx512.c). Shapes and strides as in gemm.h;
 * n_threads is already resolved (>= 1).
 *
 * Packed layouts (the micro-kernel reads both sequentially):
 *   xp: a panel of MR rows of x over kc columns, xp[p * MR + i] = x[i, p] (rows past the
 *       edge are 0);
 *   wp: a panel of NR output columns over kc, wp[p * NR + j] = w[j, p] (NT) or b[p, j] (NN),
 *       converted to f32 (columns past the edge are 0). */
#ifndef VLM_TENSOR_CPU_GEMM_INTERNAL_H
#define VLM_TENSOR_CPU_GEMM_INTERNAL_H

#include "tensor/cpu/gemm.h"

/* Prefetch (for reading) the cache line at byte offset `off` from `base`. The address may lie
 * past the end of the array (a prefetch never faults); it is computed on integers so that no
 * out-of-bounds pointer is formed. locality: 3 = all cache levels (T0), 2 = L2 (T1). */
#define VLM_PREFETCH_AT(base, off, locality)                                                       \
    __builtin_prefetch((const void *)((uintptr_t)(base) + (uintptr_t)(off)), 0, locality)

enum {
    VLM_GEMM_MAX_MR = 16,
    VLM_GEMM_MAX_NR = 32,
    VLM_GEMV_MAX_M = 16, /* NT products with m <= this run as a GEMV (weights read once) */
};

/* c[i * ldc + j] = base + alpha * sum_{p < kc} xp[p * MR + i] * wp[p * NR + j] for
 * i < rows (1..MR) and all NR columns, where base = c[i * ldc + j] when load, else bias[j]
 * (bias != NULL) or 0. */
typedef void (*vlm_gemm_micro_fn)(int rows, int64_t kc, const float *xp, const float *wp, float *c,
                                  int64_t ldc, float alpha, const float *bias, int load);

/* One xp panel from `rows` (<= MR) rows of x (row stride ldx), kc columns. */
typedef void (*vlm_gemm_pack_x_fn)(const float *x, int64_t ldx, int64_t rows, int64_t kc,
                                   float *xp);

/* One wp panel from `rows` (<= NR) rows of w starting at `w` (already offset to the first
 * row and column), kc columns, row stride ldw elements. */
typedef void (*vlm_gemm_pack_w_fn)(const void *w, int64_t ldw, int64_t rows, int64_t kc, float *wp);

/* One wp panel from kc rows of b (row stride ldb) and `cols` (<= NR) columns. */
typedef void (*vlm_gemm_pack_b_fn)(const float *b, int64_t ldb, int64_t kc, int64_t cols,
                                   float *wp);

/* y[i, j] = sum_p x[i, p] * w[j, p] (+ bias[j]) for i < m and j in [j0, j1): each weight
 * row is read from memory once. */
typedef void (*vlm_gemv_fn)(int64_t m, int64_t j0, int64_t j1, int64_t k, const float *x,
                            int64_t ldx, const void *w, int64_t ldw, const float *bias, float *y,
                            int64_t ldy);

/* NN with few rows: y[i, j] = alpha * sum_p a[i, p] * b[p, j] (+ y[i, j] when accumulate)
 * for i < m and j in [j0, j1), reading b in place (no packing). */
typedef void (*vlm_gemm_nn_small_fn)(int64_t m, int64_t j0, int64_t j1, int64_t k, float alpha,
                                     const float *a, int64_t lda, const float *b, int64_t ldb,
                                     float *y, int64_t ldy, int accumulate);

typedef struct vlm_gemm_kernels {
    int mr, nr; /* micro-tile */
    int kc;     /* depth of a packed block (panels of kc x NR stay in L1 while used) */
    int mb, nb; /* largest block of rows of x / of w packed per task (multiples of mr, nr) */
    vlm_gemm_micro_fn micro;
    vlm_gemm_pack_x_fn pack_x;
    vlm_gemm_pack_w_fn pack_w[3]; /* by weight dtype: F32, F16, BF16 */
    vlm_gemm_pack_b_fn pack_b;
    vlm_gemv_fn gemv[3]; /* by weight dtype */
    vlm_gemm_nn_small_fn nn_small;
    int nn_cols; /* columns per nn_small chunk */
} vlm_gemm_kernels;

extern const vlm_gemm_kernels vlm_gemm_kernels_avx2;
extern const vlm_gemm_kernels vlm_gemm_kernels_avx512;
/* AVX512_BF16 dot products on bf16-rounded x, bf16 weights only; panels hold k pairs. */
extern const vlm_gemm_kernels vlm_gemm_kernels_avx512_bf16dot;

void vlm_cpu_gemm_nt_portable(int64_t m, int64_t n, int64_t k, const float *x, int64_t ldx,
                              const void *w, vlm_dtype wdt, int64_t ldw, const float *bias,
                              float *y, int64_t ldy, int n_threads);
void vlm_cpu_gemm_nn_portable(int64_t m, int64_t n, int64_t k, float alpha, const float *a,
                              int64_t lda, const float *b, int64_t ldb, float *y, int64_t ldy,
                              int accumulate, int n_threads);

#endif
