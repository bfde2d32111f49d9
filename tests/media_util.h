/* Helpers shared by the media tests: the synthetic images that tools/refgen/media_common.py
 * builds identically in Python, zlib's CRC-32 (fixtures store Pillow outputs as CRCs), and
 * fixture paths. Header-only, test code. */
#ifndef VLM_TEST_MEDIA_UTIL_H
#define VLM_TEST_MEDIA_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "media/image.h"

/* zlib-compatible CRC-32 (reflected polynomial 0xEDB88320), bitwise: slow but tiny. */
static inline uint32_t media_crc32_update(uint32_t crc, const uint8_t *p, size_t n) {
    crc = ~crc;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int b = 0; b < 8; b++)
            crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

/* CRC of an image's pixel rows (3 * width bytes each, stride skipped), as 8 hex digits. */
static inline void media_image_crc_hex(const vlm_image *img, char out[9]) {
    uint32_t c = 0;
    for (int y = 0; y < img->height; y++)
        c = media_crc32_update(c, img->data + (size_t)y * img->stride, (size_t)img->width * 3);
    snprintf(out, 9, "%08x", c);
}

static inline uint32_t media_mix32(uint32_t x) {
    x ^= x >> 16;
    x *= 0x85EBCA6Bu;
    x ^= x >> 13;
    x *= 0xC2B2AE35u;
    x ^= x >> 16;
    return x;
}

/* media_common.synth_rgb: kind 0 noise, kind 1 ramp xor low noise. */
static inline vlm_status media_synth_rgb(int w, int h, uint32_t seed, int kind, vlm_image *out) {
    vlm_status s = vlm_image_alloc(out, w, h, NULL);
    if (s != VLM_OK) return s;
    const uint32_t base = seed * 0x85EBCA77u;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++) {
                uint32_t i = (uint32_t)(((size_t)y * w + x) * 3 + c);
                uint8_t noise = (uint8_t)(media_mix32(i * 0x9E3779B9u + base) >> 24);
                uint8_t v =
                    kind == 0 ? noise : (uint8_t)(((7 * x + 3 * y + 50 * c) % 256) ^ (noise & 15));
                out->data[(size_t)y * out->stride + 3 * (size_t)x + c] = v;
            }
    return VLM_OK;
}

/* "<source dir>/tests/fixtures/<rel>" in a static buffer (one at a time). */
static inline const char *media_fixture(const char *rel) {
    static char buf[4096];
    snprintf(buf, sizeof buf, "%s/tests/fixtures/%s", vlm_test_source_dir(), rel);
    return buf;
}

#endif
