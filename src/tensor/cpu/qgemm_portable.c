/* Portable C products on MLX-quantized weights (gemm.h, vlm_cpu_qmat): the reference path
 * that runs on any CPU, and the fallback when GEMM packing memory cannot be had. A row is
 * dequantized a chunk of QCHUNK columns at a time into a stack buffer (a group starts on a
 * word boundary, so groups decode independently from a 64-bit bit buffer), then dotted
 * with the rows of x using 8 partial sums, as the portable float path does. */
#include "tensor/cpu/gemm_internal.h"

enum { QCHUNK = 256, Q_MB = 8, Q_NB = 32 }; /* QCHUNK: a multiple of every group size */

/* out[j] = s * code_j + b for the n codes starting at word p (n * bits a multiple of 32). */
static void decode_group(const uint32_t *p, int bits, int n, float s, float b, float *out) {
    const uint64_t mask = (1u << bits) - 1u;
    uint64_t buf = 0;
    int have = 0;
    for (int j = 0; j < n; j++) {
        if (have < bits) {
            buf |= (uint64_t)*p++ << have;
            have += 32;
        }
        out[j] = s * (float)(buf & mask) + b;
        buf >>= bits;
        have -= bits;
    }
}

static void dequant_row(const vlm_cpu_qmat *w, int64_t row, int64_t c0, int64_t cols, float *dst) {
    const uint32_t *wr = w->w + row * w->ldw;
    const int64_t gw = (int64_t)w->group * w->bits / 32; /* words per group */
    for (int64_t c = 0; c < cols; c += w->group) {
        int64_t g = (c0 + c) / w->group, at = row * w->lds + g;
        decode_group(wr + g * gw, w->bits, w->group, vlm_qparam(w->scales, at, w->sdt),
                     vlm_qparam(w->biases, at, w->sdt), dst + c);
    }
}

static float dot8(const float *a, const float *b, int64_t len) {
    float s[8] = {0};
    int64_t p = 0;
    for (; p + 8 <= len; p += 8)
        for (int l = 0; l < 8; l++)
            s[l] += a[p + l] * b[p + l];
    float t = 0.0f;
    for (; p < len; p++)
        t += a[p] * b[p];
    return (((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]))) + t;
}

/* y[i0..i1, j0..j1] = x @ dequant(w)^T (+ bias). */
static void tile(int64_t i0, int64_t i1, int64_t j0, int64_t j1, int64_t k, const float *x,
                 int64_t ldx, const vlm_cpu_qmat *w, const float *bias, float *y, int64_t ldy) {
    float buf[QCHUNK];
    for (int64_t i = i0; i < i1; i++)
        for (int64_t j = j0; j < j1; j++)
            y[i * ldy + j] = bias ? bias[j] : 0.0f;
    for (int64_t p0 = 0; p0 < k; p0 += QCHUNK) {
        int64_t len = k - p0 < QCHUNK ? k - p0 : QCHUNK;
        for (int64_t j = j0; j < j1; j++) {
            dequant_row(w, j, p0, len, buf);
            for (int64_t i = i0; i < i1; i++)
                y[i * ldy + j] += dot8(x + i * ldx + p0, buf, len);
        }
    }
}

static void gemv(int64_t m, int64_t j0, int64_t j1, int64_t k, const float *x, int64_t ldx,
                 const vlm_cpu_qmat *w, const float *bias, float *y, int64_t ldy) {
    tile(0, m, j0, j1, k, x, ldx, w, bias, y, ldy);
}

void vlm_cpu_gemm_nt_q_portable(int64_t m, int64_t n, int64_t k, const float *x, int64_t ldx,
                                const vlm_cpu_qmat *w, const float *bias, float *y, int64_t ldy,
                                int n_threads) {
    int64_t tm = (m + Q_MB - 1) / Q_MB, tn = (n + Q_NB - 1) / Q_NB;
    int64_t tiles = tm * tn;
#pragma omp parallel for num_threads(n_threads) schedule(dynamic, 1) if (n_threads > 1)
    for (int64_t t = 0; t < tiles; t++) {
        int64_t i0 = (t % tm) * Q_MB, j0 = (t / tm) * Q_NB;
        int64_t i1 = i0 + Q_MB < m ? i0 + Q_MB : m;
        int64_t j1 = j0 + Q_NB < n ? j0 + Q_NB : n;
        tile(i0, i1, j0, j1, k, x, ldx, w, bias, y, ldy);
    }
}

const vlm_qgemm_kernels vlm_qgemm_kernels_portable = {
    .gemv = gemv,
    .dequant_row = dequant_row,
};
