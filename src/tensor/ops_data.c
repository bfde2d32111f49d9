/* Front ends of the data-movement and elementwise ops (ops.h): checks, then dispatch.
 * contiguous and concat are built here from views and vlm_op_copy, so every backend gets
 * them for free. */
#include "tensor/ops_internal.h"

#define CONVERTIBLE                                                                                \
    ((1u << VLM_DTYPE_F32) | (1u << VLM_DTYPE_F16) | (1u << VLM_DTYPE_BF16) | (1u << VLM_DTYPE_F64))

static bool copy_dtypes_ok(vlm_dtype a, vlm_dtype b) {
    return a == b || ((CONVERTIBLE & (1u << a)) && (CONVERTIBLE & (1u << b)));
}

vlm_status vlm_op_copy(vlm_ctx *ctx, const vlm_tensor *src, const vlm_tensor *dst) {
    const char *op = "copy";
    if (!vlm_op_begin(ctx)) return ctx ? ctx->status : VLM_ERR_INVALID_ARGUMENT;
    if (!vlm_check_tensor(ctx, op, "src", src) || !vlm_check_out(ctx, op, "dst", dst) ||
        !vlm_check_same_shape(ctx, op, src, dst) || !vlm_check_no_overlap(ctx, op, dst, src, true))
        return ctx->status;
    if (!copy_dtypes_ok(src->dtype, dst->dtype))
        return vlm_ctx_fail(ctx, VLM_ERR_UNSUPPORTED, "copy: cannot convert %s to %s", D(src),
                            D(dst));
    if (vlm_tensor_numel(dst) == 0 || vlm_same_view(src, dst)) return VLM_OK;
    return vlm_op_end(ctx, ctx->backend->copy(ctx, src, dst));
}

vlm_status vlm_op_fill(vlm_ctx *ctx, const vlm_tensor *dst, float value) {
    const char *op = "fill";
    if (!vlm_op_begin(ctx)) return ctx ? ctx->status : VLM_ERR_INVALID_ARGUMENT;
    if (!vlm_check_out(ctx, op, "dst", dst) || !vlm_check_dtype(ctx, op, "dst", dst, CONVERTIBLE))
        return ctx->status;
    if (vlm_tensor_numel(dst) == 0) return VLM_OK;
    return vlm_op_end(ctx, ctx->backend->fill(ctx, dst, value));
}

vlm_status vlm_op_contiguous(vlm_ctx *ctx, const vlm_tensor *x, vlm_tensor *out) {
    if (!vlm_op_begin(ctx)) return ctx ? ctx->status : VLM_ERR_INVALID_ARGUMENT;
    if (!vlm_check_tensor(ctx, "contiguous", "x", x)) return ctx->status;
    if (!out) return vlm_ctx_fail(ctx, VLM_ERR_INVALID_ARGUMENT, "contiguous: out is NULL");
    if (vlm_tensor_is_contiguous(x)) {
        *out = *x;
        return VLM_OK;
    }
    vlm_tensor t;
    if (vlm_ctx_tensor(ctx, x->dtype, x->ndim, x->shape, &t) != VLM_OK) return ctx->status;
    if (vlm_op_copy(ctx, x, &t) != VLM_OK) return ctx->status;
    *out = t;
    return VLM_OK;
}

vlm_status vlm_op_concat(vlm_ctx *ctx, int n, const vlm_tensor *const *xs, int dim,
                         const vlm_tensor *out) {
    const char *op = "concat";
    if (!vlm_op_begin(ctx)) return ctx ? ctx->status : VLM_ERR_INVALID_ARGUMENT;
    if (!vlm_check_out(ctx, op, "out", out)) return ctx->status;
    if (n < 1 || !xs) return vlm_ctx_fail(ctx, VLM_ERR_INVALID_ARGUMENT, "concat: no inputs");
    int d = dim < 0 ? dim + out->ndim : dim;
    if (d < 0 || d >= out->ndim)
        return vlm_ctx_fail(ctx, VLM_ERR_INVALID_ARGUMENT, "concat: dim %d out of range for %s",
                            dim, D(out));
    int64_t total = 0;
    for (int i = 0; i < n; i++) {
        const vlm_tensor *x = xs[i];
        if (!vlm_check_tensor(ctx, op, "input", x)) return ctx->status;
        bool ok = x->ndim == out->ndim;
        for (int j = 0; ok && j < out->ndim; j++)
            ok = j == d || x->shape[j] == out->shape[j];
        if (!ok)
            return vlm_ctx_fail(ctx, VLM_ERR_INVALID_ARGUMENT,
                                "concat: input %d %s does not match %s outside dim %d", i, D(x),
                                D(out), d);
        if (!copy_dtypes_ok(x->dtype, out->dtype))
            return vlm_ctx_fail(ctx, VLM_ERR_UNSUPPORTED, "concat: cannot convert %s to %s", D(x),
                                D(out));
        if (!vlm_check_no_overlap(ctx, op, out, x, false)) return ctx->status;
        total += x->shape[d];
    }
    if (total != out->shape[d])
        return vlm_ctx_fail(ctx, VLM_ERR_INVALID_ARGUMENT,
                            "concat: inputs add up to %lld on dim %d, out %s", (long long)total, d,
                            D(out));
    int64_t at = 0;
    for (int i = 0; i < n; i++) {
        vlm_tensor part;
        vlm_error e;
        if (vlm_tensor_narrow(out, d, at, xs[i]->shape[d], &part, &e) != VLM_OK)
            return vlm_ctx_fail(ctx, e.status, "concat: %s", e.message);
        if (vlm_op_copy(ctx, xs[i], &part) != VLM_OK) return ctx->status;
        at += xs[i]->shape[d];
    }
    return VLM_OK;
}

