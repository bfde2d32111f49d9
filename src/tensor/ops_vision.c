/* Front ends of the vision ops (patch embedding, pooling, pixel shuffle, interpolation)
 * and of argmax / top-k. Patch embedding and pixel shuffle are composites built here from
 * strided views, vlm_op_copy and vlm_op_matmul, so every backend gets them for free. */
#include "tensor/ops_internal.h"

/* A view of base's buffer at base's offset (+ extra bytes) with the given shape and byte
 * strides; bounds-checked against the buffer. */
static bool make_view(vlm_ctx *ctx, const char *op, const vlm_tensor *base, int64_t extra, int ndim,
                      const int64_t *shape, const int64_t *stride, vlm_tensor *out) {
    vlm_error e;
    if (vlm_tensor_init_strided(out, base->buf, base->offset + extra, base->dtype, ndim, shape,
                                stride, &e) != VLM_OK) {
        vlm_ctx_fail(ctx, VLM_ERR_INTERNAL, "%s: view: %s", op, e.message);
        return false;
    }
    return true;
}

vlm_status vlm_op_patch_embed(vlm_ctx *ctx, const vlm_tensor *img, const vlm_tensor *w,
                              const vlm_tensor *bias, const vlm_tensor *out) {
    const char *op = "patch_embed";
    if (!vlm_op_begin(ctx)) return ctx ? ctx->status : VLM_ERR_INVALID_ARGUMENT;
    if (!vlm_check_tensor(ctx, op, "img", img) || !vlm_check_tensor(ctx, op, "w", w) ||
        !vlm_check_out(ctx, op, "out", out) || !vlm_check_dtype(ctx, op, "img", img, VLM_F_F32) ||
        !vlm_check_dtype(ctx, op, "w", w, VLM_F_FLOAT) ||
        !vlm_check_dtype(ctx, op, "out", out, VLM_F_F32) ||
        !vlm_check_ndim(ctx, op, "w", w, 4, 5) || !vlm_check_ndim(ctx, op, "out", out, 2, 2))
        return ctx->status;
    bool conv3d = w->ndim == 5;
    if (conv3d ? img->ndim != 4 : (img->ndim != 3 && img->ndim != 4))
        return vlm_ctx_fail(ctx, VLM_ERR_INVALID_ARGUMENT,
                            "%s: img %s must be [C, H, W] or [N, C, H, W] for a 2D kernel %s, "
                            "[C, T, H, W] for a 3D kernel",
                            op, D(img), D(w));
    int nd = img->ndim;
    int64_t e = w->shape[0], c = w->shape[1];
    int64_t kt = conv3d ? w->shape[2] : 1, kh = w->shape[w->ndim - 2], kw = w->shape[w->ndim - 1];
    int64_t ic = conv3d ? img->shape[0] : img->shape[nd - 3];
    int64_t n = conv3d ? 1 : (nd == 4 ? img->shape[0] : 1);
    int64_t t = conv3d ? img->shape[1] : 1;
    int64_t h = img->shape[nd - 2], wd = img->shape[nd - 1];
    if (ic != c || kt < 1 || kh < 1 || kw < 1 || t < kt || h < kh || wd < kw)
        return vlm_ctx_fail(ctx, VLM_ERR_INVALID_ARGUMENT,
                            "%s: img %s does not fit kernel %s (channels, or smaller than one "
                            "patch)",
                            op, D(img), D(w));
    int64_t tt = t / kt, gh = h / kh, gw = wd / kw;
    int64_t rows = n * tt * gh * gw, kdim = c * kt * kh * kw;
    if (out->shape[0] != rows || out->shape[1] != e)
        return vlm_ctx_fail(ctx, VLM_ERR_INVALID_ARGUMENT,
                            "%s: img %s, w %s give [%lld, %lld], out is %s", op, D(img), D(w),
                            (long long)rows, (long long)e, D(out));
    if (bias && !vlm_check_no_overlap(ctx, op, out, bias, false)) return ctx->status;
    if (!vlm_check_no_overlap(ctx, op, out, img, false)) return ctx->status;

    /* The patches as a strided view in (n|t', y, x, c, [kt,] ky, kx) order. */
    const int64_t *st = img->stride;
    int64_t shp[8], str[8];
    int vd;
    if (conv3d) { /* img [C, T, H, W] -> [T', gh, gw, C, kt, kh, kw] */
        int64_t s7[7] = {tt, gh, gw, c, kt, kh, kw};
        int64_t t7[7] = {st[1] * kt, st[2] * kh, st[3] * kw, st[0], st[1], st[2], st[3]};
        for (int i = 0; i < 7; i++)
            shp[i] = s7[i], str[i] = t7[i];
        vd = 7;
    } else { /* img [N, C, H, W] -> [N, gh, gw, C, kh, kw] */
        int64_t sn = nd == 4 ? st[0] : 0, sc = st[nd - 3], sh = st[nd - 2], sw = st[nd - 1];
        int64_t s6[6] = {n, gh, gw, c, kh, kw};
        int64_t t6[6] = {sn, sh * kh, sw * kw, sc, sh, sw};
        for (int i = 0; i < 6; i++)
            shp[i] = s6[i], str[i] = t6[i];
        vd = 6;
    }
    vlm_arena_mark mark = vlm_arena_get_mark(ctx->arena);
    vlm_tensor patches, cols, wc, w2;
    vlm_error er;
    if (!make_view(ctx, op, img, 0, vd, shp, str, &patches)) return ctx->status;
    int64_t cshape[8];
    for (int i = 0; i < vd; i++)
        cshape[i] = shp[i];
    if (vlm_ctx_tensor(ctx, VLM_DTYPE_F32, vd, cshape, &cols) != VLM_OK ||
        vlm_op_copy(ctx, &patches, &cols) != VLM_OK || vlm_op_contiguous(ctx, w, &wc) != VLM_OK)
        goto done;
    int64_t c2[2] = {rows, kdim}, w2s[2] = {e, kdim};
    if (vlm_tensor_reshape(&cols, 2, c2, &cols, &er) != VLM_OK ||
        vlm_tensor_reshape(&wc, 2, w2s, &w2, &er) != VLM_OK) {
        vlm_ctx_fail(ctx, VLM_ERR_INTERNAL, "%s: %s", op, er.message);
        goto done;
    }
    vlm_op_matmul(ctx, &cols, &w2, bias, out);
done:
    vlm_arena_release(ctx->arena, mark);
    return ctx->status;
}

