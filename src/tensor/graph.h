/* Recorded op sequences replayed as one unit (CUDA graphs). A decode step is ~15 small
 * kernels per layer; launched one by one, their launch gaps cost as much as the weights'
 * reads. Recording the step once and replaying it removes those gaps.
 *
 * Between vlm_graph_begin and vlm_graph_end the ops queued on the context are recorded, not
 * run: their arguments (pointers, sizes, scalars) are frozen into the graph. A replay is
 * right only when every buffer the ops touch sits at the same address and holds the
 * step's inputs, so callers keep the inputs that change between steps in device memory
 * (token, positions, cache length: see vlm_attn_params.kv_len) and record again when an
 * address may have moved (arena blocks replaced, see vlm_arena_stats.n_system_allocs).
 *
 * While recording, ops that must wait for the device or read pageable host memory fail
 * with VLM_ERR_UNSUPPORTED; gather/scatter check their ids on the device instead of the
 * host (a bad id is skipped and reported by the next download). A backend without graphs
 * (CPU) answers vlm_graph_begin with VLM_ERR_UNSUPPORTED: callers then run the ops eagerly.
 * One graph belongs to one context; not thread-safe. */
#ifndef VLM_TENSOR_GRAPH_H
#define VLM_TENSOR_GRAPH_H

#include "tensor/ops.h"

typedef struct vlm_graph vlm_graph;

/* Transfers (vlm_buffer_upload/download, vlm_tensor_upload/download) take no context: they
 * are never recorded and run at once, on the device's queue, even while a recording is
 * open; do them outside the recording. A bad id met by a replay is reported by the next
 * download or synchronization on that device, whichever session makes it. */

/* Starts recording the ops of ctx. VLM_ERR_UNSUPPORTED when the backend has no graphs. */
vlm_status vlm_graph_begin(vlm_ctx *ctx);

/* Stops recording. On success *g holds the recorded ops (a previous graph in *g is updated
 * in place when the new recording has the same shape, else replaced). On failure, or when
 * an op failed while recording (the context's sticky status), *g is left unchanged, nothing
 * ran, and the context's queue is the device's again. */
vlm_status vlm_graph_end(vlm_ctx *ctx, vlm_graph **g);

/* Queues one replay of g on the context's device. */
vlm_status vlm_graph_launch(vlm_ctx *ctx, vlm_graph *g);

/* NULL is a no-op. Waits for replays in flight. */
void vlm_graph_free(vlm_graph *g);

#endif
