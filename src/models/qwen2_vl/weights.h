/* Every Qwen2-VL / Qwen2.5-VL tensor the model uses, with its shape, loaded from any of
 * the three layouts. The checkpoint names live in one table (weights.c): Hub
 * (`visual.*`, `model.*`, `lm_head`), transformers 5 (`model.visual.*`,
 * `model.language_model.*`, `lm_head`) and mlx-community (`vision_tower.*`,
 * `language_model.model.*`, `language_model.lm_head`, Conv3d kernel channels-last). */
#ifndef VLM_MODELS_QWEN2_VL_WEIGHTS_H
#define VLM_MODELS_QWEN2_VL_WEIGHTS_H

#include "models/qwen2_vl/config.h"
#include "tensor/tensor.h"
#include "weights/weight_store.h"

typedef struct qwen2_vl_vision_block {
    vlm_tensor norm1_w, norm1_b;   /* [E]; _b only for Qwen2-VL (LayerNorm) */
    vlm_tensor norm2_w, norm2_b;
    vlm_tensor qkv_w, qkv_b;       /* [3E, E], [3E] */
    vlm_tensor proj_w, proj_b;     /* [E, E], [E] */
    vlm_tensor fc1_w, fc1_b;       /* Qwen2-VL: [I, E], [I]; Qwen2.5-VL: gate_proj */
    vlm_tensor up_w, up_b;         /* Qwen2.5-VL only: [I, E], [I] */
    vlm_tensor fc2_w, fc2_b;       /* [E, I], [E] (Qwen2.5-VL: down_proj) */
} qwen2_vl_vision_block;

typedef struct qwen2_vl_text_layer {
    vlm_tensor in_norm_w;          /* [H] */
    vlm_tensor q_w, q_b;           /* [nh*hd, H], [nh*hd] */
    vlm_tensor k_w, k_b;           /* [nkv*hd, H], [nkv*hd] */
    vlm_tensor v_w, v_b;
    vlm_tensor o_w;                /* [H, nh*hd] */
    vlm_tensor post_norm_w;        /* [H] */
    vlm_tensor gate_w, up_w;       /* [F, H] */
    vlm_tensor down_w;             /* [H, F] */
} qwen2_vl_text_layer;

typedef struct qwen2_vl_weights {
    vlm_weight_store *store;
    /* vision */
    vlm_tensor patch_w;            /* [E, C*T*P*P], columns in (c, t, y, x) order */
    qwen2_vl_vision_block *blocks; /* [depth] */
    vlm_tensor merger_ln_w, merger_ln_b; /* [E]; _b only for Qwen2-VL */
    vlm_tensor merger_fc1_w, merger_fc1_b; /* [4E, 4E] */
    vlm_tensor merger_fc2_w, merger_fc2_b; /* [out, 4E] */
    /* text */
    vlm_tensor embed;              /* [V, H] */
    qwen2_vl_text_layer *layers;   /* [n_layers] */
    vlm_tensor norm_w;             /* [H] */
    vlm_tensor lm_head;            /* [V, H]: the embedding when tied */
} qwen2_vl_weights;

vlm_status qwen2_vl_weights_load(const qwen2_vl_config *cfg, const vlm_st_set *set,
                                 const vlm_backend *backend, qwen2_vl_weights *w, vlm_error *err);
void qwen2_vl_weights_free(qwen2_vl_weights *w);

#endif