vlm_status vlm_op_pixel_shuffle(vlm_ctx *ctx, const vlm_tensor *x, int r, const vlm_tensor *out) {
    const char *op = "pixel_shuffle";
    if (!vlm_op_begin(ctx)) return ctx ? ctx->status : VLM_ERR_INVALID_ARGUMENT;
    if (!vlm_check_tensor(ctx, op, "x", x) || !vlm_check_out(ctx, op, "out", out) ||
        !vlm_check_ndim(ctx, op, "x", x, 2, 3) || !vlm_check_no_overlap(ctx, op, out, x, false))
        return ctx->status;
    int nd = x->ndim;
    int64_t b = nd == 3 ? x->shape[0] : 1, seq = x->shape[nd - 2], e = x->shape[nd - 1];
    int64_t s = 0;
    while ((s + 1) * (s + 1) <= seq)
        s++;
    if (r < 1 || s * s != seq || s % r != 0)
        return vlm_ctx_fail(ctx, VLM_ERR_INVALID_ARGUMENT,
                            "%s: x %s needs a square number of rows whose side is a multiple of "
                            "r = %d",
                            op, D(x), r);
    int64_t q = s / r;
    bool ok = out->ndim == nd && out->shape[nd - 2] == q * q && out->shape[nd - 1] == e * r * r &&
              (nd == 2 || out->shape[0] == b);
    if (!ok)
        return vlm_ctx_fail(
            ctx, VLM_ERR_INVALID_ARGUMENT, "%s: x %s with r = %d gives [%s%lld, %lld], out is %s",
            op, D(x), r, nd == 3 ? "B, " : "", (long long)(q * q), (long long)(e * r * r), D(out));
    int64_t sb = nd == 3 ? x->stride[0] : 0, sr = x->stride[nd - 2], se = x->stride[nd - 1];
    int64_t ob = nd == 3 ? out->stride[0] : 0, orow = out->stride[nd - 2], oe = out->stride[nd - 1];
    /* x viewed as [B, h2, w2, hr, wr, E]; out as [B, h2, w2, hr, wr, E] (its row split in
     * (h2, w2), its columns in (hr, wr, E)). */
    int64_t shp[6] = {b, q, q, r, r, e};
    int64_t xs[6] = {sb, r * s * sr, r * sr, s * sr, sr, se};
    int64_t os[6] = {ob, q * orow, orow, r * e * oe, e * oe, oe};
    vlm_tensor xv, ov;
    if (!make_view(ctx, op, x, 0, 6, shp, xs, &xv) || !make_view(ctx, op, out, 0, 6, shp, os, &ov))
        return ctx->status;
    return vlm_op_copy(ctx, &xv, &ov);
}

