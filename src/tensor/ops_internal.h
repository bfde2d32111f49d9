/* Helpers shared by the op front ends (ops_*.c): sticky-error handling and the argument
 * checks every op runs before it dispatches to the backend. Each check records a message
 * that starts with the op's name and shows the offending tensors as "f32[3,4]". */
#ifndef VLM_TENSOR_OPS_INTERNAL_H
#define VLM_TENSOR_OPS_INTERNAL_H

#include <stdbool.h>

#include "tensor/backend.h"
#include "tensor/ops.h"

/* Short descriptions of tensors for messages: D(t) expands to a temporary buffer. */
typedef struct vlm_desc {
    char s[160];
} vlm_desc;
vlm_desc vlm_desc_of(const vlm_tensor *t);
#define D(t) (vlm_desc_of(t).s)

/* The op may run: the context has no earlier failure. */
bool vlm_op_begin(vlm_ctx *ctx);
/* Makes a backend's status sticky (the backend wrote the message with vlm_ctx_fail). */
vlm_status vlm_op_end(vlm_ctx *ctx, vlm_status st);

/* t is non-NULL, lives in a buffer of the context's backend; "what" names it ("x"). */
bool vlm_check_tensor(vlm_ctx *ctx, const char *op, const char *what, const vlm_tensor *t);
/* Same, and writable (not a read-only buffer). */
bool vlm_check_out(vlm_ctx *ctx, const char *op, const char *what, const vlm_tensor *t);
/* dtype is one of the mask bits (1u << VLM_DTYPE_x). */
bool vlm_check_dtype(vlm_ctx *ctx, const char *op, const char *what, const vlm_tensor *t,
                     unsigned mask);
bool vlm_check_ndim(vlm_ctx *ctx, const char *op, const char *what, const vlm_tensor *t, int lo,
                    int hi);
/* The last dimension has stride == element size (or extent <= 1). */
bool vlm_check_inner_contiguous(vlm_ctx *ctx, const char *op, const char *what,
                                const vlm_tensor *t);
/* out may be `in` itself (identical view) when alias_ok, else must not overlap it. */
bool vlm_check_no_overlap(vlm_ctx *ctx, const char *op, const vlm_tensor *out, const vlm_tensor *in,
                          bool alias_ok);
bool vlm_check_same_shape(vlm_ctx *ctx, const char *op, const vlm_tensor *a, const vlm_tensor *b);
/* An ids tensor: 1-D, i32 or i64. */
bool vlm_check_ids(vlm_ctx *ctx, const char *op, const vlm_tensor *ids);

bool vlm_same_view(const vlm_tensor *a, const vlm_tensor *b);

/* The checks of vlm_op_matmul (float w) and of vlm_op_matmul_q (any w); false: the context
 * holds the failure. */
bool vlm_matmul_valid(vlm_ctx *ctx, const char *op, const vlm_tensor *x, const vlm_tensor *w,
                      const vlm_tensor *bias, const vlm_tensor *out);
bool vlm_matmul_q_valid(vlm_ctx *ctx, const char *op, const vlm_tensor *x, const vlm_qweight *w,
                        const vlm_tensor *bias, const vlm_tensor *out);

#define VLM_F_FLOAT ((1u << VLM_DTYPE_F32) | (1u << VLM_DTYPE_F16) | (1u << VLM_DTYPE_BF16))
#define VLM_F_F32 (1u << VLM_DTYPE_F32)
#define VLM_F_INDEX ((1u << VLM_DTYPE_I32) | (1u << VLM_DTYPE_I64))
#define VLM_F_I64 (1u << VLM_DTYPE_I64)

#endif
