/* MLX affine quantization reference routines (see mlx_quant.h for the format). Plain C,
 * one element at a time: these define the format; the fast kernels live in
 * src/tensor/cpu/. */
#include "weights/mlx_quant.h"

#include <math.h>
#include <string.h>

bool vlm_mlx_quant_supported(int bits, int group_size) {
    bool b = bits == 2 || bits == 3 || bits == 4 || bits == 5 || bits == 6 || bits == 8;
    bool g = group_size == 32 || group_size == 64 || group_size == 128;
    return b && g;
}

void vlm_mlx_pack(const uint8_t *codes, int64_t n, int bits, uint32_t *words) {
    const uint64_t mask = (1u << bits) - 1u;
    memset(words, 0, (size_t)vlm_mlx_row_words(n, bits) * sizeof *words);
    for (int64_t j = 0; j < n; j++) {
        uint64_t bit = (uint64_t)j * (uint64_t)bits, v = codes[j] & mask;
        uint64_t word = bit / 32, shift = bit % 32;
        words[word] |= (uint32_t)(v << shift);
        if (shift + (uint64_t)bits > 32) words[word + 1] |= (uint32_t)(v >> (32 - shift));
    }
}

void vlm_mlx_unpack(const uint32_t *words, int64_t n, int bits, uint8_t *codes) {
    for (int64_t j = 0; j < n; j++)
        codes[j] = (uint8_t)vlm_mlx_code_at(words, j, bits);
}

void vlm_mlx_quantize_group(const float *w, int group, int bits, uint8_t *codes, float *scale,
                            float *bias) {
    const float n_bins = (float)((1 << bits) - 1), eps = 1e-7f;
    float lo = INFINITY, hi = -INFINITY;
    for (int j = 0; j < group; j++) {
        lo = fminf(lo, w[j]);
        hi = fmaxf(hi, w[j]);
    }
    bool mask = fabsf(lo) > fabsf(hi);
    float s = fmaxf((hi - lo) / n_bins, eps);
    s = mask ? s : -s;
    float edge = mask ? lo : hi;
    float q0 = rintf(edge / s), b = 0.0f;
    if (q0 != 0.0f) {
        s = edge / q0;
        b = edge;
    }
    for (int j = 0; j < group; j++) {
        float q = rintf((w[j] - b) / s);
        if (!(q >= 0.0f)) q = 0.0f; /* also NaN */
        if (q > n_bins) q = n_bins;
        codes[j] = (uint8_t)q;
    }
    *scale = s;
    *bias = b;
}

void vlm_mlx_quantize(const float *w, int64_t rows, int64_t cols, int bits, int group_size,
                      uint32_t *packed, float *scales, float *biases) {
    const int64_t groups = cols / group_size, gwords = vlm_mlx_row_words(group_size, bits);
    uint8_t codes[128];
    for (int64_t r = 0; r < rows; r++)
        for (int64_t g = 0; g < groups; g++) {
            int64_t i = r * groups + g;
            vlm_mlx_quantize_group(w + r * cols + g * group_size, group_size, bits, codes,
                                   &scales[i], &biases[i]);
            /* a group fills whole words, so groups pack independently */
            vlm_mlx_pack(codes, group_size, bits, packed + i * gwords);
        }
}

void vlm_mlx_dequantize(const uint32_t *packed, const float *scales, const float *biases,
                        int64_t rows, int64_t cols, int bits, int group_size, float *out) {
    const int64_t groups = cols / group_size, words = vlm_mlx_row_words(cols, bits);
    for (int64_t r = 0; r < rows; r++) {
        const uint32_t *row = packed + r * words;
        for (int64_t c = 0; c < cols; c++) {
            int64_t i = r * groups + c / group_size;
            out[r * cols + c] = scales[i] * (float)vlm_mlx_code_at(row, c, bits) + biases[i];
        }
    }
}