vlm_status vlm_op_avg_pool2d(vlm_ctx *ctx, const vlm_tensor *x, int kh, int kw, int sh, int sw,
                             const vlm_tensor *out) {
    const char *op = "avg_pool2d";
    if (!vlm_op_begin(ctx)) return ctx ? ctx->status : VLM_ERR_INVALID_ARGUMENT;
    if (!vlm_check_tensor(ctx, op, "x", x) || !vlm_check_out(ctx, op, "out", out) ||
        !vlm_check_dtype(ctx, op, "x", x, VLM_F_F32) ||
        !vlm_check_dtype(ctx, op, "out", out, VLM_F_F32) ||
        !vlm_check_ndim(ctx, op, "x", x, 3, 3) || !vlm_check_ndim(ctx, op, "out", out, 3, 3) ||
        !vlm_check_no_overlap(ctx, op, out, x, false))
        return ctx->status;
    if (kh < 1 || kw < 1 || sh < 1 || sw < 1 || kh > x->shape[0] || kw > x->shape[1])
        return vlm_ctx_fail(ctx, VLM_ERR_INVALID_ARGUMENT,
                            "%s: kernel %dx%d stride %dx%d does not fit x %s", op, kh, kw, sh, sw,
                            D(x));
    int64_t oh = (x->shape[0] - kh) / sh + 1, ow = (x->shape[1] - kw) / sw + 1;
    if (out->shape[0] != oh || out->shape[1] != ow || out->shape[2] != x->shape[2])
        return vlm_ctx_fail(ctx, VLM_ERR_INVALID_ARGUMENT,
                            "%s: x %s gives [%lld, %lld, %lld], out is %s", op, D(x), (long long)oh,
                            (long long)ow, (long long)x->shape[2], D(out));
    if (vlm_tensor_numel(out) == 0) return VLM_OK;
    return vlm_op_end(ctx, ctx->backend->avg_pool2d(ctx, x, kh, kw, sh, sw, out));
}

vlm_status vlm_op_interpolate(vlm_ctx *ctx, const vlm_tensor *x, vlm_interp_mode mode,
                              int align_corners, int antialias, const vlm_tensor *out) {
    const char *op = "interpolate";
    if (!vlm_op_begin(ctx)) return ctx ? ctx->status : VLM_ERR_INVALID_ARGUMENT;
    if (!vlm_check_tensor(ctx, op, "x", x) || !vlm_check_out(ctx, op, "out", out) ||
        !vlm_check_dtype(ctx, op, "x", x, VLM_F_F32) ||
        !vlm_check_dtype(ctx, op, "out", out, VLM_F_F32) ||
        !vlm_check_ndim(ctx, op, "x", x, 2, 5) || !vlm_check_no_overlap(ctx, op, out, x, false))
        return ctx->status;
    if (mode != VLM_INTERP_BILINEAR && mode != VLM_INTERP_BICUBIC)
        return vlm_ctx_fail(ctx, VLM_ERR_INVALID_ARGUMENT, "%s: unknown mode %d", op, (int)mode);
    int nd = x->ndim;
    bool ok = out->ndim == nd && out->shape[nd - 2] >= 1 && out->shape[nd - 1] >= 1 &&
              x->shape[nd - 2] >= 1 && x->shape[nd - 1] >= 1;
    for (int i = 0; ok && i < nd - 2; i++)
        ok = out->shape[i] == x->shape[i];
    if (!ok)
        return vlm_ctx_fail(
            ctx, VLM_ERR_INVALID_ARGUMENT,
            "%s: x %s and out %s must agree except in the last two (non-empty) dims", op, D(x),
            D(out));
    if (vlm_tensor_numel(out) == 0) return VLM_OK;
    return vlm_op_end(ctx, ctx->backend->interpolate(ctx, x, mode, align_corners ? 1 : 0,
                                                     antialias ? 1 : 0, out));
}

