/* Private helpers of the CPU backend's kernels: element addresses, scalar loads/stores with
 * dtype conversion, row addressing of strided tensors, parameter vectors widened to f32 in
 * arena scratch, and the strided elementwise iterator. Every kernel file includes this. */
#ifndef VLM_TENSOR_CPU_CPU_H
#define VLM_TENSOR_CPU_CPU_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "tensor/backend.h"
#include "tensor/dtype.h"

/* Work below this many elements runs on one thread (thread start-up costs more). */
#define CPU_PAR_MIN 32768

static inline char *cpu_ptr(const vlm_tensor *t) {
    return (char *)t->buf->data + t->offset;
}

static inline float cpu_load(const char *p, vlm_dtype dt) {
    switch (dt) {
    case VLM_DTYPE_F32: {
        float f;
        memcpy(&f, p, 4);
        return f;
    }
    case VLM_DTYPE_BF16: {
        uint16_t h;
        memcpy(&h, p, 2);
        return vlm_bf16_to_f32(h);
    }
    case VLM_DTYPE_F16: {
        uint16_t h;
        memcpy(&h, p, 2);
        return vlm_f16_to_f32(h);
    }
    case VLM_DTYPE_F64: {
        double d;
        memcpy(&d, p, 8);
        return (float)d;
    }
    default:
        return 0.0f;
    }
}

static inline int64_t cpu_load_index(const char *p, vlm_dtype dt) {
    if (dt == VLM_DTYPE_I32) {
        int32_t v;
        memcpy(&v, p, 4);
        return v;
    }
    int64_t v;
    memcpy(&v, p, 8);
    return v;
}

static inline void cpu_store_index(char *p, vlm_dtype dt, int64_t v) {
    if (dt == VLM_DTYPE_I32) {
        int32_t w = (int32_t)v;
        memcpy(p, &w, 4);
    } else {
        memcpy(p, &v, 8);
    }
}

/* Number of rows of a tensor seen as [rows, last]: product of all extents but the last. */
static inline int64_t cpu_rows(const vlm_tensor *t) {
    int64_t r = 1;
    for (int i = 0; i < t->ndim - 1; i++)
        r *= t->shape[i];
    return r;
}

/* Byte offset of row r (row-major over all dimensions but the last). */
static inline int64_t cpu_row_offset(const vlm_tensor *t, int64_t r) {
    int64_t off = 0;
    for (int i = t->ndim - 2; i >= 0; i--) {
        int64_t n = t->shape[i];
        off += (r % n) * t->stride[i];
        r /= n;
    }
    return off;
}

/* Extent and element stride (in elements) of the last dimension. */
static inline int64_t cpu_cols(const vlm_tensor *t) {
    return t->ndim ? t->shape[t->ndim - 1] : 1;
}
static inline int64_t cpu_col_stride(const vlm_tensor *t) {
    return t->ndim ? t->stride[t->ndim - 1] / (int64_t)vlm_dtype_size(t->dtype) : 1;
}

/* A 1-D parameter (norm weight, bias) as contiguous f32: the tensor's own memory when it
 * already is, else a converted copy in the context's arena (released by the caller's
 * mark). NULL p gives NULL. Fails only when the arena cannot grow. */
vlm_status cpu_param_f32(vlm_ctx *ctx, const char *op, const vlm_tensor *p, const float **out);

/* Scratch of n floats from the arena (64-byte aligned). */
vlm_status cpu_scratch(vlm_ctx *ctx, const char *op, size_t n, float **out);

/* ------------------------------------------------------------ strided iteration
 * Up to 3 operands of one shape. Dimensions are coalesced where every operand is contiguous
 * across them, so contiguous tensors become one long row. fn processes n elements of the
 * innermost dimension: operand i at ptr[i], element stride stride[i] (bytes). */
typedef void (*cpu_iter_fn)(int64_t n, char *const *ptr, const int64_t *stride, const void *arg);

