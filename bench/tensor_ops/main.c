/* bench_tensor_ops: times the non-GEMM ops of the CPU backend at model-like shapes:
 * attention (vision prefill, causal prefill, decode over a long cache with GQA), RMSNorm,
 * the gated MLP activation, erf-GELU and a residual add. Prints one line per case:
 * best-of-N milliseconds and the rate that matters for it (GFLOP/s for attention's two
 * products, GB/s of bytes read + written otherwise). Usage: bench_tensor_ops [threads]. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "tensor/ops.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static vlm_tensor make(vlm_ctx *ctx, int ndim, const int64_t *shape, float fill) {
    vlm_tensor t;
    if (vlm_ctx_tensor(ctx, VLM_DTYPE_F32, ndim, shape, &t) != VLM_OK ||
        vlm_op_fill(ctx, &t, fill) != VLM_OK) {
        fprintf(stderr, "bench: %s\n", ctx->err.message);
        exit(1);
    }
    return t;
}

#define TIME(label, reps, rate_num, unit, stmt)                                                    \
    do {                                                                                           \
        double best = 1e30;                                                                        \
        for (int rep_ = 0; rep_ < (reps); rep_++) {                                                \
            double t0_ = now();                                                                    \
            stmt;                                                                                  \
            double dt_ = now() - t0_;                                                              \
            if (dt_ < best) best = dt_;                                                            \
        }                                                                                          \
        printf("%-44s %9.3f ms  %7.1f %s\n", label, best * 1e3, (rate_num) / best * 1e-9, unit);   \
    } while (0)

int main(int argc, char **argv) {
    int nt = argc > 1 ? atoi(argv[1]) : 1;
    vlm_arena *arena;
    vlm_error e;
    if (vlm_arena_create(vlm_backend_cpu(), (size_t)256 << 20, &arena, &e) != VLM_OK) return 1;
    vlm_ctx ctx;
    vlm_ctx_init(&ctx, arena, nt);
    printf("threads %d\n", nt);

    /* Vision prefill: 1024 patches, 16 heads of 80 (Qwen2-VL ViT), bidirectional. */
    int64_t vs[3] = {1024, 16, 80};
    vlm_tensor q = make(&ctx, 3, vs, 0.01f), k = make(&ctx, 3, vs, 0.02f),
               v = make(&ctx, 3, vs, 0.5f);
    vlm_tensor o = make(&ctx, 3, vs, 0.0f);
    vlm_attn_params p = vlm_attn_params_default(0.1118f);
    double fl = 4.0 * 1024 * 1024 * 80 * 16;
    TIME("attention vision 1024x16x80 bidirectional", 3, fl, "GFLOP/s",
         vlm_op_attention(&ctx, &q, &k, &v, &p, &o));
    p.causal = 1;
    TIME("attention prefill 1024x16x80 causal", 3, fl / 2, "GFLOP/s",
         vlm_op_attention(&ctx, &q, &k, &v, &p, &o));

    /* Decode: 1 query, 28 heads over 4 kv heads of 128 (Qwen2-VL-7B), 4096 cached keys. */
    int64_t qd[3] = {1, 28, 128}, kd[3] = {4096, 4, 128};
    vlm_tensor q1 = make(&ctx, 3, qd, 0.01f), k1 = make(&ctx, 3, kd, 0.02f),
               v1 = make(&ctx, 3, kd, 0.5f);
    vlm_tensor o1 = make(&ctx, 3, qd, 0.0f);
    p = vlm_attn_params_default(0.0884f);
    p.causal = 1;
    p.q_pos0 = 4095;
    TIME("attention decode 28/4 heads, 4096 keys", 10, 2.0 * 4096 * 4 * 128 * 4, "GB/s (K+V)",
         vlm_op_attention(&ctx, &q1, &k1, &v1, &p, &o1));

    /* Row ops on a [1024, 3584] activation (Qwen2-VL-7B hidden size). */
    int64_t es[2] = {1024, 3584}, ws[1] = {3584};
    vlm_tensor x = make(&ctx, 2, es, 0.3f), y = make(&ctx, 2, es, 0.0f),
               w = make(&ctx, 1, ws, 1.0f);
    double bytes = 1024.0 * 3584 * 4;
    TIME("rms_norm [1024, 3584]", 5, 2 * bytes, "GB/s",
         vlm_op_rms_norm(&ctx, &x, &w, 1e-6f, 0.0f, &y));
    TIME("gated silu [1024, 3584] in place", 5, 3 * bytes, "GB/s",
         vlm_op_gated_act(&ctx, VLM_ACT_SILU, &x, &y, &y));
    TIME("gelu (erf) [1024, 3584]", 5, 2 * bytes, "GB/s", vlm_op_act(&ctx, VLM_ACT_GELU, &x, &y));
    TIME("add [1024, 3584] in place", 5, 3 * bytes, "GB/s", vlm_op_add(&ctx, &y, &x, &y));
    if (ctx.status != VLM_OK) {
        fprintf(stderr, "bench: %s\n", ctx.err.message);
        return 1;
    }
    vlm_arena_free(arena);
    return 0;
}
