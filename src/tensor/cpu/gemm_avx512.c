/* AVX-512 kernels of the matrix products (see gemm_internal.h for the packed layouts):
 * a 14 x 32 register-tiled micro-kernel (28 zmm accumulators; x broadcast from the packed
 * panel, two w vectors per k step), transposing pack routines that convert f16 (vcvtph2ps)
 * and bf16 (zero-extend and shift left by 16) to f32 exactly, and the decode GEMV that
 * streams 4 weight rows at a time against up to 4 activation rows. Compiled for the
 * AVX-512 target per function; only called when the CPU has it (isa.c). */
#include "tensor/cpu/gemm_internal.h"

#if defined(__x86_64__) && defined(__GNUC__)

#include <immintrin.h>

#define TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma,f16c")))
#define INLINE static inline __attribute__((always_inline))

enum { MR = 14, NR = 32 };

/* ------------------------------------------------------------------ micro-kernel */

/* acc[i * NR + j] = sum_p xp[p * MR + i] * wp[p * NR + j]. Kept apart from the store so
 * that the loop has all 32 zmm registers: 28 accumulators, 2 w vectors, 1 broadcast. */
TARGET __attribute__((noinline)) static void micro_14x32_acc(int64_t kc, const float *xp,
                                                             const float *wp, float *acc_out) {
    __m512 acc[MR][2];
#pragma GCC unroll 14
    for (int i = 0; i < MR; i++)
        acc[i][0] = acc[i][1] = _mm512_setzero_ps();
    for (int64_t p = 0; p < kc; p++) {
        __m512 w0 = _mm512_load_ps(wp), w1 = _mm512_load_ps(wp + 16);
#pragma GCC unroll 14
        for (int i = 0; i < MR; i++) {
            __m512 xv = _mm512_set1_ps(xp[i]);
            acc[i][0] = _mm512_fmadd_ps(xv, w0, acc[i][0]);
            acc[i][1] = _mm512_fmadd_ps(xv, w1, acc[i][1]);
        }
        xp += MR;
        wp += NR;
    }
#pragma GCC unroll 14
    for (int i = 0; i < MR; i++) {
        _mm512_store_ps(acc_out + i * NR, acc[i][0]);
        _mm512_store_ps(acc_out + i * NR + 16, acc[i][1]);
    }
}

TARGET static void micro_14x32(int64_t kc, const float *xp, const float *wp, float *c, int64_t ldc,
                               float alpha, const float *bias, int load) {
    _Alignas(64) float acc[MR * NR];
    micro_14x32_acc(kc, xp, wp, acc);
    __m512 va = _mm512_set1_ps(alpha);
    __m512 b0 = _mm512_setzero_ps(), b1 = _mm512_setzero_ps();
    if (!load && bias) {
        b0 = _mm512_loadu_ps(bias);
        b1 = _mm512_loadu_ps(bias + 16);
    }
    for (int i = 0; i < MR; i++) {
        float *ci = c + i * ldc;
        __m512 c0 = load ? _mm512_loadu_ps(ci) : b0, c1 = load ? _mm512_loadu_ps(ci + 16) : b1;
        _mm512_storeu_ps(ci, _mm512_fmadd_ps(va, _mm512_load_ps(acc + i * NR), c0));
        _mm512_storeu_ps(ci + 16, _mm512_fmadd_ps(va, _mm512_load_ps(acc + i * NR + 16), c1));
    }
}

/* ------------------------------------------------------------------ conversions */

