/* AVX-512 kernels on MLX-quantized weights (gemm.h, vlm_cpu_qmat): the decode GEMV and the
 * row dequantizer the GEMM packs panels with. A weight is always scale * code + bias
 * rounded once to f32 (one FMA), whichever way the codes are decoded:
 *   - bits 2, 3, 5: codes are decoded 16 at a time by one broadcast load, a byte shuffle
 *     and a variable shift (gemm_internal.h, vlm_qdecode_tables) and looked up in a table
 *     of the group's 2^bits weights (vpermps; vpermt2ps for 32 entries) built with one FMA
 *     per group: no mask, no conversion, no FMA per weight;
 *   - bits 4: 32 codes per 16-byte load, widened bytes whose low and high nibbles index the
 *     table directly; the low nibbles are the even elements, so x is given permuted (even
 *     then odd elements of each 32-block: vlm_cpu_q4_permute_x) to the GEMV;
 *   - bits 6: decoded as for 2/3/5, masked, converted, then the FMA;
 *   - bits 8: one byte per code, widened, converted, then the FMA.
 * The GEMV accumulates x * w in 16-lane f32 vectors, streaming up to 8 weight rows at once
 * (prefetching the next ones into L2). Loads of the shuffle decoder that would pass a row's
 * last byte take a byte mask, so nothing past a row's data is read. Compiled for AVX-512
 * F/BW/VL per function; only called when the CPU has it (isa.c). */
#include "tensor/cpu/gemm_internal.h"

#if defined(__x86_64__) && defined(__GNUC__)

#include <immintrin.h>

#define TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c")))
#define INLINE static inline __attribute__((always_inline))

/* How codes become weights (see the top of the file). */
enum { M_LUT16, M_LUT32, M_CVT, M_U8, M_Q4P };

typedef struct dec16 {
    __m512i shuf, shift, mask;
    __m512 lo, hi;  /* table positions as codes: (i & mask) for i < 16 and 16 + i */
    __mmask16 tail; /* the 2 * bits bytes of 16 codes */
} dec16;

static int mode_of(int bits, int q4p) {
    switch (bits) {
    case 4:
        return q4p ? M_Q4P : M_LUT16;
    case 2:
    case 3:
        return M_LUT16;
    case 5:
        return M_LUT32;
    case 8:
        return M_U8;
    default:
        return M_CVT;
    }
}

TARGET INLINE dec16 dec16_init(int bits) {
    _Alignas(64) uint8_t shuf[64];
    _Alignas(64) uint32_t shift[16];
    _Alignas(64) float lo[16], hi[16];
    vlm_qdecode_tables(bits, 16, shuf, shift);
    const int mask = (1 << bits) - 1;
    for (int i = 0; i < 16; i++) {
        lo[i] = (float)(i & mask);
        hi[i] = (float)((16 + i) & mask);
    }
    dec16 d;
    d.shuf = _mm512_load_si512((const void *)shuf);
    d.shift = _mm512_load_si512((const void *)shift);
    d.mask = _mm512_set1_epi32(mask);
    d.lo = _mm512_load_ps(lo);
    d.hi = _mm512_load_ps(hi);
    d.tail = (__mmask16)((1u << (2 * bits)) - 1u);
    return d;
}

/* 16 codes starting at byte p, each in the low bits of its lane (higher bits: other codes).
 * `safe`: read only their 2 * bits bytes (else 16). */
TARGET INLINE __m512i dec16_raw(const dec16 *d, const uint8_t *p, int safe) {
    __m512i v = safe ? _mm512_broadcast_i32x4(_mm_maskz_loadu_epi8(d->tail, p))
                     : _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)p));
    return _mm512_srlv_epi32(_mm512_shuffle_epi8(v, d->shuf), d->shift);
}

/* The group's weights of one row: the tables (LUT modes) or the scale and bias. */
typedef struct gw {
    __m512 t0, t1; /* t0[i] = s * code(i) + b, t1 the same for table entries 16..31 */
    float s, b;
} gw;

