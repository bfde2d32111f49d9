/* The backend interface (private to src/tensor): a table of function pointers, one per
 * memory operation and one per op. ops.c validates every argument (shapes, dtypes,
 * overlaps, bounds of views) before it calls an entry, so a backend only computes. A new
 * backend (CUDA) is a new folder that fills this table; nothing outside src/tensor sees it.
 *
 * Entries report failures (out of memory for temporaries, an index out of range found
 * while reading ids, a device error) with vlm_ctx_fail, which records the message in the
 * context; ops.c makes the status sticky. */
#ifndef VLM_TENSOR_BACKEND_H
#define VLM_TENSOR_BACKEND_H

#include "core/error.h"
#include "tensor/graph.h"
#include "tensor/ops.h"

typedef enum vlm_binary_op {
    VLM_BINARY_ADD = 0,
    VLM_BINARY_MUL,
} vlm_binary_op;

struct vlm_backend {
    const char *name;
    int host_memory; /* buffer data are host addresses (vlm_buffer_wrap allowed) */

    /* ------------------------------------------------------------ memory */
    vlm_status (*alloc)(size_t size, void **data, vlm_error *err); /* 64-byte aligned */
    void (*free)(void *data);
    vlm_status (*upload)(void *dst, const void *src, size_t n, vlm_error *err);
    vlm_status (*download)(void *dst, const void *src, size_t n, vlm_error *err);

    /* ------------------------------------------------------------ ops (see ops.h) */
    vlm_status (*copy)(vlm_ctx *ctx, const vlm_tensor *src, const vlm_tensor *dst);
    vlm_status (*fill)(vlm_ctx *ctx, const vlm_tensor *dst, float value);
    /* b is already expanded to a's shape (stride-0 dimensions). */
    vlm_status (*binary)(vlm_ctx *ctx, vlm_binary_op op, const vlm_tensor *a, const vlm_tensor *b,
                         const vlm_tensor *out);
    vlm_status (*scale)(vlm_ctx *ctx, const vlm_tensor *x, float s, const vlm_tensor *out);
    vlm_status (*act)(vlm_ctx *ctx, vlm_act act, const vlm_tensor *x, const vlm_tensor *out);
    vlm_status (*gated_act)(vlm_ctx *ctx, vlm_act act, const vlm_tensor *gate, const vlm_tensor *up,
                            const vlm_tensor *out);
    vlm_status (*rms_norm)(vlm_ctx *ctx, const vlm_tensor *x, const vlm_tensor *w, float eps,
                           float w_offset, const vlm_tensor *out);
    vlm_status (*layer_norm)(vlm_ctx *ctx, const vlm_tensor *x, const vlm_tensor *w,
                             const vlm_tensor *b, float eps, const vlm_tensor *out);
    vlm_status (*softmax)(vlm_ctx *ctx, const vlm_tensor *x, const vlm_tensor *out);
    vlm_status (*matmul)(vlm_ctx *ctx, const vlm_tensor *x, const vlm_tensor *w,
                         const vlm_tensor *bias, const vlm_tensor *out);
    vlm_status (*bmm)(vlm_ctx *ctx, const vlm_tensor *a, const vlm_tensor *b,
                      const vlm_tensor *out);
    /* The fused products of ops.h (each part validated as matmul_q, weights float or
     * quantized in any mix; norm NULL or validated): n <= VLM_MATMUL_MANY_MAX products of
     * one (normalized) x; out += x @ w^T + bias; out = act(xn @ wg^T + bg) * (xn @ wu^T +
     * bu). NULL: the front end composes them from rms_norm, matmul(_q), binary, gated_act. */
    vlm_status (*matmul_many)(vlm_ctx *ctx, const vlm_tensor *x, const vlm_prenorm *norm, int n,
                              const vlm_qweight *const *w, const vlm_tensor *const *bias,
                              const vlm_tensor *const *out);
    vlm_status (*matmul_add)(vlm_ctx *ctx, const vlm_tensor *x, const vlm_qweight *w,
                             const vlm_tensor *bias, const vlm_tensor *out);
    vlm_status (*matmul_gated)(vlm_ctx *ctx, const vlm_tensor *x, const vlm_prenorm *norm,
                               vlm_act act, const vlm_qweight *wg, const vlm_tensor *bg,
                               const vlm_qweight *wu, const vlm_tensor *bu, const vlm_tensor *out);
    /* w is quantized (bits > 0), validated as ops.h says; NULL when unsupported. */
    vlm_status (*matmul_q)(vlm_ctx *ctx, const vlm_tensor *x, const vlm_qweight *w,
                           const vlm_tensor *bias, const vlm_tensor *out);
    vlm_status (*rope_table)(vlm_ctx *ctx, const vlm_tensor *pos, const vlm_tensor *inv_freq,
                             const int *sections, vlm_rope_sections layout, float attention_scaling,
                             const vlm_tensor *cos, const vlm_tensor *sin);
    vlm_status (*rope)(vlm_ctx *ctx, const vlm_tensor *x, const vlm_tensor *cos,
                       const vlm_tensor *sin, vlm_rope_mode mode, const vlm_tensor *out);
    vlm_status (*attention)(vlm_ctx *ctx, const vlm_tensor *q, const vlm_tensor *k,
                            const vlm_tensor *v, const vlm_attn_params *p, const vlm_tensor *out);
    vlm_status (*gather_rows)(vlm_ctx *ctx, const vlm_tensor *table, const vlm_tensor *ids,
                              const vlm_tensor *out);
    /* table is quantized; ids are not yet range-checked (as gather_rows). NULL when
     * unsupported. */
    vlm_status (*gather_rows_q)(vlm_ctx *ctx, const vlm_qweight *table, const vlm_tensor *ids,
                                const vlm_tensor *out);
    vlm_status (*scatter_rows)(vlm_ctx *ctx, const vlm_tensor *src, const vlm_tensor *ids,
                               const vlm_tensor *out);
    vlm_status (*avg_pool2d)(vlm_ctx *ctx, const vlm_tensor *x, int kh, int kw, int sh, int sw,
                             const vlm_tensor *out);
    vlm_status (*interpolate)(vlm_ctx *ctx, const vlm_tensor *x, vlm_interp_mode mode,
                              int align_corners, int antialias, const vlm_tensor *out);
    vlm_status (*argmax)(vlm_ctx *ctx, const vlm_tensor *x, const vlm_tensor *out);
    vlm_status (*topk)(vlm_ctx *ctx, const vlm_tensor *x, int64_t k, const vlm_tensor *values,
                       const vlm_tensor *indices);

    /* ------------------------------------------------------------ graphs (graph.h); NULL
     * when the backend has none. A vlm_graph's first member is its backend pointer. */
    vlm_status (*graph_begin)(vlm_ctx *ctx);
    vlm_status (*graph_end)(vlm_ctx *ctx, vlm_graph **g);
    vlm_status (*graph_launch)(vlm_ctx *ctx, vlm_graph *g);
    void (*graph_free)(vlm_graph *g);
};

/* Records a failure in the context (message prefixed by nothing; callers name the op) and
 * returns the status. */
vlm_status vlm_ctx_fail(vlm_ctx *ctx, vlm_status status, const char *fmt, ...) VLM_PRINTF(3, 4);

#endif