/* 16 weights from w + at (dtype dt) as f32, exactly; `mk` selects the lanes to load. */
TARGET INLINE __m512 load16(const void *w, int64_t at, vlm_dtype dt) {
    if (dt == VLM_DTYPE_F32) return _mm512_loadu_ps((const float *)w + at);
    __m256i h = _mm256_loadu_si256((const __m256i *)((const uint16_t *)w + at));
    if (dt == VLM_DTYPE_F16) return _mm512_cvtph_ps(h);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

TARGET INLINE __m512 load16_mask(const void *w, int64_t at, vlm_dtype dt, __mmask16 mk) {
    if (dt == VLM_DTYPE_F32) return _mm512_maskz_loadu_ps(mk, (const float *)w + at);
    __m256i h = _mm256_maskz_loadu_epi16(mk, (const uint16_t *)w + at);
    if (dt == VLM_DTYPE_F16) return _mm512_cvtph_ps(h);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

/* ------------------------------------------------------------------ packing */

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

static inline float scalar_to_f32(const void *w, int64_t at, vlm_dtype dt) {
    if (dt == VLM_DTYPE_F32) return ((const float *)w)[at];
    uint16_t h = ((const uint16_t *)w)[at];
    return dt == VLM_DTYPE_F16 ? vlm_f16_to_f32(h) : vlm_bf16_to_f32(h);
}

TARGET INLINE void pack_w_dt(const void *w, int64_t ldw, int64_t rows, int64_t kc, float *wp,
                             vlm_dtype dt) {
    for (int r0 = 0; r0 < NR; r0 += 16) {
        int64_t nv = rows - r0 < 0 ? 0 : (rows - r0 > 16 ? 16 : rows - r0);
        int64_t p = 0;
        if (nv == 0) {
            for (; p < kc; p++)
                _mm512_store_ps(wp + p * NR + r0, _mm512_setzero_ps());
            continue;
        }
        for (; p + 16 <= kc; p += 16) {
            __m512 v[16];
#pragma GCC unroll 16
            for (int r = 0; r < 16; r++)
                v[r] = r < nv ? load16(w, (r0 + r) * ldw + p, dt) : _mm512_setzero_ps();
            transpose16(v);
#pragma GCC unroll 16
            for (int q = 0; q < 16; q++)
                _mm512_store_ps(wp + (p + q) * NR + r0, v[q]);
        }
        for (; p < kc; p++)
            for (int r = 0; r < 16; r++)
                wp[p * NR + r0 + r] = r < nv ? scalar_to_f32(w, (r0 + r) * ldw + p, dt) : 0.0f;
    }
}

TARGET static void pack_w_f32(const void *w, int64_t ldw, int64_t rows, int64_t kc, float *wp) {
    pack_w_dt(w, ldw, rows, kc, wp, VLM_DTYPE_F32);
}
TARGET static void pack_w_f16(const void *w, int64_t ldw, int64_t rows, int64_t kc, float *wp) {
    pack_w_dt(w, ldw, rows, kc, wp, VLM_DTYPE_F16);
}
TARGET static void pack_w_bf16(const void *w, int64_t ldw, int64_t rows, int64_t kc, float *wp) {
    pack_w_dt(w, ldw, rows, kc, wp, VLM_DTYPE_BF16);
}

TARGET static void pack_b(const float *b, int64_t ldb, int64_t kc, int64_t cols, float *wp) {
    __mmask16 m0 = (__mmask16)(cols >= 16 ? 0xffff : (1u << cols) - 1);
    __mmask16 m1 = (__mmask16)(cols >= 32 ? 0xffff : cols <= 16 ? 0 : (1u << (cols - 16)) - 1);
    for (int64_t p = 0; p < kc; p++) {
        const float *br = b + p * ldb;
        _mm512_store_ps(wp + p * NR, _mm512_maskz_loadu_ps(m0, br));
        _mm512_store_ps(wp + p * NR + 16, _mm512_maskz_loadu_ps(m1, br + 16));
    }
}

/* ------------------------------------------------------------------ GEMV */

/* Rows j..j+R-1 (R = 1 or 4) of w against mv (1..4) rows of x. */
TARGET INLINE void gemv_rows(int mv, int R, int64_t j, int64_t k, const float *x, int64_t ldx,
                             const void *w, int64_t ldw, const float *bias, float *y, int64_t ldy,
                             vlm_dtype dt) {
    __m512 acc[4][4];
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++)
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++)
            acc[i][r] = _mm512_setzero_ps();
    int64_t p = 0;
    for (; p + 16 <= k; p += 16) {
        __m512 wv[4];
#pragma GCC unroll 4
        for (int r = 0; r < R; r++)
            wv[r] = load16(w, (j + r) * ldw + p, dt);
#pragma GCC unroll 4
        for (int i = 0; i < mv; i++) {
            __m512 xv = _mm512_loadu_ps(x + i * ldx + p);
#pragma GCC unroll 4
            for (int r = 0; r < R; r++)
                acc[i][r] = _mm512_fmadd_ps(xv, wv[r], acc[i][r]);
        }
    }
    if (p < k) {
        __mmask16 mk = (__mmask16)((1u << (k - p)) - 1);
        __m512 wv[4];
#pragma GCC unroll 4
        for (int r = 0; r < R; r++)
            wv[r] = load16_mask(w, (j + r) * ldw + p, dt, mk);
#pragma GCC unroll 4
        for (int i = 0; i < mv; i++) {
            __m512 xv = _mm512_maskz_loadu_ps(mk, x + i * ldx + p);
#pragma GCC unroll 4
            for (int r = 0; r < R; r++)
                acc[i][r] = _mm512_fmadd_ps(xv, wv[r], acc[i][r]);
        }
    }
#pragma GCC unroll 4
    for (int i = 0; i < mv; i++)
#pragma GCC unroll 4
        for (int r = 0; r < R; r++)
            y[i * ldy + j + r] = _mm512_reduce_add_ps(acc[i][r]) + (bias ? bias[j + r] : 0.0f);
}