static vlm_status gather_check(vlm_ctx *ctx, const char *op, const vlm_tensor *table,
                               const vlm_tensor *ids, const vlm_tensor *out) {
    if (!vlm_check_tensor(ctx, op, "table", table) || !vlm_check_ids(ctx, op, ids) ||
        !vlm_check_out(ctx, op, "out", out) || !vlm_check_ndim(ctx, op, "table", table, 2, 2) ||
        !vlm_check_ndim(ctx, op, "out", out, 2, 2) ||
        !vlm_check_no_overlap(ctx, op, out, table, false) ||
        !vlm_check_no_overlap(ctx, op, out, ids, false))
        return ctx->status;
    if (!(out->dtype == table->dtype ||
          (out->dtype == VLM_DTYPE_F32 && (VLM_F_FLOAT & (1u << table->dtype)))))
        return vlm_ctx_fail(ctx, VLM_ERR_UNSUPPORTED,
                            "%s: table %s must be f32/f16/bf16 with an f32 out, or out's dtype "
                            "(out %s)",
                            op, D(table), D(out));
    if (out->shape[0] != ids->shape[0] || out->shape[1] != table->shape[1])
        return vlm_ctx_fail(ctx, VLM_ERR_INVALID_ARGUMENT,
                            "%s: table %s, ids %s need out [%lld, %lld], got %s", op, D(table),
                            D(ids), (long long)ids->shape[0], (long long)table->shape[1], D(out));
    return VLM_OK;
}

vlm_status vlm_op_gather_rows(vlm_ctx *ctx, const vlm_tensor *table, const vlm_tensor *ids,
                              const vlm_tensor *out) {
    if (!vlm_op_begin(ctx)) return ctx ? ctx->status : VLM_ERR_INVALID_ARGUMENT;
    if (gather_check(ctx, "gather_rows", table, ids, out) != VLM_OK) return ctx->status;
    if (vlm_tensor_numel(out) == 0) return VLM_OK;
    return vlm_op_end(ctx, ctx->backend->gather_rows(ctx, table, ids, out));
}

vlm_status vlm_op_embedding(vlm_ctx *ctx, const vlm_tensor *table, const vlm_tensor *ids,
                            const vlm_tensor *out) {
    if (!vlm_op_begin(ctx)) return ctx ? ctx->status : VLM_ERR_INVALID_ARGUMENT;
    if (gather_check(ctx, "embedding", table, ids, out) != VLM_OK) return ctx->status;
    if (vlm_tensor_numel(out) == 0) return VLM_OK;
    return vlm_op_end(ctx, ctx->backend->gather_rows(ctx, table, ids, out));
}

vlm_status vlm_op_scatter_rows(vlm_ctx *ctx, const vlm_tensor *src, const vlm_tensor *ids,
                               const vlm_tensor *out) {
    const char *op = "scatter_rows";
    if (!vlm_op_begin(ctx)) return ctx ? ctx->status : VLM_ERR_INVALID_ARGUMENT;
    if (!vlm_check_tensor(ctx, op, "src", src) || !vlm_check_ids(ctx, op, ids) ||
        !vlm_check_out(ctx, op, "out", out) || !vlm_check_ndim(ctx, op, "src", src, 2, 2) ||
        !vlm_check_ndim(ctx, op, "out", out, 2, 2) ||
        !vlm_check_no_overlap(ctx, op, out, src, false) ||
        !vlm_check_no_overlap(ctx, op, out, ids, false))
        return ctx->status;
    if (!copy_dtypes_ok(src->dtype, out->dtype))
        return vlm_ctx_fail(ctx, VLM_ERR_UNSUPPORTED, "%s: cannot convert %s to %s", op, D(src),
                            D(out));
    if (src->shape[0] != ids->shape[0] || src->shape[1] != out->shape[1])
        return vlm_ctx_fail(ctx, VLM_ERR_INVALID_ARGUMENT, "%s: src %s, ids %s and out %s disagree",
                            op, D(src), D(ids), D(out));
    if (vlm_tensor_numel(src) == 0) return VLM_OK;
    return vlm_op_end(ctx, ctx->backend->scatter_rows(ctx, src, ids, out));
}

