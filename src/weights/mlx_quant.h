/* MLX affine quantization (mlx.core.quantize / dequantize, mode "affine"), the format of
 * mlx-community checkpoints: reference routines to pack, unpack, quantize and dequantize,
 * used by `vlm convert`, by the loaders' shape checks and as the definition the fast
 * kernels (src/tensor/cpu/qgemm*.c) are tested against.
 *
 * The format. A weight matrix W [rows, cols] is cut into groups of group_size consecutive
 * elements along each row; each group has a scale s and a bias b (stored in the model's
 * float dtype, usually bf16) and each element a code q in [0, 2^bits): w = s * q + b.
 * The codes of a row form one little-endian bit stream: code j occupies stream bits
 * [j * bits, (j + 1) * bits), least significant bit first, and stream bit i is bit i % 32
 * of the row's 32-bit word i / 32 (words little-endian in the file). For bits 2, 4 and 8
 * a word holds 16, 8 or 4 whole codes; for bits 3, 5 and 6 codes straddle word boundaries
 * (MLX's kernels pack 8 codes into 3 bytes, 8 into 5 and 4 into 3, which is this same
 * stream). Shapes: packed uint32 [rows, cols * bits / 32], scales and biases
 * [rows, cols / group_size]. bits is one of 2, 3, 4, 5, 6, 8 and group_size one of 32,
 * 64, 128, so a group always fills whole words (group_size * bits is a multiple of 32).
 *
 * Quantization, as mlx/backend/cpu/quantized.cpp computes it in f32 for each group:
 *   n = 2^bits - 1; lo, hi = min and max of the group;
 *   s = max((hi - lo) / n, 1e-7), negated unless |lo| > |hi|; edge = |lo| > |hi| ? lo : hi;
 *   q0 = rint(edge / s); if q0 != 0 then s = edge / q0, b = edge, else b = 0;
 *   q = clamp(rint((w - b) / s), 0, n).
 * So the group's larger-magnitude extreme is represented exactly and s may be negative.
 * Every element whose rint((w - b) / s) lies in [0, n] dequantizes within |s| / 2 of w;
 * the far extreme may be clamped and then lies within |s| (|q0| >= (n + 1) / 2 bounds the
 * rounding of s). MLX rounds s and b to the weight's dtype after computing the codes. */
#ifndef VLM_WEIGHTS_MLX_QUANT_H
#define VLM_WEIGHTS_MLX_QUANT_H

#include <stdbool.h>
#include <stdint.h>

/* True for bits in {2, 3, 4, 5, 6, 8} and group_size in {32, 64, 128}. */
bool vlm_mlx_quant_supported(int bits, int group_size);

/* 32-bit words of one packed row of `cols` codes: cols * bits / 32 (cols * bits must be a
 * multiple of 32, which any multiple of a supported group size is). */
static inline int64_t vlm_mlx_row_words(int64_t cols, int bits) {
    return cols * bits / 32;
}

/* Code j of a packed row (the bit stream above). */
static inline unsigned vlm_mlx_code_at(const uint32_t *row, int64_t j, int bits) {
    uint64_t bit = (uint64_t)j * (uint64_t)bits;
    uint64_t word = bit / 32, shift = bit % 32;
    uint64_t v = row[word] >> shift;
    if (shift + (uint64_t)bits > 32) v |= (uint64_t)row[word + 1] << (32 - shift);
    return (unsigned)(v & ((1u << bits) - 1u));
}

/* Packs n codes (each < 2^bits; higher bits are dropped) into n * bits / 32 words.
 * n * bits must be a multiple of 32. */
void vlm_mlx_pack(const uint8_t *codes, int64_t n, int bits, uint32_t *words);

/* The inverse: n codes from n * bits / 32 words. */
void vlm_mlx_unpack(const uint32_t *words, int64_t n, int bits, uint8_t *codes);

/* Quantizes one group of `group` floats as MLX does (see above): codes[group], *scale,
 * *bias, all in f32 (round scale and bias to the checkpoint's dtype afterwards, as MLX
 * does). A NaN element gets code 0 (MLX's cast of NaN is undefined). */
void vlm_mlx_quantize_group(const float *w, int group, int bits, uint8_t *codes, float *scale,
                            float *bias);

/* Quantizes a row-major matrix w [rows, cols] (cols a multiple of group_size): packed
 * [rows, cols * bits / 32], scales and biases [rows, cols / group_size] (f32). */
void vlm_mlx_quantize(const float *w, int64_t rows, int64_t cols, int bits, int group_size,
                      uint32_t *packed, float *scales, float *biases);

/* out[r, c] = scales[r, g] * code(r, c) + biases[r, g], g = c / group_size, in f32. */
void vlm_mlx_dequantize(const uint32_t *packed, const float *scales, const float *biases,
                        int64_t rows, int64_t cols, int bits, int group_size, float *out);

#endif
