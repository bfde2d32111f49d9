/* bench_cuda_quant: speed of the CUDA products on MLX-quantized weights (vlm_op_matmul_q),
 * through the public op functions, timed on the host around many queued calls with one
 * stream synchronization at the end (median of 7 batches).
 * - the memory ceiling: a device-to-device copy of 1 GiB (bytes read + written);
 * - the decode GEMV (m = 1, and m = 8) on Qwen2.5-VL-3B's text shapes (q/o [2048, 2048],
 *   gate/up [11008, 2048], down [2048, 11008], lm_head [151936, 2048]) for every bits value
 *   at group 64 with bf16 scales and biases, in GB/s of bytes read (packed words + scales +
 *   biases); eight weight copies rotate so the matrices do not stay in the 50 MB L2;
 * - the prefill GEMM (m = 286, the 3B benchmark's prompt, or --m) on the q/o, gate/up and
 *   down shapes, 4- and 8-bit (or --bits), f32 and bf16 compute, in TFLOP/s, beside the
 *   same product on a bf16 weight (vlm_op_matmul: cuBLAS, bf16 compute).
 *   bench_cuda_quant [--bits B] [--shape q/o|gate/up|down|lm_head] [--reps N] [--m M]
 * (default: every bits value and shape, 200 calls per batch; the filters serve profilers)
 * Prints one line per figure. Without CUDA or a GPU it says so and exits 0. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tensor/ops.h"
#ifdef VLM_HAVE_CUDA
#include "tensor/cuda/cuda_backend.h"
#endif

#ifndef VLM_HAVE_CUDA
int main(void) {
    printf("bench_cuda_quant: built without the CUDA backend\n");
    return 0;
}
#else

#define COPIES 8
#define BENCH_NAME "bench_cuda_quant"
#include "../cuda_bench.h"

typedef struct q_arg {
    vlm_tensor x, y;
    vlm_qweight w[COPIES];
    int copies;
} q_arg;

typedef struct dense_arg {
    vlm_tensor x, y, w;
} dense_arg;

static void run_dense(vlm_ctx *ctx, void *arg, int it) {
    dense_arg *g = arg;
    (void)it;
    vlm_op_matmul(ctx, &g->x, &g->w, NULL, &g->y);
}

/* x [m, k] @ w^T with w a bf16 [n, k] weight, bf16 compute (cuBLAS): the unquantized
 * reference for the prefill GEMM. */
static void bench_dense(vlm_ctx *ctx, const vlm_backend *be, const char *name, int64_t m, int64_t n,
                        int64_t k, int reps) {
    vlm_buffer *keep[3];
    dense_arg g;
    int64_t sx[2] = {m, k}, sy[2] = {m, n}, sw[2] = {n, k};
    g.x = dev_tensor(be, VLM_DTYPE_F32, 2, sx, -1, 1, &keep[0]);
    g.y = dev_tensor(be, VLM_DTYPE_F32, 2, sy, 0, 0, &keep[1]);
    g.w = dev_tensor(be, VLM_DTYPE_BF16, 2, sw, -0.05f, 0.05f, &keep[2]);
    ctx->bf16_compute = 1;
    double t = time_calls(ctx, be, run_dense, &g, reps);
    printf("gemm m=%lld bf16 weight %s [%lld, %lld] (bf16 compute, cuBLAS): %.3f ms, %.1f "
           "TFLOP/s\n",
           (long long)m, name, (long long)n, (long long)k, t * 1e3,
           2.0 * (double)m * (double)n * (double)k / t / 1e12);
    fflush(stdout);
    for (int i = 0; i < 3; i++)
        vlm_buffer_free(keep[i]);
}

static void run_q(vlm_ctx *ctx, void *arg, int it) {
    q_arg *g = arg;
    vlm_op_matmul_q(ctx, &g->x, &g->w[it % g->copies], NULL, &g->y);
}

/* A random quantized weight [n, k] (bf16 scales ~ 0.01, biases ~ -0.08). */
static vlm_qweight qweight(const vlm_backend *be, int64_t n, int64_t k, int bits, int group,
                           vlm_buffer **keep) {
    vlm_qweight q;
    memset(&q, 0, sizeof q);
    int64_t sw[2] = {n, k * bits / 32}, sg[2] = {n, k / group};
    q.w = dev_tensor(be, VLM_DTYPE_U32, 2, sw, 0, 0, &keep[0]);
    q.scales = dev_tensor(be, VLM_DTYPE_BF16, 2, sg, 0.005f, 0.015f, &keep[1]);
    q.biases = dev_tensor(be, VLM_DTYPE_BF16, 2, sg, -0.1f, -0.06f, &keep[2]);
    q.bits = bits;
    q.group_size = group;
    return q;
}

