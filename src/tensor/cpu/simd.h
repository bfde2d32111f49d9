/* SIMD helpers for the CPU backend's non-GEMM kernels. Hot loops over contiguous rows are
 * written as plain C with `#pragma omp simd` and compiled three times by GCC's
 * target_clones (AVX-512, AVX2+FMA, baseline x86-64), the best one chosen at load time.
 * The build is ISO C (-ffp-contract=off), so vector and scalar code do the same f32
 * operations per element; only reductions (sums, maxima) change their order, which moves
 * results by float rounding alone.
 *
 * cpu_expf is an f32 exp that vectorizes (no libm call): n = round(x / ln 2) by the
 * 1.5 * 2^23 trick, r = x - n ln 2 in two parts (Cody-Waite), exp(r) by its degree-7 Taylor
 * polynomial (truncation < 0.1 ulp on |r| <= ln2 / 2), times 2^n built in the exponent bits.
 * Error about 1 ulp; x < -87.3 gives 0 (so -inf scores vanish), x > 88.7 gives +inf. */
#ifndef VLM_TENSOR_CPU_SIMD_H
#define VLM_TENSOR_CPU_SIMD_H

#include <stdint.h>
#include <string.h>

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define CPU_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define CPU_CLONES
#endif

static inline float cpu_expf(float x) {
    const float log2e = 1.44269504088896341f;
    const float ln2_hi = 0.693145751953125f;        /* exact in 16 bits */
    const float ln2_lo = 1.428606765330187045e-06f; /* ln 2 - ln2_hi */
    const float shifter = 12582912.0f;              /* 1.5 * 2^23: adding it rounds to integer */
    float xc = x < -87.33654f ? -87.33654f : (x > 88.72283f ? 88.72283f : x);
    float t = xc * log2e + shifter;
    float n = t - shifter;
    float r = (xc - n * ln2_hi) - n * ln2_lo;
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    /* 2^n with n in [-126, 128]: split as 2^(n/2) * 2^(n - n/2) so n = 128 stays finite-safe */
    int32_t ni = (int32_t)n;
    int32_t n1 = ni / 2, n2 = ni - n1;
    uint32_t b1 = (uint32_t)(n1 + 127) << 23, b2 = (uint32_t)(n2 + 127) << 23;
    float s1, s2;
    memcpy(&s1, &b1, 4);
    memcpy(&s2, &b2, 4);
    float y = p * s1 * s2;
    return x < -87.33654f ? 0.0f : (x > 88.72283f ? __builtin_inff() : y);
}

#endif
