/* Front ends of the neural-network ops (ops.h): normalization, softmax, matrix products,
 * rotary embeddings and attention. Checks, then dispatch. */
#include "tensor/ops_internal.h"

static bool param_vec(vlm_ctx *ctx, const char *op, const char *what, const vlm_tensor *p,
                      int64_t d) {
    if (!vlm_check_tensor(ctx, op, what, p) || !vlm_check_dtype(ctx, op, what, p, VLM_F_FLOAT))
        return false;
    if (p->ndim != 1 || p->shape[0] != d) {
        vlm_ctx_fail(ctx, VLM_ERR_INVALID_ARGUMENT, "%s: %s %s must be [%lld]", op, what, D(p),
                     (long long)d);
        return false;
    }
    return true;
}

static bool row_op_check(vlm_ctx *ctx, const char *op, const vlm_tensor *x, const vlm_tensor *out) {
    return vlm_check_tensor(ctx, op, "x", x) && vlm_check_out(ctx, op, "out", out) &&
           vlm_check_dtype(ctx, op, "x", x, VLM_F_F32) &&
           vlm_check_dtype(ctx, op, "out", out, VLM_F_F32) &&
           vlm_check_ndim(ctx, op, "x", x, 1, VLM_MAX_DIMS) &&
           vlm_check_same_shape(ctx, op, x, out) && vlm_check_no_overlap(ctx, op, out, x, true);
}

vlm_status vlm_op_rms_norm(vlm_ctx *ctx, const vlm_tensor *x, const vlm_tensor *w, float eps,
                           float w_offset, const vlm_tensor *out) {
    const char *op = "rms_norm";
    if (!vlm_op_begin(ctx)) return ctx ? ctx->status : VLM_ERR_INVALID_ARGUMENT;
    if (!row_op_check(ctx, op, x, out)) return ctx->status;
    if (w && !param_vec(ctx, op, "w", w, x->shape[x->ndim - 1])) return ctx->status;
    if (!(eps >= 0.0f)) return vlm_ctx_fail(ctx, VLM_ERR_INVALID_ARGUMENT, "%s: eps %g", op, eps);
    if (vlm_tensor_numel(x) == 0) return VLM_OK;
    return vlm_op_end(ctx, ctx->backend->rms_norm(ctx, x, w, eps, w_offset, out));
}

vlm_status vlm_op_layer_norm(vlm_ctx *ctx, const vlm_tensor *x, const vlm_tensor *w,
                             const vlm_tensor *b, float eps, const vlm_tensor *out) {
    const char *op = "layer_norm";
    if (!vlm_op_begin(ctx)) return ctx ? ctx->status : VLM_ERR_INVALID_ARGUMENT;
    if (!row_op_check(ctx, op, x, out)) return ctx->status;
    int64_t d = x->shape[x->ndim - 1];
    if ((w && !param_vec(ctx, op, "w", w, d)) || (b && !param_vec(ctx, op, "b", b, d)))
        return ctx->status;
    if (!(eps >= 0.0f)) return vlm_ctx_fail(ctx, VLM_ERR_INVALID_ARGUMENT, "%s: eps %g", op, eps);
    if (vlm_tensor_numel(x) == 0) return VLM_OK;
    return vlm_op_end(ctx, ctx->backend->layer_norm(ctx, x, w, b, eps, out));
}

vlm_status vlm_op_softmax(vlm_ctx *ctx, const vlm_tensor *x, const vlm_tensor *out) {
    if (!vlm_op_begin(ctx)) return ctx ? ctx->status : VLM_ERR_INVALID_ARGUMENT;
    if (!row_op_check(ctx, "softmax", x, out)) return ctx->status;
    if (vlm_tensor_numel(x) == 0) return VLM_OK;
    return vlm_op_end(ctx, ctx->backend->softmax(ctx, x, out));
}

