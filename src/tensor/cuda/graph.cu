/* CUDA graphs for graph.h. Recording happens on a private stream of the context (its
 * `queue`), in thread-local capture mode, so ops that other threads queue on the device's
 * stream meanwhile are neither recorded nor disturbed. A replay goes to the device's
 * stream, ordered with transfers and eager ops like any kernel. Re-recording a graph of the
 * same shape (the next decode step after the arena moved, say) updates the executable
 * graph in place (cudaGraphExecUpdate), which is much cheaper than instantiating anew. */
#include <stdlib.h>

#include "tensor/cuda/cuda_internal.cuh"

struct vlm_graph {
    const vlm_backend *backend; /* first: vlm_graph_free finds the table through it */
    int device;
    cudaGraphExec_t exec;
};

extern "C" vlm_status cuda_graph_begin(vlm_ctx *ctx) {
    const char *op = "graph_begin";
    cuda_dev *dev;
    vlm_status st = cuda_begin(ctx, op, &dev);
    if (st != VLM_OK) return st;
    if (ctx->queue) return vlm_ctx_fail(ctx, VLM_ERR_INVALID_ARGUMENT, "%s: already recording", op);
    cudaStream_t cs;
    if ((st = cuda_check(ctx, op, cudaStreamCreateWithFlags(&cs, cudaStreamNonBlocking))) != VLM_OK)
        return st;
    /* The recording starts after the work already queued on the device's stream: replays
     * are queued there, so only the capture stream needs to exist here. */
    cudaError_t e = cudaStreamBeginCapture(cs, cudaStreamCaptureModeThreadLocal);
    if (e != cudaSuccess) {
        cudaStreamDestroy(cs);
        return cuda_check(ctx, op, e);
    }
    ctx->queue = cs;
    return VLM_OK;
}

extern "C" vlm_status cuda_graph_end(vlm_ctx *ctx, vlm_graph **out) {
    const char *op = "graph_end";
    cudaStream_t cs = (cudaStream_t)ctx->queue;
    if (!cs) return vlm_ctx_fail(ctx, VLM_ERR_INVALID_ARGUMENT, "%s: not recording", op);
    ctx->queue = NULL;
    cudaGraph_t graph = NULL;
    cudaError_t e = cudaStreamEndCapture(cs, &graph);
    cudaStreamDestroy(cs);
    cudaGetLastError();          /* a failed capture leaves a launch error behind */
    if (ctx->status != VLM_OK) { /* an op failed while recording */
        if (graph) cudaGraphDestroy(graph);
        return ctx->status;
    }
    vlm_status st = cuda_check(ctx, op, e);
    if (st != VLM_OK) return st;
    vlm_graph *g = *out;
    if (g) {
        cudaGraphExecUpdateResultInfo info;
        if (cudaGraphExecUpdate(g->exec, graph, &info) == cudaSuccess) {
            cudaGraphDestroy(graph);
            return VLM_OK;
        }
        cudaGetLastError(); /* not updatable: instantiate anew below */
    }
    cudaGraphExec_t exec;
    e = cudaGraphInstantiate(&exec, graph, 0);
    cudaGraphDestroy(graph);
    if ((st = cuda_check(ctx, op, e)) != VLM_OK) return st;
    if (!g) {
        g = (vlm_graph *)calloc(1, sizeof *g);
        if (!g) {
            cudaGraphExecDestroy(exec);
            return vlm_ctx_fail(ctx, VLM_ERR_OUT_OF_MEMORY, "%s: out of memory", op);
        }
        g->backend = ctx->backend;
        g->device = cuda_dev_of(ctx)->device;
    } else {
        cudaGraphExecDestroy(g->exec);
    }
    g->exec = exec;
    *out = g;
    return VLM_OK;
}

extern "C" vlm_status cuda_graph_launch(vlm_ctx *ctx, vlm_graph *g) {
    const char *op = "graph_launch";
    cuda_dev *dev;
    vlm_status st = cuda_begin(ctx, op, &dev);
    if (st != VLM_OK) return st;
    return cuda_check(ctx, op, cudaGraphLaunch(g->exec, dev->stream));
}

extern "C" void cuda_graph_free(vlm_graph *g) {
    if (!g) return;
    if (cudaSetDevice(g->device) == cudaSuccess) {
        const cuda_dev *d = (const cuda_dev *)(const void *)g->backend;
        cudaStreamSynchronize(d->stream); /* replays in flight */
        cudaGraphExecDestroy(g->exec);
    }
    free(g);
}
