/* Portable C matrix products: the reference path that runs on any CPU and the fallback when
 * packing memory cannot be had. Straightforward loops over output tiles, OpenMP over tiles;
 * sums use 8 partial accumulators (the order differs from the SIMD paths only in float
 * rounding). Weights are converted to f32 exactly, a short chunk at a time, on the stack. */
#include "tensor/cpu/gemm_internal.h"

#include <string.h>

enum { PORT_NT_MB = 8, PORT_NT_NB = 32, PORT_CHUNK = 256, PORT_NN_NB = 256 };

/* Exact conversion of w[0..len) (dtype wdt) to f32. */
static void to_f32(const void *w, vlm_dtype wdt, int64_t off, int64_t len, float *out) {
    if (wdt == VLM_DTYPE_F32) {
        memcpy(out, (const float *)w + off, (size_t)len * sizeof(float));
    } else if (wdt == VLM_DTYPE_BF16) {
        const uint16_t *h = (const uint16_t *)w + off;
        for (int64_t i = 0; i < len; i++)
            out[i] = vlm_bf16_to_f32(h[i]);
    } else {
        const uint16_t *h = (const uint16_t *)w + off;
        for (int64_t i = 0; i < len; i++)
            out[i] = vlm_f16_to_f32(h[i]);
    }
}

static float dot_f32(const float *a, const float *b, int64_t len) {
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

/* One tile y[i0..i1, j0..j1] of the NT product. */
static void nt_tile(int64_t i0, int64_t i1, int64_t j0, int64_t j1, int64_t k, const float *x,
                    int64_t ldx, const void *w, vlm_dtype wdt, int64_t ldw, const float *bias,
                    float *y, int64_t ldy) {
    float wbuf[PORT_CHUNK];
    for (int64_t i = i0; i < i1; i++)
        for (int64_t j = j0; j < j1; j++)
            y[i * ldy + j] = bias ? bias[j] : 0.0f;
    for (int64_t p0 = 0; p0 < k; p0 += PORT_CHUNK) {
        int64_t len = k - p0 < PORT_CHUNK ? k - p0 : PORT_CHUNK;
        for (int64_t j = j0; j < j1; j++) {
            const float *wr;
            if (wdt == VLM_DTYPE_F32) {
                wr = (const float *)w + j * ldw + p0;
            } else {
                to_f32(w, wdt, j * ldw + p0, len, wbuf);
                wr = wbuf;
            }
            for (int64_t i = i0; i < i1; i++)
                y[i * ldy + j] += dot_f32(x + i * ldx + p0, wr, len);
        }
    }
}

void vlm_cpu_gemm_nt_portable(int64_t m, int64_t n, int64_t k, const float *x, int64_t ldx,
                              const void *w, vlm_dtype wdt, int64_t ldw, const float *bias,
                              float *y, int64_t ldy, int n_threads) {
    int64_t tm = (m + PORT_NT_MB - 1) / PORT_NT_MB, tn = (n + PORT_NT_NB - 1) / PORT_NT_NB;
    int64_t tiles = tm * tn;
#pragma omp parallel for num_threads(n_threads) schedule(dynamic, 1) if (n_threads > 1)
    for (int64_t t = 0; t < tiles; t++) {
        int64_t i0 = (t % tm) * PORT_NT_MB, j0 = (t / tm) * PORT_NT_NB;
        int64_t i1 = i0 + PORT_NT_MB < m ? i0 + PORT_NT_MB : m;
        int64_t j1 = j0 + PORT_NT_NB < n ? j0 + PORT_NT_NB : n;
        nt_tile(i0, i1, j0, j1, k, x, ldx, w, wdt, ldw, bias, y, ldy);
    }
}

void vlm_cpu_gemm_nn_portable(int64_t m, int64_t n, int64_t k, float alpha, const float *a,
                              int64_t lda, const float *b, int64_t ldb, float *y, int64_t ldy,
                              int accumulate, int n_threads) {
    int64_t tn = (n + PORT_NN_NB - 1) / PORT_NN_NB;
    int64_t tiles = m * tn;
#pragma omp parallel for num_threads(n_threads) schedule(dynamic, 1) if (n_threads > 1)
    for (int64_t t = 0; t < tiles; t++) {
        int64_t i = t / tn, j0 = (t % tn) * PORT_NN_NB;
        int64_t len = n - j0 < PORT_NN_NB ? n - j0 : PORT_NN_NB;
        float acc[PORT_NN_NB];
        for (int64_t j = 0; j < len; j++)
            acc[j] = 0.0f;
        for (int64_t p = 0; p < k; p++) {
            float av = a[i * lda + p];
            const float *br = b + p * ldb + j0;
            for (int64_t j = 0; j < len; j++)
                acc[j] += av * br[j];
        }
        float *yr = y + i * ldy + j0;
        for (int64_t j = 0; j < len; j++)
            yr[j] = (accumulate ? yr[j] : 0.0f) + alpha * acc[j];
    }
}
