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

/* acc[i * NR + j] = sum_p xp[p * MR + i] * wp[p * NR + j] for i < rows (a constant once
 * inlined). Kept apart from the store so that the loop has all 32 zmm registers: up to 28
 * accumulators, 2 w vectors, 1 broadcast. */
TARGET INLINE void micro_acc_rows(int rows, int64_t kc, const float *xp, const float *wp,
                                  float *acc_out) {
    __m512 acc[MR][2];
#pragma GCC unroll 14
    for (int i = 0; i < rows; i++)
        acc[i][0] = acc[i][1] = _mm512_setzero_ps();
    for (int64_t p = 0; p < kc; p++) {
        __m512 w0 = _mm512_load_ps(wp), w1 = _mm512_load_ps(wp + 16);
#pragma GCC unroll 14
        for (int i = 0; i < rows; i++) {
            __m512 xv = _mm512_set1_ps(xp[i]);
            acc[i][0] = _mm512_fmadd_ps(xv, w0, acc[i][0]);
            acc[i][1] = _mm512_fmadd_ps(xv, w1, acc[i][1]);
        }
        xp += MR;
        wp += NR;
    }
#pragma GCC unroll 14
    for (int i = 0; i < rows; i++) {
        _mm512_store_ps(acc_out + i * NR, acc[i][0]);
        _mm512_store_ps(acc_out + i * NR + 16, acc[i][1]);
    }
}

