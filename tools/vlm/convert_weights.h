/* The weights half of `vlm convert`: a plan of output tensors in the layout mlx-vlm writes
 * for Qwen2-VL / Qwen2.5-VL (names after mlx-vlm's sanitize: vision_tower.*,
 * language_model.model.*, language_model.lm_head.*; the Conv3d patch kernel channels-last
 * [out, t, h, w, in]), optionally cast to one float dtype and MLX-affine-quantized
 * (src/weights/mlx_quant.h), then written as mlx-vlm's save_weights writes them: shards of
 * at most 5 GiB (model.safetensors, or model-0000i-of-0000n.safetensors), metadata
 * {"format": "mlx"}, and model.safetensors.index.json with the total size and the sorted
 * weight map. Tensors are produced one at a time from the mapped input while the file is
 * written, so memory stays at about one tensor. */
#ifndef VLM_TOOLS_CONVERT_WEIGHTS_H
#define VLM_TOOLS_CONVERT_WEIGHTS_H

#include <stdbool.h>

#include "weights/safetensors.h"

typedef struct vlm_convert_opts {
    bool quantize;
    int bits, group_size; /* with quantize */
    bool skip_vision;     /* leave vision_tower.* unquantized */
    int dtype;            /* -1: keep each tensor's dtype; else a vlm_st_dtype (F32/F16/BF16) */
    uint64_t shard_bytes; /* 5 GiB as mlx-vlm; tests may lower it */
} vlm_convert_opts;

typedef struct vlm_convert_stats {
    size_t tensors, quantized, shards;
    uint64_t bytes;
} vlm_convert_stats;

/* Converts every tensor of `in` (a Qwen2-VL / Qwen2.5-VL checkpoint in the Hub,
 * transformers-5 or mlx layout, float tensors only) into directory out_dir. Errors name the
 * tensor and the file. */
vlm_status vlm_convert_weights(const vlm_st_set *in, const char *out_dir, const vlm_convert_opts *o,
                               vlm_convert_stats *stats, vlm_error *err);

#endif
