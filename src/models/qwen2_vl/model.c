/* Qwen2-VL / Qwen2.5-VL: constructors and the family operations (see model.h). The
 * per-session state is the KV cache plus a scratch arena; a prefill computes the vision
 * embeddings of the prompt's media, splices them into the token embeddings and runs the
 * decoder in chunks. */
#include "models/qwen2_vl/model.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "models/model.h"
#include "models/qwen2_vl/decode.h"
#include "models/qwen2_vl/text.h"
#include "models/qwen2_vl/vision.h"
#include "tensor/backend_info.h"
#include "tensor/ops.h"

#define PREFILL_CHUNK 512

#define SHAPE(...) (const int64_t[]){__VA_ARGS__}

static void model_free(void *p) {
    qwen2_vl_model *qm = p;
    if (!qm) return;
    qwen2_vl_weights_free(&qm->w);
    free(qm);
}

vlm_status qwen2_vl_model_construct(vlm_model *m, void *user, vlm_error *err) {
    (void)user;
    qwen2_vl_model *qm = calloc(1, sizeof *qm);
    if (!qm) return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "qwen2_vl: out of memory");
    vlm_model_set_impl(m, qm, model_free);
    vlm_status s = qwen2_vl_config_parse(m->ckpt.config, m->ckpt.config_path, m->ckpt.model_type,
                                         &qm->cfg, err);
    if (s != VLM_OK) return s;
    const qwen2_vl_vision_config *v = &qm->cfg.vision;
    qm->patch_dim = v->in_channels * v->temporal_patch_size * v->patch_size * v->patch_size;
    s = qwen2_vl_weights_load(&qm->cfg, &m->ckpt.base.quant, m->weights, m->backend, &qm->w,
                              err);
    if (s != VLM_OK) return s;
    m->family = &qwen2_vl_ops;
    return VLM_OK;
}

vlm_status qwen2_vl_processor_construct(vlm_model *m, void *user, vlm_error *err) {
    (void)user;
    qwen2_vl_model *qm = vlm_model_impl(m);
    if (!qm || m->family != &qwen2_vl_ops)
        return vlm_err(err, VLM_ERR_UNSUPPORTED, "%s: processor class %s needs a Qwen2-VL model",
                       m->ckpt.dir, m->ckpt.processor_class);
    vlm_status s = vlm_qwen_processor_config_load(m->ckpt.dir, m->ckpt.model_type, &qm->proc, err);
    if (s != VLM_OK) return s;
    const qwen2_vl_vision_config *v = &qm->cfg.vision;
    if (qm->proc.image.patch_size != v->patch_size ||
        qm->proc.image.temporal_patch_size != v->temporal_patch_size ||
        qm->proc.image.merge_size != v->merge_size)
        return vlm_err(err, VLM_ERR_FORMAT,
                       "%s: the processor's patch/temporal/merge sizes (%d, %d, %d) differ from "
                       "the model's vision_config (%lld, %lld, %lld)",
                       m->ckpt.dir, qm->proc.image.patch_size, qm->proc.image.temporal_patch_size,
                       qm->proc.image.merge_size, (long long)v->patch_size,
                       (long long)v->temporal_patch_size, (long long)v->merge_size);
    return VLM_OK;
}

/* ---------------------------------------------------------------- session state */

typedef struct qwen2_vl_state {
    qwen2_vl_kv kv;
    vlm_arena *arena;
    vlm_ctx ctx;
    qwen2_vl_decoder dec;
} qwen2_vl_state;

static void state_free(void *p) {
    qwen2_vl_state *st = p;
    if (!st) return;
    qwen2_vl_decoder_free(&st->dec);
    qwen2_vl_kv_free(&st->kv);
    vlm_arena_free(st->arena);
    free(st);
}

static vlm_status state_init(const vlm_model *m, const vlm_session_params *p, void **out,
                             vlm_error *err) {
    const qwen2_vl_model *qm = vlm_model_impl(m);
    qwen2_vl_state *st = calloc(1, sizeof *st);
    if (!st) return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "session: out of memory");
    vlm_status s = qwen2_vl_kv_init(&st->kv, &qm->cfg, m->backend, p->context_size, err);
    if (s == VLM_OK) s = vlm_arena_create(m->backend, 0, &st->arena, err);
    if (s == VLM_OK) s = qwen2_vl_decoder_init(&st->dec, m->backend, err);
    if (s != VLM_OK) {
        state_free(st);
        return s;
    }
    vlm_ctx_init(&st->ctx, st->arena, p->n_threads > 0 ? p->n_threads : omp_get_max_threads());
    st->ctx.bf16_compute = m->bf16_compute;
    *out = st;
    return VLM_OK;
}