/* The same for rows = 1..MR: edge panels (and products with few rows) skip the zero rows. */
TARGET __attribute__((noinline)) static void micro_acc(int rows, int64_t kc, const float *xp,
                                                       const float *wp, float *acc_out) {
    switch (rows) {
    case 1:
        micro_acc_rows(1, kc, xp, wp, acc_out);
        break;
    case 2:
        micro_acc_rows(2, kc, xp, wp, acc_out);
        break;
    case 3:
        micro_acc_rows(3, kc, xp, wp, acc_out);
        break;
    case 4:
        micro_acc_rows(4, kc, xp, wp, acc_out);
        break;
    case 5:
        micro_acc_rows(5, kc, xp, wp, acc_out);
        break;
    case 6:
        micro_acc_rows(6, kc, xp, wp, acc_out);
        break;
    case 7:
        micro_acc_rows(7, kc, xp, wp, acc_out);
        break;
    case 8:
        micro_acc_rows(8, kc, xp, wp, acc_out);
        break;
    case 9:
        micro_acc_rows(9, kc, xp, wp, acc_out);
        break;
    case 10:
        micro_acc_rows(10, kc, xp, wp, acc_out);
        break;
    case 11:
        micro_acc_rows(11, kc, xp, wp, acc_out);
        break;
    case 12:
        micro_acc_rows(12, kc, xp, wp, acc_out);
        break;
    case 13:
        micro_acc_rows(13, kc, xp, wp, acc_out);
        break;
    default:
        micro_acc_rows(MR, kc, xp, wp, acc_out);
        break;
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

TARGET static void micro_14x32(int rows, int64_t kc, const float *xp, const float *wp, float *c,
                               int64_t ldc, float alpha, const float *bias, int load) {
    if (load) prefetch_tile(rows, c, ldc);
    _Alignas(64) float acc[MR * NR];
    micro_acc(rows, kc, xp, wp, acc);
    store_tile(rows, acc, c, ldc, alpha, bias, load);
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
    const int64_t es = dt == VLM_DTYPE_F32 ? 4 : 2;
    for (int r0 = 0; r0 < NR; r0 += 16) {
        int64_t nv = rows - r0 < 0 ? 0 : (rows - r0 > 16 ? 16 : rows - r0);
        int64_t p = 0;
        if (nv == 0) {
            for (; p < kc; p++)
                _mm512_store_ps(wp + p * NR + r0, _mm512_setzero_ps());
            continue;
        }
        for (; p + 16 <= kc; p += 16) {
            /* the slice of a row is only kc elements long, too short for the hardware
             * prefetcher: fetch the same slice of the next panel's rows meanwhile (a
             * prefetch past the end of w is harmless) */
#pragma GCC unroll 16
            for (int r = 0; r < 16; r++)
                _mm_prefetch((const char *)w + ((NR + r0 + r) * ldw + p) * es, _MM_HINT_T0);
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

TARGET static void pack_x(const float *x, int64_t ldx, int64_t rows, int64_t kc, float *xp) {
    for (int64_t p = 0; p < kc; p += 16) {
        int64_t len = kc - p < 16 ? kc - p : 16;
        __mmask16 mk = (__mmask16)((1u << len) - 1);
#pragma GCC unroll 14
        for (int r = 0; r < MR; r++)
            _mm_prefetch((const char *)(x + (MR + r) * ldx + p), _MM_HINT_T0);
        __m512 v[16];
#pragma GCC unroll 16
        for (int r = 0; r < 16; r++)
            v[r] = r < rows ? _mm512_maskz_loadu_ps(mk, x + r * ldx + p) : _mm512_setzero_ps();
        transpose16(v);
        for (int q = 0; q < len; q++)
            _mm512_mask_storeu_ps(xp + (p + q) * MR, 0x3fff, v[q]);
    }
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

/* Rows j..j+R-1 (R = 1 or 4) of w against mv (1..4) rows of x. When pf != NULL it points
 * at the next 4 weight rows (stride ldw), which are prefetched into L2 at the same column:
 * rows of a few KB are too short for the hardware prefetcher to ramp up on its own. */
TARGET INLINE void gemv_rows(int mv, int R, int64_t j, int64_t k, const float *x, int64_t ldx,
                             const void *w, int64_t ldw, const float *bias, float *y, int64_t ldy,
                             vlm_dtype dt, const char *pf) {
    const int64_t es = dt == VLM_DTYPE_F32 ? 4 : 2;
    __m512 acc[4][4];
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++)
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++)
            acc[i][r] = _mm512_setzero_ps();
    int64_t p = 0;
    for (; p + 16 <= k; p += 16) {
        if (pf)
#pragma GCC unroll 4
            for (int r = 0; r < 4; r++)
                _mm_prefetch(pf + (r * ldw + p) * es, _MM_HINT_T1);
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

/* Rows [j0, j1) of w against all m rows of x, 4 weight rows at a time: the first group of
 * (up to) 4 rows of x streams them from memory, the other groups find them in L1/L2. */
TARGET INLINE void gemv_dt(int64_t m, int64_t j0, int64_t j1, int64_t k, const float *x,
                           int64_t ldx, const void *w, int64_t ldw, const float *bias, float *y,
                           int64_t ldy, vlm_dtype dt) {
    const int64_t es = dt == VLM_DTYPE_F32 ? 4 : 2;
    int64_t j = j0;
    for (; j + 4 <= j1; j += 4) {
        const char *pf = j + 8 <= j1 ? (const char *)w + (j + 4) * ldw * es : NULL;
        for (int64_t i0 = 0; i0 < m; i0 += 4) {
            const float *xi = x + i0 * ldx;
            float *yi = y + i0 * ldy;
            const char *pfi = i0 == 0 ? pf : NULL;
            switch (m - i0) {
            case 1:
                gemv_rows(1, 4, j, k, xi, ldx, w, ldw, bias, yi, ldy, dt, pfi);
                break;
            case 2:
                gemv_rows(2, 4, j, k, xi, ldx, w, ldw, bias, yi, ldy, dt, pfi);
                break;
            case 3:
                gemv_rows(3, 4, j, k, xi, ldx, w, ldw, bias, yi, ldy, dt, pfi);
                break;
            default:
                gemv_rows(4, 4, j, k, xi, ldx, w, ldw, bias, yi, ldy, dt, pfi);
                break;
            }
        }
    }
    for (; j < j1; j++)
        for (int64_t i0 = 0; i0 < m; i0 += 4) {
            const float *xi = x + i0 * ldx;
            float *yi = y + i0 * ldy;
            switch (m - i0) {
            case 1:
                gemv_rows(1, 1, j, k, xi, ldx, w, ldw, bias, yi, ldy, dt, NULL);
                break;
            case 2:
                gemv_rows(2, 1, j, k, xi, ldx, w, ldw, bias, yi, ldy, dt, NULL);
                break;
            case 3:
                gemv_rows(3, 1, j, k, xi, ldx, w, ldw, bias, yi, ldy, dt, NULL);
                break;
            default:
                gemv_rows(4, 1, j, k, xi, ldx, w, ldw, bias, yi, ldy, dt, NULL);
                break;
            }
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

/* ------------------------------------------------------------------ bf16 dot products
 * The optional AVX512_BF16 path (vlm_cpu_gemm_nt_bf16dot): x is rounded to bf16 (nearest
 * even) and both operands are packed as pairs of consecutive k values in one 32-bit lane;
 * vdpbf16ps then does two multiply-adds per lane (exact products, f32 sums, denormals
 * flushed). Panels: xp[q * MR + i] = pair (x[i, 2q], x[i, 2q + 1]), wp[q * NR + j] = pair
 * (w[j, 2q], w[j, 2q + 1]); an odd last k gets a zero partner. */

#define TARGET_BF16                                                                                \
    __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma,f16c,avx512bf16")))

TARGET_BF16 static void pack_x_pairs(const float *x, int64_t ldx, int64_t rows, int64_t kc,
                                     float *xpf) {
    uint32_t *xp = (uint32_t *)xpf;
    for (int64_t p = 0; p < kc; p += 32) {
        int64_t len = kc - p < 32 ? kc - p : 32;
        __mmask16 m0 = (__mmask16)(len >= 16 ? 0xffff : (1u << len) - 1);
        __mmask16 m1 = (__mmask16)(len >= 32 ? 0xffff : len <= 16 ? 0 : (1u << (len - 16)) - 1);
        __m512 v[16];
#pragma GCC unroll 16
        for (int r = 0; r < 16; r++) {
            if (r < rows) {
                __m512 lo = _mm512_maskz_loadu_ps(m0, x + r * ldx + p);
                __m512 hi = _mm512_maskz_loadu_ps(m1, x + r * ldx + p + 16);
                v[r] = (__m512)_mm512_cvtne2ps_pbh(hi, lo); /* 32 bf16 in k order */
            } else {
                v[r] = _mm512_setzero_ps();
            }
        }
        transpose16(v);
        for (int64_t q = 0; q < (len + 1) / 2; q++)
            _mm512_mask_storeu_epi32(xp + (p / 2 + q) * MR, 0x3fff, _mm512_castps_si512(v[q]));
    }
}

TARGET_BF16 static void pack_w_pairs(const void *w, int64_t ldw, int64_t rows, int64_t kc,
                                     float *wpf) {
    uint32_t *wp = (uint32_t *)wpf;
    const uint16_t *wh = (const uint16_t *)w;
    for (int r0 = 0; r0 < NR; r0 += 16) {
        int64_t nv = rows - r0 < 0 ? 0 : (rows - r0 > 16 ? 16 : rows - r0);
        for (int64_t p = 0; p < kc; p += 32) {
            int64_t len = kc - p < 32 ? kc - p : 32;
            __mmask32 mk = len >= 32 ? 0xffffffffu : (1u << len) - 1;
#pragma GCC unroll 16
            for (int r = 0; r < 16; r++)
                _mm_prefetch((const char *)(wh + (NR + r0 + r) * ldw + p), _MM_HINT_T0);
            __m512 v[16];
#pragma GCC unroll 16
            for (int r = 0; r < 16; r++)
                v[r] =
                    r < nv
                        ? _mm512_castsi512_ps(_mm512_maskz_loadu_epi16(mk, wh + (r0 + r) * ldw + p))
                        : _mm512_setzero_ps();
            transpose16(v);
            for (int64_t q = 0; q < (len + 1) / 2; q++)
                _mm512_store_ps((float *)(wp + (p / 2 + q) * NR + r0), v[q]);
        }
    }
}

TARGET_BF16 INLINE void micro_pairs_rows(int rows, int64_t kc, const float *xpf, const float *wp,
                                         float *acc_out) {
    const uint32_t *xp = (const uint32_t *)xpf;
    __m512 acc[MR][2];
#pragma GCC unroll 14
    for (int i = 0; i < rows; i++)
        acc[i][0] = acc[i][1] = _mm512_setzero_ps();
    for (int64_t q = 0; q < (kc + 1) / 2; q++) {
        __m512bh w0 = (__m512bh)_mm512_load_ps(wp), w1 = (__m512bh)_mm512_load_ps(wp + 16);
#pragma GCC unroll 14
        for (int i = 0; i < rows; i++) {
            __m512bh xv = (__m512bh)_mm512_set1_epi32((int)xp[i]);
            acc[i][0] = _mm512_dpbf16_ps(acc[i][0], xv, w0);
            acc[i][1] = _mm512_dpbf16_ps(acc[i][1], xv, w1);
        }
        xp += MR;
        wp += NR;
    }
#pragma GCC unroll 14
    for (int i = 0; i < rows; i++) {
        _mm512_store_ps(acc_out + i * NR, acc[i][0]);
        _mm512_store_ps(acc_out + i * NR + 16, acc[i][1]);
    }
}

TARGET_BF16 __attribute__((noinline)) static void
micro_pairs_acc(int rows, int64_t kc, const float *xp, const float *wp, float *acc_out) {
    switch (rows) {
    case 1:
        micro_pairs_rows(1, kc, xp, wp, acc_out);
        break;
    case 2:
        micro_pairs_rows(2, kc, xp, wp, acc_out);
        break;
    case 3:
        micro_pairs_rows(3, kc, xp, wp, acc_out);
        break;
    case 4:
        micro_pairs_rows(4, kc, xp, wp, acc_out);
        break;
    case 5:
        micro_pairs_rows(5, kc, xp, wp, acc_out);
        break;
    case 6:
        micro_pairs_rows(6, kc, xp, wp, acc_out);
        break;
    case 7:
        micro_pairs_rows(7, kc, xp, wp, acc_out);
        break;
    case 8:
        micro_pairs_rows(8, kc, xp, wp, acc_out);
        break;
    case 9:
        micro_pairs_rows(9, kc, xp, wp, acc_out);
        break;
    case 10:
        micro_pairs_rows(10, kc, xp, wp, acc_out);
        break;
    case 11:
        micro_pairs_rows(11, kc, xp, wp, acc_out);
        break;
    case 12:
        micro_pairs_rows(12, kc, xp, wp, acc_out);
        break;
    case 13:
        micro_pairs_rows(13, kc, xp, wp, acc_out);
        break;
    default:
        micro_pairs_rows(MR, kc, xp, wp, acc_out);
        break;
    }
}

TARGET_BF16 static void micro_pairs(int rows, int64_t kc, const float *xp, const float *wp,
                                    float *c, int64_t ldc, float alpha, const float *bias,
                                    int load) {
    if (load) prefetch_tile(rows, c, ldc);
    _Alignas(64) float acc[MR * NR];
    micro_pairs_acc(rows, kc, xp, wp, acc);
    store_tile(rows, acc, c, ldc, alpha, bias, load);
}

const vlm_gemm_kernels vlm_gemm_kernels_avx512_bf16dot = {
    .mr = MR,
    .nr = NR,
    .kc = 1024, /* k values: 512 pairs */
    .mb = MR * 72,
    .nb = 256,
    .micro = micro_pairs,
    .pack_x = pack_x_pairs,
    .pack_w = {NULL, NULL, pack_w_pairs},
};

const vlm_gemm_kernels vlm_gemm_kernels_avx512 = {
    .mr = MR,
    .nr = NR,
    .kc = 512,
    .mb = MR * 72,
    .nb = 256,
    .micro = micro_14x32,
    .pack_x = pack_x,
    .pack_w = {pack_w_f32, pack_w_f16, pack_w_bf16},
    .pack_b = pack_b,
    .gemv = {gemv_f32, gemv_f16, gemv_bf16},
};

#else
const vlm_gemm_kernels vlm_gemm_kernels_avx512 = {0};
const vlm_gemm_kernels vlm_gemm_kernels_avx512_bf16dot = {0};
#endif