TARGET INLINE gw group_weights(int mode, const dec16 *d, float s, float b) {
    gw g;
    g.s = s;
    g.b = b;
    if (mode == M_LUT16 || mode == M_LUT32 || mode == M_Q4P)
        g.t0 = _mm512_fmadd_ps(d->lo, _mm512_set1_ps(s), _mm512_set1_ps(b));
    else
        g.t0 = _mm512_setzero_ps();
    g.t1 = mode == M_LUT32 ? _mm512_fmadd_ps(d->hi, _mm512_set1_ps(s), _mm512_set1_ps(b))
                           : _mm512_setzero_ps();
    return g;
}

/* 16 weights of a row from its codes at byte p (modes other than M_Q4P). */
TARGET INLINE __m512 weights16(int mode, const dec16 *d, const gw *g, const uint8_t *p, int safe) {
    if (mode == M_U8) {
        __m512 q = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)p)));
        return _mm512_fmadd_ps(q, _mm512_set1_ps(g->s), _mm512_set1_ps(g->b));
    }
    __m512i v = dec16_raw(d, p, safe);
    if (mode == M_LUT16) return _mm512_permutexvar_ps(v, g->t0);
    if (mode == M_LUT32) return _mm512_permutex2var_ps(g->t0, v, g->t1);
    __m512 q = _mm512_cvtepi32_ps(_mm512_and_si512(v, d->mask));
    return _mm512_fmadd_ps(q, _mm512_set1_ps(g->s), _mm512_set1_ps(g->b));
}

/* Byte offset of the codes starting at column kk. */
static inline int64_t code_offset(int64_t kk, int bits) {
    return kk * bits / 8;
}

/* Weight rows [j, j + R) (R <= 8) against mv (1..4) rows of x: y = x . w (+ bias). In mode
 * M_Q4P x is permuted (vlm_cpu_q4_permute_x). pf, when not NULL, is the first of the next R
 * rows, prefetched into L2 at the same column once per cache line. */
TARGET INLINE void qgemv_rows(int mode, int mv, int R, int64_t j, int64_t k, const float *x,
                              int64_t ldx, const vlm_cpu_qmat *w, const float *bias, float *y,
                              int64_t ldy, const dec16 *d, const uint8_t *pf) {
    const int bits = w->bits, G = w->group, step = mode == M_Q4P ? 32 : 16;
    const int64_t groups = k / G, bps = step * bits / 8, row_bytes = w->ldw * 4;
    /* a shuffle-decoded chunk starting past fast_end would read beyond the row */
    const int64_t fast_end = code_offset(k, bits) - 16;
    const uint8_t *row[8];
    __m512 acc[4][8];
#pragma GCC unroll 8
    for (int r = 0; r < R; r++)
        row[r] = (const uint8_t *)(w->w + (j + r) * w->ldw);
#pragma GCC unroll 4
    for (int i = 0; i < mv; i++)
#pragma GCC unroll 8
        for (int r = 0; r < R; r++)
            acc[i][r] = _mm512_setzero_ps();
    for (int64_t g = 0; g < groups; g++) {
        gw gr[8];
#pragma GCC unroll 8
        for (int r = 0; r < R; r++) {
            int64_t at = (j + r) * w->lds + g;
            gr[r] = group_weights(mode, d, vlm_qparam(w->scales, at, w->sdt),
                                  vlm_qparam(w->biases, at, w->sdt));
        }
        for (int c = 0; c < G; c += step) {
            const int64_t kk = g * G + c, off = code_offset(kk, bits);
            if (pf && (off & 63) < bps)
#pragma GCC unroll 8
                for (int r = 0; r < R; r++)
                    _mm_prefetch((const char *)pf + r * row_bytes + off, _MM_HINT_T1);
            if (mode == M_Q4P) {
                __m512 we[8], wo[8];
#pragma GCC unroll 8
                for (int r = 0; r < R; r++) {
                    __m512i v =
                        _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(row[r] + off)));
                    we[r] = _mm512_permutexvar_ps(v, gr[r].t0);
                    wo[r] = _mm512_permutexvar_ps(_mm512_srli_epi32(v, 4), gr[r].t0);
                }
#pragma GCC unroll 4
                for (int i = 0; i < mv; i++) {
                    __m512 xe = _mm512_loadu_ps(x + i * ldx + kk);
                    __m512 xo = _mm512_loadu_ps(x + i * ldx + kk + 16);
#pragma GCC unroll 8
                    for (int r = 0; r < R; r++)
                        acc[i][r] =
                            _mm512_fmadd_ps(xo, wo[r], _mm512_fmadd_ps(xe, we[r], acc[i][r]));
                }
                continue;
            }
            const int safe = mode != M_U8 && off > fast_end;
            __m512 wv[8];
#pragma GCC unroll 8
            for (int r = 0; r < R; r++)
                wv[r] = weights16(mode, d, &gr[r], row[r] + off, safe);
#pragma GCC unroll 4
            for (int i = 0; i < mv; i++) {
                __m512 xv = _mm512_loadu_ps(x + i * ldx + kk);
#pragma GCC unroll 8
                for (int r = 0; r < R; r++)
                    acc[i][r] = _mm512_fmadd_ps(xv, wv[r], acc[i][r]);
            }
        }
    }
