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

/* Quantized weights (vlm_cpu_qmat): the decode GEMV (as vlm_gemv_fn) and one row of
 * dequantized weights, columns [c0, c0 + cols), both multiples of the group size. */
typedef void (*vlm_qgemv_fn)(int64_t m, int64_t j0, int64_t j1, int64_t k, const float *x,
                             int64_t ldx, const vlm_cpu_qmat *w, const float *bias, float *y,
                             int64_t ldy);
typedef void (*vlm_qdequant_fn)(const vlm_cpu_qmat *w, int64_t row, int64_t c0, int64_t cols,
                                float *dst);
typedef struct vlm_qgemm_kernels {
    vlm_qgemv_fn gemv;
    /* bits 4 only, x permuted by vlm_cpu_q4_permute_x (NULL: use gemv) */
    vlm_qgemv_fn gemv_q4p;
    vlm_qdequant_fn dequant_row;
} vlm_qgemm_kernels;

/* xp[i, 32b + t] = x[i, 32b + 2t] and xp[i, 32b + 16 + t] = x[i, 32b + 2t + 1] (t < 16) for
 * every 32-column block (k a multiple of 32; xp rows of k floats): the order in which a
 * 4-bit GEMV meets the codes when it splits each byte into low and high nibbles. */
void vlm_cpu_q4_permute_x(int64_t m, int64_t k, const float *x, int64_t ldx, float *xp);

extern const vlm_qgemm_kernels vlm_qgemm_kernels_portable;
extern const vlm_qgemm_kernels vlm_qgemm_kernels_avx2;
extern const vlm_qgemm_kernels vlm_qgemm_kernels_avx512;

/* Element i of a scales / biases array of dtype dt (F32, F16, BF16) as f32, exactly. */
static inline float vlm_qparam(const void *p, int64_t i, vlm_dtype dt) {
    if (dt == VLM_DTYPE_F32) return ((const float *)p)[i];
    uint16_t h = ((const uint16_t *)p)[i];
    return dt == VLM_DTYPE_BF16 ? vlm_bf16_to_f32(h) : vlm_f16_to_f32(h);
}

/* The SIMD decoders take codes `lanes` (8 or 16) at a time. The codes j0 .. j0 + lanes - 1
 * of a row (j0 a multiple of lanes) occupy lanes * bits / 8 bytes from byte j0 * bits / 8.
 * A decoder broadcasts 16 bytes from there to every 128-bit lane, picks for 32-bit lane i
 * the 4 bytes from byte (i * bits) / 8 (a byte shuffle within the lane; indices past 15
 * give 0), shifts right by (i * bits) % 8 and masks: code i in lane i, for any bits. These
 * fill the shuffle (4 bytes per lane) and shift tables for lanes 0 .. lanes - 1. */
static inline void vlm_qdecode_tables(int bits, int lanes, uint8_t *shuf, uint32_t *shift) {
    for (int i = 0; i < lanes; i++) {
        int byte = (i * bits) / 8;
        shift[i] = (uint32_t)((i * bits) % 8);
        for (int t = 0; t < 4; t++)
            shuf[4 * i + t] = byte + t < 16 ? (uint8_t)(byte + t) : 0x80;
    }
}

extern const vlm_gemm_kernels vlm_gemm_kernels_avx2;
extern const vlm_gemm_kernels vlm_gemm_kernels_avx512;
/* AVX512_BF16 dot products on bf16-rounded x, bf16 weights only; panels hold k pairs. */
extern const vlm_gemm_kernels vlm_gemm_kernels_avx512_bf16dot;

void vlm_cpu_gemm_nt_portable(int64_t m, int64_t n, int64_t k, const float *x, int64_t ldx,
                              const void *w, vlm_dtype wdt, int64_t ldw, const float *bias,
                              float *y, int64_t ldy, int n_threads);
void vlm_cpu_gemm_nt_q_portable(int64_t m, int64_t n, int64_t k, const float *x, int64_t ldx,
                                const vlm_cpu_qmat *w, const float *bias, float *y, int64_t ldy,
                                int n_threads);
void vlm_cpu_gemm_nn_portable(int64_t m, int64_t n, int64_t k, float alpha, const float *a,
                              int64_t lda, const float *b, int64_t ldb, float *y, int64_t ldy,
                              int accumulate, int n_threads);

#endif
