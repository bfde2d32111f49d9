/* AVX2 + FMA kernels of the matrix products (see gemm_internal.h for the packed layouts):
 * a 6 x 16 register-tiled micro-kernel (12 ymm accumulators), transposing pack routines
 * that convert f16 (F16C) and bf16 (zero-extend, shift left by 16) to f32 exactly, and the
 * decode GEMV that streams 4 weight rows at a time against up to 4 activation rows.
 * Compiled for the AVX2 target per function; only called when the CPU has it (isa.c). */
#include "tensor/cpu/gemm_internal.h"

#if defined(__x86_64__) && defined(__GNUC__)

#include <immintrin.h>

#define TARGET __attribute__((target("avx2,fma,f16c")))
#define INLINE static inline __attribute__((always_inline))

enum { MR = 6, NR = 16 };

/* ------------------------------------------------------------------ micro-kernel */

/* acc += xp panel (rows of it, a constant once inlined) times wp panel, then stored. */
TARGET INLINE void micro_rows(int rows, int64_t kc, const float *xp, const float *wp, float *c,
                              int64_t ldc, float alpha, const float *bias, int load) {
    __m256 acc[MR][2];
#pragma GCC unroll 6
    for (int i = 0; i < rows; i++)
        acc[i][0] = acc[i][1] = _mm256_setzero_ps();
    for (int64_t p = 0; p < kc; p++) {
        __m256 w0 = _mm256_load_ps(wp), w1 = _mm256_load_ps(wp + 8);
#pragma GCC unroll 6
        for (int i = 0; i < rows; i++) {
            __m256 xv = _mm256_broadcast_ss(xp + i);
            acc[i][0] = _mm256_fmadd_ps(xv, w0, acc[i][0]);
            acc[i][1] = _mm256_fmadd_ps(xv, w1, acc[i][1]);
        }
        xp += MR;
        wp += NR;
    }
    __m256 va = _mm256_set1_ps(alpha);
    __m256 b0 = _mm256_setzero_ps(), b1 = _mm256_setzero_ps();
    if (!load && bias) {
        b0 = _mm256_loadu_ps(bias);
        b1 = _mm256_loadu_ps(bias + 8);
    }
#pragma GCC unroll 6
    for (int i = 0; i < rows; i++) {
        float *ci = c + i * ldc;
        __m256 c0 = load ? _mm256_loadu_ps(ci) : b0, c1 = load ? _mm256_loadu_ps(ci + 8) : b1;
        _mm256_storeu_ps(ci, _mm256_fmadd_ps(va, acc[i][0], c0));
        _mm256_storeu_ps(ci + 8, _mm256_fmadd_ps(va, acc[i][1], c1));
    }
}

TARGET static void micro_6x16(int rows, int64_t kc, const float *xp, const float *wp, float *c,
                              int64_t ldc, float alpha, const float *bias, int load) {
    switch (rows) {
    case 1:
        micro_rows(1, kc, xp, wp, c, ldc, alpha, bias, load);
        break;
    case 2:
        micro_rows(2, kc, xp, wp, c, ldc, alpha, bias, load);
        break;
    case 3:
        micro_rows(3, kc, xp, wp, c, ldc, alpha, bias, load);
        break;
    case 4:
        micro_rows(4, kc, xp, wp, c, ldc, alpha, bias, load);
        break;
    case 5:
        micro_rows(5, kc, xp, wp, c, ldc, alpha, bias, load);
        break;
    default:
        micro_rows(MR, kc, xp, wp, c, ldc, alpha, bias, load);
        break;
    }
}

/* ------------------------------------------------------------------ conversions */

