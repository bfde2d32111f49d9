/* The Qwen2-VL / Qwen2.5-VL vision tower: patch embedding, 2D rotary embeddings, the ViT
 * blocks (per-frame attention; Qwen2.5-VL: per-window attention except in the full-attention
 * blocks) and the patch merger. Input rows come from the processor in 2x2 merge-block order;
 * output rows are the merged embeddings spliced into the text, in the same order.
 *
 * Qwen2.5-VL's windows: merge units (2x2 patch groups) are reordered window by window
 * (windows of window_size / patch / merge units per side, raster order, padding skipped),
 * the blocks run on that order, and the order is undone after the merger. */
#include "models/qwen2_vl/vision.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/checked.h"
#include "core/error.h"

#define TRY(x)                                                                                     \
    do {                                                                                           \
        vlm_status s_ = (x);                                                                       \
        if (s_ != VLM_OK) return s_;                                                               \
    } while (0)

#define SHAPE(...)                                                                                 \
    (const int64_t[]) {                                                                            \
        __VA_ARGS__                                                                                \
    }

/* Host-side plan of one vision forward: patch positions, frame segments, and (2.5) the
 * window permutation and window segments. Arrays are malloc'd; plan_free releases them. */
typedef struct vision_plan {
    int64_t n;             /* patches */
    int64_t *pos;          /* [2][n]: h and w position of each patch (processor order) */
    int64_t *frame_bounds; /* [n_frames + 1] cumulative patch counts */
    int64_t n_frames;
    int64_t *win_index;   /* [n / unit]: merge unit taken at each reordered slot */
    int64_t *win_inverse; /* [n / unit]: argsort of win_index */
    int64_t *win_bounds;  /* [n_windows + 1] cumulative patch counts (reordered) */
    int64_t n_windows;
} vision_plan;

static void plan_free(vision_plan *p) {
    free(p->pos);
    free(p->frame_bounds);
    free(p->win_index);
    free(p->win_inverse);
    free(p->win_bounds);
    memset(p, 0, sizeof *p);
}

static vlm_status plan_build(const qwen2_vl_config *cfg, const int64_t *grids, int n_grids,
                             int64_t n_rows, vision_plan *p, vlm_error *err) {
    memset(p, 0, sizeof *p);
    const int64_t m = cfg->vision.merge_size, unit = m * m;
    int64_t n = 0, frames = 0;
    for (int g = 0; g < n_grids; g++) {
        int64_t t = grids[3 * g], h = grids[3 * g + 1], w = grids[3 * g + 2], thw;
        if (t < 1 || h < 1 || w < 1 || h % m || w % m || !vlm_i64_product(&grids[3 * g], 3, &thw) ||
            !vlm_i64_add(n, thw, &n) || !vlm_i64_add(frames, t, &frames))
            return vlm_err(
                err, VLM_ERR_INVALID_ARGUMENT,
                "vision: grid %d (%lld, %lld, %lld) is not a valid (t, h, w) with h and w "
                "multiples of %lld",
                g, (long long)t, (long long)h, (long long)w, (long long)m);
    }
    if (n != n_rows)
        return vlm_err(err, VLM_ERR_INVALID_ARGUMENT,
                       "vision: pixel_values has %lld rows but the grids describe %lld patches",
                       (long long)n_rows, (long long)n);
    p->n = n;
    p->n_frames = frames;
    p->pos = vlm_malloc_array((size_t)n, 2 * sizeof *p->pos);
    p->frame_bounds = vlm_malloc_array((size_t)frames + 1, sizeof *p->frame_bounds);
    if (!p->pos || !p->frame_bounds)
        return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "vision: out of memory");
    int64_t r = 0, f = 0;
    p->frame_bounds[0] = 0;
    for (int g = 0; g < n_grids; g++) {
        int64_t t = grids[3 * g], h = grids[3 * g + 1], w = grids[3 * g + 2];
        for (int64_t tt = 0; tt < t; tt++) {
            for (int64_t bh = 0; bh < h / m; bh++)
                for (int64_t bw = 0; bw < w / m; bw++)
                    for (int64_t mh = 0; mh < m; mh++)
                        for (int64_t mw = 0; mw < m; mw++, r++) {
                            p->pos[r] = bh * m + mh;
                            p->pos[n + r] = bw * m + mw;
                        }
            p->frame_bounds[f + 1] = p->frame_bounds[f] + h * w;
            f++;
        }
    }
    if (cfg->family != QWEN2_5_VL) return VLM_OK;

    /* windows, in units of merged tokens */
    const int64_t ws = cfg->vision.window_size / cfg->vision.patch_size / m;
    int64_t units = n / unit;
    p->win_index = vlm_malloc_array((size_t)units, sizeof *p->win_index);
    p->win_inverse = vlm_malloc_array((size_t)units, sizeof *p->win_inverse);
    /* at most one window per unit, plus the leading 0 */
    p->win_bounds = vlm_malloc_array((size_t)units + 1, sizeof *p->win_bounds);
    if (!p->win_index || !p->win_inverse || !p->win_bounds)
        return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "vision: out of memory");
    int64_t k = 0, base = 0, nw = 0;
    p->win_bounds[0] = 0;
    for (int g = 0; g < n_grids; g++) {
        int64_t t = grids[3 * g], gh = grids[3 * g + 1] / m, gw = grids[3 * g + 2] / m;
        int64_t nwh = (gh + ws - 1) / ws, nww = (gw + ws - 1) / ws;
        for (int64_t tt = 0; tt < t; tt++)
            for (int64_t wy = 0; wy < nwh; wy++)
                for (int64_t wx = 0; wx < nww; wx++) {
                    int64_t count = 0;
                    for (int64_t y = wy * ws; y < (wy + 1) * ws && y < gh; y++)
                        for (int64_t x = wx * ws; x < (wx + 1) * ws && x < gw; x++) {
                            p->win_index[k++] = base + (tt * gh + y) * gw + x;
                            count++;
                        }
                    if (count) {
                        p->win_bounds[nw + 1] = p->win_bounds[nw] + count * unit;
                        nw++;
                    }
                }
        base += t * gh * gw;
    }
    p->n_windows = nw;
    for (int64_t i = 0; i < units; i++)
        p->win_inverse[p->win_index[i]] = i;
    return VLM_OK;
}

