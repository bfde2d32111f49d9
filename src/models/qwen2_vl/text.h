/* The Qwen2 decoder with M-RoPE: a forward over a chunk of token embeddings at given
 * (t, h, w) positions, appending keys and values to a KV cache, returning the logits of
 * the chunk's last position (or of all positions). */
#ifndef VLM_MODELS_QWEN2_VL_TEXT_H
#define VLM_MODELS_QWEN2_VL_TEXT_H

#include "models/qwen2_vl/config.h"
#include "models/qwen2_vl/weights.h"
#include "tensor/ops.h"

/* Per-session KV cache: for each layer, keys and values [capacity, n_kv_heads, head_dim]
 * f32, filled up to `len`. A position's keys and values are adjacent in memory (layer
 * block [capacity, 2, n_kv_heads, head_dim]): k and v are strided views of it, and `kvrow`
 * [capacity, 2 * n_kv_heads * head_dim] stores both of a new position with one row write. */
typedef struct qwen2_vl_kv {
    vlm_buffer *buf;
    vlm_tensor *k, *v, *kvrow; /* [n_layers] */
    int64_t n_layers, capacity, len;
} qwen2_vl_kv;

vlm_status qwen2_vl_kv_init(qwen2_vl_kv *kv, const qwen2_vl_config *cfg, const vlm_backend *be,
                            int64_t capacity, vlm_error *err);
void qwen2_vl_kv_free(qwen2_vl_kv *kv);

/* x [S, H] f32 embeddings of the chunk (modified: it holds the final hidden states after),
 * pos [3, S] i64 positions. Appends S entries to the cache (fails with VLM_ERR_LIMIT when
 * it would overflow). logits: [V] for the last position, or [S, V] when all_logits. */
vlm_status qwen2_vl_text_forward(vlm_ctx *ctx, const qwen2_vl_config *cfg,
                                 const qwen2_vl_weights *w, qwen2_vl_kv *kv, vlm_tensor *x,
                                 const vlm_tensor *pos, int all_logits, const vlm_tensor *logits);

/* Where a chunk's keys and values go when that is known only on the device (a recorded
 * graph, decode.h): slot [S] i64 are the cache rows to write, len [1] i64 the cache length
 * after the chunk (attention reads rows 0 .. len - 1). Both in the backend's memory. */
typedef struct qwen2_vl_step {
    const vlm_tensor *slot;
    const vlm_tensor *len;
} qwen2_vl_step;

/* qwen2_vl_text_forward with the cache rows and length taken from `step` (NULL: from
 * kv->len, as qwen2_vl_text_forward). kv->len still advances by S on the host. */
vlm_status qwen2_vl_text_forward_at(vlm_ctx *ctx, const qwen2_vl_config *cfg,
                                    const qwen2_vl_weights *w, qwen2_vl_kv *kv, vlm_tensor *x,
                                    const vlm_tensor *pos, const qwen2_vl_step *step,
                                    int all_logits, const vlm_tensor *logits);

#endif
