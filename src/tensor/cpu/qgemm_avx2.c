/* AVX2 + FMA kernels on MLX-quantized weights (gemm.h, vlm_cpu_qmat): the decode GEMV and
 * the row dequantizer the GEMM packs panels with; the same scheme as qgemm_avx512.c with
 * 8 lanes. Codes are decoded 8 at a time for any bits by one broadcast load, a byte
 * shuffle, a variable shift and a mask (gemm_internal.h, vlm_qdecode_tables), converted to
 * f32 and widened to weights with one FMA (scale * code + bias); the GEMV accumulates
 * x * w in 8-lane f32 vectors, streaming 8 weight rows at once for one row of x (2 for
 * more, 16 ymm registers). Chunks within 16 bytes of a row's end go through a stack copy
 * of exactly their bytes so that nothing past the row's data is read. Compiled for
 * AVX2/FMA per function; only called when the CPU has it (isa.c). */
#include "tensor/cpu/gemm_internal.h"

#if defined(__x86_64__) && defined(__GNUC__)

#include <immintrin.h>
#include <string.h>

#define TARGET __attribute__((target("avx2,fma,f16c")))
#define INLINE static inline __attribute__((always_inline))

typedef struct dec8 {
    __m256i shuf, shift, mask;
    int bytes; /* of 8 codes: bits */
} dec8;

TARGET INLINE dec8 dec8_init(int bits) {
    _Alignas(32) uint8_t shuf[32];
    _Alignas(32) uint32_t shift[8];
    vlm_qdecode_tables(bits, 8, shuf, shift);
    dec8 d;
    d.shuf = _mm256_load_si256((const __m256i *)(const void *)shuf);
    d.shift = _mm256_load_si256((const __m256i *)(const void *)shift);
    d.mask = _mm256_set1_epi32((1 << bits) - 1);
    d.bytes = bits;
    return d;
}

/* 8 codes starting at byte p as f32. `safe`: read only their `bits` bytes (else 16). */
TARGET INLINE __m256 dec8_codes(const dec8 *d, const uint8_t *p, int safe) {
    __m128i raw;
    if (safe) {
        _Alignas(16) uint8_t tmp[16] = {0};
        memcpy(tmp, p, (size_t)d->bytes);
        raw = _mm_load_si128((const __m128i *)(const void *)tmp);
    } else {
        raw = _mm_loadu_si128((const __m128i *)p);
    }
    __m256i v = _mm256_broadcastsi128_si256(raw);
    v = _mm256_srlv_epi32(_mm256_shuffle_epi8(v, d->shuf), d->shift);
    return _mm256_cvtepi32_ps(_mm256_and_si256(v, d->mask));
}

TARGET INLINE float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* Weight rows [j, j + R) (R <= 8) against mv (1..4) rows of x: y = x . (s * code + b)
 * (+ bias). pf, when not NULL, is the first of the next R rows, prefetched into L2 at the
 * same column once per cache line. */
TARGET INLINE void qgemv_rows(int mv, int R, int64_t j, int64_t k, const float *x, int64_t ldx,
                              const vlm_cpu_qmat *w, const float *bias, float *y, int64_t ldy,
                              const dec8 *d, const uint8_t *pf) {
    const int bits = w->bits, G = w->group;
    /* a chunk starting past fast_end would read beyond the row's k * bits / 8 bytes */
    const int64_t groups = k / G, bpc = bits, row_bytes = w->ldw * 4;
    const int64_t fast_end = k * bits / 8 - 16;
    const uint8_t *row[8];
    __m256 acc[4][8];
#pragma GCC unroll 8
    for (int r = 0; r < R; r++)
        row[r] = (const uint8_t *)(w->w + (j + r) * w->ldw);
#pragma GCC unroll 4
    for (int i = 0; i < mv; i++)
#pragma GCC unroll 8
        for (int r = 0; r < R; r++)
            acc[i][r] = _mm256_setzero_ps();
    for (int64_t g = 0; g < groups; g++) {
        /* the group's scales and biases stay in memory: FMAs broadcast them from there */
        float sv[8], bv[8];
#pragma GCC unroll 8
        for (int r = 0; r < R; r++) {
            int64_t at = (j + r) * w->lds + g;
            sv[r] = vlm_qparam(w->scales, at, w->sdt);
            bv[r] = vlm_qparam(w->biases, at, w->sdt);
        }
        for (int c = 0; c < G; c += 8) {
            const int64_t kk = g * G + c, off = kk / 8 * bpc;
            const int safe = off > fast_end;
            if (pf && (off & 63) < bpc)
#pragma GCC unroll 8
                for (int r = 0; r < R; r++)
                    _mm_prefetch((const char *)pf + r * row_bytes + off, _MM_HINT_T1);
            __m256 wv[8];
#pragma GCC unroll 8
            for (int r = 0; r < R; r++)
                wv[r] = _mm256_fmadd_ps(dec8_codes(d, row[r] + off, safe), _mm256_set1_ps(sv[r]),
                                        _mm256_set1_ps(bv[r]));
#pragma GCC unroll 4
            for (int i = 0; i < mv; i++) {
                __m256 xv = _mm256_loadu_ps(x + i * ldx + kk);
#pragma GCC unroll 8
                for (int r = 0; r < R; r++)
                    acc[i][r] = _mm256_fmadd_ps(xv, wv[r], acc[i][r]);
            }
        }
    }
#pragma GCC unroll 4
    for (int i = 0; i < mv; i++)
#pragma GCC unroll 8
        for (int r = 0; r < R; r++)
            y[i * ldy + j + r] = hsum8(acc[i][r]) + (bias ? bias[j + r] : 0.0f);
}