static void bench_shape(vlm_ctx *ctx, const vlm_backend *be, const char *name, int64_t m, int64_t n,
                        int64_t k, int bits, int group, int bf16, int reps) {
    vlm_buffer *keep[3 * COPIES + 2];
    int nk = 0;
    q_arg g;
    int64_t sx[2] = {m, k}, sy[2] = {m, n};
    g.x = dev_tensor(be, VLM_DTYPE_F32, 2, sx, -1, 1, &keep[nk++]);
    g.y = dev_tensor(be, VLM_DTYPE_F32, 2, sy, 0, 0, &keep[nk++]);
    double bytes = (double)n * (double)(k * bits / 8 + k / group * 4);
    /* copies enough to exceed the L2 (50 MB) twice over, at most COPIES */
    g.copies = 1;
    while (g.copies < COPIES && bytes * g.copies < 100e6)
        g.copies++;
    for (int i = 0; i < g.copies; i++) {
        g.w[i] = qweight(be, n, k, bits, group, &keep[nk]);
        nk += 3;
    }
    ctx->bf16_compute = bf16;
    double t = time_calls(ctx, be, run_q, &g, reps);
    if (m <= 32)
        printf("gemv m=%lld %d-bit g%d %s [%lld, %lld]: %.2f us, %.0f GB/s of packed weights\n",
               (long long)m, bits, group, name, (long long)n, (long long)k, t * 1e6,
               bytes / t / 1e9);
    else
        printf("gemm m=%lld %d-bit g%d %s [%lld, %lld] (%s compute): %.3f ms, %.1f TFLOP/s\n",
               (long long)m, bits, group, name, (long long)n, (long long)k, bf16 ? "bf16" : "f32",
               t * 1e3, 2.0 * (double)m * (double)n * (double)k / t / 1e12);
    fflush(stdout);
    while (nk > 0)
        vlm_buffer_free(keep[--nk]);
}

int main(int argc, char **argv) {
    int only_bits = 0, reps = 200;
    int64_t pm = 286;
    const char *only_shape = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--bits")) only_bits = atoi(argv[i + 1]);
        if (!strcmp(argv[i], "--shape")) only_shape = argv[i + 1];
        if (!strcmp(argv[i], "--reps")) reps = atoi(argv[i + 1]);
        if (!strcmp(argv[i], "--m")) pm = atoll(argv[i + 1]);
    }
    if (pm < 33) pm = 33; /* the GEMM's range (m <= 32 runs the GEMV) */
    vlm_error e;
    const vlm_backend *be = vlm_backend_cuda(0, &e);
    if (!be) {
        printf("bench_cuda_quant: %s\n", e.message);
        return 0;
    }
    printf("device: %s\n", vlm_cuda_describe(be));
    vlm_arena *arena;
    if (vlm_arena_create(be, 256 << 20, &arena, &e) != VLM_OK) die("arena", e.message);
    vlm_ctx ctx;
    vlm_ctx_init(&ctx, arena, 1);

    {
        int64_t s[1] = {(int64_t)1 << 28}; /* 1 GiB of f32 */
        vlm_buffer *ka, *kb;
        copy_arg c;
        c.a = dev_tensor(be, VLM_DTYPE_F32, 1, s, 0, 1, &ka);
        c.b = dev_tensor(be, VLM_DTYPE_F32, 1, s, 0, 1, &kb);
        double t = time_calls(&ctx, be, run_copy, &c, 10);
        printf("copy 1 GiB d2d: %.3f ms, %.0f GB/s (read + write)\n", t * 1e3,
               2.0 * 1073741824.0 / t / 1e9);
        vlm_buffer_free(ka);
        vlm_buffer_free(kb);
    }
    static const struct {
        const char *name;
        int64_t n, k;
    } shapes[] = {{"q/o", 2048, 2048},
                  {"gate/up", 11008, 2048},
                  {"down", 2048, 11008},
                  {"lm_head", 151936, 2048}};
    static const int all_bits[6] = {4, 8, 2, 3, 5, 6};
    for (int b = 0; b < 6; b++) {
        int bits = all_bits[b];
        if (only_bits && bits != only_bits) continue;
        for (int s = 0; s < 4; s++) {
            if (bits != 4 && s == 3) continue; /* lm_head: 4-bit only (time) */
            if (only_shape && strcmp(only_shape, shapes[s].name)) continue;
            bench_shape(&ctx, be, shapes[s].name, 1, shapes[s].n, shapes[s].k, bits, 64, 0, reps);
        }
    }
    if ((!only_bits || only_bits == 4) && !only_shape) {
        bench_shape(&ctx, be, "gate/up", 8, 11008, 2048, 4, 64, 0, 100);
        bench_shape(&ctx, be, "down", 8, 2048, 11008, 4, 64, 0, 100);
    }
    for (int s = 0; s < 3; s++) {
        if (only_shape && strcmp(only_shape, shapes[s].name)) continue;
        bench_dense(&ctx, be, shapes[s].name, pm, shapes[s].n, shapes[s].k, 10);
        for (int b = 0; b < 6; b++) {
            int bits = all_bits[b];
            if (only_bits ? bits != only_bits : bits != 4 && bits != 8) continue;
            for (int bf16 = 1; bf16 >= 0; bf16--)
                bench_shape(&ctx, be, shapes[s].name, pm, shapes[s].n, shapes[s].k, bits, 64, bf16,
                            10);
        }
    }
    vlm_arena_free(arena);
    return 0;
}
#endif