/* A host array as an i64 tensor in the arena (for gather_rows ids and rope positions). */
static vlm_status host_i64(vlm_ctx *ctx, const int64_t *src, int ndim, const int64_t *shape,
                           vlm_tensor *out) {
    TRY(vlm_ctx_tensor(ctx, VLM_DTYPE_I64, ndim, shape, out));
    return vlm_tensor_upload(out, src, (size_t)vlm_tensor_nbytes(out), &ctx->err);
}

/* Rows of x [n, D] regrouped by merge unit: out[u*unit + j] = x[idx[u]*unit + j]. */
static vlm_status permute_units(vlm_ctx *ctx, const vlm_tensor *x, const int64_t *idx,
                                int64_t units, int64_t unit, vlm_tensor *out) {
    int64_t D = x->shape[1];
    vlm_tensor ids, xv, ov;
    TRY(host_i64(ctx, idx, 1, SHAPE(units), &ids));
    TRY(vlm_ctx_tensor(ctx, x->dtype, 2, SHAPE(units * unit, D), out));
    TRY(vlm_tensor_reshape(x, 2, SHAPE(units, unit * D), &xv, &ctx->err));
    TRY(vlm_tensor_reshape(out, 2, SHAPE(units, unit * D), &ov, &ctx->err));
    return vlm_op_gather_rows(ctx, &xv, &ids, &ov);
}