/* Rows [j, j + R) against all m rows of x, 4 rows of x at a time: the first pass streams
 * the packed rows from memory, later ones find them in cache. */
TARGET INLINE void qgemv_block(int R, int64_t m, int64_t j, int64_t j1, int64_t k, const float *x,
                               int64_t ldx, const vlm_cpu_qmat *w, const float *bias, float *y,
                               int64_t ldy, const dec8 *d) {
    const uint8_t *pf =
        R > 1 && j + 2 * R <= j1 ? (const uint8_t *)(w->w + (j + R) * w->ldw) : NULL;
    for (int64_t i0 = 0; i0 < m; i0 += 4) {
        const float *xi = x + i0 * ldx;
        float *yi = y + i0 * ldy;
        const uint8_t *pfi = i0 == 0 ? pf : NULL;
        if (R == 8) {
            qgemv_rows(1, 8, j, k, xi, ldx, w, bias, yi, ldy, d, pfi);
            continue;
        }
        switch (m - i0) {
        case 1:
            qgemv_rows(1, R, j, k, xi, ldx, w, bias, yi, ldy, d, pfi);
            break;
        case 2:
            qgemv_rows(2, R, j, k, xi, ldx, w, bias, yi, ldy, d, pfi);
            break;
        case 3:
            qgemv_rows(3, R, j, k, xi, ldx, w, bias, yi, ldy, d, pfi);
            break;
        default:
            qgemv_rows(4, R, j, k, xi, ldx, w, bias, yi, ldy, d, pfi);
            break;
        }
    }
}

/* Rows [j0, j1): 8 at a time when m == 1, else 2, then single rows. */
TARGET static void qgemv(int64_t m, int64_t j0, int64_t j1, int64_t k, const float *x, int64_t ldx,
                         const vlm_cpu_qmat *w, const float *bias, float *y, int64_t ldy) {
    const dec8 d = dec8_init(w->bits);
    int64_t j = j0;
    if (m == 1)
        for (; j + 8 <= j1; j += 8)
            qgemv_block(8, m, j, j1, k, x, ldx, w, bias, y, ldy, &d);
    for (; j + 2 <= j1; j += 2)
        qgemv_block(2, m, j, j1, k, x, ldx, w, bias, y, ldy, &d);
    for (; j < j1; j++)
        qgemv_block(1, m, j, j1, k, x, ldx, w, bias, y, ldy, &d);
}

TARGET static void dequant_row(const vlm_cpu_qmat *w, int64_t row, int64_t c0, int64_t cols,
                               float *dst) {
    const dec8 d = dec8_init(w->bits);
    const int G = w->group;
    const int64_t bpc = w->bits;
    const uint8_t *rb = (const uint8_t *)(w->w + row * w->ldw);
    const int64_t fast_end = (c0 + cols) * w->bits / 8 - 16;
    for (int64_t c = 0; c < cols; c += G) {
        int64_t at = row * w->lds + (c0 + c) / G;
        __m256 s = _mm256_set1_ps(vlm_qparam(w->scales, at, w->sdt));
        __m256 b = _mm256_set1_ps(vlm_qparam(w->biases, at, w->sdt));
        for (int cc = 0; cc < G; cc += 8) {
            int64_t off = (c0 + c + cc) / 8 * bpc;
            __m256 q = dec8_codes(&d, rb + off, off > fast_end);
            _mm256_storeu_ps(dst + c + cc, _mm256_fmadd_ps(q, s, b));
        }
    }
}

const vlm_qgemm_kernels vlm_qgemm_kernels_avx2 = {
    .gemv = qgemv,
    .dequant_row = dequant_row,
};

#else
const vlm_qgemm_kernels vlm_qgemm_kernels_avx2 = {0};
#endif
