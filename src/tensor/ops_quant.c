/* Front ends of the ops on possibly-quantized weights (ops.h, "quantized weights"): a float
 * weight goes to the plain op; a quantized one is checked against the MLX format's shape
 * rules (naming the tensors and the bits / group size), then dispatched. */
#include "tensor/ops_internal.h"

/* The quantized weight's own consistency; *k gets K. */
static bool qweight_check(vlm_ctx *ctx, const char *op, const vlm_qweight *q, int64_t *k) {
    if (!(q->bits == 2 || q->bits == 3 || q->bits == 4 || q->bits == 5 || q->bits == 6 ||
          q->bits == 8) ||
        !(q->group_size == 32 || q->group_size == 64 || q->group_size == 128)) {
        vlm_ctx_fail(ctx, VLM_ERR_UNSUPPORTED,
                     "%s: quantization with %d bits and group size %d is not supported (bits 2, "
                     "3, 4, 5, 6, 8; group size 32, 64, 128)",
                     op, q->bits, q->group_size);
        return false;
    }
    if (!vlm_check_tensor(ctx, op, "w", &q->w) ||
        !vlm_check_tensor(ctx, op, "scales", &q->scales) ||
        !vlm_check_tensor(ctx, op, "biases", &q->biases) ||
        !vlm_check_dtype(ctx, op, "w", &q->w, 1u << VLM_DTYPE_U32) ||
        !vlm_check_dtype(ctx, op, "scales", &q->scales, VLM_F_FLOAT) ||
        !vlm_check_ndim(ctx, op, "w", &q->w, 2, 2) ||
        !vlm_check_ndim(ctx, op, "scales", &q->scales, 2, 2) ||
        !vlm_check_inner_contiguous(ctx, op, "w", &q->w) ||
        !vlm_check_inner_contiguous(ctx, op, "scales", &q->scales) ||
        !vlm_check_inner_contiguous(ctx, op, "biases", &q->biases))
        return false;
    const vlm_tensor *w = &q->w, *s = &q->scales, *b = &q->biases;
    int64_t n = w->shape[0], words = w->shape[1];
    bool ok = (words * 32) % q->bits == 0;
    int64_t cols = ok ? words * 32 / q->bits : 0;
    ok = ok && cols % q->group_size == 0 && s->shape[0] == n &&
         s->shape[1] == cols / q->group_size && b->dtype == s->dtype && vlm_tensor_same_shape(b, s);
    if (!ok) {
        vlm_ctx_fail(ctx, VLM_ERR_INVALID_ARGUMENT,
                     "%s: quantized weight w %s, scales %s, biases %s do not fit %d bits with "
                     "group size %d (w [N, K * bits / 32], scales and biases [N, K / group] of "
                     "one dtype)",
                     op, D(w), D(s), D(b), q->bits, q->group_size);
        return false;
    }
    *k = cols;
    return true;
}

bool vlm_matmul_q_valid(vlm_ctx *ctx, const char *op, const vlm_tensor *x, const vlm_qweight *w,
                        const vlm_tensor *bias, const vlm_tensor *out) {
    if (!w || !out) {
        vlm_ctx_fail(ctx, VLM_ERR_INVALID_ARGUMENT, "%s: w or out is NULL", op);
        return false;
    }
    if (w->bits == 0) return vlm_matmul_valid(ctx, op, x, &w->w, bias, out);
    int64_t k;
    if (!qweight_check(ctx, op, w, &k) || !vlm_check_tensor(ctx, op, "x", x) ||
        !vlm_check_out(ctx, op, "out", out) || !vlm_check_dtype(ctx, op, "x", x, VLM_F_F32) ||
        !vlm_check_dtype(ctx, op, "out", out, VLM_F_F32) ||
        !vlm_check_ndim(ctx, op, "x", x, 1, VLM_MAX_DIMS) ||
        !vlm_check_no_overlap(ctx, op, out, x, false) ||
        !vlm_check_no_overlap(ctx, op, out, &w->w, false) ||
        !vlm_check_no_overlap(ctx, op, out, &w->scales, false) ||
        !vlm_check_no_overlap(ctx, op, out, &w->biases, false))
        return false;
    int64_t n = w->w.shape[0];
    bool ok = x->ndim == out->ndim && x->shape[x->ndim - 1] == k && out->shape[out->ndim - 1] == n;
    for (int i = 0; ok && i < x->ndim - 1; i++)
        ok = x->shape[i] == out->shape[i];
    if (!ok) {
        vlm_ctx_fail(ctx, VLM_ERR_INVALID_ARGUMENT,
                     "%s: x %s @ w [%lld, %lld]^T (%d-bit) needs out [..., %lld] with x's "
                     "leading extents, got %s",
                     op, D(x), (long long)n, (long long)k, w->bits, (long long)n, D(out));
        return false;
    }
    if (bias) {
        if (!vlm_check_tensor(ctx, op, "bias", bias) ||
            !vlm_check_dtype(ctx, op, "bias", bias, VLM_F_FLOAT) ||
            !vlm_check_no_overlap(ctx, op, out, bias, false))
            return false;
        if (bias->ndim != 1 || bias->shape[0] != n) {
            vlm_ctx_fail(ctx, VLM_ERR_INVALID_ARGUMENT, "%s: bias %s must be [%lld]", op, D(bias),
                         (long long)n);
            return false;
        }
    }
    if (!ctx->backend->matmul_q) {
        vlm_ctx_fail(ctx, VLM_ERR_UNSUPPORTED, "%s: backend %s has no quantized matmul", op,
                     vlm_backend_name(ctx->backend));
        return false;
    }
    return true;
}