bool vlm_matmul_valid(vlm_ctx *ctx, const char *op, const vlm_tensor *x, const vlm_tensor *w,
                      const vlm_tensor *bias, const vlm_tensor *out) {
    if (!vlm_check_tensor(ctx, op, "x", x) || !vlm_check_tensor(ctx, op, "w", w) ||
        !vlm_check_out(ctx, op, "out", out) || !vlm_check_dtype(ctx, op, "x", x, VLM_F_F32) ||
        !vlm_check_dtype(ctx, op, "w", w, VLM_F_FLOAT) ||
        !vlm_check_dtype(ctx, op, "out", out, VLM_F_F32) ||
        !vlm_check_ndim(ctx, op, "x", x, 1, VLM_MAX_DIMS) ||
        !vlm_check_ndim(ctx, op, "w", w, 2, 2) || !vlm_check_inner_contiguous(ctx, op, "w", w) ||
        !vlm_check_no_overlap(ctx, op, out, x, false) ||
        !vlm_check_no_overlap(ctx, op, out, w, false))
        return false;
    int64_t n = w->shape[0], k = w->shape[1];
    bool ok = x->ndim == out->ndim && x->shape[x->ndim - 1] == k && out->shape[out->ndim - 1] == n;
    for (int i = 0; ok && i < x->ndim - 1; i++)
        ok = x->shape[i] == out->shape[i];
    if (!ok) {
        vlm_ctx_fail(ctx, VLM_ERR_INVALID_ARGUMENT,
                     "%s: x %s @ w %s^T needs out [..., %lld] with x's leading extents, got %s", op,
                     D(x), D(w), (long long)n, D(out));
        return false;
    }
    return !bias ||
           (param_vec(ctx, op, "bias", bias, n) && vlm_check_no_overlap(ctx, op, out, bias, false));
}

vlm_status vlm_op_matmul(vlm_ctx *ctx, const vlm_tensor *x, const vlm_tensor *w,
                         const vlm_tensor *bias, const vlm_tensor *out) {
    if (!vlm_op_begin(ctx)) return ctx ? ctx->status : VLM_ERR_INVALID_ARGUMENT;
    if (!vlm_matmul_valid(ctx, "matmul", x, w, bias, out)) return ctx->status;
    if (vlm_tensor_numel(out) == 0) return VLM_OK;
    return vlm_op_end(ctx, ctx->backend->matmul(ctx, x, w, bias, out));
}

/* A contiguous f32 temporary shaped like t, from the arena. */
static vlm_status temp_like(vlm_ctx *ctx, const vlm_tensor *t, vlm_tensor *out) {
    return vlm_ctx_tensor(ctx, VLM_DTYPE_F32, t->ndim, t->shape, out);
}

static bool prenorm_valid(vlm_ctx *ctx, const char *op, const vlm_tensor *x,
                          const vlm_prenorm *norm) {
    if (!norm) return true;
    if (!vlm_check_tensor(ctx, op, "x", x) || !vlm_check_dtype(ctx, op, "x", x, VLM_F_F32) ||
        !vlm_check_ndim(ctx, op, "x", x, 1, VLM_MAX_DIMS))
        return false;
    if (norm->w && !param_vec(ctx, op, "norm w", norm->w, x->shape[x->ndim - 1])) return false;
    if (!(norm->eps >= 0.0f)) {
        vlm_ctx_fail(ctx, VLM_ERR_INVALID_ARGUMENT, "%s: norm eps %g", op, norm->eps);
        return false;
    }
    return true;
}

/* *xn = x, or RMSNorm(x) into an arena temporary (the composed form of a prenorm). */
static vlm_status normed(vlm_ctx *ctx, const vlm_tensor *x, const vlm_prenorm *norm,
                         vlm_tensor *xn) {
    if (!norm) {
        *xn = *x;
        return VLM_OK;
    }
    vlm_status s = temp_like(ctx, x, xn);
    if (s == VLM_OK) s = vlm_op_rms_norm(ctx, x, norm->w, norm->eps, norm->w_offset, xn);
    return s;
}