typedef struct cpu_iter {
    int n_ops;
    int ndim;
    int64_t shape[VLM_MAX_DIMS];
    int64_t stride[3][VLM_MAX_DIMS];
    char *base[3];
} cpu_iter;

void cpu_iter_init(cpu_iter *it, int n_ops, const vlm_tensor *const *ts);
/* Runs fn over all elements, split across n_threads when large. */
void cpu_iter_run(const cpu_iter *it, cpu_iter_fn fn, const void *arg, int n_threads);

/* ------------------------------------------------------------ kernels (one file each) */
vlm_status cpu_copy(vlm_ctx *ctx, const vlm_tensor *src, const vlm_tensor *dst);
vlm_status cpu_fill(vlm_ctx *ctx, const vlm_tensor *dst, float value);
vlm_status cpu_binary(vlm_ctx *ctx, vlm_binary_op op, const vlm_tensor *a, const vlm_tensor *b,
                      const vlm_tensor *out);
vlm_status cpu_scale(vlm_ctx *ctx, const vlm_tensor *x, float s, const vlm_tensor *out);
vlm_status cpu_act(vlm_ctx *ctx, vlm_act act, const vlm_tensor *x, const vlm_tensor *out);
vlm_status cpu_gated_act(vlm_ctx *ctx, vlm_act act, const vlm_tensor *gate, const vlm_tensor *up,
                         const vlm_tensor *out);
vlm_status cpu_rms_norm(vlm_ctx *ctx, const vlm_tensor *x, const vlm_tensor *w, float eps,
                        float w_offset, const vlm_tensor *out);
vlm_status cpu_layer_norm(vlm_ctx *ctx, const vlm_tensor *x, const vlm_tensor *w,
                          const vlm_tensor *b, float eps, const vlm_tensor *out);
vlm_status cpu_softmax(vlm_ctx *ctx, const vlm_tensor *x, const vlm_tensor *out);
vlm_status cpu_matmul(vlm_ctx *ctx, const vlm_tensor *x, const vlm_tensor *w,
                      const vlm_tensor *bias, const vlm_tensor *out);
vlm_status cpu_bmm(vlm_ctx *ctx, const vlm_tensor *a, const vlm_tensor *b, const vlm_tensor *out);
vlm_status cpu_rope_table(vlm_ctx *ctx, const vlm_tensor *pos, const vlm_tensor *inv_freq,
                          const int *sections, vlm_rope_sections layout, float attention_scaling,
                          const vlm_tensor *cos, const vlm_tensor *sin);
vlm_status cpu_rope(vlm_ctx *ctx, const vlm_tensor *x, const vlm_tensor *cos, const vlm_tensor *sin,
                    vlm_rope_mode mode, const vlm_tensor *out);
vlm_status cpu_attention(vlm_ctx *ctx, const vlm_tensor *q, const vlm_tensor *k,
                         const vlm_tensor *v, const vlm_attn_params *p, const vlm_tensor *out);
vlm_status cpu_gather_rows(vlm_ctx *ctx, const vlm_tensor *table, const vlm_tensor *ids,
                           const vlm_tensor *out);
vlm_status cpu_scatter_rows(vlm_ctx *ctx, const vlm_tensor *src, const vlm_tensor *ids,
                            const vlm_tensor *out);
vlm_status cpu_avg_pool2d(vlm_ctx *ctx, const vlm_tensor *x, int kh, int kw, int sh, int sw,
                          const vlm_tensor *out);
vlm_status cpu_interpolate(vlm_ctx *ctx, const vlm_tensor *x, vlm_interp_mode mode,
                           int align_corners, int antialias, const vlm_tensor *out);
vlm_status cpu_argmax(vlm_ctx *ctx, const vlm_tensor *x, const vlm_tensor *out);
vlm_status cpu_topk(vlm_ctx *ctx, const vlm_tensor *x, int64_t k, const vlm_tensor *values,
                    const vlm_tensor *indices);

#endif
