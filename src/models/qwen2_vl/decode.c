/* Graph-recorded decode steps (see decode.h). */
#include "models/qwen2_vl/decode.h"

#include <stdlib.h>
#include <string.h>

#include "tensor/backend.h"

#define SHAPE(...)                                                                                 \
    (const int64_t[]) {                                                                            \
        __VA_ARGS__                                                                                \
    }

vlm_status qwen2_vl_decoder_init(qwen2_vl_decoder *d, const vlm_backend *be, vlm_error *err) {
    memset(d, 0, sizeof *d);
    const char *env = getenv("VLM_CUDA_GRAPHS");
    d->eager = !be->graph_begin || (env && !strcmp(env, "0"));
    if (d->eager) return VLM_OK;
    vlm_status s = vlm_buffer_alloc(be, 6 * sizeof(int64_t), &d->inputs, err);
    if (s == VLM_OK) s = vlm_tensor_init(&d->tok, d->inputs, 0, VLM_DTYPE_I64, 1, SHAPE(1), err);
    if (s == VLM_OK) s = vlm_tensor_init(&d->pos, d->inputs, 8, VLM_DTYPE_I64, 2, SHAPE(3, 1), err);
    if (s == VLM_OK) s = vlm_tensor_init(&d->slot, d->inputs, 32, VLM_DTYPE_I64, 1, SHAPE(1), err);
    if (s == VLM_OK) s = vlm_tensor_init(&d->len, d->inputs, 40, VLM_DTYPE_I64, 1, SHAPE(1), err);
    if (s != VLM_OK) qwen2_vl_decoder_free(d);
    return s;
}

void qwen2_vl_decoder_reset(qwen2_vl_decoder *d) {
    vlm_graph_free(d->graph);
    d->graph = NULL;
}

void qwen2_vl_decoder_free(qwen2_vl_decoder *d) {
    if (!d) return;
    qwen2_vl_decoder_reset(d);
    vlm_buffer_free(d->inputs);
    memset(d, 0, sizeof *d);
}

/* The step as ops: embedding, decoder, head (the eager path, or what gets recorded). */
static vlm_status run_step(vlm_ctx *ctx, const qwen2_vl_config *cfg, const qwen2_vl_weights *w,
                           qwen2_vl_kv *kv, const vlm_tensor *tok, const vlm_tensor *pos,
                           const qwen2_vl_step *step, vlm_tensor *lg) {
    const int64_t H = cfg->text.hidden_size, V = cfg->text.vocab_size;
    vlm_tensor x;
    vlm_status s = vlm_ctx_tensor(ctx, VLM_DTYPE_F32, 2, SHAPE(1, H), &x);
    if (s == VLM_OK) s = vlm_ctx_tensor(ctx, VLM_DTYPE_F32, 1, SHAPE(V), lg);
    if (s == VLM_OK) s = vlm_op_embedding_q(ctx, &w->embed, tok, &x);
    if (s == VLM_OK) s = qwen2_vl_text_forward_at(ctx, cfg, w, kv, &x, pos, step, 0, lg);
    return s;
}

static bool same_mark(vlm_arena_mark a, vlm_arena_mark b) {
    return a.block == b.block && a.used == b.used;
}

