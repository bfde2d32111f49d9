/* Every Qwen2-VL / Qwen2.5-VL tensor the model uses, with its shape, loaded from any of
 * the three layouts. The checkpoint names live in one table (weights.c): Hub
 * (`visual.*`, `model.*`, `lm_head`), transformers 5 (`model.visual.*`,
 * `model.language_model.*`, `lm_head`) and mlx-community (`vision_tower.*`,
 * `language_model.model.*`, `language_model.lm_head`, Conv3d kernel channels-last). Linear
 * and Embedding weights are vlm_qweight: float, or MLX-quantized (mlx-community 4/8-bit
 * checkpoints) where the checkpoint has "<module>.scales". */
#ifndef VLM_MODELS_QWEN2_VL_WEIGHTS_H
#define VLM_MODELS_QWEN2_VL_WEIGHTS_H

#include "models/base_config.h"
#include "models/qwen2_vl/config.h"
#include "tensor/tensor.h"
#include "weights/weight_store.h"

typedef struct qwen2_vl_vision_block {
    vlm_tensor norm1_w, norm1_b;   /* [E]; _b only for Qwen2-VL (LayerNorm) */
    vlm_tensor norm2_w, norm2_b;
    vlm_qweight qkv_w;             /* [3E, E] */
    vlm_tensor qkv_b;              /* [3E] */
    vlm_qweight proj_w;            /* [E, E] */
    vlm_tensor proj_b;             /* [E] */
    vlm_qweight fc1_w;             /* Qwen2-VL: [I, E]; Qwen2.5-VL: gate_proj */
    vlm_tensor fc1_b;              /* [I] */
    vlm_qweight up_w;              /* Qwen2.5-VL only: [I, E] */
    vlm_tensor up_b;               /* [I] */
    vlm_qweight fc2_w;             /* [E, I] (Qwen2.5-VL: down_proj) */
    vlm_tensor fc2_b;              /* [E] */
} qwen2_vl_vision_block;

typedef struct qwen2_vl_text_layer {
    vlm_tensor in_norm_w;          /* [H] */
    vlm_qweight q_w;               /* [nh*hd, H] */
    vlm_tensor q_b;                /* [nh*hd] */
    vlm_qweight k_w;               /* [nkv*hd, H] */
    vlm_tensor k_b;                /* [nkv*hd] */
    vlm_qweight v_w;
    vlm_tensor v_b;
    vlm_qweight o_w;               /* [H, nh*hd] */
    vlm_tensor post_norm_w;        /* [H] */
    vlm_qweight gate_w, up_w;      /* [F, H] */
    vlm_qweight down_w;            /* [H, F] */
} qwen2_vl_text_layer;

typedef struct qwen2_vl_weights {
    vlm_weight_store *store;
    /* vision */
    vlm_tensor patch_w;            /* [E, C*T*P*P], columns in (c, t, y, x) order */
    qwen2_vl_vision_block *blocks; /* [depth] */
    vlm_tensor merger_ln_w, merger_ln_b; /* [E]; _b only for Qwen2-VL */
    vlm_qweight merger_fc1_w;      /* [4E, 4E] */
    vlm_tensor merger_fc1_b;       /* [4E] */
    vlm_qweight merger_fc2_w;      /* [out, 4E] */
    vlm_tensor merger_fc2_b;       /* [out] */
    /* text */
    vlm_qweight embed;             /* [V, H] */
    qwen2_vl_text_layer *layers;   /* [n_layers] */
    vlm_tensor norm_w;             /* [H] */
    /* rotary inverse frequencies, made once at load (f32): text [head_dim / 2] =
     * theta^(-2j/head_dim); vision [vhd / 2] = (f, f) with f_i = 10000^(-2i/(vhd/2)),
     * i < vhd / 4, one copy per (h, w) axis */
    vlm_tensor text_inv_freq, vision_inv_freq;
    vlm_qweight lm_head;           /* [V, H]: the embedding when tied */
} qwen2_vl_weights;

/* `quant`: config.json's MLX quantization (vlm_base_config.quant); a Linear or Embedding
 * weight is loaded quantized (a vlm_qweight with bits > 0) where "<module>.scales" exists. */
vlm_status qwen2_vl_weights_load(const qwen2_vl_config *cfg, const vlm_quant_config *quant,
                                 const vlm_st_set *set, const vlm_backend *backend,
                                 qwen2_vl_weights *w, vlm_error *err);
void qwen2_vl_weights_free(qwen2_vl_weights *w);

/* The two inverse-frequency tables above as host arrays (text [head_dim / 2], vision
 * [vision head_dim / 2]); the loader uploads them, a benchmark building weights in memory
 * may too. */
void qwen2_vl_inv_freq(const qwen2_vl_config *cfg, float *text, float *vision);

#endif
