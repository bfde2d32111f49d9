/* Element types of tensors and their scalar conversions. bf16 and f16 are stored as
 * uint16_t bit patterns; conversions to f32 are exact, conversions from f32 round to
 * nearest even (as torch does). */
#ifndef VLM_TENSOR_DTYPE_H
#define VLM_TENSOR_DTYPE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef enum vlm_dtype {
    VLM_DTYPE_F32 = 0,
    VLM_DTYPE_F16,
    VLM_DTYPE_BF16,
    VLM_DTYPE_F64, /* references and tests only */
    VLM_DTYPE_I32,
    VLM_DTYPE_I64,
    VLM_DTYPE_U8,
    VLM_DTYPE_U32, /* packed quantized weights */
    VLM_DTYPE_COUNT
} vlm_dtype;

static inline size_t vlm_dtype_size(vlm_dtype t) {
    switch (t) {
    case VLM_DTYPE_F32: case VLM_DTYPE_I32: case VLM_DTYPE_U32: return 4;
    case VLM_DTYPE_F16: case VLM_DTYPE_BF16: return 2;
    case VLM_DTYPE_F64: case VLM_DTYPE_I64: return 8;
    case VLM_DTYPE_U8: return 1;
    default: return 0;
    }
}

const char *vlm_dtype_name(vlm_dtype t); /* "f32", "bf16", ... */

static inline float vlm_bf16_to_f32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static inline uint16_t vlm_f32_to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* quiet NaN */
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

static inline float vlm_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    uint32_t u;
    if (exp == 0) {
        if (man == 0) {
            u = sign;
        } else { /* subnormal: normalize */
            int e = -1;
            do {
                e++;
                man <<= 1;
            } while (!(man & 0x400u));
            u = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ffu) << 13);
        }
    } else if (exp == 31) {
        u = sign | 0x7f800000u | (man << 13);
    } else {
        u = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static inline uint16_t vlm_f32_to_f16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    uint32_t sign = (u >> 16) & 0x8000u;
    uint32_t au = u & 0x7fffffffu;
    if (au > 0x7f800000u) return (uint16_t)(sign | 0x7e00u);          /* NaN */
    if (au >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u);         /* overflow -> inf */
    if (au < 0x38800000u) {                                           /* subnormal or zero */
        if (au < 0x33000000u) return (uint16_t)sign;                  /* < half the min: 0 */
        uint32_t e = au >> 23;
        uint32_t m = (au & 0x7fffffu) | 0x800000u;
        uint32_t shift = 126 - e;                                     /* 14 + (113 - e) - 1 */
        uint32_t r = m >> shift;
        uint32_t rem = m & ((1u << shift) - 1u);
        uint32_t half = 1u << (shift - 1);
        if (rem > half || (rem == half && (r & 1u))) r++;
        return (uint16_t)(sign | r);
    }
    uint32_t r = au + 0x0fffu + ((au >> 13) & 1u) - 0x38000000u;     /* rebias, round */
    return (uint16_t)(sign | (r >> 13));
}

#endif