#pragma GCC unroll 4
    for (int i = 0; i < mv; i++)
#pragma GCC unroll 8
        for (int r = 0; r < R; r++)
            y[i * ldy + j + r] = _mm512_reduce_add_ps(acc[i][r]) + (bias ? bias[j + r] : 0.0f);
}

/* Rows [j, j + R) against all m rows of x, 4 rows of x at a time: the first pass streams
 * the packed rows from memory, later ones find them in cache. */
TARGET INLINE void qgemv_block(int mode, int R, int64_t m, int64_t j, int64_t j1, int64_t k,
                               const float *x, int64_t ldx, const vlm_cpu_qmat *w,
                               const float *bias, float *y, int64_t ldy, const dec16 *d) {
    const uint8_t *pf =
        R > 1 && j + 2 * R <= j1 ? (const uint8_t *)(w->w + (j + R) * w->ldw) : NULL;
    for (int64_t i0 = 0; i0 < m; i0 += 4) {
        const float *xi = x + i0 * ldx;
        float *yi = y + i0 * ldy;
        const uint8_t *pfi = i0 == 0 ? pf : NULL;
        if (R == 8) {
            qgemv_rows(mode, 1, 8, j, k, xi, ldx, w, bias, yi, ldy, d, pfi);
            continue;
        }
        switch (m - i0) {
        case 1:
            qgemv_rows(mode, 1, R, j, k, xi, ldx, w, bias, yi, ldy, d, pfi);
            break;
        case 2:
            qgemv_rows(mode, 2, R, j, k, xi, ldx, w, bias, yi, ldy, d, pfi);
            break;
        case 3:
            qgemv_rows(mode, 3, R, j, k, xi, ldx, w, bias, yi, ldy, d, pfi);
            break;
        default:
            qgemv_rows(mode, 4, R, j, k, xi, ldx, w, bias, yi, ldy, d, pfi);
            break;
        }
    }
}

/* Rows [j0, j1): 8 at a time when m == 1, else 4, then single rows. */
TARGET INLINE void qgemv_mode(int mode, int64_t m, int64_t j0, int64_t j1, int64_t k,
                              const float *x, int64_t ldx, const vlm_cpu_qmat *w, const float *bias,
                              float *y, int64_t ldy) {
    const dec16 d = dec16_init(w->bits);
    int64_t j = j0;
    if (m == 1)
        for (; j + 8 <= j1; j += 8)
            qgemv_block(mode, 8, m, j, j1, k, x, ldx, w, bias, y, ldy, &d);
    for (; j + 4 <= j1; j += 4)
        qgemv_block(mode, 4, m, j, j1, k, x, ldx, w, bias, y, ldy, &d);
    for (; j < j1; j++)
        qgemv_block(mode, 1, m, j, j1, k, x, ldx, w, bias, y, ldy, &d);
}