vlm_status vlm_op_matmul_many(vlm_ctx *ctx, const vlm_tensor *x, const vlm_prenorm *norm, int n,
                              const vlm_qweight *const *w, const vlm_tensor *const *bias,
                              const vlm_tensor *const *out) {
    const char *op = "matmul_many";
    if (!vlm_op_begin(ctx)) return ctx ? ctx->status : VLM_ERR_INVALID_ARGUMENT;
    if (n < 1 || n > VLM_MATMUL_MANY_MAX || !w || !bias || !out)
        return vlm_ctx_fail(ctx, VLM_ERR_INVALID_ARGUMENT, "%s: %d products (1 to %d, arrays set)",
                            op, n, VLM_MATMUL_MANY_MAX);
    if (!prenorm_valid(ctx, op, x, norm)) return ctx->status;
    bool fused = ctx->backend->matmul_many != NULL;
    for (int i = 0; i < n; i++) {
        if (!vlm_matmul_q_valid(ctx, op, x, w[i], bias[i], out[i])) return ctx->status;
        for (int j = 0; j < i; j++)
            if (!vlm_check_no_overlap(ctx, op, out[i], out[j], false)) return ctx->status;
        if (vlm_tensor_numel(out[i]) == 0) fused = false;
    }
    if (fused) return vlm_op_end(ctx, ctx->backend->matmul_many(ctx, x, norm, n, w, bias, out));
    vlm_arena_mark mark = vlm_arena_get_mark(ctx->arena);
    vlm_tensor xn;
    if (normed(ctx, x, norm, &xn) == VLM_OK)
        for (int i = 0; i < n && ctx->status == VLM_OK; i++)
            vlm_op_matmul_q(ctx, &xn, w[i], bias[i], out[i]);
    vlm_arena_release(ctx->arena, mark);
    return ctx->status;
}

vlm_status vlm_op_matmul_add(vlm_ctx *ctx, const vlm_tensor *x, const vlm_qweight *w,
                             const vlm_tensor *bias, const vlm_tensor *out) {
    const char *op = "matmul_add";
    if (!vlm_op_begin(ctx)) return ctx ? ctx->status : VLM_ERR_INVALID_ARGUMENT;
    if (!vlm_matmul_q_valid(ctx, op, x, w, bias, out)) return ctx->status;
    if (vlm_tensor_numel(out) == 0) return VLM_OK;
    if (ctx->backend->matmul_add)
        return vlm_op_end(ctx, ctx->backend->matmul_add(ctx, x, w, bias, out));
    vlm_arena_mark mark = vlm_arena_get_mark(ctx->arena);
    vlm_tensor t;
    if (temp_like(ctx, out, &t) == VLM_OK && vlm_op_matmul_q(ctx, x, w, bias, &t) == VLM_OK)
        vlm_op_add(ctx, out, &t, out);
    vlm_arena_release(ctx->arena, mark);
    return ctx->status;
}

