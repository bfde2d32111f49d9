/* Device helpers shared by the CUDA kernels on MLX affine-quantized weights (gemv.cu: the
 * decode GEMV; quant.cu: the embedding lookup; qgemm.cu: the prefill GEMM), and the entry
 * point of the GEMM. The format (weights/mlx_quant.h): a row of k codes is packed
 * little-endian into k * bits / 32 uint32 words; a "unit" is 32 consecutive codes = `bits`
 * words, always inside one group (groups are 32, 64 or 128 codes); the weight is
 * fmaf(scale, code, bias) in f32. */
#ifndef VLM_TENSOR_CUDA_QUANT_CUH
#define VLM_TENSOR_CUDA_QUANT_CUH

#include "tensor/cuda/cuda_internal.cuh"

/* The `BITS` words of one unit (32 codes) at p; `vec`: p and every unit start are 16-byte
 * aligned (base and row pitch), so 16- or 8-byte loads can be used. */
template <int BITS>
__device__ __forceinline__ void load_unit(const uint32_t *p, uint32_t *w, bool vec) {
    if (BITS % 4 == 0 && vec) {
#pragma unroll
        for (int v = 0; v < BITS / 4; v++) {
            uint4 t = __ldg((const uint4 *)p + v);
            w[4 * v] = t.x;
            w[4 * v + 1] = t.y;
            w[4 * v + 2] = t.z;
            w[4 * v + 3] = t.w;
        }
    } else if (BITS % 2 == 0 && vec) {
#pragma unroll
        for (int v = 0; v < BITS / 2; v++) {
            uint2 t = __ldg((const uint2 *)p + v);
            w[2 * v] = t.x;
            w[2 * v + 1] = t.y;
        }
    } else {
#pragma unroll
        for (int j = 0; j < BITS; j++)
            w[j] = __ldg(p + j);
    }
}

/* Code j (a compile-time constant after unrolling) of a unit, as an exact float: the code
 * sits in the low mantissa bits of 2^23, and subtracting 2^23 leaves it. */
template <int BITS> __device__ __forceinline__ float unit_code(const uint32_t *w, int j) {
    const int bit = j * BITS, wi = bit >> 5, sh = bit & 31;
    uint32_t v;
    if (sh + BITS > 32)
        v = __funnelshift_r(w[wi], w[wi + 1], sh);
    else
        v = w[wi] >> sh;
    return __uint_as_float((v & ((1u << BITS) - 1u)) | 0x4B000000u) - 8388608.0f;
}

/* All 32 codes of a unit as exact floats. 4 and 8 bits: each code's byte is permuted under
 * the exponent byte of 2^23 (one PRMT per code after two masks per word for 4 bits). */
template <int BITS> __device__ __forceinline__ void unit_codes(const uint32_t *w, float *f) {
    if (BITS == 8) {
#pragma unroll
        for (int j = 0; j < 32; j++)
            f[j] = __uint_as_float(__byte_perm(w[j >> 2], 0x4B000000u, 0x7540u | (j & 3))) -
                   8388608.0f;
    } else if (BITS == 4) {
#pragma unroll
        for (int i = 0; i < 4; i++) {
            uint32_t lo = w[i] & 0x0F0F0F0Fu, hi = (w[i] >> 4) & 0x0F0F0F0Fu;
#pragma unroll
            for (int b = 0; b < 4; b++) {
                f[8 * i + 2 * b] =
                    __uint_as_float(__byte_perm(lo, 0x4B000000u, 0x7540u | b)) - 8388608.0f;
                f[8 * i + 2 * b + 1] =
                    __uint_as_float(__byte_perm(hi, 0x4B000000u, 0x7540u | b)) - 8388608.0f;
            }
        }
    } else {
#pragma unroll
        for (int j = 0; j < 32; j++)
            f[j] = unit_code<BITS>(w, j);
    }
}

/* Scale or bias element i of a float dtype (f32, f16, bf16; the front end checked). */
__device__ __forceinline__ float qparam(const char *p, int64_t i, int dt) {
    if (dt == VLM_DTYPE_BF16) return cu_bf16_to_f32(((const uint16_t *)p)[i]);
    if (dt == VLM_DTYPE_F16) return cu_f16_to_f32(((const uint16_t *)p)[i]);
    return ((const float *)p)[i];
}

/* log2(group_size / 32): unit u (32 codes) of a row is in group u >> shift. */
static inline int cuda_group_shift(int group) {
    return group == 128 ? 2 : group == 64 ? 1 : 0;
}

/* out [m, n] = x [m, k] @ w^T (+ bias) for k > 0, computed from the packed words tile by
 * tile (qgemm.cu): the product for many rows of x (prefill). Takes scratch from the arena
 * (x's bf16 copy, split-k partial sums; released before returning), never a dequantized
 * copy of w. Queues kernels only (no cuBLAS, no waits), so it can be recorded in graphs. */
vlm_status cuda_qgemm(vlm_ctx *ctx, const char *op, const vlm_tensor *x, const vlm_qweight *w,
                      const vlm_tensor *bias, const vlm_tensor *out);

#endif
