/* One-token decode steps of the Qwen2 decoder, recorded once as a graph and replayed on a
 * device backend (graph.h): the ~15 kernels per layer then run back to back with no launch
 * gaps, and a step costs three host calls (inputs up, replay, logits down). The inputs
 * that change between steps (token, positions, cache row and length) live in a small
 * device buffer, so the recorded kernels stay valid while the cache grows. The graph is
 * recorded again whenever the arena may have moved (its blocks or the caller's offset
 * changed, or another arena, cache or weights are passed). A recording that needs more
 * arena memory than the arena holds fails (device memory cannot be allocated while
 * recording): that step runs eagerly, which grows the arena, and the next step records. On
 * a backend without graphs, or when an op cannot be recorded, every step runs eagerly
 * through the same ops (same results). Set VLM_CUDA_GRAPHS=0 in the environment to force
 * eager steps (a debugging and benchmarking switch). */
#ifndef VLM_MODELS_QWEN2_VL_DECODE_H
#define VLM_MODELS_QWEN2_VL_DECODE_H

#include "models/qwen2_vl/text.h"
#include "tensor/arena.h"
#include "tensor/graph.h"

typedef struct qwen2_vl_decoder {
    vlm_buffer *inputs; /* i64 [6]: token, position t/h/w, cache row, cache length */
    vlm_tensor tok, pos, slot, len;
    vlm_graph *graph;
    vlm_tensor logits;         /* [V] in the arena, written by the graph */
    uint64_t arena_allocs;     /* the arena's block allocations when recorded */
    vlm_arena_mark arena_mark; /* the caller's arena offset when recorded */
    /* what the recorded kernels point into: a step with another arena, cache or weights
     * records anew */
    const vlm_arena *arena;
    const vlm_buffer *kv_buf;
    const qwen2_vl_weights *weights;
    int eager;             /* graphs unavailable: every step runs eagerly */
    int eager_once;        /* this step runs eagerly (its recording failed) */
    int failed_recordings; /* recordings that failed (not for an unrecordable op) */
} qwen2_vl_decoder;

vlm_status qwen2_vl_decoder_init(qwen2_vl_decoder *d, const vlm_backend *be, vlm_error *err);
void qwen2_vl_decoder_free(qwen2_vl_decoder *d);

/* Forgets the recorded graph (the next step records anew). */
void qwen2_vl_decoder_reset(qwen2_vl_decoder *d);

/* Embeds `token` at `position` (all three M-RoPE axes), runs the decoder over the cache
 * (appending one entry) and writes the [V] logits to host memory. Temporaries come from
 * ctx's arena above its current mark and are released. */
vlm_status qwen2_vl_decode_step(vlm_ctx *ctx, const qwen2_vl_config *cfg, const qwen2_vl_weights *w,
                                qwen2_vl_kv *kv, qwen2_vl_decoder *d, int32_t token,
                                int64_t position, float *logits);

#endif