TARGET INLINE void gemv_mv(int mv, int64_t j0, int64_t j1, int64_t k, const float *x, int64_t ldx,
                           const void *w, int64_t ldw, const float *bias, float *y, int64_t ldy,
                           vlm_dtype dt) {
    int64_t j = j0;
    for (; j + 4 <= j1; j += 4)
        gemv_rows(mv, 4, j, k, x, ldx, w, ldw, bias, y, ldy, dt);
    for (; j < j1; j++)
        gemv_rows(mv, 1, j, k, x, ldx, w, ldw, bias, y, ldy, dt);
}

TARGET INLINE void gemv_dt(int64_t m, int64_t j0, int64_t j1, int64_t k, const float *x,
                           int64_t ldx, const void *w, int64_t ldw, const float *bias, float *y,
                           int64_t ldy, vlm_dtype dt) {
    switch (m) {
    case 1:
        gemv_mv(1, j0, j1, k, x, ldx, w, ldw, bias, y, ldy, dt);
        break;
    case 2:
        gemv_mv(2, j0, j1, k, x, ldx, w, ldw, bias, y, ldy, dt);
        break;
    case 3:
        gemv_mv(3, j0, j1, k, x, ldx, w, ldw, bias, y, ldy, dt);
        break;
    default:
        gemv_mv(4, j0, j1, k, x, ldx, w, ldw, bias, y, ldy, dt);
        break;
    }
}

TARGET static void gemv_f32(int64_t m, int64_t j0, int64_t j1, int64_t k, const float *x,
                            int64_t ldx, const void *w, int64_t ldw, const float *bias, float *y,
                            int64_t ldy) {
    gemv_dt(m, j0, j1, k, x, ldx, w, ldw, bias, y, ldy, VLM_DTYPE_F32);
}
TARGET static void gemv_f16(int64_t m, int64_t j0, int64_t j1, int64_t k, const float *x,
                            int64_t ldx, const void *w, int64_t ldw, const float *bias, float *y,
                            int64_t ldy) {
    gemv_dt(m, j0, j1, k, x, ldx, w, ldw, bias, y, ldy, VLM_DTYPE_F16);
}
TARGET static void gemv_bf16(int64_t m, int64_t j0, int64_t j1, int64_t k, const float *x,
                             int64_t ldx, const void *w, int64_t ldw, const float *bias, float *y,
                             int64_t ldy) {
    gemv_dt(m, j0, j1, k, x, ldx, w, ldw, bias, y, ldy, VLM_DTYPE_BF16);
}

const vlm_gemm_kernels vlm_gemm_kernels_avx512 = {
    .mr = MR,
    .nr = NR,
    .kc = 256,
    .mb = MR * 16,
    .nb = 512,
    .micro = micro_14x32,
    .pack_w = {pack_w_f32, pack_w_f16, pack_w_bf16},
    .pack_b = pack_b,
    .gemv = {gemv_f32, gemv_f16, gemv_bf16},
};

#else
const vlm_gemm_kernels vlm_gemm_kernels_avx512 = {0};
#endif
