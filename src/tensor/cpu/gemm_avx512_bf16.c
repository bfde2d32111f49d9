/* The optional AVX512_BF16 path of the NT product (vlm_cpu_gemm_nt_bf16dot, gemm.h): x is
 * rounded to bf16 (nearest even) and both operands are packed as pairs of consecutive k
 * values in one 32-bit lane; vdpbf16ps then does two multiply-adds per lane (exact products,
 * f32 sums, denormals flushed). Panels: xp[q * MR + i] = pair (x[i, 2q], x[i, 2q + 1]),
 * wp[q * NR + j] = pair (w[j, 2q], w[j, 2q + 1]); an odd last k gets a zero partner.
 * Measured slower than the exact f32 path on the Xeon this was written on (vdpbf16ps issues
 * at half the rate of vfmadd231ps there; bench/ops/RESULTS.md), so it is opt-in only. */
#include "tensor/cpu/gemm_internal.h"

#if defined(__x86_64__) && defined(__GNUC__)

#include "tensor/cpu/gemm_avx512_util.h"

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
                VLM_PREFETCH_AT(wh, ((NR + r0 + r) * ldw + p) * 2, 3);
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

#else
const vlm_gemm_kernels vlm_gemm_kernels_avx512_bf16dot = {0};
#endif
