/* Loading Qwen2-VL / Qwen2.5-VL weights from the three layouts (see weights.h). The
 * layout is recognized by where the token embedding lives; every other name follows from
 * the same prefix table. */
#include "models/qwen2_vl/weights.h"

#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"

typedef struct layout {
    const char *name;
    const char *vision; /* prefix of vision tower tensors */
    const char *text;   /* prefix of decoder tensors (embed_tokens, layers, norm) */
    const char *head;   /* the LM head module (its tensor is "<head>.weight") */
    int channels_last;  /* Conv3d kernel stored [E, T, P, P, C] */
} layout;

static const layout layouts[] = {
    {"hub", "visual.", "model.", "lm_head", 0},
    {"transformers-5", "model.visual.", "model.language_model.", "lm_head", 0},
    {"mlx", "vision_tower.", "language_model.model.", "language_model.lm_head", 1},
};

#define TRY(x)                                                                                     \
    do {                                                                                           \
        vlm_status s_ = (x);                                                                       \
        if (s_ != VLM_OK) return s_;                                                               \
    } while (0)

#define SHAPE(...) (const int64_t[]){__VA_ARGS__}

/* A Linear / Embedding weight [n, k] of the module named printf-style (the checkpoint name
 * without ".weight"): MLX-quantized where "<module>.scales" exists, with the bits and group
 * size config.json gives that module. */
static vlm_status linear(vlm_weight_store *ws, const vlm_quant_config *qc, vlm_qweight *out,
                         vlm_error *err, int64_t n, int64_t k, const char *fmt, ...)
    VLM_PRINTF(7, 8);
static vlm_status linear(vlm_weight_store *ws, const vlm_quant_config *qc, vlm_qweight *out,
                         vlm_error *err, int64_t n, int64_t k, const char *fmt, ...) {
    char module[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(module, sizeof module, fmt, ap);
    va_end(ap);
    int bits, group;
    vlm_quant_config_lookup(qc, module, &bits, &group);
    return vlm_weight_store_get_linear(ws, module, bits, group, n, k, out, err);
}

static const layout *detect(const vlm_weight_store *ws) {
    char name[256];
    for (size_t i = 0; i < sizeof layouts / sizeof layouts[0]; i++) {
        snprintf(name, sizeof name, "%sembed_tokens.weight", layouts[i].text);
        if (vlm_weight_store_has(ws, name)) return &layouts[i];
    }
    return NULL;
}

/* The patch embedding as a [E, C*T*P*P] matrix with columns in (c, t, y, x) order, the
 * order of the processor's pixel_values columns. */
static vlm_status load_patch(vlm_weight_store *ws, const layout *L, const qwen2_vl_vision_config *v,
                             vlm_tensor *out, vlm_error *err) {
    int64_t E = v->embed_dim, C = v->in_channels, T = v->temporal_patch_size, P = v->patch_size;
    char name[256];
    snprintf(name, sizeof name, "%spatch_embed.proj.weight", L->vision);
    vlm_tensor raw;
    if (!L->channels_last) {
        TRY(vlm_weight_store_get(ws, name, 5, SHAPE(E, C, T, P, P), &raw, err));
        return vlm_tensor_reshape(&raw, 2, SHAPE(E, C * T * P * P), out, err);
    }
    /* mlx keeps the kernel channels-last: reorder once at load into (c, t, y, x) */
    TRY(vlm_weight_store_get(ws, name, 5, SHAPE(E, T, P, P, C), &raw, err));
    float *src;
    TRY(vlm_weight_store_read_f32(ws, name, &src, err));
    size_t K = (size_t)(C * T * P * P);
    float *dst = vlm_malloc_array((size_t)E * K, sizeof *dst);
    if (!dst) {
        free(src);
        return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "weights: %s: out of memory", name);
    }
    for (int64_t e = 0; e < E; e++)
        for (int64_t t = 0; t < T; t++)
            for (int64_t y = 0; y < P; y++)
                for (int64_t x = 0; x < P; x++)
                    for (int64_t c = 0; c < C; c++)
                        dst[(size_t)e * K + (size_t)(((c * T + t) * P + y) * P + x)] =
                            src[(size_t)((((e * T + t) * P + y) * P + x) * C + c)];
    free(src);
    vlm_status s = vlm_weight_store_new(ws, name, 2, SHAPE(E, (int64_t)K), dst, out, err);
    free(dst);
    return s;
}

