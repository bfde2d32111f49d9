/* Qwen2 decoder layers with M-RoPE over a KV cache (see text.h). Per layer:
 * x += o_proj(attn(rope(q), rope(k), v)) on RMSNorm(x); x += down(silu(gate) * up) on
 * RMSNorm(x). Attention is causal over the cache; GQA heads share keys. The products that
 * share an input (q/k/v, gate/up with the activation, the final norm and the head) with the
 * RMSNorm before them, and the residual additions go through the fused ops (matmul_many /
 * matmul_gated / matmul_add): one GEMV launch each on a GPU (the norm staged inside it),
 * the same arithmetic as the separate ops everywhere. */
#include "models/qwen2_vl/text.h"

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

vlm_status qwen2_vl_kv_init(qwen2_vl_kv *kv, const qwen2_vl_config *cfg, const vlm_backend *be,
                            int64_t capacity, vlm_error *err) {
    memset(kv, 0, sizeof *kv);
    const qwen2_vl_text_config *t = &cfg->text;
    size_t per, total;
    if (capacity < 1 ||
        !vlm_size_mul((size_t)capacity, (size_t)(t->n_kv_heads * t->head_dim * 4), &per) ||
        !vlm_size_mul(per, (size_t)(2 * t->n_layers), &total))
        return vlm_err(err, VLM_ERR_LIMIT, "KV cache: %lld positions is too large",
                       (long long)capacity);
    kv->k = vlm_calloc_array((size_t)t->n_layers, sizeof *kv->k);
    kv->v = vlm_calloc_array((size_t)t->n_layers, sizeof *kv->v);
    kv->kvrow = vlm_calloc_array((size_t)t->n_layers, sizeof *kv->kvrow);
    if (!kv->k || !kv->v || !kv->kvrow)
        return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "KV cache: out of memory");
    TRY(vlm_buffer_alloc(be, total, &kv->buf, err));
    const int64_t nkv = t->n_kv_heads, hd = t->head_dim, row = 2 * nkv * hd * 4;
    for (int64_t l = 0; l < t->n_layers; l++) {
        int64_t base = (int64_t)(2 * l * per);
        TRY(vlm_tensor_init_strided(&kv->k[l], kv->buf, base, VLM_DTYPE_F32, 3,
                                    SHAPE(capacity, nkv, hd), SHAPE(row, hd * 4, 4), err));
        TRY(vlm_tensor_init_strided(&kv->v[l], kv->buf, base + nkv * hd * 4, VLM_DTYPE_F32, 3,
                                    SHAPE(capacity, nkv, hd), SHAPE(row, hd * 4, 4), err));
        TRY(vlm_tensor_init(&kv->kvrow[l], kv->buf, base, VLM_DTYPE_F32, 2,
                            SHAPE(capacity, 2 * nkv * hd), err));
    }
    kv->n_layers = t->n_layers;
    kv->capacity = capacity;
    return VLM_OK;
}

void qwen2_vl_kv_free(qwen2_vl_kv *kv) {
    if (!kv) return;
    vlm_buffer_free(kv->buf);
    free(kv->k);
    free(kv->v);
    free(kv->kvrow);
    memset(kv, 0, sizeof *kv);
}

vlm_status qwen2_vl_text_forward(vlm_ctx *ctx, const qwen2_vl_config *cfg,
                                 const qwen2_vl_weights *w, qwen2_vl_kv *kv, vlm_tensor *x,
                                 const vlm_tensor *pos, int all_logits, const vlm_tensor *logits) {
    return qwen2_vl_text_forward_at(ctx, cfg, w, kv, x, pos, NULL, all_logits, logits);
}