/* 8 weights from w + at (dtype dt) as f32, exactly. */
TARGET INLINE __m256 load8(const void *w, int64_t at, vlm_dtype dt) {
    if (dt == VLM_DTYPE_F32) return _mm256_loadu_ps((const float *)w + at);
    __m128i h = _mm_loadu_si128((const __m128i *)((const uint16_t *)w + at));
    if (dt == VLM_DTYPE_F16) return _mm256_cvtph_ps(h);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

static inline float scalar_to_f32(const void *w, int64_t at, vlm_dtype dt) {
    if (dt == VLM_DTYPE_F32) return ((const float *)w)[at];
    uint16_t h = ((const uint16_t *)w)[at];
    return dt == VLM_DTYPE_F16 ? vlm_f16_to_f32(h) : vlm_bf16_to_f32(h);
}

/* ------------------------------------------------------------------ packing */

/* In-register transpose of an 8 x 8 block: v[r] (row r) becomes column r. */
TARGET INLINE void transpose8(__m256 v[8]) {
    __m256 t[8], s[8];
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) {
        t[2 * i] = _mm256_unpacklo_ps(v[2 * i], v[2 * i + 1]);
        t[2 * i + 1] = _mm256_unpackhi_ps(v[2 * i], v[2 * i + 1]);
    }
#pragma GCC unroll 2
    for (int h = 0; h < 2; h++) {
        s[4 * h + 0] = _mm256_shuffle_ps(t[4 * h], t[4 * h + 2], 0x44);
        s[4 * h + 1] = _mm256_shuffle_ps(t[4 * h], t[4 * h + 2], 0xee);
        s[4 * h + 2] = _mm256_shuffle_ps(t[4 * h + 1], t[4 * h + 3], 0x44);
        s[4 * h + 3] = _mm256_shuffle_ps(t[4 * h + 1], t[4 * h + 3], 0xee);
    }
#pragma GCC unroll 4
    for (int c = 0; c < 4; c++) {
        v[c] = _mm256_permute2f128_ps(s[c], s[4 + c], 0x20);
        v[c + 4] = _mm256_permute2f128_ps(s[c], s[4 + c], 0x31);
    }
}