vlm_status vlm_op_matmul_gated(vlm_ctx *ctx, const vlm_tensor *x, const vlm_prenorm *norm,
                               vlm_act act, const vlm_qweight *wg, const vlm_tensor *bg,
                               const vlm_qweight *wu, const vlm_tensor *bu, const vlm_tensor *out) {
    const char *op = "matmul_gated";
    if (!vlm_op_begin(ctx)) return ctx ? ctx->status : VLM_ERR_INVALID_ARGUMENT;
    if ((unsigned)act >= VLM_ACT_COUNT)
        return vlm_ctx_fail(ctx, VLM_ERR_INVALID_ARGUMENT, "%s: unknown activation %d", op,
                            (int)act);
    if (!prenorm_valid(ctx, op, x, norm) || !vlm_matmul_q_valid(ctx, op, x, wg, bg, out) ||
        !vlm_matmul_q_valid(ctx, op, x, wu, bu, out))
        return ctx->status;
    if (vlm_tensor_numel(out) == 0) return VLM_OK;
    if (ctx->backend->matmul_gated)
        return vlm_op_end(ctx, ctx->backend->matmul_gated(ctx, x, norm, act, wg, bg, wu, bu, out));
    vlm_arena_mark mark = vlm_arena_get_mark(ctx->arena);
    vlm_tensor g, u;
    if (temp_like(ctx, out, &g) == VLM_OK && temp_like(ctx, out, &u) == VLM_OK) {
        const vlm_qweight *ws[2] = {wg, wu};
        const vlm_tensor *bs[2] = {bg, bu}, *os[2] = {&g, &u};
        if (vlm_op_matmul_many(ctx, x, norm, 2, ws, bs, os) == VLM_OK)
            vlm_op_gated_act(ctx, act, &g, &u, out);
    }
    vlm_arena_release(ctx->arena, mark);
    return ctx->status;
}

vlm_status vlm_op_bmm(vlm_ctx *ctx, const vlm_tensor *a, const vlm_tensor *b,
                      const vlm_tensor *out) {
    const char *op = "bmm";
    if (!vlm_op_begin(ctx)) return ctx ? ctx->status : VLM_ERR_INVALID_ARGUMENT;
    if (!vlm_check_tensor(ctx, op, "a", a) || !vlm_check_tensor(ctx, op, "b", b) ||
        !vlm_check_out(ctx, op, "out", out) || !vlm_check_dtype(ctx, op, "a", a, VLM_F_F32) ||
        !vlm_check_dtype(ctx, op, "b", b, VLM_F_F32) ||
        !vlm_check_dtype(ctx, op, "out", out, VLM_F_F32) ||
        !vlm_check_ndim(ctx, op, "out", out, 2, VLM_MAX_DIMS) ||
        !vlm_check_no_overlap(ctx, op, out, a, false) ||
        !vlm_check_no_overlap(ctx, op, out, b, false))
        return ctx->status;
    int nd = out->ndim;
    bool ok = a->ndim == nd && b->ndim == nd && a->shape[nd - 2] == out->shape[nd - 2] &&
              b->shape[nd - 1] == out->shape[nd - 1] && a->shape[nd - 1] == b->shape[nd - 2];
    for (int i = 0; ok && i < nd - 2; i++)
        ok = (a->shape[i] == out->shape[i] || a->shape[i] == 1) &&
             (b->shape[i] == out->shape[i] || b->shape[i] == 1);
    if (!ok)
        return vlm_ctx_fail(ctx, VLM_ERR_INVALID_ARGUMENT, "%s: a %s @ b %s does not give out %s",
                            op, D(a), D(b), D(out));
    if (vlm_tensor_numel(out) == 0) return VLM_OK;
    return vlm_op_end(ctx, ctx->backend->bmm(ctx, a, b, out));
}

