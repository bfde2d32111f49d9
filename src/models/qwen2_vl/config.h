/* Qwen2-VL / Qwen2.5-VL hyper-parameters, read from any of the three layouts users have:
 * Hub (transformers 4.x: flat text fields, rope_scaling.mrope_section, torch_dtype),
 * transformers 5 (nested text_config, rope_parameters, dtype) and mlx-community (Hub-style
 * config plus quantization). */
#ifndef VLM_MODELS_QWEN2_VL_CONFIG_H
#define VLM_MODELS_QWEN2_VL_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "core/json.h"
#include "vlm.h"

#define QWEN2_VL_MAX_FULLATT 64

typedef enum qwen2_vl_family {
    QWEN2_VL = 0, /* model_type qwen2_vl */
    QWEN2_5_VL    /* model_type qwen2_5_vl: RMSNorm + SwiGLU vision, window attention */
} qwen2_vl_family;

typedef struct qwen2_vl_text_config {
    int64_t vocab_size, hidden_size, intermediate_size, n_layers, n_heads, n_kv_heads, head_dim;
    double rms_norm_eps, rope_theta;
    int64_t mrope_section[3];     /* frequencies for (t, h, w); sum = head_dim / 2 */
    int64_t max_position_embeddings;
    bool tie_word_embeddings;
    int64_t sliding_window;       /* 0 unless use_sliding_window */
    int64_t max_window_layers;    /* layers >= this use the sliding window */
} qwen2_vl_text_config;

typedef struct qwen2_vl_vision_config {
    int64_t depth, embed_dim, n_heads, intermediate_size;
    int64_t out_hidden_size;      /* merger output = text hidden size */
    int64_t patch_size, merge_size, temporal_patch_size, in_channels;
    /* Qwen2.5-VL only */
    int64_t window_size;          /* pixels (112) */
    int64_t fullatt_blocks[QWEN2_VL_MAX_FULLATT];
    int n_fullatt_blocks;
    double tokens_per_second;
} qwen2_vl_vision_config;

typedef struct qwen2_vl_config {
    qwen2_vl_family family;
    qwen2_vl_text_config text;
    qwen2_vl_vision_config vision;
    int64_t image_token_id, video_token_id, vision_start_token_id, vision_end_token_id;
} qwen2_vl_config;

/* Parses config.json (`path` names it in errors). Cross-field checks: head sizes divide,
 * mrope sections sum to head_dim / 2, vision embed_dim divisible by heads, ... */
vlm_status qwen2_vl_config_parse(const vlm_json *config, const char *path, const char *model_type,
                                 qwen2_vl_config *out, vlm_error *err);

#endif
