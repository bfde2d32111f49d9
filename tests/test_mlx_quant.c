/* MLX affine quantization reference routines (src/weights/mlx_quant.h).
 *
 * Packing: for every bits value, words derived by hand from the format's definition
 * (code j at stream bits [j*bits, (j+1)*bits), stream bit i = bit i%32 of word i/32; the
 * same stream MLX's CPU kernel reads with its 3-in-3-bytes / 8-in-5-bytes / 4-in-3-bytes
 * extract_bits for bits 3, 5, 6), including codes that straddle two words. The derivation
 * of each expected word is written next to it.
 * Quantization: groups whose scale, bias and codes follow by hand from MLX's algorithm
 * (mlx/backend/cpu/quantized.cpp: positive and negative scales, an all-zero group, a
 * clamped far extreme), then random matrices for every bits x group size: dequantized
 * values within |s|/2 of the input for unclamped codes and within |s| for clamped ones (the
 * format's bounds, derived in mlx_quant.h), the group's larger-magnitude extreme exact,
 * and pack/unpack round trips. Tolerance on the bounds: 4 f32 ulps of the magnitudes
 * involved (the dequantization s*q + b is itself computed in f32). */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "test.h"
#include "weights/mlx_quant.h"

static void check_pack(int bits, const uint8_t *codes, int n, const uint32_t *expect,
                       const char *what) {
    uint32_t words[16] = {0};
    uint8_t back[128] = {0};
    int nw = n * bits / 32;
    vlm_mlx_pack(codes, n, bits, words);
    for (int i = 0; i < nw; i++)
        CHECK_MSG(words[i] == expect[i], "%s: bits %d word %d = 0x%08X, expected 0x%08X", what,
                  bits, i, words[i], expect[i]);
    vlm_mlx_unpack(expect, n, bits, back);
    for (int j = 0; j < n; j++)
        CHECK_MSG(back[j] == codes[j], "%s: bits %d unpack code %d = %u, expected %u", what, bits,
                  j, back[j], codes[j]);
    for (int j = 0; j < n; j++)
        CHECK_MSG(vlm_mlx_code_at(expect, j, bits) == codes[j], "%s: bits %d code_at %d", what,
                  bits, j);
}