static vlm_status load_vision(vlm_weight_store *ws, const vlm_quant_config *qc, const layout *L,
                              const qwen2_vl_config *cfg, qwen2_vl_weights *w, vlm_error *err) {
    const qwen2_vl_vision_config *v = &cfg->vision;
    int64_t E = v->embed_dim, I = v->intermediate_size, M = E * v->merge_size * v->merge_size;
    int layer_norm = cfg->family == QWEN2_VL;
    const char *p = L->vision;
    TRY(load_patch(ws, L, v, &w->patch_w, err));
    w->blocks = vlm_calloc_array((size_t)v->depth, sizeof *w->blocks);
    if (!w->blocks) return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "weights: out of memory");
    for (int64_t i = 0; i < v->depth; i++) {
        qwen2_vl_vision_block *b = &w->blocks[i];
        TRY(vlm_weight_store_getf(ws, &b->norm1_w, err, 1, SHAPE(E), "%sblocks.%lld.norm1.weight", p, (long long)i));
        TRY(vlm_weight_store_getf(ws, &b->norm2_w, err, 1, SHAPE(E), "%sblocks.%lld.norm2.weight", p, (long long)i));
        if (layer_norm) {
            TRY(vlm_weight_store_getf(ws, &b->norm1_b, err, 1, SHAPE(E), "%sblocks.%lld.norm1.bias", p, (long long)i));
            TRY(vlm_weight_store_getf(ws, &b->norm2_b, err, 1, SHAPE(E), "%sblocks.%lld.norm2.bias", p, (long long)i));
        }
        TRY(linear(ws, qc, &b->qkv_w, err, 3 * E, E, "%sblocks.%lld.attn.qkv", p, (long long)i));
        TRY(vlm_weight_store_getf(ws, &b->qkv_b, err, 1, SHAPE(3 * E), "%sblocks.%lld.attn.qkv.bias", p, (long long)i));
        TRY(linear(ws, qc, &b->proj_w, err, E, E, "%sblocks.%lld.attn.proj", p, (long long)i));
        TRY(vlm_weight_store_getf(ws, &b->proj_b, err, 1, SHAPE(E), "%sblocks.%lld.attn.proj.bias", p, (long long)i));
        if (layer_norm) {
            TRY(linear(ws, qc, &b->fc1_w, err, I, E, "%sblocks.%lld.mlp.fc1", p, (long long)i));
            TRY(vlm_weight_store_getf(ws, &b->fc1_b, err, 1, SHAPE(I), "%sblocks.%lld.mlp.fc1.bias", p, (long long)i));
            TRY(linear(ws, qc, &b->fc2_w, err, E, I, "%sblocks.%lld.mlp.fc2", p, (long long)i));
            TRY(vlm_weight_store_getf(ws, &b->fc2_b, err, 1, SHAPE(E), "%sblocks.%lld.mlp.fc2.bias", p, (long long)i));
        } else {
            TRY(linear(ws, qc, &b->fc1_w, err, I, E, "%sblocks.%lld.mlp.gate_proj", p, (long long)i));
            TRY(vlm_weight_store_getf(ws, &b->fc1_b, err, 1, SHAPE(I), "%sblocks.%lld.mlp.gate_proj.bias", p, (long long)i));
            TRY(linear(ws, qc, &b->up_w, err, I, E, "%sblocks.%lld.mlp.up_proj", p, (long long)i));
            TRY(vlm_weight_store_getf(ws, &b->up_b, err, 1, SHAPE(I), "%sblocks.%lld.mlp.up_proj.bias", p, (long long)i));
            TRY(linear(ws, qc, &b->fc2_w, err, E, I, "%sblocks.%lld.mlp.down_proj", p, (long long)i));
            TRY(vlm_weight_store_getf(ws, &b->fc2_b, err, 1, SHAPE(E), "%sblocks.%lld.mlp.down_proj.bias", p, (long long)i));
        }
    }
    TRY(vlm_weight_store_getf(ws, &w->merger_ln_w, err, 1, SHAPE(E), "%smerger.ln_q.weight", p));
    if (layer_norm)
        TRY(vlm_weight_store_getf(ws, &w->merger_ln_b, err, 1, SHAPE(E), "%smerger.ln_q.bias", p));
    TRY(linear(ws, qc, &w->merger_fc1_w, err, M, M, "%smerger.mlp.0", p));
    TRY(vlm_weight_store_getf(ws, &w->merger_fc1_b, err, 1, SHAPE(M), "%smerger.mlp.0.bias", p));
    TRY(linear(ws, qc, &w->merger_fc2_w, err, v->out_hidden_size, M, "%smerger.mlp.2", p));
    TRY(vlm_weight_store_getf(ws, &w->merger_fc2_b, err, 1, SHAPE(v->out_hidden_size), "%smerger.mlp.2.bias", p));
    return VLM_OK;
}