static int64_t cached(void *p) {
    return ((qwen2_vl_state *)p)->kv.len;
}

static void truncate_cache(void *p, int64_t n) {
    qwen2_vl_state *st = p;
    if (n < st->kv.len) st->kv.len = n < 0 ? 0 : n;
}

static int64_t vocab_size(const vlm_model *m) {
    return ((const qwen2_vl_model *)vlm_model_impl(m))->cfg.text.vocab_size;
}

/* Starts a forward: empty arena, clear sticky error. */
static vlm_status begin(qwen2_vl_state *st, vlm_error *err) {
    vlm_ctx_clear(&st->ctx);
    return vlm_arena_reset(st->arena, err);
}

/* The context's failure as the caller's error. */
static vlm_status finish(qwen2_vl_state *st, vlm_status s, vlm_error *err) {
    if (s != VLM_OK && err) *err = st->ctx.err.status ? st->ctx.err : *err;
    return s;
}

static vlm_status upload_i64(vlm_ctx *ctx, const int64_t *src, int ndim, const int64_t *shape,
                             vlm_tensor *out) {
    vlm_status s = vlm_ctx_tensor(ctx, VLM_DTYPE_I64, ndim, shape, out);
    return s != VLM_OK ? s : vlm_tensor_upload(out, src, (size_t)vlm_tensor_nbytes(out), &ctx->err);
}

/* Vision embeddings of one kind of media ([units, H]) into *out, from the arena. */
static vlm_status embed_media(qwen2_vl_state *st, const qwen2_vl_model *qm, const float *pixels,
                              int64_t rows, const int64_t *grids, int n, vlm_tensor *out) {
    vlm_ctx *ctx = &st->ctx;
    const int64_t unit = qm->cfg.vision.merge_size * qm->cfg.vision.merge_size;
    vlm_tensor px;
    vlm_status s = vlm_ctx_tensor(ctx, VLM_DTYPE_F32, 2, SHAPE(rows, qm->patch_dim), &px);
    if (s == VLM_OK) s = vlm_tensor_upload(&px, pixels, (size_t)vlm_tensor_nbytes(&px), &ctx->err);
    if (s == VLM_OK) s = vlm_ctx_tensor(ctx, VLM_DTYPE_F32, 2, SHAPE(rows / unit, qm->cfg.text.hidden_size), out);
    if (s == VLM_OK) s = qwen2_vl_vision_forward(ctx, &qm->cfg, &qm->w, &px, grids, n, out);
    return s;
}

/* Rows of `emb` (in order) land at the prompt positions holding `token`, for positions in
 * [a, b) of the chunk x (row i of x is position a + i). `next` counts the rows used so far. */
static vlm_status splice(vlm_ctx *ctx, const vlm_prompt *p, int32_t token, const vlm_tensor *emb,
                         int64_t *next, int64_t a, int64_t b, vlm_tensor *x) {
    int64_t cnt = 0, first = -1;
    for (int64_t i = a; i < b; i++)
        if (p->ids[i] == token) {
            if (first < 0) first = *next;
            cnt++;
            (*next)++;
        }
    if (!cnt) return VLM_OK;
    int64_t *dst = malloc((size_t)cnt * sizeof *dst);
    if (!dst) return vlm_err(&ctx->err, VLM_ERR_OUT_OF_MEMORY, "prefill: out of memory");
    int64_t k = 0;
    for (int64_t i = a; i < b; i++)
        if (p->ids[i] == token) dst[k++] = i - a;
    vlm_tensor ids, src;
    vlm_status s = upload_i64(ctx, dst, 1, SHAPE(cnt), &ids);
    free(dst);
    if (s == VLM_OK) s = vlm_tensor_narrow(emb, 0, first, cnt, &src, &ctx->err);
    if (s == VLM_OK) s = vlm_op_scatter_rows(ctx, &src, &ids, x);
    return s;
}