vlm_status vlm_op_rope_table(vlm_ctx *ctx, const vlm_tensor *pos, const vlm_tensor *inv_freq,
                             const int *sections, vlm_rope_sections layout, float attention_scaling,
                             const vlm_tensor *cos, const vlm_tensor *sin) {
    const char *op = "rope_table";
    if (!vlm_op_begin(ctx)) return ctx ? ctx->status : VLM_ERR_INVALID_ARGUMENT;
    if (!vlm_check_tensor(ctx, op, "pos", pos) ||
        !vlm_check_tensor(ctx, op, "inv_freq", inv_freq) || !vlm_check_out(ctx, op, "cos", cos) ||
        !vlm_check_out(ctx, op, "sin", sin) || !vlm_check_dtype(ctx, op, "pos", pos, VLM_F_INDEX) ||
        !vlm_check_dtype(ctx, op, "inv_freq", inv_freq, VLM_F_F32) ||
        !vlm_check_dtype(ctx, op, "cos", cos, VLM_F_F32) ||
        !vlm_check_dtype(ctx, op, "sin", sin, VLM_F_F32) ||
        !vlm_check_ndim(ctx, op, "pos", pos, 1, 2) ||
        !vlm_check_ndim(ctx, op, "inv_freq", inv_freq, 1, 1) ||
        !vlm_check_ndim(ctx, op, "cos", cos, 2, 2) || !vlm_check_same_shape(ctx, op, cos, sin) ||
        !vlm_check_no_overlap(ctx, op, cos, sin, false) ||
        !vlm_check_no_overlap(ctx, op, cos, pos, false) ||
        !vlm_check_no_overlap(ctx, op, sin, pos, false) ||
        !vlm_check_no_overlap(ctx, op, cos, inv_freq, false) ||
        !vlm_check_no_overlap(ctx, op, sin, inv_freq, false))
        return ctx->status;
    int n_axes = pos->ndim == 1 ? 1 : (int)pos->shape[0];
    int64_t s = pos->shape[pos->ndim - 1], half = inv_freq->shape[0];
    if (n_axes < 1 || n_axes > 4)
        return vlm_ctx_fail(ctx, VLM_ERR_INVALID_ARGUMENT, "%s: pos %s has %d axes (1 to 4)", op,
                            D(pos), n_axes);
    if (cos->shape[0] != s || cos->shape[1] != half)
        return vlm_ctx_fail(ctx, VLM_ERR_INVALID_ARGUMENT,
                            "%s: pos %s and inv_freq %s need cos/sin [%lld, %lld], got %s", op,
                            D(pos), D(inv_freq), (long long)s, (long long)half, D(cos));
    if (layout != VLM_ROPE_SECTIONS_CONSECUTIVE && layout != VLM_ROPE_SECTIONS_INTERLEAVED)
        return vlm_ctx_fail(ctx, VLM_ERR_INVALID_ARGUMENT, "%s: unknown section layout %d", op,
                            (int)layout);
    if (n_axes > 1) {
        if (!sections)
            return vlm_ctx_fail(ctx, VLM_ERR_INVALID_ARGUMENT, "%s: %d position axes need sections",
                                op, n_axes);
        int64_t sum = 0;
        for (int a = 0; a < n_axes; a++) {
            if (sections[a] < 0)
                return vlm_ctx_fail(ctx, VLM_ERR_INVALID_ARGUMENT, "%s: negative section", op);
            sum += sections[a];
        }
        if (sum != half)
            return vlm_ctx_fail(ctx, VLM_ERR_INVALID_ARGUMENT,
                                "%s: sections add up to %lld, inv_freq has %lld", op,
                                (long long)sum, (long long)half);
    }
    if (vlm_tensor_numel(cos) == 0) return VLM_OK;
    return vlm_op_end(ctx,
                      ctx->backend->rope_table(ctx, pos, inv_freq, n_axes > 1 ? sections : NULL,
                                               layout, attention_scaling, cos, sin));
}