static void test_pack_hand_vectors(void) {
    uint8_t c[32];

    /* bits 2: codes 0,1,2,3 fill one byte as 00 | 01<<2 | 10<<4 | 11<<6 = 0xE4; 16 codes,
     * 4 repeats, one word 0xE4E4E4E4. */
    for (int j = 0; j < 16; j++)
        c[j] = (uint8_t)(j % 4);
    check_pack(2, c, 16, (const uint32_t[]){0xE4E4E4E4u}, "2-bit ramp");
    /* code 0 = 3 at bits 0-1, code 15 = 2 (binary 10) at bits 30-31: 0x80000003 */
    memset(c, 0, sizeof c);
    c[0] = 3;
    c[15] = 2;
    check_pack(2, c, 16, (const uint32_t[]){0x80000003u}, "2-bit ends");

    /* bits 4: code j in nibble j, so 0..7 give 0x76543210 and 8..15 0xFEDCBA98 */
    for (int j = 0; j < 16; j++)
        c[j] = (uint8_t)j;
    check_pack(4, c, 16, (const uint32_t[]){0x76543210u, 0xFEDCBA98u}, "4-bit ramp");
    memset(c, 0, sizeof c);
    c[0] = 15;
    c[7] = 1;
    check_pack(4, c, 8, (const uint32_t[]){0x1000000Fu}, "4-bit ends");

    /* bits 8: one code per byte, little-endian: 1,2,3,4 -> 0x04030201; 255,0,128,7 ->
     * 0x078000FF */
    check_pack(8, (const uint8_t[]){1, 2, 3, 4}, 4, (const uint32_t[]){0x04030201u}, "8-bit");
    check_pack(8, (const uint8_t[]){255, 0, 128, 7}, 4, (const uint32_t[]){0x078000FFu},
               "8-bit high");

    /* bits 3, codes j % 8 for j < 32 (3 words). The 8 codes 0..7 make a 24-bit pattern P:
     * 1<<3 | 2<<6 | 3<<9 | 4<<12 | 5<<15 | 6<<18 | 7<<21
     *   = 0x8 + 0x80 + 0x600 + 0x4000 + 0x28000 + 0x180000 + 0xE00000 = 0xFAC688,
     * repeated at stream bits 0, 24, 48, 72. Word 0 = P | (P & 0xFF) << 24 = 0x88FAC688;
     * word 1 = P >> 8 (bits 32-47) | (P & 0xFFFF) << 16 (bits 48-63) = 0xC688FAC6;
     * word 2 = P >> 16 (bits 64-71) | P << 8 (bits 72-95) = 0xFAC688FA. */
    for (int j = 0; j < 32; j++)
        c[j] = (uint8_t)(j % 8);
    check_pack(3, c, 32, (const uint32_t[]){0x88FAC688u, 0xC688FAC6u, 0xFAC688FAu}, "3-bit ramp");
    /* straddling codes: code 10 = 5 (101) at bits 30-32: bit 30 and bit 32 (word 1 bit 0);
     * code 21 = 6 (110) at bits 63-65: bits 64, 65 (word 2 bits 0, 1). */
    memset(c, 0, sizeof c);
    c[10] = 5;
    c[21] = 6;
    check_pack(3, c, 32, (const uint32_t[]){0x40000000u, 0x00000001u, 0x00000003u},
               "3-bit straddle");

    /* bits 5 (5 words): code 6 = 19 (10011) at bits 30-34: bits 30, 31, 34 -> word 0
     * 0xC0000000, word 1 bit 2; code 12 = 30 (11110) at bits 60-64: bits 61, 62, 63 (word 1
     * 0xE0000000) and 64 (word 2 bit 0); code 31 = 31 at bits 155-159 = word 4 bits 27-31
     * = 0xF8000000. */
    memset(c, 0, sizeof c);
    c[6] = 19;
    c[12] = 30;
    c[31] = 31;
    check_pack(5, c, 32,
               (const uint32_t[]){0xC0000000u, 0xE0000004u, 0x00000001u, 0x00000000u, 0xF8000000u},
               "5-bit straddle");

    /* bits 6 (6 words): code 5 = 45 (101101) at bits 30-35: bit 30 (word 0 0x40000000), bits
     * 32-35 = 1011 (word 1 0xB); code 10 = 57 (111001) at bits 60-65: bits 60-63 = 1001
     * (word 1 0x90000000), bits 64-65 = 11 (word 2 0x3); code 16 = 63 at bits 96-101 =
     * word 3 0x3F. */
    memset(c, 0, sizeof c);
    c[5] = 45;
    c[10] = 57;
    c[16] = 63;
    check_pack(6, c, 32,
               (const uint32_t[]){0x40000000u, 0x9000000Bu, 0x00000003u, 0x0000003Fu, 0, 0},
               "6-bit straddle");

    /* every code at its maximum sets every bit, for each width */
    const int all_bits[] = {2, 3, 4, 5, 6, 8};
    for (int b = 0; b < 6; b++) {
        uint8_t ones[32];
        uint32_t full[8] = {0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu,
                            0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu};
        memset(ones, (1 << all_bits[b]) - 1, sizeof ones);
        check_pack(all_bits[b], ones, 32, full, "all ones");
    }
}

static void check_group(const float *w, int group, int bits, float scale, float bias,
                        const uint8_t *codes, const char *what) {
    uint8_t got[128];
    float s, b;
    vlm_mlx_quantize_group(w, group, bits, got, &s, &b);
    CHECK_MSG(s == scale, "%s: scale %.9g, expected %.9g", what, s, scale);
    CHECK_MSG(b == bias, "%s: bias %.9g, expected %.9g", what, b, bias);
    for (int j = 0; j < group; j++)
        CHECK_MSG(got[j] == codes[j], "%s: code %d = %u, expected %u", what, j, got[j], codes[j]);
}

