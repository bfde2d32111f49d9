/* Overflow-checked size arithmetic. Every size that feeds an allocation or an offset into
 * untrusted data goes through these; they return false on overflow or negative input. */
#ifndef VLM_CORE_CHECKED_H
#define VLM_CORE_CHECKED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

static inline bool vlm_size_mul(size_t a, size_t b, size_t *out) {
    return !__builtin_mul_overflow(a, b, out);
}

static inline bool vlm_size_add(size_t a, size_t b, size_t *out) {
    return !__builtin_add_overflow(a, b, out);
}

static inline bool vlm_i64_mul(int64_t a, int64_t b, int64_t *out) {
    return !__builtin_mul_overflow(a, b, out);
}

static inline bool vlm_i64_add(int64_t a, int64_t b, int64_t *out) {
    return !__builtin_add_overflow(a, b, out);
}

static inline bool vlm_u64_mul(uint64_t a, uint64_t b, uint64_t *out) {
    return !__builtin_mul_overflow(a, b, out);
}

static inline bool vlm_u64_add(uint64_t a, uint64_t b, uint64_t *out) {
    return !__builtin_add_overflow(a, b, out);
}

/* Product of n non-negative int64 dimensions; false on overflow or a negative dim. */
static inline bool vlm_i64_product(const int64_t *dims, int n, int64_t *out) {
    int64_t p = 1;
    for (int i = 0; i < n; i++) {
        if (dims[i] < 0 || !vlm_i64_mul(p, dims[i], &p)) return false;
    }
    *out = p;
    return true;
}

#endif