vlm_status vlm_op_rope(vlm_ctx *ctx, const vlm_tensor *x, const vlm_tensor *cos,
                       const vlm_tensor *sin, vlm_rope_mode mode, const vlm_tensor *out) {
    const char *op = "rope";
    if (!vlm_op_begin(ctx)) return ctx ? ctx->status : VLM_ERR_INVALID_ARGUMENT;
    if (!row_op_check(ctx, op, x, out) || !vlm_check_ndim(ctx, op, "x", x, 3, 3) ||
        !vlm_check_tensor(ctx, op, "cos", cos) || !vlm_check_tensor(ctx, op, "sin", sin) ||
        !vlm_check_dtype(ctx, op, "cos", cos, VLM_F_F32) ||
        !vlm_check_dtype(ctx, op, "sin", sin, VLM_F_F32) ||
        !vlm_check_ndim(ctx, op, "cos", cos, 2, 2) || !vlm_check_same_shape(ctx, op, cos, sin) ||
        !vlm_check_no_overlap(ctx, op, out, cos, false) ||
        !vlm_check_no_overlap(ctx, op, out, sin, false))
        return ctx->status;
    if (mode != VLM_ROPE_ROTATE_HALF && mode != VLM_ROPE_INTERLEAVED)
        return vlm_ctx_fail(ctx, VLM_ERR_INVALID_ARGUMENT, "%s: unknown mode %d", op, (int)mode);
    int64_t r = 2 * cos->shape[1];
    if (cos->shape[0] != x->shape[0] || r > x->shape[2])
        return vlm_ctx_fail(ctx, VLM_ERR_INVALID_ARGUMENT,
                            "%s: x %s [S, H, D] needs cos/sin [S, R/2] with R <= D, got %s", op,
                            D(x), D(cos));
    if (vlm_tensor_numel(x) == 0) return VLM_OK;
    return vlm_op_end(ctx, ctx->backend->rope(ctx, x, cos, sin, mode, out));
}

vlm_attn_params vlm_attn_params_default(float scale) {
    vlm_attn_params p = {0};
    p.scale = scale;
    return p;
}