TARGET __attribute__((noinline)) static void qgemv_lut16(int64_t m, int64_t j0, int64_t j1,
                                                         int64_t k, const float *x, int64_t ldx,
                                                         const vlm_cpu_qmat *w, const float *bias,
                                                         float *y, int64_t ldy) {
    qgemv_mode(M_LUT16, m, j0, j1, k, x, ldx, w, bias, y, ldy);
}
TARGET __attribute__((noinline)) static void qgemv_lut32(int64_t m, int64_t j0, int64_t j1,
                                                         int64_t k, const float *x, int64_t ldx,
                                                         const vlm_cpu_qmat *w, const float *bias,
                                                         float *y, int64_t ldy) {
    qgemv_mode(M_LUT32, m, j0, j1, k, x, ldx, w, bias, y, ldy);
}
TARGET __attribute__((noinline)) static void qgemv_cvt(int64_t m, int64_t j0, int64_t j1, int64_t k,
                                                       const float *x, int64_t ldx,
                                                       const vlm_cpu_qmat *w, const float *bias,
                                                       float *y, int64_t ldy) {
    qgemv_mode(M_CVT, m, j0, j1, k, x, ldx, w, bias, y, ldy);
}
TARGET __attribute__((noinline)) static void qgemv_u8(int64_t m, int64_t j0, int64_t j1, int64_t k,
                                                      const float *x, int64_t ldx,
                                                      const vlm_cpu_qmat *w, const float *bias,
                                                      float *y, int64_t ldy) {
    qgemv_mode(M_U8, m, j0, j1, k, x, ldx, w, bias, y, ldy);
}

/* x in natural order, any bits. */
static void qgemv(int64_t m, int64_t j0, int64_t j1, int64_t k, const float *x, int64_t ldx,
                  const vlm_cpu_qmat *w, const float *bias, float *y, int64_t ldy) {
    switch (mode_of(w->bits, 0)) {
    case M_LUT16:
        qgemv_lut16(m, j0, j1, k, x, ldx, w, bias, y, ldy);
        break;
    case M_LUT32:
        qgemv_lut32(m, j0, j1, k, x, ldx, w, bias, y, ldy);
        break;
    case M_U8:
        qgemv_u8(m, j0, j1, k, x, ldx, w, bias, y, ldy);
        break;
    default:
        qgemv_cvt(m, j0, j1, k, x, ldx, w, bias, y, ldy);
        break;
    }
}

/* 4 bits, x permuted by vlm_cpu_q4_permute_x. */
TARGET static void qgemv_q4p(int64_t m, int64_t j0, int64_t j1, int64_t k, const float *x,
                             int64_t ldx, const vlm_cpu_qmat *w, const float *bias, float *y,
                             int64_t ldy) {
    qgemv_mode(M_Q4P, m, j0, j1, k, x, ldx, w, bias, y, ldy);
}

TARGET INLINE void dequant_mode(int mode, const vlm_cpu_qmat *w, int64_t row, int64_t c0,
                                int64_t cols, float *dst) {
    const dec16 d = dec16_init(w->bits);
    const int G = w->group;
    const uint8_t *rb = (const uint8_t *)(w->w + row * w->ldw);
    const int64_t fast_end = code_offset(c0 + cols, w->bits) - 16;
    for (int64_t c = 0; c < cols; c += G) {
        int64_t at = row * w->lds + (c0 + c) / G;
        gw g = group_weights(mode, &d, vlm_qparam(w->scales, at, w->sdt),
                             vlm_qparam(w->biases, at, w->sdt));
        for (int cc = 0; cc < G; cc += 16) {
            int64_t off = code_offset(c0 + c + cc, w->bits);
            _mm512_storeu_ps(dst + c + cc,
                             weights16(mode, &d, &g, rb + off, mode != M_U8 && off > fast_end));
        }
    }
}

TARGET static void dequant_row(const vlm_cpu_qmat *w, int64_t row, int64_t c0, int64_t cols,
                               float *dst) {
    switch (mode_of(w->bits, 0)) {
    case M_LUT16:
        dequant_mode(M_LUT16, w, row, c0, cols, dst);
        break;
    case M_LUT32:
        dequant_mode(M_LUT32, w, row, c0, cols, dst);
        break;
    case M_U8:
        dequant_mode(M_U8, w, row, c0, cols, dst);
        break;
    default:
        dequant_mode(M_CVT, w, row, c0, cols, dst);
        break;
    }
}

const vlm_qgemm_kernels vlm_qgemm_kernels_avx512 = {
    .gemv = qgemv,
    .gemv_q4p = qgemv_q4p,
    .dequant_row = dequant_row,
};

#else
const vlm_qgemm_kernels vlm_qgemm_kernels_avx512 = {0};
#endif
