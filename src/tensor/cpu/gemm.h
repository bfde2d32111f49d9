/* Matrix products of the CPU backend: the two kernels every linear layer, attention and
 * convolution-as-matmul of the models reduces to. Activations are always f32; weights may be
 * f32, f16 or bf16 and are converted to f32 exactly (by bit shifts / F16C) inside the kernel,
 * so every path computes the same products and differs only in float summation order.
 * Paths: portable C, AVX2+FMA and AVX-512, chosen at run time (isa.h; VLM_CPU_ISA lowers
 * it). Small m (decode) runs as a memory-bound GEMV that streams each weight row once and
 * splits n across threads; large m (prefill) runs a cache-blocked GEMM on packed panels with
 * a register-tiled micro-kernel. Threads: OpenMP inside each call (n_threads <= 0: all of
 * omp_get_max_threads()); inside an enclosing parallel region the call runs on one thread.
 * Arguments are validated by the caller (sizes >= 0, strides >= the row length, buffers large
 * enough, no aliasing between y and the inputs). The functions do not fail: when scratch
 * memory for packing cannot be had, they fall back to an unpacked path. */
#ifndef VLM_TENSOR_CPU_GEMM_H
#define VLM_TENSOR_CPU_GEMM_H

#include <stdint.h>

#include "tensor/cpu/isa.h"
#include "tensor/dtype.h"

/* y[m, n] = sum_k x[m, k] * w[n, k] (+ bias[n] when bias != NULL).
 * x: f32 [m, k], row stride ldx elements. w: dtype wdt in {F32, F16, BF16}, [n, k], row
 * stride ldw elements ("NT": PyTorch Linear layout [out, in]). bias: f32 [n] or NULL.
 * y: f32 [m, n], row stride ldy; written, never read. k == 0 gives bias (or zeros). */
void vlm_cpu_gemm_nt(int64_t m, int64_t n, int64_t k, const float *x, int64_t ldx, const void *w,
                     vlm_dtype wdt, int64_t ldw, const float *bias, float *y, int64_t ldy,
                     int n_threads);

/* y[m, n] = alpha * sum_k a[m, k] * b[k, n], plus y itself when accumulate != 0 (y read
 * only then). a, b, y: f32, row strides lda, ldb, ldy elements ("NN"). */
void vlm_cpu_gemm_nn_f32(int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
                         const float *b, int64_t ldb, float *y, int64_t ldy, int accumulate,
                         int n_threads);

/* An MLX affine-quantized weight matrix [n, k] in host memory (format:
 * src/weights/mlx_quant.h): row r's codes are the bit stream of words w + r * ldw, its
 * group g's scale and bias scales[r * lds + g], biases[r * lds + g] (dtype sdt: F32, F16 or
 * BF16). bits in {2, 3, 4, 5, 6, 8}, group in {32, 64, 128}, k a multiple of group. */
typedef struct vlm_cpu_qmat {
    const uint32_t *w;
    int64_t ldw; /* words per row, >= k * bits / 32 */
    const void *scales, *biases;
    int64_t lds; /* elements per row, >= k / group */
    vlm_dtype sdt;
    int bits, group;
} vlm_cpu_qmat;

/* y[m, n] = sum_k x[m, k] * (s * code + b)[n, k] (+ bias[n]): vlm_cpu_gemm_nt on a
 * quantized weight, straight from the packed words. m <= VLM_GEMV_MAX_M streams each
 * packed row once (decode); larger m dequantizes one panel of rows at a time into
 * per-thread scratch and runs the f32 micro-kernel (prefill). Each weight becomes
 * s * code + b in f32 (one rounding); sums in f32 as vlm_cpu_gemm_nt. */
void vlm_cpu_gemm_nt_q(int64_t m, int64_t n, int64_t k, const float *x, int64_t ldx,
                       const vlm_cpu_qmat *w, const float *bias, float *y, int64_t ldy,
                       int n_threads);
void vlm_cpu_gemm_nt_q_isa(vlm_cpu_isa isa, int64_t m, int64_t n, int64_t k, const float *x,
                           int64_t ldx, const vlm_cpu_qmat *w, const float *bias, float *y,
                           int64_t ldy, int n_threads);

/* dst[0..cols) = row `row` of the dequantized matrix, columns [c0, c0 + cols) (c0 and cols
 * multiples of the group size). One thread. */
void vlm_cpu_qmat_dequant_row(vlm_cpu_isa isa, const vlm_cpu_qmat *w, int64_t row, int64_t c0,
                              int64_t cols, float *dst);

/* vlm_cpu_gemm_nt with AVX512_BF16 dot products (vdpbf16ps) for bf16 weights: x is rounded
 * to bf16 (nearest even) before the products, as a bf16 autocast would, so results differ
 * from vlm_cpu_gemm_nt by up to about 2^-8 * sum_k |x w| (not just float rounding); denormal
 * products are flushed. Used only when the CPU has AVX512_BF16, wdt is BF16 and m is above
 * the GEMV range; otherwise exactly vlm_cpu_gemm_nt. Not used by default: opt-in for speed
 * measurements and callers that accept the rounding. */
void vlm_cpu_gemm_nt_bf16dot(int64_t m, int64_t n, int64_t k, const float *x, int64_t ldx,
                             const void *w, vlm_dtype wdt, int64_t ldw, const float *bias, float *y,
                             int64_t ldy, int n_threads);

/* The same, on an explicit path (tests and benchmarks). An `isa` the CPU cannot run is
 * lowered to vlm_cpu_isa_best(). */
void vlm_cpu_gemm_nt_isa(vlm_cpu_isa isa, int64_t m, int64_t n, int64_t k, const float *x,
                         int64_t ldx, const void *w, vlm_dtype wdt, int64_t ldw, const float *bias,
                         float *y, int64_t ldy, int n_threads);
void vlm_cpu_gemm_nn_f32_isa(vlm_cpu_isa isa, int64_t m, int64_t n, int64_t k, float alpha,
                             const float *a, int64_t lda, const float *b, int64_t ldb, float *y,
                             int64_t ldy, int accumulate, int n_threads);

#endif