vlm_status vlm_op_attention(vlm_ctx *ctx, const vlm_tensor *q, const vlm_tensor *k,
                            const vlm_tensor *v, const vlm_attn_params *p, const vlm_tensor *out) {
    const char *op = "attention";
    if (!vlm_op_begin(ctx)) return ctx ? ctx->status : VLM_ERR_INVALID_ARGUMENT;
    if (!p) return vlm_ctx_fail(ctx, VLM_ERR_INVALID_ARGUMENT, "%s: params is NULL", op);
    const vlm_tensor *ts[4] = {q, k, v, out};
    const char *names[4] = {"q", "k", "v", "out"};
    for (int i = 0; i < 4; i++) {
        bool ok = (i == 3 ? vlm_check_out(ctx, op, names[i], ts[i])
                          : vlm_check_tensor(ctx, op, names[i], ts[i])) &&
                  vlm_check_dtype(ctx, op, names[i], ts[i], VLM_F_F32) &&
                  vlm_check_ndim(ctx, op, names[i], ts[i], 3, 3) &&
                  vlm_check_inner_contiguous(ctx, op, names[i], ts[i]);
        if (!ok) return ctx->status;
        if (i < 3 && !vlm_check_no_overlap(ctx, op, out, ts[i], false)) return ctx->status;
        for (int dd = 0; dd < 2; dd++) { /* rows of the gemm kernels must not overlap */
            if (ts[i]->shape[dd] > 1 && ts[i]->stride[dd] < ts[i]->shape[2] * 4)
                return vlm_ctx_fail(ctx, VLM_ERR_UNSUPPORTED,
                                    "%s: %s %s has overlapping rows (copy it with "
                                    "vlm_op_contiguous)",
                                    op, names[i], D(ts[i]));
        }
    }
    int64_t sq = q->shape[0], hq = q->shape[1], d = q->shape[2];
    int64_t sk = k->shape[0], hkv = k->shape[1], dv = v->shape[2];
    if (k->shape[2] != d || v->shape[0] != sk || v->shape[1] != hkv || out->shape[0] != sq ||
        out->shape[1] != hq || out->shape[2] != dv || hkv < 1 || hq % hkv != 0)
        return vlm_ctx_fail(ctx, VLM_ERR_INVALID_ARGUMENT,
                            "%s: q %s, k %s, v %s, out %s do not fit q [Sq, Hq, D], k [Sk, Hkv, "
                            "D], v [Sk, Hkv, Dv], out [Sq, Hq, Dv] with Hq %% Hkv == 0",
                            op, D(q), D(k), D(v), D(out));
    if (!(p->scale == p->scale) || !(p->softcap >= 0.0f) || p->q_pos0 < 0 || p->window < 0 ||
        p->n_segments < 0 || p->n_spans < 0)
        return vlm_ctx_fail(ctx, VLM_ERR_INVALID_ARGUMENT,
                            "%s: bad params (scale %g, softcap %g, q_pos0 %lld, window %lld)", op,
                            p->scale, p->softcap, (long long)p->q_pos0, (long long)p->window);
    if (p->segments) {
        const int64_t *b = p->segments;
        if (p->n_segments < 1 || b[0] != 0 || b[p->n_segments] != sk || p->q_pos0 + sq > sk)
            return vlm_ctx_fail(ctx, VLM_ERR_INVALID_ARGUMENT,
                                "%s: segments must run from 0 to Sk = %lld and cover the queries "
                                "(q_pos0 %lld + Sq %lld)",
                                op, (long long)sk, (long long)p->q_pos0, (long long)sq);
        for (int64_t i = 0; i < p->n_segments; i++)
            if (b[i + 1] < b[i])
                return vlm_ctx_fail(ctx, VLM_ERR_INVALID_ARGUMENT,
                                    "%s: segment bounds decrease at %lld", op, (long long)i);
    } else if (p->n_segments) {
        return vlm_ctx_fail(ctx, VLM_ERR_INVALID_ARGUMENT, "%s: n_segments without segments", op);
    }
    if (p->spans) {
        int64_t prev_end = 0;
        for (int64_t i = 0; i < p->n_spans; i++) {
            int64_t s0 = p->spans[2 * i], s1 = p->spans[2 * i + 1];
            if (s0 < prev_end || s1 < s0 || s1 > sk)
                return vlm_ctx_fail(ctx, VLM_ERR_INVALID_ARGUMENT,
                                    "%s: span %lld [%lld, %lld) is not sorted, disjoint and "
                                    "inside [0, %lld)",
                                    op, (long long)i, (long long)s0, (long long)s1, (long long)sk);
            prev_end = s1;
        }
    } else if (p->n_spans) {
        return vlm_ctx_fail(ctx, VLM_ERR_INVALID_ARGUMENT, "%s: n_spans without spans", op);
    }
    if (p->kv_len) {
        if (!vlm_check_tensor(ctx, op, "kv_len", p->kv_len) ||
            !vlm_check_dtype(ctx, op, "kv_len", p->kv_len, VLM_F_I64))
            return ctx->status;
        if (vlm_tensor_numel(p->kv_len) != 1 || p->segments || p->spans)
            return vlm_ctx_fail(ctx, VLM_ERR_INVALID_ARGUMENT,
                                "%s: kv_len %s must be one element, without segments or spans", op,
                                D(p->kv_len));
        if (ctx->backend->host_memory) {
            /* Read it now and run the plain op over the first n keys. */
            int64_t n;
            memcpy(&n, (const char *)p->kv_len->buf->data + p->kv_len->offset, sizeof n);
            if (n < sq || n > sk)
                return vlm_ctx_fail(ctx, VLM_ERR_INVALID_ARGUMENT,
                                    "%s: kv_len %lld outside [Sq %lld, Sk %lld]", op, (long long)n,
                                    (long long)sq, (long long)sk);
            vlm_attn_params p2 = *p;
            p2.kv_len = NULL;
            p2.q_pos0 = n - sq;
            vlm_tensor k2 = *k, v2 = *v;
            k2.shape[0] = v2.shape[0] = n;
            if (vlm_tensor_numel(out) == 0) return VLM_OK;
            return vlm_op_end(ctx, ctx->backend->attention(ctx, q, &k2, &v2, &p2, out));
        }
    }
    if (vlm_tensor_numel(out) == 0) return VLM_OK;
    return vlm_op_end(ctx, ctx->backend->attention(ctx, q, k, v, p, out));
}