static vlm_status block_forward(vlm_ctx *ctx, const qwen2_vl_config *cfg,
                                const qwen2_vl_vision_block *b, vlm_tensor *x,
                                const vlm_tensor *cos, const vlm_tensor *sin, const int64_t *bounds,
                                int64_t n_seg) {
    const int64_t n = x->shape[0], E = cfg->vision.embed_dim, nh = cfg->vision.n_heads;
    const int64_t hd = E / nh, I = cfg->vision.intermediate_size;
    const int rms = cfg->family == QWEN2_5_VL;
    vlm_arena_mark mark = vlm_arena_get_mark(ctx->arena);
    vlm_tensor h, qkv, q, k, v, attn;
    TRY(vlm_ctx_tensor(ctx, VLM_DTYPE_F32, 2, SHAPE(n, E), &h));
    if (rms)
        TRY(vlm_op_rms_norm(ctx, x, &b->norm1_w, 1e-6f, 0.0f, &h));
    else
        TRY(vlm_op_layer_norm(ctx, x, &b->norm1_w, &b->norm1_b, 1e-6f, &h));
    TRY(vlm_ctx_tensor(ctx, VLM_DTYPE_F32, 2, SHAPE(n, 3 * E), &qkv));
    TRY(vlm_op_matmul_q(ctx, &h, &b->qkv_w, &b->qkv_b, &qkv));
    /* [n, 3E] -> [n, 3, nh, hd]; q, k, v are strided views */
    vlm_tensor qkv4;
    TRY(vlm_tensor_reshape(&qkv, 4, SHAPE(n, 3, nh, hd), &qkv4, &ctx->err));
    TRY(vlm_tensor_select(&qkv4, 1, 0, &q, &ctx->err));
    TRY(vlm_tensor_select(&qkv4, 1, 1, &k, &ctx->err));
    TRY(vlm_tensor_select(&qkv4, 1, 2, &v, &ctx->err));
    TRY(vlm_op_rope(ctx, &q, cos, sin, VLM_ROPE_ROTATE_HALF, &q));
    TRY(vlm_op_rope(ctx, &k, cos, sin, VLM_ROPE_ROTATE_HALF, &k));
    TRY(vlm_ctx_tensor(ctx, VLM_DTYPE_F32, 3, SHAPE(n, nh, hd), &attn));
    vlm_attn_params ap = vlm_attn_params_default(1.0f / sqrtf((float)hd));
    ap.segments = bounds;
    ap.n_segments = n_seg;
    TRY(vlm_op_attention(ctx, &q, &k, &v, &ap, &attn));
    vlm_tensor attn2;
    TRY(vlm_tensor_reshape(&attn, 2, SHAPE(n, E), &attn2, &ctx->err));
    TRY(vlm_op_matmul_add(ctx, &attn2, &b->proj_w, &b->proj_b, x));

    if (rms)
        TRY(vlm_op_rms_norm(ctx, x, &b->norm2_w, 1e-6f, 0.0f, &h));
    else
        TRY(vlm_op_layer_norm(ctx, x, &b->norm2_w, &b->norm2_b, 1e-6f, &h));
    vlm_tensor mid;
    TRY(vlm_ctx_tensor(ctx, VLM_DTYPE_F32, 2, SHAPE(n, I), &mid));
    if (rms) {
        TRY(vlm_op_matmul_gated(ctx, &h, NULL, VLM_ACT_SILU, &b->fc1_w, &b->fc1_b, &b->up_w,
                                &b->up_b, &mid));
    } else {
        TRY(vlm_op_matmul_q(ctx, &h, &b->fc1_w, &b->fc1_b, &mid));
        TRY(vlm_op_act(ctx, VLM_ACT_QUICK_GELU, &mid, &mid));
    }
    TRY(vlm_op_matmul_add(ctx, &mid, &b->fc2_w, &b->fc2_b, x));
    vlm_arena_release(ctx->arena, mark);
    return vlm_ctx_status(ctx);
}

