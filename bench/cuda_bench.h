/* The host-side harness the CUDA benchmark programs share (bench_cuda_ops, bench_cuda_quant):
 * a monotonic clock, fatal errors, device tensors of random data made on the host, the
 * median-of-7-batches timer around queued calls, and the device-to-device copy used as the
 * memory ceiling. Include once from a benchmark's main.c after defining BENCH_NAME, inside
 * its VLM_HAVE_CUDA part. */
#ifndef VLM_BENCH_CUDA_BENCH_H
#define VLM_BENCH_CUDA_BENCH_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tensor/cuda/cuda_backend.h"
#include "tensor/dtype.h"
#include "tensor/ops.h"

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
    fprintf(stderr, "%s: %s: %s\n", BENCH_NAME, what, msg);
    exit(1);
}

static unsigned g_seed = 12345;

static unsigned rnd(void) {
    g_seed = g_seed * 1664525u + 1013904223u;
    return g_seed;
}

/* A device tensor of dtype dt: f32 / bf16 values in [lo, hi), or random u32 words. */
static vlm_tensor dev_tensor(const vlm_backend *be, vlm_dtype dt, int nd, const int64_t *shape,
                             float lo, float hi, vlm_buffer **keep) {
    vlm_tensor t;
    vlm_error e;
    if (vlm_tensor_init(&t, NULL, 0, dt, nd, shape, &e) != VLM_OK) die("tensor", e.message);
    size_t n = (size_t)vlm_tensor_numel(&t), es = vlm_dtype_size(dt);
    unsigned char *h = malloc(n * es);
    if (!h) die("host", "out of memory");
    for (size_t i = 0; i < n; i++) {
        unsigned r = rnd();
        float v = lo + (hi - lo) * (float)((r >> 8) & 0xffff) / 65536.0f;
        if (dt == VLM_DTYPE_BF16) {
            uint16_t b = vlm_f32_to_bf16(v);
            memcpy(h + i * 2, &b, 2);
        } else if (dt == VLM_DTYPE_U32) {
            uint32_t u = (r >> 16) | (rnd() & 0xffff0000u);
            memcpy(h + i * 4, &u, 4);
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

#endif