static void test_quantize_hand(void) {
    float w[32];
    uint8_t codes[32];
    /* |lo| > |hi|: lo = -1, hi = 0.5, n = 15: s = 1.5/15 = 0.1f; q0 = rint(-1/0.1f) = -10;
     * s = -1/-10 = 0.1f, b = -1. Codes: -1 -> 0, 0.5 -> rint(1.5/0.1f) = 15, 0 -> 10. */
    memset(w, 0, sizeof w);
    w[0] = -1.0f;
    w[1] = 0.5f;
    memset(codes, 10, sizeof codes);
    codes[0] = 0;
    codes[1] = 15;
    check_group(w, 32, 4, -1.0f / -10.0f, -1.0f, codes, "4-bit min edge");

    /* |hi| >= |lo|: hi = 1, lo = -0.5: s = -0.1f; q0 = rint(1/-0.1f) = -10; s = 1/-10 (a
     * negative scale), b = 1. Codes: 1 -> 0, -0.5 -> rint(-1.5/-0.1f) = 15, 0 -> 10. */
    memset(w, 0, sizeof w);
    w[0] = 1.0f;
    w[1] = -0.5f;
    check_group(w, 32, 4, 1.0f / -10.0f, 1.0f, codes, "4-bit max edge");

    /* all zeros: s = -max(0, 1e-7); q0 = rint(0 / s) = 0, so b = 0 and every code 0 */
    memset(w, 0, sizeof w);
    memset(codes, 0, sizeof codes);
    check_group(w, 32, 4, -1e-7f, 0.0f, codes, "zeros");

    /* 2 bits (n = 3), lo = -1, hi = 0.9375: s0 = 1.9375/3; -1/s0 = -1.548 -> q0 = -2;
     * s = 0.5, b = -1; 0.9375 -> rint(1.9375/0.5 = 3.875) = 4, clamped to 3 -> dequantizes
     * to 0.5 (error 0.4375: more than s/2, less than s); zeros -> rint(2) = 2. */
    memset(w, 0, sizeof w);
    w[3] = -1.0f;
    w[31] = 0.9375f;
    memset(codes, 2, sizeof codes);
    codes[3] = 0;
    codes[31] = 3;
    check_group(w, 32, 2, 0.5f, -1.0f, codes, "2-bit clamp");

    /* 8 bits, lo = 0 exactly, hi = 2.55: |lo| > |hi| is false, s0 = -2.55/255 = -0.01f;
     * q0 = rint(2.55f / -0.01f) = -255, s = 2.55f / -255, b = 2.55f; 0 -> 255. */
    memset(w, 0, sizeof w);
    w[0] = 2.55f;
    memset(codes, 255, sizeof codes);
    codes[0] = 0;
    check_group(w, 32, 8, 2.55f / -255.0f, 2.55f, codes, "8-bit positive");
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}
static float unif(float lo, float hi) {
    return lo + (hi - lo) * (float)((double)(rnd() >> 11) / 9007199254740992.0);
}

