/* AVX-512 kernels of the matrix products (see gemm_internal.h for the packed layouts):
 * a 14 x 32 register-tiled micro-kernel (28 zmm accumulators; x broadcast from the packed
 * panel, two w vectors per k step), transposing pack routines that convert f16 (vcvtph2ps)
 * and bf16 (zero-extend and shift left by 16) to f32 exactly, and the decode GEMV that
 * streams 4 weight rows at a time against up to 4 activation rows. Compiled for the
 * AVX-512 target per function; only called when the CPU has it (isa.c). */
#include "tensor/cpu/gemm_internal.h"

#if defined(__x86_64__) && defined(__GNUC__)

#include "tensor/cpu/gemm_avx512_util.h"

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
             * prefetcher: fetch the same slice of the next panel's rows meanwhile (past the
             * end of w this fetches nothing useful, harmlessly) */
#pragma GCC unroll 16
            for (int r = 0; r < 16; r++)
                VLM_PREFETCH_AT(w, ((NR + r0 + r) * ldw + p) * es, 3);
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
            VLM_PREFETCH_AT(x, ((MR + r) * ldx + p) * 4, 3);
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

/* Rows j..j+R-1 (R = 1, 4 or 8) of w against mv (1..4) rows of x. When pf != NULL it
 * points at the next R weight rows (stride ldw), which are prefetched into L2 at the same
 * column, once per cache line: rows of a few KB are too short for the hardware prefetcher
 * to ramp up on its own. */
TARGET INLINE void gemv_rows(int mv, int R, int64_t j, int64_t k, const float *x, int64_t ldx,
                             const void *w, int64_t ldw, const float *bias, float *y, int64_t ldy,
                             vlm_dtype dt, const char *pf) {
    const int64_t es = dt == VLM_DTYPE_F32 ? 4 : 2;
    __m512 acc[4][8];
#pragma GCC unroll 4
    for (int i = 0; i < mv; i++)
#pragma GCC unroll 8
        for (int r = 0; r < R; r++)
            acc[i][r] = _mm512_setzero_ps();
    int64_t p = 0;
    for (; p + 16 <= k; p += 16) {
        if (pf && (p * es) % 64 == 0)
#pragma GCC unroll 8
            for (int r = 0; r < R; r++)
                _mm_prefetch(pf + (r * ldw + p) * es, _MM_HINT_T1);
        __m512 wv[8];
#pragma GCC unroll 8
        for (int r = 0; r < R; r++)
            wv[r] = load16(w, (j + r) * ldw + p, dt);
#pragma GCC unroll 4
        for (int i = 0; i < mv; i++) {
            __m512 xv = _mm512_loadu_ps(x + i * ldx + p);
#pragma GCC unroll 8
            for (int r = 0; r < R; r++)
                acc[i][r] = _mm512_fmadd_ps(xv, wv[r], acc[i][r]);
        }
    }
    if (p < k) {
        __mmask16 mk = (__mmask16)((1u << (k - p)) - 1);
        __m512 wv[8];
#pragma GCC unroll 8
        for (int r = 0; r < R; r++)
            wv[r] = load16_mask(w, (j + r) * ldw + p, dt, mk);
#pragma GCC unroll 4
        for (int i = 0; i < mv; i++) {
            __m512 xv = _mm512_maskz_loadu_ps(mk, x + i * ldx + p);
#pragma GCC unroll 8
            for (int r = 0; r < R; r++)
                acc[i][r] = _mm512_fmadd_ps(xv, wv[r], acc[i][r]);
        }
    }
#pragma GCC unroll 4
    for (int i = 0; i < mv; i++)
#pragma GCC unroll 8
        for (int r = 0; r < R; r++)
            y[i * ldy + j + r] = _mm512_reduce_add_ps(acc[i][r]) + (bias ? bias[j + r] : 0.0f);
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
            if (m - i0 == 1)
                gemv_rows(1, 8, j, k, xi, ldx, w, ldw, bias, yi, ldy, dt, pfi);
            else
                gemv_rows(2, 8, j, k, xi, ldx, w, ldw, bias, yi, ldy, dt, pfi);
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

/* Rows [j0, j1) of w against all m rows of x: 8 rows when m <= 2 (up to 16 accumulators), else 4
 * weight rows at a time, then single rows. */
TARGET INLINE void gemv_dt(int64_t m, int64_t j0, int64_t j1, int64_t k, const float *x,
                           int64_t ldx, const void *w, int64_t ldw, const float *bias, float *y,
                           int64_t ldy, vlm_dtype dt) {
    int64_t j = j0;
    if (m <= 2)
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

/* Columns [j, j + 64) (lanes past j1 masked off) of mv (1..4) rows: b is read in place, one
 * row of 4 vectors per k step, against a broadcast of each row of a. */
TARGET INLINE void nn_chunk(int mv, int64_t j, int64_t j1, int64_t k, float alpha, const float *a,
                            int64_t lda, const float *b, int64_t ldb, float *y, int64_t ldy,
                            int accumulate) {
    __mmask16 mk[4];
#pragma GCC unroll 4
    for (int c = 0; c < 4; c++) {
        int64_t left = j1 - j - 16 * c;
        mk[c] = (__mmask16)(left >= 16 ? 0xffff : left <= 0 ? 0 : (1u << left) - 1);
    }
    __m512 acc[4][4];
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++)
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++)
            acc[i][c] = _mm512_setzero_ps();
    for (int64_t p = 0; p < k; p++) {
        __m512 bv[4];
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++)
            bv[c] = _mm512_maskz_loadu_ps(mk[c], b + p * ldb + j + 16 * c);
#pragma GCC unroll 4
        for (int i = 0; i < mv; i++) {
            __m512 av = _mm512_set1_ps(a[i * lda + p]);
#pragma GCC unroll 4
            for (int c = 0; c < 4; c++)
                acc[i][c] = _mm512_fmadd_ps(av, bv[c], acc[i][c]);
        }
    }
    __m512 va = _mm512_set1_ps(alpha);
#pragma GCC unroll 4
    for (int i = 0; i < mv; i++)
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++) {
            float *yc = y + i * ldy + j + 16 * c;
            __m512 base = accumulate ? _mm512_maskz_loadu_ps(mk[c], yc) : _mm512_setzero_ps();
            _mm512_mask_storeu_ps(yc, mk[c], _mm512_fmadd_ps(va, acc[i][c], base));
        }
}

TARGET static void nn_small(int64_t m, int64_t j0, int64_t j1, int64_t k, float alpha,
                            const float *a, int64_t lda, const float *b, int64_t ldb, float *y,
                            int64_t ldy, int accumulate) {
    for (int64_t j = j0; j < j1; j += 64)
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
    .nn_small = nn_small,
    .nn_cols = 64,
};

#else
const vlm_gemm_kernels vlm_gemm_kernels_avx512 = {0};
#endif