vlm_status qwen2_vl_decode_step(vlm_ctx *ctx, const qwen2_vl_config *cfg, const qwen2_vl_weights *w,
                                qwen2_vl_kv *kv, qwen2_vl_decoder *d, int32_t token,
                                int64_t position, float *logits) {
    const int64_t V = cfg->text.vocab_size;
    vlm_arena_mark mark = vlm_arena_get_mark(ctx->arena);
    vlm_status s;
    vlm_tensor lg;
    if (ctx->status != VLM_OK) return ctx->status; /* the caller's earlier failure */
    if (d->eager || d->eager_once) {
        int64_t id = token, pos3[3] = {position, position, position};
        vlm_tensor tok, pos;
        s = vlm_ctx_tensor(ctx, VLM_DTYPE_I64, 1, SHAPE(1), &tok);
        if (s == VLM_OK) s = vlm_tensor_upload(&tok, &id, sizeof id, &ctx->err);
        if (s == VLM_OK) s = vlm_ctx_tensor(ctx, VLM_DTYPE_I64, 2, SHAPE(3, 1), &pos);
        if (s == VLM_OK) s = vlm_tensor_upload(&pos, pos3, sizeof pos3, &ctx->err);
        if (s == VLM_OK) s = run_step(ctx, cfg, w, kv, &tok, &pos, NULL, &lg);
        if (s == VLM_OK)
            s = vlm_tensor_download(&lg, logits, (size_t)V * sizeof *logits, &ctx->err);
        vlm_arena_release(ctx->arena, mark);
        return s;
    }
    if (kv->len + 1 > kv->capacity)
        return vlm_err(&ctx->err, VLM_ERR_LIMIT,
                       "context full: %lld cached + 1 new position exceed the %lld-position "
                       "context",
                       (long long)kv->len, (long long)kv->capacity);
    int64_t in[6] = {token, position, position, position, kv->len, kv->len + 1};
    s = vlm_buffer_upload(d->inputs, 0, in, sizeof in, &ctx->err);
    if (s != VLM_OK) return s;
    uint64_t allocs = vlm_arena_get_stats(ctx->arena).n_system_allocs;
    if (!d->graph || allocs != d->arena_allocs || !same_mark(mark, d->arena_mark) ||
        d->arena != ctx->arena || d->kv_buf != kv->buf || d->weights != w) {
        /* Record the step (nothing runs yet; kv->len advances on the host). */
        qwen2_vl_step step = {&d->slot, &d->len};
        int64_t len0 = kv->len;
        s = vlm_graph_begin(ctx);
        if (s == VLM_OK) {
            /* a failure reported only in ctx->err (a view that could not be made) must not
             * leave a half-recorded graph behind */
            vlm_status rs = run_step(ctx, cfg, w, kv, &d->tok, &d->pos, &step, &lg);
            s = vlm_graph_end(ctx, &d->graph);
            if (s == VLM_OK && rs != VLM_OK) {
                qwen2_vl_decoder_reset(d);
                s = rs;
            }
        }
        kv->len = len0;
        if (s != VLM_OK) {
            /* Not recordable now: an op that cannot be recorded (UNSUPPORTED: eager from now
             * on), or the arena had to grow, which is not allowed while recording (this step
             * runs eagerly and grows it; the next one records). */
            vlm_ctx_clear(ctx);
            vlm_arena_release(ctx->arena, mark);
            qwen2_vl_decoder_reset(d);
            if (s == VLM_ERR_UNSUPPORTED || ++d->failed_recordings >= 3) d->eager = 1;
            d->eager_once = !d->eager;
            s = qwen2_vl_decode_step(ctx, cfg, w, kv, d, token, position, logits);
            d->eager_once = 0;
            return s;
        }
        d->logits = lg;
        d->arena_allocs = vlm_arena_get_stats(ctx->arena).n_system_allocs;
        d->arena_mark = mark;
        d->arena = ctx->arena;
        d->kv_buf = kv->buf;
        d->weights = w;
        if (d->arena_allocs != allocs) { /* the arena grew while recording: record again */
            vlm_arena_release(ctx->arena, mark);
            qwen2_vl_decoder_reset(d);
            return qwen2_vl_decode_step(ctx, cfg, w, kv, d, token, position, logits);
        }
    }
    s = vlm_graph_launch(ctx, d->graph);
    if (s == VLM_OK) {
        kv->len++;
        s = vlm_tensor_download(&d->logits, logits, (size_t)V * sizeof *logits, &ctx->err);
    }
    vlm_arena_release(ctx->arena, mark);
    return s;
}