TARGET INLINE void pack_w_dt(const void *w, int64_t ldw, int64_t rows, int64_t kc, float *wp,
                             vlm_dtype dt) {
    const int64_t es = dt == VLM_DTYPE_F32 ? 4 : 2;
    for (int r0 = 0; r0 < NR; r0 += 8) {
        int64_t nv = rows - r0 < 0 ? 0 : (rows - r0 > 8 ? 8 : rows - r0);
        int64_t p = 0;
        if (nv == 0) {
            for (; p < kc; p++)
                _mm256_store_ps(wp + p * NR + r0, _mm256_setzero_ps());
            continue;
        }
        for (; p + 8 <= kc; p += 8) {
            /* the slice of a row is only kc elements long, too short for the hardware
             * prefetcher: fetch the same slice of the next panel's rows meanwhile (past the
             * end of w this fetches nothing useful, harmlessly) */
#pragma GCC unroll 8
            for (int r = 0; r < 8; r++)
                VLM_PREFETCH_AT(w, ((NR + r0 + r) * ldw + p) * es, 3);
            __m256 v[8];
#pragma GCC unroll 8
            for (int r = 0; r < 8; r++)
                v[r] = r < nv ? load8(w, (r0 + r) * ldw + p, dt) : _mm256_setzero_ps();
            transpose8(v);
#pragma GCC unroll 8
            for (int q = 0; q < 8; q++)
                _mm256_store_ps(wp + (p + q) * NR + r0, v[q]);
        }
        for (; p < kc; p++)
            for (int r = 0; r < 8; r++)
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
    const __m256i first6 = _mm256_setr_epi32(-1, -1, -1, -1, -1, -1, 0, 0);
    int64_t p = 0;
    for (; p + 8 <= kc; p += 8) {
#pragma GCC unroll 6
        for (int r = 0; r < MR; r++)
            VLM_PREFETCH_AT(x, ((MR + r) * ldx + p) * 4, 3);
        __m256 v[8];
#pragma GCC unroll 8
        for (int r = 0; r < 8; r++)
            v[r] = r < rows && r < MR ? _mm256_loadu_ps(x + r * ldx + p) : _mm256_setzero_ps();
        transpose8(v);
#pragma GCC unroll 8
        for (int q = 0; q < 8; q++)
            _mm256_maskstore_ps(xp + (p + q) * MR, first6, v[q]);
    }
    for (; p < kc; p++)
        for (int r = 0; r < MR; r++)
            xp[p * MR + r] = r < rows ? x[r * ldx + p] : 0.0f;
}

TARGET static void pack_b(const float *b, int64_t ldb, int64_t kc, int64_t cols, float *wp) {
    for (int64_t p = 0; p < kc; p++) {
        const float *br = b + p * ldb;
        float *dst = wp + p * NR;
        if (cols == NR) {
            _mm256_store_ps(dst, _mm256_loadu_ps(br));
            _mm256_store_ps(dst + 8, _mm256_loadu_ps(br + 8));
        } else {
            for (int64_t j = 0; j < NR; j++)
                dst[j] = j < cols ? br[j] : 0.0f;
        }
    }
}

/* ------------------------------------------------------------------ GEMV */

TARGET INLINE float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* Rows j..j+R-1 (R = 1, 4 or 8) of w against mv (1..4) rows of x. When pf != NULL it
 * points at the next R weight rows (stride ldw), which are prefetched into L2 at the same
 * column, once per cache line: rows of a few KB are too short for the hardware prefetcher
 * to ramp up on its own. */
TARGET INLINE void gemv_rows(int mv, int R, int64_t j, int64_t k, const float *x, int64_t ldx,
                             const void *w, int64_t ldw, const float *bias, float *y, int64_t ldy,
                             vlm_dtype dt, const char *pf) {
    const int64_t es = dt == VLM_DTYPE_F32 ? 4 : 2;
    __m256 acc[4][8];
#pragma GCC unroll 4
    for (int i = 0; i < mv; i++)
#pragma GCC unroll 8
        for (int r = 0; r < R; r++)
            acc[i][r] = _mm256_setzero_ps();
    int64_t p = 0;
    for (; p + 8 <= k; p += 8) {
        if (pf && (p * es) % 64 == 0)
#pragma GCC unroll 8
            for (int r = 0; r < R; r++)
                _mm_prefetch(pf + (r * ldw + p) * es, _MM_HINT_T1);
        __m256 wv[8];
#pragma GCC unroll 8
        for (int r = 0; r < R; r++)
            wv[r] = load8(w, (j + r) * ldw + p, dt);
#pragma GCC unroll 4
        for (int i = 0; i < mv; i++) {
            __m256 xv = _mm256_loadu_ps(x + i * ldx + p);
#pragma GCC unroll 8
            for (int r = 0; r < R; r++)
                acc[i][r] = _mm256_fmadd_ps(xv, wv[r], acc[i][r]);
        }
    }
    float tail[4][8] = {{0}};
    for (; p < k; p++)
        for (int r = 0; r < R; r++) {
            float wv = scalar_to_f32(w, (j + r) * ldw + p, dt);
            for (int i = 0; i < mv; i++)
                tail[i][r] += x[i * ldx + p] * wv;
        }
#pragma GCC unroll 4
    for (int i = 0; i < mv; i++)
#pragma GCC unroll 8
        for (int r = 0; r < R; r++)
            y[i * ldy + j + r] = (hsum8(acc[i][r]) + tail[i][r]) + (bias ? bias[j + r] : 0.0f);
}

/* Weight rows [j, j + R) against all m rows of x, in groups of up to 4 rows of x: the first
 * group streams the weight rows from memory, the others find them in L1/L2. */
TARGET INLINE void gemv_block(int R, int64_t m, int64_t j, int64_t j1, int64_t k, const float *x,
                              int64_t ldx, const void *w, int64_t ldw, const float *bias, float *y,
                              int64_t ldy, vlm_dtype dt) {
    const int64_t es = dt == VLM_DTYPE_F32 ? 4 : 2;
    const char *pf = R > 1 && j + 2 * R <= j1 ? (const char *)w + (j + R) * ldw * es : NULL;
    for (int64_t i0 = 0; i0 < m; i0 += 4) {
        const float *xi = x + i0 * ldx;
        float *yi = y + i0 * ldy;
        const char *pfi = i0 == 0 ? pf : NULL;
        if (R == 8) {
            gemv_rows(1, 8, j, k, xi, ldx, w, ldw, bias, yi, ldy, dt, pfi);
            continue;
        }
        switch (m - i0) {
        case 1:
            gemv_rows(1, R, j, k, xi, ldx, w, ldw, bias, yi, ldy, dt, pfi);
            break;
        case 2:
            gemv_rows(2, R, j, k, xi, ldx, w, ldw, bias, yi, ldy, dt, pfi);
            break;
        case 3:
            gemv_rows(3, R, j, k, xi, ldx, w, ldw, bias, yi, ldy, dt, pfi);
            break;
        default:
            gemv_rows(4, R, j, k, xi, ldx, w, ldw, bias, yi, ldy, dt, pfi);
            break;
        }
    }
}

/* Rows [j0, j1) of w against all m rows of x: 8 rows when m == 1, else 4 (16 ymm registers) weight
 * rows at a time, then single rows. */
TARGET INLINE void gemv_dt(int64_t m, int64_t j0, int64_t j1, int64_t k, const float *x,
                           int64_t ldx, const void *w, int64_t ldw, const float *bias, float *y,
                           int64_t ldy, vlm_dtype dt) {
    int64_t j = j0;
    if (m == 1)
        for (; j + 8 <= j1; j += 8)
            gemv_block(8, m, j, j1, k, x, ldx, w, ldw, bias, y, ldy, dt);
    for (; j + 4 <= j1; j += 4)
        gemv_block(4, m, j, j1, k, x, ldx, w, ldw, bias, y, ldy, dt);
    for (; j < j1; j++)
        gemv_block(1, m, j, j1, k, x, ldx, w, ldw, bias, y, ldy, dt);
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

/* ------------------------------------------------------------------ NN, few rows */

/* Columns [j, j + 32) (lanes past j1 masked off) of mv (1..4) rows: b is read in place, one
 * row of 4 vectors per k step, against a broadcast of each row of a. */
TARGET INLINE void nn_chunk(int mv, int64_t j, int64_t j1, int64_t k, float alpha, const float *a,
                            int64_t lda, const float *b, int64_t ldb, float *y, int64_t ldy,
                            int accumulate) {
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    __m256i mk[4];
#pragma GCC unroll 4
    for (int c = 0; c < 4; c++) {
        int64_t left = j1 - j - 8 * c;
        int l = left >= 8 ? 8 : left <= 0 ? 0 : (int)left;
        mk[c] = _mm256_cmpgt_epi32(_mm256_set1_epi32(l), lane);
    }
    __m256 acc[4][4];
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++)
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++)
            acc[i][c] = _mm256_setzero_ps();
    for (int64_t p = 0; p < k; p++) {
        __m256 bv[4];
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++)
            bv[c] = _mm256_maskload_ps(b + p * ldb + j + 8 * c, mk[c]);
#pragma GCC unroll 4
        for (int i = 0; i < mv; i++) {
            __m256 av = _mm256_broadcast_ss(a + i * lda + p);
#pragma GCC unroll 4
            for (int c = 0; c < 4; c++)
                acc[i][c] = _mm256_fmadd_ps(av, bv[c], acc[i][c]);
        }
    }
    __m256 va = _mm256_set1_ps(alpha);
