/* Qwen2-VL / Qwen2.5-VL vision tower + merger (see vision.c). */
#ifndef VLM_MODELS_QWEN2_VL_VISION_H
#define VLM_MODELS_QWEN2_VL_VISION_H

#include "models/qwen2_vl/config.h"
#include "models/qwen2_vl/weights.h"
#include "tensor/ops.h"

/* pixels [patches, C*T*P*P] f32 (rows in the processor's merge-block order), grids
 * [n_grids][3] = (t, h, w) in patches. out [patches / merge^2, text hidden] f32, shaped by
 * the caller. Temporaries come from ctx's arena and are released. */
vlm_status qwen2_vl_vision_forward(vlm_ctx *ctx, const qwen2_vl_config *cfg,
                                   const qwen2_vl_weights *w, const vlm_tensor *pixels,
                                   const int64_t *grids, int n_grids, vlm_tensor *out);

#endif