static vlm_status binary(vlm_ctx *ctx, const char *op, vlm_binary_op bop, const vlm_tensor *a,
                         const vlm_tensor *b, const vlm_tensor *out) {
    if (!vlm_op_begin(ctx)) return ctx ? ctx->status : VLM_ERR_INVALID_ARGUMENT;
    if (!vlm_check_tensor(ctx, op, "a", a) || !vlm_check_tensor(ctx, op, "b", b) ||
        !vlm_check_out(ctx, op, "out", out) || !vlm_check_dtype(ctx, op, "a", a, VLM_F_F32) ||
        !vlm_check_dtype(ctx, op, "b", b, VLM_F_FLOAT) ||
        !vlm_check_dtype(ctx, op, "out", out, VLM_F_F32) ||
        !vlm_check_same_shape(ctx, op, a, out) || !vlm_check_no_overlap(ctx, op, out, a, true) ||
        !vlm_check_no_overlap(ctx, op, out, b, true))
        return ctx->status;
    vlm_tensor bx;
    vlm_error e;
    if (vlm_tensor_expand(b, a->ndim, a->shape, &bx, &e) != VLM_OK)
        return vlm_ctx_fail(ctx, VLM_ERR_INVALID_ARGUMENT, "%s: b %s does not broadcast to a %s",
                            op, D(b), D(a));
    if (vlm_tensor_numel(out) == 0) return VLM_OK;
    return vlm_op_end(ctx, ctx->backend->binary(ctx, bop, a, &bx, out));
}

vlm_status vlm_op_add(vlm_ctx *ctx, const vlm_tensor *a, const vlm_tensor *b,
                      const vlm_tensor *out) {
    return binary(ctx, "add", VLM_BINARY_ADD, a, b, out);
}

vlm_status vlm_op_mul(vlm_ctx *ctx, const vlm_tensor *a, const vlm_tensor *b,
                      const vlm_tensor *out) {
    return binary(ctx, "mul", VLM_BINARY_MUL, a, b, out);
}

static bool unary_check(vlm_ctx *ctx, const char *op, const vlm_tensor *x, const vlm_tensor *out) {
    return vlm_check_tensor(ctx, op, "x", x) && vlm_check_out(ctx, op, "out", out) &&
           vlm_check_dtype(ctx, op, "x", x, VLM_F_F32) &&
           vlm_check_dtype(ctx, op, "out", out, VLM_F_F32) &&
           vlm_check_same_shape(ctx, op, x, out) && vlm_check_no_overlap(ctx, op, out, x, true);
}

vlm_status vlm_op_scale(vlm_ctx *ctx, const vlm_tensor *x, float s, const vlm_tensor *out) {
    if (!vlm_op_begin(ctx)) return ctx ? ctx->status : VLM_ERR_INVALID_ARGUMENT;
    if (!unary_check(ctx, "scale", x, out)) return ctx->status;
    if (vlm_tensor_numel(out) == 0) return VLM_OK;
    return vlm_op_end(ctx, ctx->backend->scale(ctx, x, s, out));
}

vlm_status vlm_op_act(vlm_ctx *ctx, vlm_act act, const vlm_tensor *x, const vlm_tensor *out) {
    if (!vlm_op_begin(ctx)) return ctx ? ctx->status : VLM_ERR_INVALID_ARGUMENT;
    if ((unsigned)act >= VLM_ACT_COUNT)
        return vlm_ctx_fail(ctx, VLM_ERR_INVALID_ARGUMENT, "act: unknown activation %d", (int)act);
    if (!unary_check(ctx, "act", x, out)) return ctx->status;
    if (vlm_tensor_numel(out) == 0) return VLM_OK;
    return vlm_op_end(ctx, ctx->backend->act(ctx, act, x, out));
}

vlm_status vlm_op_gated_act(vlm_ctx *ctx, vlm_act act, const vlm_tensor *gate, const vlm_tensor *up,
                            const vlm_tensor *out) {
    const char *op = "gated_act";
    if (!vlm_op_begin(ctx)) return ctx ? ctx->status : VLM_ERR_INVALID_ARGUMENT;
    if ((unsigned)act >= VLM_ACT_COUNT)
        return vlm_ctx_fail(ctx, VLM_ERR_INVALID_ARGUMENT, "%s: unknown activation %d", op,
                            (int)act);
    if (!unary_check(ctx, op, gate, out) || !vlm_check_tensor(ctx, op, "up", up) ||
        !vlm_check_dtype(ctx, op, "up", up, VLM_F_F32) || !vlm_check_same_shape(ctx, op, up, out) ||
        !vlm_check_no_overlap(ctx, op, out, up, true))
        return ctx->status;
    if (vlm_tensor_numel(out) == 0) return VLM_OK;
    return vlm_op_end(ctx, ctx->backend->gated_act(ctx, act, gate, up, out));
}