static vlm_status load_text(vlm_weight_store *ws, const vlm_quant_config *qc, const layout *L,
                            const qwen2_vl_text_config *t, qwen2_vl_weights *w, vlm_error *err) {
    int64_t H = t->hidden_size, V = t->vocab_size, F = t->intermediate_size;
    int64_t Q = t->n_heads * t->head_dim, KV = t->n_kv_heads * t->head_dim;
    const char *p = L->text;
    TRY(linear(ws, qc, &w->embed, err, V, H, "%sembed_tokens", p));
    w->layers = vlm_calloc_array((size_t)t->n_layers, sizeof *w->layers);
    if (!w->layers) return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "weights: out of memory");
    for (int64_t i = 0; i < t->n_layers; i++) {
        qwen2_vl_text_layer *l = &w->layers[i];
        long long li = (long long)i;
        TRY(vlm_weight_store_getf(ws, &l->in_norm_w, err, 1, SHAPE(H), "%slayers.%lld.input_layernorm.weight", p, li));
        TRY(linear(ws, qc, &l->q_w, err, Q, H, "%slayers.%lld.self_attn.q_proj", p, li));
        TRY(vlm_weight_store_getf(ws, &l->q_b, err, 1, SHAPE(Q), "%slayers.%lld.self_attn.q_proj.bias", p, li));
        TRY(linear(ws, qc, &l->k_w, err, KV, H, "%slayers.%lld.self_attn.k_proj", p, li));
        TRY(vlm_weight_store_getf(ws, &l->k_b, err, 1, SHAPE(KV), "%slayers.%lld.self_attn.k_proj.bias", p, li));
        TRY(linear(ws, qc, &l->v_w, err, KV, H, "%slayers.%lld.self_attn.v_proj", p, li));
        TRY(vlm_weight_store_getf(ws, &l->v_b, err, 1, SHAPE(KV), "%slayers.%lld.self_attn.v_proj.bias", p, li));
        TRY(linear(ws, qc, &l->o_w, err, H, Q, "%slayers.%lld.self_attn.o_proj", p, li));
        TRY(vlm_weight_store_getf(ws, &l->post_norm_w, err, 1, SHAPE(H), "%slayers.%lld.post_attention_layernorm.weight", p, li));
        TRY(linear(ws, qc, &l->gate_w, err, F, H, "%slayers.%lld.mlp.gate_proj", p, li));
        TRY(linear(ws, qc, &l->up_w, err, F, H, "%slayers.%lld.mlp.up_proj", p, li));
        TRY(linear(ws, qc, &l->down_w, err, H, F, "%slayers.%lld.mlp.down_proj", p, li));
    }
    TRY(vlm_weight_store_getf(ws, &w->norm_w, err, 1, SHAPE(H), "%snorm.weight", p));
    char head[128];
    snprintf(head, sizeof head, "%s.weight", L->head);
    if (vlm_weight_store_has(ws, head)) return linear(ws, qc, &w->lm_head, err, V, H, "%s", L->head);
    if (!t->tie_word_embeddings)
        return vlm_err(err, VLM_ERR_NOT_FOUND,
                       "weights: tensor '%s' is missing and tie_word_embeddings is false", head);
    w->lm_head = w->embed;
    return VLM_OK;
}

vlm_status qwen2_vl_weights_load(const qwen2_vl_config *cfg, const vlm_quant_config *quant,
                                 const vlm_st_set *set, const vlm_backend *backend,
                                 qwen2_vl_weights *w, vlm_error *err) {
    memset(w, 0, sizeof *w);
    TRY(vlm_weight_store_create(set, backend, &w->store, err));
    const layout *L = detect(w->store);
    if (!L)
        return vlm_err(err, VLM_ERR_NOT_FOUND,
                       "weights: no token embedding found (looked for model.embed_tokens.weight, "
                       "model.language_model.embed_tokens.weight, "
                       "language_model.model.embed_tokens.weight)");
    if (quant->present && quant->mode && strcmp(quant->mode, "affine") != 0)
        return vlm_err(err, VLM_ERR_UNSUPPORTED,
                       "weights: quantization mode '%s' is not supported (MLX affine only)",
                       quant->mode);
    TRY(load_vision(w->store, quant, L, cfg, w, err));
    TRY(load_text(w->store, quant, L, &cfg->text, w, err));
    int64_t th = cfg->text.head_dim / 2, vh = cfg->vision.embed_dim / cfg->vision.n_heads / 2;
    float *tf = vlm_malloc_array((size_t)th, sizeof *tf), *vf = vlm_malloc_array((size_t)vh, sizeof *vf);
    vlm_status s = tf && vf ? VLM_OK : vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "weights: out of memory");
    if (s == VLM_OK) {
        qwen2_vl_inv_freq(cfg, tf, vf);
        s = vlm_weight_store_new(w->store, "text rotary inv_freq", 1, SHAPE(th), tf,
                                 &w->text_inv_freq, err);
    }
    if (s == VLM_OK)
        s = vlm_weight_store_new(w->store, "vision rotary inv_freq", 1, SHAPE(vh), vf,
                                 &w->vision_inv_freq, err);
    free(tf);
    free(vf);
    return s;
}

void qwen2_vl_inv_freq(const qwen2_vl_config *cfg, float *text, float *vision) {
    const int64_t hd = cfg->text.head_dim;
    for (int64_t j = 0; j < hd / 2; j++)
        text[j] = (float)(1.0 / pow(cfg->text.rope_theta, (double)(2 * j) / (double)hd));
    const int64_t vhd = cfg->vision.embed_dim / cfg->vision.n_heads, q = vhd / 4;
    for (int64_t i = 0; i < q; i++) {
        float v = 1.0f / powf(10000.0f, (float)(2 * i) / (float)(vhd / 2));
        vision[i] = v;
        vision[q + i] = v;
    }
}

void qwen2_vl_weights_free(qwen2_vl_weights *w) {
    if (!w) return;
    vlm_weight_store_free(w->store);
    free(w->blocks);
    free(w->layers);
    memset(w, 0, sizeof *w);
}
