/* Front end of graph.h: dispatches to the backend's graph entries. */
#include "tensor/graph.h"

#include "tensor/backend.h"

vlm_status vlm_graph_begin(vlm_ctx *ctx) {
    if (ctx->status != VLM_OK) return ctx->status;
    if (!ctx->backend || !ctx->backend->graph_begin)
        return vlm_ctx_fail(ctx, VLM_ERR_UNSUPPORTED, "graph: backend %s has no graphs",
                            ctx->backend ? ctx->backend->name : "(none)");
    return ctx->backend->graph_begin(ctx);
}

vlm_status vlm_graph_end(vlm_ctx *ctx, vlm_graph **g) {
    if (!g) return vlm_ctx_fail(ctx, VLM_ERR_INVALID_ARGUMENT, "graph: g is NULL");
    if (!ctx->backend || !ctx->backend->graph_end)
        return vlm_ctx_fail(ctx, VLM_ERR_UNSUPPORTED, "graph: backend has no graphs");
    return ctx->backend->graph_end(ctx, g);
}

vlm_status vlm_graph_launch(vlm_ctx *ctx, vlm_graph *g) {
    if (ctx->status != VLM_OK) return ctx->status;
    if (!g || !ctx->backend || !ctx->backend->graph_launch)
        return vlm_ctx_fail(ctx, VLM_ERR_INVALID_ARGUMENT, "graph: nothing to launch");
    if (*(const vlm_backend *const *)g != ctx->backend)
        return vlm_ctx_fail(ctx, VLM_ERR_INVALID_ARGUMENT,
                            "graph: recorded on another device than the context's (%s)",
                            ctx->backend->name);
    return ctx->backend->graph_launch(ctx, g);
}

void vlm_graph_free(vlm_graph *g) {
    /* Every graph starts with its backend (see the backends' definitions). */
    if (g) (*(const vlm_backend *const *)g)->graph_free(g);
}
