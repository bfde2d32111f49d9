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

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void die(const char *what, const char *msg) {
    fprintf(stderr, "bench_cuda_ops: %s: %s\n", what, msg);
    exit(1);
}

/* A device tensor filled with uniform values in [-1, 1) (made on the host, uploaded). */
static vlm_tensor rand_tensor(const vlm_backend *be, vlm_dtype dt, int nd, const int64_t *shape,
                              vlm_buffer **keep, unsigned *seed) {
    vlm_tensor t;
    vlm_error e;
    if (vlm_tensor_init(&t, NULL, 0, dt, nd, shape, &e) != VLM_OK) die("tensor", e.message);
    size_t n = (size_t)vlm_tensor_numel(&t), es = vlm_dtype_size(dt);
    unsigned char *h = malloc(n * es);
    if (!h) die("host", "out of memory");
    for (size_t i = 0; i < n; i++) {
        *seed = *seed * 1664525u + 1013904223u;
        float v = (float)((*seed >> 8) & 0xffff) / 32768.0f - 1.0f;
        if (dt == VLM_DTYPE_BF16) {
            uint16_t b = vlm_f32_to_bf16(v);
            memcpy(h + i * 2, &b, 2);
        } else {
            memcpy(h + i * 4, &v, 4);
        }
    }
    if (vlm_buffer_alloc(be, n * es, keep, &e) != VLM_OK) die("alloc", e.message);
    t.buf = *keep;
    if (vlm_tensor_upload(&t, h, n * es, &e) != VLM_OK) die("upload", e.message);
    free(h);
    return t;
}

typedef void (*bench_fn)(vlm_ctx *ctx, void *arg, int iter);

/* Median seconds per call over 7 batches of `reps` calls (after a warm-up batch). */
static double time_calls(vlm_ctx *ctx, const vlm_backend *be, bench_fn fn, void *arg, int reps) {
    double t[7];
    vlm_error e;
    for (int b = -1; b < 7; b++) {
        if (vlm_cuda_synchronize(be, &e) != VLM_OK) die("sync", e.message);
        double t0 = now();
        for (int i = 0; i < reps; i++)
            fn(ctx, arg, i);
        if (vlm_cuda_synchronize(be, &e) != VLM_OK) die("sync", e.message);
        if (vlm_ctx_status(ctx) != VLM_OK) die("op", ctx->err.message);
        if (b >= 0) t[b] = (now() - t0) / reps;
    }
    qsort(t, 7, sizeof t[0], cmp_d);
    return t[3];
}

typedef struct copy_arg {
    vlm_tensor a, b;
} copy_arg;

static void run_copy(vlm_ctx *ctx, void *arg, int it) {
    copy_arg *c = arg;
    vlm_op_copy(ctx, it % 2 ? &c->b : &c->a, it % 2 ? &c->a : &c->b);
}

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
    unsigned seed = 12345;
    vlm_buffer *bufs[32];
    int nb = 0;

    /* Memory ceiling. */
    {
        int64_t s[1] = {(int64_t)1 << 28}; /* 1 GiB of f32 */
        copy_arg c;
        c.a = rand_tensor(be, VLM_DTYPE_F32, 1, s, &bufs[nb++], &seed);
        c.b = rand_tensor(be, VLM_DTYPE_F32, 1, s, &bufs[nb++], &seed);
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
        g.x = rand_tensor(be, VLM_DTYPE_F32, 2, sx, &bufs[nb++], &seed);
        for (int i = 0; i < 4; i++)
            g.w[i] = rand_tensor(be, VLM_DTYPE_BF16, 2, sw, &bufs[nb++], &seed);
        g.y = rand_tensor(be, VLM_DTYPE_F32, 2, sy, &bufs[nb++], &seed);
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
        a.q = rand_tensor(be, VLM_DTYPE_F32, 3, sq, &bufs[nb++], &seed);
        a.k = rand_tensor(be, VLM_DTYPE_F32, 3, sq, &bufs[nb++], &seed);
        a.v = rand_tensor(be, VLM_DTYPE_F32, 3, sq, &bufs[nb++], &seed);
        a.o = rand_tensor(be, VLM_DTYPE_F32, 3, sq, &bufs[nb++], &seed);
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
        a.q = rand_tensor(be, VLM_DTYPE_F32, 3, sq, &bufs[nb++], &seed);
        a.k = rand_tensor(be, VLM_DTYPE_F32, 3, skv, &bufs[nb++], &seed);
        a.v = rand_tensor(be, VLM_DTYPE_F32, 3, skv, &bufs[nb++], &seed);
        a.o = rand_tensor(be, VLM_DTYPE_F32, 3, sq, &bufs[nb++], &seed);
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