#pragma GCC unroll 4
    for (int i = 0; i < mv; i++)
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++) {
            float *yc = y + i * ldy + j + 8 * c;
            __m256 base = accumulate ? _mm256_maskload_ps(yc, mk[c]) : _mm256_setzero_ps();
            _mm256_maskstore_ps(yc, mk[c], _mm256_fmadd_ps(va, acc[i][c], base));
        }
}

TARGET static void nn_small(int64_t m, int64_t j0, int64_t j1, int64_t k, float alpha,
                            const float *a, int64_t lda, const float *b, int64_t ldb, float *y,
                            int64_t ldy, int accumulate) {
    for (int64_t j = j0; j < j1; j += 32)
        for (int64_t i0 = 0; i0 < m; i0 += 4) {
            const float *ai = a + i0 * lda;
            float *yi = y + i0 * ldy;
            switch (m - i0) {
            case 1:
                nn_chunk(1, j, j1, k, alpha, ai, lda, b, ldb, yi, ldy, accumulate);
                break;
            case 2:
                nn_chunk(2, j, j1, k, alpha, ai, lda, b, ldb, yi, ldy, accumulate);
                break;
            case 3:
                nn_chunk(3, j, j1, k, alpha, ai, lda, b, ldb, yi, ldy, accumulate);
                break;
            default:
                nn_chunk(4, j, j1, k, alpha, ai, lda, b, ldb, yi, ldy, accumulate);
                break;
            }
        }
}

const vlm_gemm_kernels vlm_gemm_kernels_avx2 = {
    .mr = MR,
    .nr = NR,
    .kc = 512,
    .mb = MR * 168,
    .nb = 256,
    .micro = micro_6x16,
    .pack_x = pack_x,
    .pack_w = {pack_w_f32, pack_w_f16, pack_w_bf16},
    .pack_b = pack_b,
    .gemv = {gemv_f32, gemv_f16, gemv_bf16},
    .nn_small = nn_small,
    .nn_cols = 32,
};

#else
const vlm_gemm_kernels vlm_gemm_kernels_avx2 = {0};
#endif
