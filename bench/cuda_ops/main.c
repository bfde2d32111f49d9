/* bench_cuda_ops: first figures of the CUDA backend's ops on one GPU, through the public op
 * functions (front-end checks included), timed on the host around many queued calls with a
 * stream synchronization at the end (median of 7 batches).
 * - the memory ceiling: a device-to-device copy of 1 GiB (bytes read + written);
 * - the decode GEMV: m = 1 with bf16 weights of Qwen2.5-3B's MLP (gate/up [11008, 2048],
 *   down [2048, 11008]), in GB/s of weights read; four weight copies rotate so the 45 MB
 *   matrices do not stay in the 50 MB L2;
 * - prefill attention of a 1024-patch vision tower (16 heads, d 80, bidirectional) and a
 *   decode step over a 1200-entry KV cache (16 q heads, 2 kv heads, d 128), f32.
 * Prints one line per figure. Without CUDA or a GPU it says so and exits 0. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "tensor/ops.h"
#ifdef VLM_HAVE_CUDA
#include "tensor/cuda/cuda_backend.h"
#endif

#ifndef VLM_HAVE_CUDA
int main(void) {
    printf("bench_cuda_ops: built without the CUDA backend\n");
    return 0;
}
#else

#define BENCH_NAME "bench_cuda_ops"
#include "../cuda_bench.h"

typedef struct gemv_arg {
    vlm_tensor x, w[4], y;
} gemv_arg;

static void run_gemv(vlm_ctx *ctx, void *arg, int it) {
    gemv_arg *g = arg;
    vlm_op_matmul(ctx, &g->x, &g->w[it % 4], NULL, &g->y);
}

typedef struct att_arg {
    vlm_tensor q, k, v, o;
    vlm_attn_params p;
} att_arg;

static void run_att(vlm_ctx *ctx, void *arg, int it) {
    att_arg *a = arg;
    (void)it;
    vlm_op_attention(ctx, &a->q, &a->k, &a->v, &a->p, &a->o);
}

int main(void) {
    vlm_error e;
    const vlm_backend *be = vlm_backend_cuda(0, &e);
    if (!be) {
        printf("bench_cuda_ops: %s\n", e.message);
        return 0;
    }
    printf("device: %s\n", vlm_cuda_describe(be));
    vlm_arena *arena;
    if (vlm_arena_create(be, 256 << 20, &arena, &e) != VLM_OK) die("arena", e.message);
    vlm_ctx ctx;
    vlm_ctx_init(&ctx, arena, 1);
    vlm_buffer *bufs[32];
    int nb = 0;

    /* Memory ceiling. */
    {
        int64_t s[1] = {(int64_t)1 << 28}; /* 1 GiB of f32 */
        copy_arg c;
        c.a = dev_tensor(be, VLM_DTYPE_F32, 1, s, -1, 1, &bufs[nb++]);
        c.b = dev_tensor(be, VLM_DTYPE_F32, 1, s, -1, 1, &bufs[nb++]);
        double t = time_calls(&ctx, be, run_copy, &c, 10);
        printf("copy 1 GiB d2d: %.3f ms, %.0f GB/s (read + write)\n", t * 1e3,
               2.0 * 1073741824.0 / t / 1e9);
        vlm_buffer_free(bufs[--nb]);
        vlm_buffer_free(bufs[--nb]);
    }
    /* Decode GEMV, bf16 weights. */
    int64_t shapes[2][2] = {{11008, 2048}, {2048, 11008}};
    for (int s = 0; s < 2; s++) {
        int64_t n = shapes[s][0], k = shapes[s][1];
        int64_t sx[2] = {1, k}, sw[2] = {n, k}, sy[2] = {1, n};
        gemv_arg g;
        g.x = dev_tensor(be, VLM_DTYPE_F32, 2, sx, -1, 1, &bufs[nb++]);
        for (int i = 0; i < 4; i++)
            g.w[i] = dev_tensor(be, VLM_DTYPE_BF16, 2, sw, -1, 1, &bufs[nb++]);
        g.y = dev_tensor(be, VLM_DTYPE_F32, 2, sy, -1, 1, &bufs[nb++]);
        double t = time_calls(&ctx, be, run_gemv, &g, 200);
        double bytes = (double)n * (double)k * 2.0;
        printf("gemv m=1 bf16 w[%lld, %lld]: %.2f us, %.0f GB/s of weights (%.0f%% of 3350)\n",
               (long long)n, (long long)k, t * 1e6, bytes / t / 1e9, bytes / t / 1e9 / 33.5);
        for (int i = 0; i < 6; i++)
            vlm_buffer_free(bufs[--nb]);
    }
    /* Attention: vision prefill and a decode step. */
    {
        int64_t sq[3] = {1024, 16, 80};
        att_arg a;
        a.q = dev_tensor(be, VLM_DTYPE_F32, 3, sq, -1, 1, &bufs[nb++]);
        a.k = dev_tensor(be, VLM_DTYPE_F32, 3, sq, -1, 1, &bufs[nb++]);
        a.v = dev_tensor(be, VLM_DTYPE_F32, 3, sq, -1, 1, &bufs[nb++]);
        a.o = dev_tensor(be, VLM_DTYPE_F32, 3, sq, -1, 1, &bufs[nb++]);
        a.p = vlm_attn_params_default(0.1118f);
        double t = time_calls(&ctx, be, run_att, &a, 20);
        double flops = 4.0 * 1024 * 1024 * 80 * 16;
        printf("attention prefill 1024x1024, 16 heads, d 80: %.3f ms, %.1f TFLOP/s (f32)\n",
               t * 1e3, flops / t / 1e12);
        for (int i = 0; i < 4; i++)
            vlm_buffer_free(bufs[--nb]);
    }
    {
        int64_t sq[3] = {1, 16, 128}, skv[3] = {1200, 2, 128};
        att_arg a;
        a.q = dev_tensor(be, VLM_DTYPE_F32, 3, sq, -1, 1, &bufs[nb++]);
        a.k = dev_tensor(be, VLM_DTYPE_F32, 3, skv, -1, 1, &bufs[nb++]);
        a.v = dev_tensor(be, VLM_DTYPE_F32, 3, skv, -1, 1, &bufs[nb++]);
        a.o = dev_tensor(be, VLM_DTYPE_F32, 3, sq, -1, 1, &bufs[nb++]);
        a.p = vlm_attn_params_default(0.0884f);
        a.p.causal = 1;
        a.p.q_pos0 = 1199;
        double t = time_calls(&ctx, be, run_att, &a, 200);
        double bytes = 1200.0 * 2 * 128 * 4 * 2;
        printf("attention decode, kv 1200 x 2 heads, 16 q heads, d 128: %.2f us, %.0f GB/s of KV\n",
               t * 1e6, bytes / t / 1e9);
        for (int i = 0; i < 4; i++)
            vlm_buffer_free(bufs[--nb]);
    }
    vlm_arena_free(arena);
    return 0;
}
#endif