vlm_status qwen2_vl_text_forward_at(vlm_ctx *ctx, const qwen2_vl_config *cfg,
                                    const qwen2_vl_weights *w, qwen2_vl_kv *kv, vlm_tensor *x,
                                    const vlm_tensor *pos, const qwen2_vl_step *step,
                                    int all_logits, const vlm_tensor *logits) {
    const qwen2_vl_text_config *t = &cfg->text;
    const int64_t S = x->shape[0], hd = t->head_dim;
    const int64_t nh = t->n_heads, nkv = t->n_kv_heads, F = t->intermediate_size;
    const int64_t p0 = kv->len;
    const float eps = (float)t->rms_norm_eps;
    if (p0 + S > kv->capacity)
        return vlm_err(&ctx->err, VLM_ERR_LIMIT,
                       "context full: %lld cached + %lld new positions exceed the %lld-position "
                       "context",
                       (long long)p0, (long long)S, (long long)kv->capacity);
    vlm_arena_mark mark = vlm_arena_get_mark(ctx->arena);

    /* M-RoPE tables from the load-time inv_freq, sections (t, h, w) consecutive */
    vlm_tensor cos, sin;
    int sections[3] = {(int)t->mrope_section[0], (int)t->mrope_section[1],
                       (int)t->mrope_section[2]};
    TRY(vlm_ctx_tensor(ctx, VLM_DTYPE_F32, 2, SHAPE(S, hd / 2), &cos));
    TRY(vlm_ctx_tensor(ctx, VLM_DTYPE_F32, 2, SHAPE(S, hd / 2), &sin));
    TRY(vlm_op_rope_table(ctx, pos, &w->text_inv_freq, sections, VLM_ROPE_SECTIONS_CONSECUTIVE,
                          1.0f, &cos, &sin));

    vlm_tensor q, attn, gate, qkv, qk, kvnew;
    if (step) {
        /* q, k, v of the chunk side by side ([S, nh + 2 nkv, hd]): one rotation for q and k,
         * one row write of k and v into the cache */
        TRY(vlm_ctx_tensor(ctx, VLM_DTYPE_F32, 3, SHAPE(S, nh + 2 * nkv, hd), &qkv));
        TRY(vlm_tensor_narrow(&qkv, 1, 0, nh, &q, &ctx->err));
        TRY(vlm_tensor_narrow(&qkv, 1, 0, nh + nkv, &qk, &ctx->err));
        vlm_tensor kv3;
        TRY(vlm_tensor_narrow(&qkv, 1, nh, 2 * nkv, &kv3, &ctx->err));
        TRY(vlm_tensor_reshape(&kv3, 2, SHAPE(S, 2 * nkv * hd), &kvnew, &ctx->err));
    } else {
        TRY(vlm_ctx_tensor(ctx, VLM_DTYPE_F32, 3, SHAPE(S, nh, hd), &q));
    }
    TRY(vlm_ctx_tensor(ctx, VLM_DTYPE_F32, 3, SHAPE(S, nh, hd), &attn));
    TRY(vlm_ctx_tensor(ctx, VLM_DTYPE_F32, 2, SHAPE(S, F), &gate));
    vlm_tensor q2, attn2;
    TRY(vlm_tensor_reshape(&q, 2, SHAPE(S, nh * hd), &q2, &ctx->err));
    TRY(vlm_tensor_reshape(&attn, 2, SHAPE(S, nh * hd), &attn2, &ctx->err));
    vlm_attn_params ap = vlm_attn_params_default(1.0f / sqrtf((float)hd));
    ap.causal = 1;
    ap.q_pos0 = p0;
    vlm_tensor knew, vnew; /* with a step: the chunk's keys / values before they are stored */
    if (step) {
        ap.kv_len = step->len;
        TRY(vlm_tensor_narrow(&qkv, 1, nh, nkv, &knew, &ctx->err));
        TRY(vlm_tensor_narrow(&qkv, 1, nh + nkv, nkv, &vnew, &ctx->err));
    }

    for (int64_t l = 0; l < t->n_layers; l++) {
        const qwen2_vl_text_layer *L = &w->layers[l];
        vlm_tensor kc, vc, kn, vn, kn2, vn2;
        if (step) { /* into scratch, stored at the step's rows after the rotation */
            kn = knew;
            vn = vnew;
        } else { /* straight into the cache rows p0 .. p0+S-1 */
            TRY(vlm_tensor_narrow(&kv->k[l], 0, p0, S, &kn, &ctx->err));
            TRY(vlm_tensor_narrow(&kv->v[l], 0, p0, S, &vn, &ctx->err));
        }
        TRY(vlm_tensor_reshape(&kn, 2, SHAPE(S, nkv * hd), &kn2, &ctx->err));
        TRY(vlm_tensor_reshape(&vn, 2, SHAPE(S, nkv * hd), &vn2, &ctx->err));

        {
            const vlm_prenorm in_norm = {&L->in_norm_w, eps, 0.0f};
            const vlm_qweight *ws[3] = {&L->q_w, &L->k_w, &L->v_w};
            const vlm_tensor *bs[3] = {&L->q_b, &L->k_b, &L->v_b}, *os[3] = {&q2, &kn2, &vn2};
            TRY(vlm_op_matmul_many(ctx, x, &in_norm, 3, ws, bs, os));
        }
        if (step) {
            TRY(vlm_op_rope(ctx, &qk, &cos, &sin, VLM_ROPE_ROTATE_HALF, &qk));
            TRY(vlm_op_scatter_rows(ctx, &kvnew, step->slot, &kv->kvrow[l]));
            kc = kv->k[l];
            vc = kv->v[l];
        } else {
            TRY(vlm_op_rope(ctx, &q, &cos, &sin, VLM_ROPE_ROTATE_HALF, &q));
            TRY(vlm_op_rope(ctx, &kn, &cos, &sin, VLM_ROPE_ROTATE_HALF, &kn));
            TRY(vlm_tensor_narrow(&kv->k[l], 0, 0, p0 + S, &kc, &ctx->err));
            TRY(vlm_tensor_narrow(&kv->v[l], 0, 0, p0 + S, &vc, &ctx->err));
        }
        ap.window = (t->sliding_window && l >= t->max_window_layers) ? t->sliding_window : 0;
        TRY(vlm_op_attention(ctx, &q, &kc, &vc, &ap, &attn));
        TRY(vlm_op_matmul_add(ctx, &attn2, &L->o_w, NULL, x));

        const vlm_prenorm post_norm = {&L->post_norm_w, eps, 0.0f};
        TRY(vlm_op_matmul_gated(ctx, x, &post_norm, VLM_ACT_SILU, &L->gate_w, NULL, &L->up_w, NULL,
                                &gate));
        TRY(vlm_op_matmul_add(ctx, &gate, &L->down_w, NULL, x));
    }
    kv->len = p0 + S;

    /* final norm and head, on the last position unless all are asked for */
    vlm_tensor last;
    if (all_logits) {
        last = *x;
    } else {
        TRY(vlm_tensor_narrow(x, 0, S - 1, 1, &last, &ctx->err));
    }
    vlm_tensor lg;
    TRY(vlm_tensor_reshape(logits, 2, SHAPE(last.shape[0], t->vocab_size), &lg, &ctx->err));
    {
        const vlm_prenorm final_norm = {&w->norm_w, eps, 0.0f};
        const vlm_qweight *head = &w->lm_head;
        const vlm_tensor *nob = NULL, *out = &lg;
        TRY(vlm_op_matmul_many(ctx, &last, &final_norm, 1, &head, &nob, &out));
    }
    vlm_arena_release(ctx->arena, mark);
    return vlm_ctx_status(ctx);
}