static void test_round_trip(void) {
    const int bits_list[] = {2, 3, 4, 5, 6, 8}, groups[] = {32, 64, 128};
    const int rows = 5;
    for (int bi = 0; bi < 6; bi++)
        for (int gi = 0; gi < 3; gi++) {
            int bits = bits_list[bi], g = groups[gi], cols = 3 * g, ng = cols / g;
            float n_bins = (float)((1 << bits) - 1);
            CHECK(vlm_mlx_quant_supported(bits, g));
            float *w = malloc((size_t)rows * cols * sizeof *w);
            float *deq = malloc((size_t)rows * cols * sizeof *deq);
            uint32_t *packed = malloc((size_t)rows * cols * bits / 32 * sizeof *packed);
            float *sc = malloc((size_t)rows * ng * sizeof *sc);
            float *bs = malloc((size_t)rows * ng * sizeof *bs);
            uint8_t *codes = malloc((size_t)cols), *back = malloc((size_t)cols);
            for (int r = 0; r < rows; r++)
                for (int c = 0; c < cols; c++) {
                    float v;
                    switch (r) {
                    case 0:
                        v = unif(-1.0f, 1.0f);
                        break; /* mixed signs */
                    case 1:
                        v = unif(2.0f, 3.0f);
                        break; /* all positive, offset */
                    case 2:
                        v = unif(-5e-3f, -1e-3f);
                        break; /* all negative, small */
                    case 3:
                        v = c % 17 ? unif(-0.01f, 0.01f) : unif(-4.0f, 4.0f);
                        break;
                    default:
                        v = unif(-1e-6f, 1e-6f);
                        break; /* near the eps floor */
                    }
                    w[r * cols + c] = v;
                }
            vlm_mlx_quantize(w, rows, cols, bits, g, packed, sc, bs);
            vlm_mlx_dequantize(packed, sc, bs, rows, cols, bits, g, deq);
            int over = 0, bad_edge = 0;
            for (int r = 0; r < rows; r++)
                for (int k = 0; k < ng; k++) {
                    float s = sc[r * ng + k], b = bs[r * ng + k];
                    float lo = INFINITY, hi = -INFINITY;
                    for (int j = 0; j < g; j++) {
                        lo = fminf(lo, w[r * cols + k * g + j]);
                        hi = fmaxf(hi, w[r * cols + k * g + j]);
                    }
                    float edge = fabsf(lo) > fabsf(hi) ? lo : hi;
                    for (int j = 0; j < g; j++) {
                        int i = r * cols + k * g + j;
                        float x = w[i], err = fabsf(deq[i] - x);
                        float u = rintf((x - b) / s);
                        float tol = 4 * FLT_EPSILON * (fabsf(x) + fabsf(b) + fabsf(s) * n_bins);
                        bool in_range = u >= 0.0f && u <= n_bins;
                        if (err > (in_range ? fabsf(s) / 2 : fabsf(s)) + tol) over++;
                        if (x == edge && b != 0.0f && deq[i] != x) bad_edge++;
                    }
                }
            CHECK_MSG(over == 0, "bits %d group %d: %d elements outside the bound", bits, g, over);
            CHECK_MSG(bad_edge == 0, "bits %d group %d: %d edges not exact", bits, g, bad_edge);
            /* random codes survive pack -> unpack */
            for (int c = 0; c < cols; c++)
                codes[c] = (uint8_t)(rnd() & ((1u << bits) - 1));
            vlm_mlx_pack(codes, cols, bits, packed);
            vlm_mlx_unpack(packed, cols, bits, back);
            CHECK_MSG(memcmp(codes, back, (size_t)cols) == 0, "bits %d: pack/unpack", bits);
            free(w);
            free(deq);
            free(packed);
            free(sc);
            free(bs);
            free(codes);
            free(back);
        }
    CHECK(!vlm_mlx_quant_supported(7, 64));
    CHECK(!vlm_mlx_quant_supported(1, 64));
    CHECK(!vlm_mlx_quant_supported(4, 16));
    CHECK(!vlm_mlx_quant_supported(4, 256));
    CHECK_EQ_INT(vlm_mlx_row_words(1536, 4), 192);
    CHECK_EQ_INT(vlm_mlx_row_words(1536, 3), 144);
    CHECK_EQ_INT(vlm_mlx_row_words(64, 6), 12);
}

static void test_nan(void) {
    float w[32];
    uint8_t codes[32];
    float s, b;
    for (int j = 0; j < 32; j++)
        w[j] = (float)j;
    w[7] = NAN;
    vlm_mlx_quantize_group(w, 32, 4, codes, &s, &b); /* must not be undefined behaviour */
    CHECK_EQ_INT(codes[7], 0);
    CHECK(codes[31] == 0 || codes[31] == 15);
}

int main(void) {
    test_pack_hand_vectors();
    test_quantize_hand();
    test_round_trip();
    test_nan();
    TEST_DONE();
}