/* out has x's shape without the last dimension (a 1-D x may also give [1]). */
static bool reduced_shape_ok(const vlm_tensor *x, const vlm_tensor *out, int64_t last) {
    if (x->ndim == 1 && out->ndim == 1 && out->shape[0] == 1 && last == 1) return true;
    if (out->ndim != x->ndim - (last == 1 ? 1 : 0)) return false;
    for (int i = 0; i < x->ndim - 1; i++)
        if (out->shape[i] != x->shape[i]) return false;
    return last == 1 || out->shape[out->ndim - 1] == last;
}

vlm_status vlm_op_argmax(vlm_ctx *ctx, const vlm_tensor *x, const vlm_tensor *out) {
    const char *op = "argmax";
    if (!vlm_op_begin(ctx)) return ctx ? ctx->status : VLM_ERR_INVALID_ARGUMENT;
    if (!vlm_check_tensor(ctx, op, "x", x) || !vlm_check_out(ctx, op, "out", out) ||
        !vlm_check_dtype(ctx, op, "x", x, VLM_F_F32) ||
        !vlm_check_dtype(ctx, op, "out", out, VLM_F_INDEX) ||
        !vlm_check_ndim(ctx, op, "x", x, 1, VLM_MAX_DIMS) ||
        !vlm_check_no_overlap(ctx, op, out, x, false))
        return ctx->status;
    if (x->shape[x->ndim - 1] < 1 || !reduced_shape_ok(x, out, 1))
        return vlm_ctx_fail(ctx, VLM_ERR_INVALID_ARGUMENT,
                            "%s: x %s (non-empty last dim) gives out %s", op, D(x), D(out));
    if (vlm_tensor_numel(out) == 0) return VLM_OK;
    return vlm_op_end(ctx, ctx->backend->argmax(ctx, x, out));
}

vlm_status vlm_op_topk(vlm_ctx *ctx, const vlm_tensor *x, int64_t k, const vlm_tensor *values,
                       const vlm_tensor *indices) {
    const char *op = "topk";
    if (!vlm_op_begin(ctx)) return ctx ? ctx->status : VLM_ERR_INVALID_ARGUMENT;
    if (!vlm_check_tensor(ctx, op, "x", x) || !vlm_check_dtype(ctx, op, "x", x, VLM_F_F32) ||
        !vlm_check_ndim(ctx, op, "x", x, 1, VLM_MAX_DIMS))
        return ctx->status;
    if (!values && !indices)
        return vlm_ctx_fail(ctx, VLM_ERR_INVALID_ARGUMENT, "%s: values and indices are NULL", op);
    int64_t n = x->shape[x->ndim - 1];
    if (k < 1 || k > n)
        return vlm_ctx_fail(ctx, VLM_ERR_INVALID_ARGUMENT, "%s: k = %lld for x %s", op,
                            (long long)k, D(x));
    if (values && (!vlm_check_out(ctx, op, "values", values) ||
                   !vlm_check_dtype(ctx, op, "values", values, VLM_F_F32) ||
                   !vlm_check_no_overlap(ctx, op, values, x, false)))
        return ctx->status;
    if (indices && (!vlm_check_out(ctx, op, "indices", indices) ||
                    !vlm_check_dtype(ctx, op, "indices", indices, VLM_F_INDEX) ||
                    !vlm_check_no_overlap(ctx, op, indices, x, false) ||
                    (values && !vlm_check_no_overlap(ctx, op, indices, values, false))))
        return ctx->status;
    const vlm_tensor *outs[2] = {values, indices};
    for (int i = 0; i < 2; i++) {
        if (!outs[i]) continue;
        bool ok = outs[i]->ndim == x->ndim && outs[i]->shape[x->ndim - 1] == k;
        for (int j = 0; ok && j < x->ndim - 1; j++)
            ok = outs[i]->shape[j] == x->shape[j];
        if (!ok)
            return vlm_ctx_fail(ctx, VLM_ERR_INVALID_ARGUMENT, "%s: x %s with k = %lld gives %s",
                                op, D(x), (long long)k, D(outs[i]));
    }
    if (vlm_tensor_numel(x) == 0) return VLM_OK;
    return vlm_op_end(ctx, ctx->backend->topk(ctx, x, k, values, indices));
}
