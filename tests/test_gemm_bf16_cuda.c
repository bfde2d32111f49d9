/* The CUDA matmul with bf16 compute (vlm_ctx.bf16_compute: x rounded to bf16, bf16 weights,
 * tensor-core product with f32 accumulation; prefill and vision) against the CPU backend's
 * f32 product of the same operands, on shapes that take each path: depth a multiple of 8
 * (the GEMM reads the weights in place), depth not a multiple of 8 with many rows (zero
 * padded bf16 copies of x and w: the 3420-wide vision MLP case), and with few rows (no
 * copy), with and without bias, strided output rows. Tolerance per element:
 * |g - c| <= 2^-8 * sum_k |x_k w_k| (+ 1e-6): rounding x to bf16 moves each product by at
 * most 2^-9 relative; the weights are exact. A result computed in f32 would pass too, so
 * the test also requires the bf16 path to differ from the f32 path somewhere (proving the
 * switch is honoured). Skips (77) without a GPU. */
#include "ops_testutil.h"

#ifdef VLM_HAVE_CUDA
#include "tensor/cuda/cuda_backend.h"
#endif

#ifndef VLM_HAVE_CUDA
int main(void) {
    (void)vlm_test_failures;
    SKIP("built without the CUDA backend");
}
#else

static tt_rng R = {0xA4093822299F31D0ull};

static void run(const vlm_backend *G, int64_t m, int64_t n, int64_t k, int bias) {
    tt_env cpu;
    tt_env_init(&cpu, 2);
    int64_t xs[2] = {m, k}, ws[2] = {n, k}, ys[2] = {m, n}, bs[1] = {n};
    tt_tensor x = tt_rand(VLM_DTYPE_F32, 2, xs, 0, &R, -1, 1);
    tt_tensor w = tt_rand(VLM_DTYPE_BF16, 2, ws, 0, &R, -1, 1);
    tt_tensor b = tt_rand(VLM_DTYPE_BF16, 1, bs, 0, &R, -1, 1);
    tt_tensor y = tt_make(VLM_DTYPE_F32, 2, ys, TT_PADDED);
    CHECK(vlm_op_matmul(&cpu.ctx, &x.t, &w.t, bias ? &b.t : NULL, &y.t) == VLM_OK);
    vlm_error e;
    vlm_buffer *bx, *bw, *bb, *by;
    size_t yn = y.buf->size;
    CHECK(vlm_buffer_alloc(G, x.buf->size, &bx, &e) == VLM_OK);
    CHECK(vlm_buffer_alloc(G, w.buf->size, &bw, &e) == VLM_OK);
    CHECK(vlm_buffer_alloc(G, b.buf->size, &bb, &e) == VLM_OK);
    CHECK(vlm_buffer_alloc(G, yn, &by, &e) == VLM_OK);
    vlm_buffer_upload(bx, 0, x.buf->data, x.buf->size, &e);
    vlm_buffer_upload(bw, 0, w.buf->data, w.buf->size, &e);
    vlm_buffer_upload(bb, 0, b.buf->data, b.buf->size, &e);
    vlm_tensor gx = x.t, gw = w.t, gb = b.t, gy = y.t;
    gx.buf = bx;
    gw.buf = bw;
    gb.buf = bb;
    gy.buf = by;
    vlm_arena *arena;
    CHECK(vlm_arena_create(G, 0, &arena, &e) == VLM_OK);
    vlm_ctx ctx;
    vlm_ctx_init(&ctx, arena, 1);
    float *g16 = malloc(yn), *g32 = malloc(yn);
    for (int bf = 1; bf >= 0; bf--) {
        ctx.bf16_compute = bf;
        vlm_buffer_upload(by, 0, y.buf->data, yn, &e); /* same sentinel bytes around the view */
        CHECK_MSG(vlm_op_matmul(&ctx, &gx, &gw, bias ? &gb : NULL, &gy) == VLM_OK, "%s",
                  ctx.err.message);
        CHECK(vlm_buffer_download(by, 0, bf ? g16 : g32, yn, &e) == VLM_OK);
    }
    double worst = 0;
    int differs = 0;
    for (int64_t r = 0; r < m; r++)
        for (int64_t j = 0; j < n; j++) {
            double mag = 0;
            for (int64_t i = 0; i < k; i++)
                mag += fabs(tt_get(&x.t, r * k + i) * tt_get(&w.t, j * k + i));
            int64_t off = (y.t.offset + r * y.t.stride[0] + j * 4) / 4;
            double ref = ((const float *)y.buf->data)[off];
            double err = fabs(g16[off] - ref) / (mag / 256.0 + 1e-6);
            if (!(err <= worst)) worst = err;
            differs |= g16[off] != g32[off];
        }
    /* bytes outside the view untouched */
    for (size_t i = 0; i < yn / 4; i++) {
        int64_t r = ((int64_t)i * 4 - y.t.offset) / y.t.stride[0],
                c = ((int64_t)i * 4 - y.t.offset) % y.t.stride[0] / 4;
        bool inside = (int64_t)i * 4 >= y.t.offset && r < m && c < n;
        if (!inside) CHECK(!memcmp(g16 + i, (const float *)y.buf->data + i, 4));
    }
    CHECK_MSG(worst <= 1.0, "m %lld n %lld k %lld: worst error %.3g of the tolerance", (long long)m,
              (long long)n, (long long)k, worst);
    CHECK_MSG(differs, "m %lld n %lld k %lld: bf16 compute gave the f32 result bit for bit",
              (long long)m, (long long)n, (long long)k);
    fprintf(stderr, "bf16 matmul m %4lld n %3lld k %4lld%s: worst error %.3f of the tolerance\n",
            (long long)m, (long long)n, (long long)k, bias ? " +bias" : "      ", worst);
    free(g16);
    free(g32);
    vlm_arena_free(arena);
    vlm_buffer_free(bx);
    vlm_buffer_free(bw);
    vlm_buffer_free(bb);
    vlm_buffer_free(by);
    tt_free(&x);
    tt_free(&w);
    tt_free(&b);
    tt_free(&y);
    tt_env_free(&cpu);
}

int main(void) {
    vlm_error e;
    const vlm_backend *G = vlm_backend_cuda(0, &e);
    if (!G) SKIP("no GPU: %s", e.message);
    run(G, 100, 64, 256, 1);  /* aligned depth */
    run(G, 100, 37, 300, 1);  /* depth % 8 != 0, many rows: padded copies */
    run(G, 130, 40, 3420, 0); /* the vision MLP's depth */
    run(G, 20, 37, 301, 1);   /* few rows: no copy */
    TEST_DONE();
}
#endif