vlm_status qwen2_vl_vision_forward(vlm_ctx *ctx, const qwen2_vl_config *cfg,
                                   const qwen2_vl_weights *w, const vlm_tensor *pixels,
                                   const int64_t *grids, int n_grids, vlm_tensor *out) {
    const qwen2_vl_vision_config *vc = &cfg->vision;
    const int64_t E = vc->embed_dim, hd = E / vc->n_heads, m = vc->merge_size, unit = m * m;
    const int64_t K = vc->in_channels * vc->temporal_patch_size * vc->patch_size * vc->patch_size;
    if (pixels->ndim != 2 || pixels->shape[1] != K || pixels->dtype != VLM_DTYPE_F32)
        return vlm_err(&ctx->err, VLM_ERR_INVALID_ARGUMENT,
                       "vision: pixel_values must be f32 [patches, %lld]", (long long)K);
    vision_plan plan;
    vlm_status s = plan_build(cfg, grids, n_grids, pixels->shape[0], &plan, &ctx->err);
    if (s != VLM_OK) {
        plan_free(&plan);
        return s;
    }
    const int64_t n = plan.n, units = n / unit;
    const int win = cfg->family == QWEN2_5_VL;

    /* patch embedding: one Linear over the flattened (c, t, y, x) patches */
    vlm_tensor x, xw, pos, posw, cos, sin;
    s = vlm_ctx_tensor(ctx, VLM_DTYPE_F32, 2, SHAPE(n, E), &x);
    if (s == VLM_OK) s = vlm_op_matmul(ctx, pixels, &w->patch_w, NULL, &x);

    /* rotary tables from (h, w) positions with the load-time inv_freq (f, f):
     * sections (hd/4, hd/4) */
    if (s == VLM_OK) s = host_i64(ctx, plan.pos, 2, SHAPE(2, n), &pos);
    if (s == VLM_OK && win) {
        /* reorder the patches and their positions window by window */
        s = permute_units(ctx, &x, plan.win_index, units, unit, &xw);
        if (s == VLM_OK) {
            x = xw;
            vlm_tensor pos_rows, posw_rows;
            /* positions as [n, 2] rows to regroup, then back to [2, n] */
            int64_t *tmp = vlm_malloc_array((size_t)n, 2 * sizeof *tmp);
            if (!tmp) s = vlm_err(&ctx->err, VLM_ERR_OUT_OF_MEMORY, "vision: out of memory");
            for (int64_t i = 0; s == VLM_OK && i < n; i++) {
                tmp[2 * i] = plan.pos[i];
                tmp[2 * i + 1] = plan.pos[n + i];
            }
            if (s == VLM_OK) s = host_i64(ctx, tmp, 2, SHAPE(n, 2), &pos_rows);
            free(tmp);
            if (s == VLM_OK)
                s = permute_units(ctx, &pos_rows, plan.win_index, units, unit, &posw_rows);
            if (s == VLM_OK) s = vlm_tensor_transpose(&posw_rows, 0, 1, &posw, &ctx->err);
            if (s == VLM_OK) s = vlm_ctx_tensor(ctx, VLM_DTYPE_I64, 2, SHAPE(2, n), &pos);
            if (s == VLM_OK) s = vlm_op_copy(ctx, &posw, &pos);
        }
    }
    int sections[2] = {(int)(hd / 4), (int)(hd / 4)};
    if (s == VLM_OK) s = vlm_ctx_tensor(ctx, VLM_DTYPE_F32, 2, SHAPE(n, hd / 2), &cos);
    if (s == VLM_OK) s = vlm_ctx_tensor(ctx, VLM_DTYPE_F32, 2, SHAPE(n, hd / 2), &sin);
    if (s == VLM_OK)
        s = vlm_op_rope_table(ctx, &pos, &w->vision_inv_freq, sections,
                              VLM_ROPE_SECTIONS_CONSECUTIVE, 1.0f, &cos, &sin);

    for (int64_t i = 0; s == VLM_OK && i < vc->depth; i++) {
        int full = !win;
        for (int j = 0; win && j < vc->n_fullatt_blocks; j++)
            full |= vc->fullatt_blocks[j] == i;
        s = full ? block_forward(ctx, cfg, &w->blocks[i], &x, &cos, &sin, plan.frame_bounds,
                                 plan.n_frames)
                 : block_forward(ctx, cfg, &w->blocks[i], &x, &cos, &sin, plan.win_bounds,
                                 plan.n_windows);
    }

    /* merger: norm, 4 rows as one, Linear, GELU, Linear */
    vlm_tensor h, h4, mid, merged;
    if (s == VLM_OK) s = vlm_ctx_tensor(ctx, VLM_DTYPE_F32, 2, SHAPE(n, E), &h);
    if (s == VLM_OK)
        s = win ? vlm_op_rms_norm(ctx, &x, &w->merger_ln_w, 1e-6f, 0.0f, &h)
                : vlm_op_layer_norm(ctx, &x, &w->merger_ln_w, &w->merger_ln_b, 1e-6f, &h);
    if (s == VLM_OK) s = vlm_tensor_reshape(&h, 2, SHAPE(units, unit * E), &h4, &ctx->err);
    if (s == VLM_OK) s = vlm_ctx_tensor(ctx, VLM_DTYPE_F32, 2, SHAPE(units, unit * E), &mid);
    if (s == VLM_OK) s = vlm_op_matmul_q(ctx, &h4, &w->merger_fc1_w, &w->merger_fc1_b, &mid);
    if (s == VLM_OK) s = vlm_op_act(ctx, VLM_ACT_GELU, &mid, &mid);
    if (s == VLM_OK && win) {
        s = vlm_ctx_tensor(ctx, VLM_DTYPE_F32, 2, SHAPE(units, vc->out_hidden_size), &merged);
        if (s == VLM_OK)
            s = vlm_op_matmul_q(ctx, &mid, &w->merger_fc2_w, &w->merger_fc2_b, &merged);
        /* undo the window order */
        vlm_tensor ids;
        if (s == VLM_OK) s = host_i64(ctx, plan.win_inverse, 1, SHAPE(units), &ids);
        if (s == VLM_OK) s = vlm_op_gather_rows(ctx, &merged, &ids, out);
    } else if (s == VLM_OK) {
        s = vlm_op_matmul_q(ctx, &mid, &w->merger_fc2_w, &w->merger_fc2_b, out);
    }
    plan_free(&plan);
    return s;
}