static vlm_status prefill(const vlm_model *m, void *state, const vlm_prompt *p, float *logits,
                          vlm_error *err) {
    qwen2_vl_state *st = state;
    const qwen2_vl_model *qm = vlm_model_impl(m);
    const qwen2_vl_media *md = p->media;
    const qwen2_vl_config *cfg = &qm->cfg;
    vlm_ctx *ctx = &st->ctx;
    vlm_status s = begin(st, err);
    if (s != VLM_OK) return s;
    const int64_t from = st->kv.len, H = cfg->text.hidden_size, V = cfg->text.vocab_size;
    if (from >= p->n) return vlm_err(err, VLM_ERR_INTERNAL, "prefill: nothing to compute");

    /* media embeddings, when a media token is still to be computed; the rows before `from`
     * are skipped by counting the media tokens there */
    vlm_tensor img = {0}, vid = {0};
    int64_t img_next = 0, vid_next = 0;
    int need_img = 0, need_vid = 0;
    for (int64_t i = 0; i < p->n; i++) {
        int ii = p->ids[i] == cfg->image_token_id, vv = p->ids[i] == cfg->video_token_id;
        if (i < from) img_next += ii, vid_next += vv;
        else need_img |= ii, need_vid |= vv;
    }
    if (need_img) s = embed_media(st, qm, md->pixels, md->rows, md->grids, md->n_images, &img);
    if (s == VLM_OK && need_vid)
        s = embed_media(st, qm, md->vpixels, md->vrows, md->vgrids, md->n_videos, &vid);

    vlm_tensor lg;
    if (s == VLM_OK) s = vlm_ctx_tensor(ctx, VLM_DTYPE_F32, 1, SHAPE(V), &lg);
    for (int64_t a = from; s == VLM_OK && a < p->n; a += PREFILL_CHUNK) {
        int64_t b = a + PREFILL_CHUNK < p->n ? a + PREFILL_CHUNK : p->n, S = b - a;
        vlm_arena_mark mark = vlm_arena_get_mark(st->arena);
        vlm_tensor tok, x, pos;
        int64_t *pbuf = malloc((size_t)(3 * S) * sizeof *pbuf), *ibuf = malloc((size_t)S * sizeof *ibuf);
        if (!pbuf || !ibuf) s = vlm_err(&ctx->err, VLM_ERR_OUT_OF_MEMORY, "prefill: out of memory");
        for (int64_t i = 0; s == VLM_OK && i < S; i++) {
            ibuf[i] = p->ids[a + i];
            for (int ax = 0; ax < 3; ax++) pbuf[ax * S + i] = p->pos[ax * p->n + a + i];
        }
        if (s == VLM_OK) s = upload_i64(ctx, ibuf, 1, SHAPE(S), &tok);
        if (s == VLM_OK) s = upload_i64(ctx, pbuf, 2, SHAPE(3, S), &pos);
        free(pbuf);
        free(ibuf);
        if (s == VLM_OK) s = vlm_ctx_tensor(ctx, VLM_DTYPE_F32, 2, SHAPE(S, H), &x);
        if (s == VLM_OK) s = vlm_op_embedding_q(ctx, &qm->w.embed, &tok, &x);
        if (s == VLM_OK && need_img) s = splice(ctx, p, (int32_t)cfg->image_token_id, &img, &img_next, a, b, &x);
        if (s == VLM_OK && need_vid) s = splice(ctx, p, (int32_t)cfg->video_token_id, &vid, &vid_next, a, b, &x);
        if (s == VLM_OK) s = qwen2_vl_text_forward(ctx, cfg, &qm->w, &st->kv, &x, &pos, 0, &lg);
        if (s == VLM_OK) s = vlm_tensor_download(&lg, logits, (size_t)V * sizeof *logits, &ctx->err);
        vlm_arena_release(st->arena, mark);
    }
    return finish(st, s, err);
}

static vlm_status decode(const vlm_model *m, void *state, int32_t token, int64_t position,
                         float *logits, vlm_error *err) {
    qwen2_vl_state *st = state;
    const qwen2_vl_model *qm = vlm_model_impl(m);
    vlm_status s = begin(st, err);
    if (s == VLM_OK)
        s = qwen2_vl_decode_step(&st->ctx, &qm->cfg, &qm->w, &st->kv, &st->dec, token, position,
                                 logits);
    return finish(st, s, err);
}

const vlm_family qwen2_vl_ops = {
    .name = "qwen2_vl",
    .state_init = state_init,
    .state_free = state_free,
    .prompt_build = qwen2_vl_prompt_build,
    .cached = cached,
    .truncate = truncate_cache,
    .prefill = prefill,
    .decode = decode,
    .vocab_size = vocab_size,
};
