/* Pieces shared by the AVX-512 kernel files (gemm_avx512.c, gemm_avx512_bf16.c): the
 * target attribute, the 14 x 32 micro-tile, the 16 x 16 in-register transpose used by every
 * packing routine, and the store of a finished tile. Include only from x86-64 GCC/Clang
 * builds, inside functions compiled for the AVX-512 target. */
#ifndef VLM_TENSOR_CPU_GEMM_AVX512_UTIL_H
#define VLM_TENSOR_CPU_GEMM_AVX512_UTIL_H

#include <immintrin.h>

#include "tensor/cpu/gemm_internal.h"

#define TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma,f16c")))
#define INLINE static inline __attribute__((always_inline))

enum { MR = 14, NR = 32 }; /* micro-tile: 28 zmm accumulators */

/* In-register transpose of a 16 x 16 block: v[r] (row r) becomes column r. */
TARGET INLINE void transpose16(__m512 v[16]) {
    __m512 t[16], u[16];
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(v[2 * i], v[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(v[2 * i], v[2 * i + 1]);
    }
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) {
        __m512d a = _mm512_castps_pd(t[4 * i]), b = _mm512_castps_pd(t[4 * i + 1]);
        __m512d c = _mm512_castps_pd(t[4 * i + 2]), d = _mm512_castps_pd(t[4 * i + 3]);
        u[4 * i + 0] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
        u[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
        u[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
        u[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
    }
    /* u[4i + c], lane L, holds column c + 4L of rows 4i..4i+3: transpose the 128-bit lanes */
#pragma GCC unroll 4
    for (int c = 0; c < 4; c++) {
        __m512 s0 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0x44);
        __m512 s1 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0xee);
        __m512 s2 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0x44);
        __m512 s3 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0xee);
        v[c] = _mm512_shuffle_f32x4(s0, s2, 0x88);
        v[c + 4] = _mm512_shuffle_f32x4(s0, s2, 0xdd);
        v[c + 8] = _mm512_shuffle_f32x4(s1, s3, 0x88);
        v[c + 12] = _mm512_shuffle_f32x4(s1, s3, 0xdd);
    }
}

/* c[i, :] = base + alpha * acc[i, :] for i < rows (see vlm_gemm_micro_fn). */
TARGET INLINE void store_tile(int rows, const float *acc, float *c, int64_t ldc, float alpha,
                              const float *bias, int load) {
    __m512 va = _mm512_set1_ps(alpha);
    __m512 b0 = _mm512_setzero_ps(), b1 = _mm512_setzero_ps();
    if (!load && bias) {
        b0 = _mm512_loadu_ps(bias);
        b1 = _mm512_loadu_ps(bias + 16);
    }
    for (int i = 0; i < rows; i++) {
        float *ci = c + i * ldc;
        __m512 c0 = load ? _mm512_loadu_ps(ci) : b0, c1 = load ? _mm512_loadu_ps(ci + 16) : b1;
        _mm512_storeu_ps(ci, _mm512_fmadd_ps(va, _mm512_load_ps(acc + i * NR), c0));
        _mm512_storeu_ps(ci + 16, _mm512_fmadd_ps(va, _mm512_load_ps(acc + i * NR + 16), c1));
    }
}

/* Fetch the tile of c while the products run (it is read after them). */
TARGET INLINE void prefetch_tile(int rows, const float *c, int64_t ldc) {
    for (int i = 0; i < rows; i++) {
        _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);
        _mm_prefetch((const char *)(c + i * ldc + 16), _MM_HINT_T0);
    }
}

#endif