vlm_status vlm_op_matmul_q(vlm_ctx *ctx, const vlm_tensor *x, const vlm_qweight *w,
                           const vlm_tensor *bias, const vlm_tensor *out) {
    const char *op = "matmul_q";
    if (!vlm_op_begin(ctx)) return ctx ? ctx->status : VLM_ERR_INVALID_ARGUMENT;
    if (!w) return vlm_ctx_fail(ctx, VLM_ERR_INVALID_ARGUMENT, "%s: w is NULL", op);
    if (w->bits == 0) return vlm_op_matmul(ctx, x, &w->w, bias, out);
    if (!vlm_matmul_q_valid(ctx, op, x, w, bias, out)) return ctx->status;
    if (vlm_tensor_numel(out) == 0) return VLM_OK;
    return vlm_op_end(ctx, ctx->backend->matmul_q(ctx, x, w, bias, out));
}

vlm_status vlm_op_embedding_q(vlm_ctx *ctx, const vlm_qweight *table, const vlm_tensor *ids,
                              const vlm_tensor *out) {
    const char *op = "embedding_q";
    if (!vlm_op_begin(ctx)) return ctx ? ctx->status : VLM_ERR_INVALID_ARGUMENT;
    if (!table) return vlm_ctx_fail(ctx, VLM_ERR_INVALID_ARGUMENT, "%s: table is NULL", op);
    if (table->bits == 0) return vlm_op_embedding(ctx, &table->w, ids, out);
    int64_t k;
    if (!qweight_check(ctx, op, table, &k) || !vlm_check_ids(ctx, op, ids) ||
        !vlm_check_out(ctx, op, "out", out) || !vlm_check_dtype(ctx, op, "out", out, VLM_F_F32) ||
        !vlm_check_ndim(ctx, op, "out", out, 2, 2) ||
        !vlm_check_no_overlap(ctx, op, out, ids, false) ||
        !vlm_check_no_overlap(ctx, op, out, &table->w, false) ||
        !vlm_check_no_overlap(ctx, op, out, &table->scales, false) ||
        !vlm_check_no_overlap(ctx, op, out, &table->biases, false))
        return ctx->status;
    if (out->shape[0] != ids->shape[0] || out->shape[1] != k)
        return vlm_ctx_fail(ctx, VLM_ERR_INVALID_ARGUMENT,
                            "%s: table [%lld, %lld] (%d-bit), ids %s need out [%lld, %lld], got %s",
                            op, (long long)table->w.shape[0], (long long)k, table->bits, D(ids),
                            (long long)ids->shape[0], (long long)k, D(out));
    if (!ctx->backend->gather_rows_q)
        return vlm_ctx_fail(ctx, VLM_ERR_UNSUPPORTED,
                            "%s: backend %s has no quantized embedding lookup", op,
                            vlm_backend_name(ctx->backend));
    if (vlm_tensor_numel(out) == 0) return VLM_OK;
    return vlm_op_end(ctx, ctx->backend->gather_rows_q(ctx, table, ids, out));
}
