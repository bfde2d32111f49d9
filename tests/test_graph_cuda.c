/* Recorded CUDA graphs (tensor/graph.h) replay the ops they recorded with the inputs the
 * device buffers hold at replay time, exactly as the same ops run eagerly:
 * - attention over a cache whose length (vlm_attn_params.kv_len) lives in device memory:
 *   one recording, replayed for lengths 1 .. 77 of a 77-row cache, against the CPU
 *   backend's attention over the first n keys (causal, the query at position n - 1),
 *   |g - c| <= 1e-5 (online softmax in other blocks; V in [-1, 1]), with GQA (8 query heads
 *   over 2 kv heads), a sliding window case, and unused cache rows filled with NaN (they
 *   must never be read);
 * - gather_rows / scatter_rows with ids read on the device: bit-identical rows for fresh
 *   ids at each replay; an out-of-range id is skipped (its row untouched) and reported by
 *   the next download as VLM_ERR_INVALID_ARGUMENT, once;
 * - matmul_many (the decode step's one GEMV launch for q/k/v) recorded and replayed equals
 *   three separate matmuls run eagerly bit for bit (the same per-row arithmetic), for
 *   bf16 weights with biases and odd sizes, m = 1 and 3; likewise matmul_add (out += x w^T,
 *   the residual in the GEMV's epilogue) against matmul + add, and matmul_gated (silu(x wg^T)
 *   * (x wu^T) in one pass) against two matmuls + gated_act;
 * - the GEMV with long rows split across warps (k = 11001 bf16, 40 rows, m = 1 and 3: the
 *   down-projection case) against the CPU backend's matmul, |g - c| <= 2e-6 * sum |x w|
 *   (f32 sums in another order), plain, gated (silu) and accumulating;
 * - ops that cannot be recorded (a cuBLAS product) fail the recording with
 *   VLM_ERR_UNSUPPORTED and leave the context usable eagerly.
 * The CPU backend answers vlm_graph_begin with VLM_ERR_UNSUPPORTED (checked without a GPU
 * too). Skips (77) where no GPU can be used. */
#include "ops_testutil.h"
#include "tensor/dtype.h"
#include "tensor/graph.h"

#ifdef VLM_HAVE_CUDA
#include "tensor/cuda/cuda_backend.h"
#endif

static tt_rng R = {0x243F6A8885A308D3ull};

static void check_cpu_refuses(void) {
    tt_env c;
    tt_env_init(&c, 1);
    CHECK(vlm_graph_begin(&c.ctx) == VLM_ERR_UNSUPPORTED);
    CHECK_CONTAINS(c.ctx.err.message, "no graphs");
    tt_env_free(&c);
}

#ifndef VLM_HAVE_CUDA
int main(void) {
    check_cpu_refuses();
    if (vlm_test_failures) TEST_DONE();
    SKIP("built without the CUDA backend");
}
#else

static const vlm_backend *G;

static vlm_buffer *dev_copy(const void *src, size_t n) {
    vlm_buffer *b;
    vlm_error e;
    if (vlm_buffer_alloc(G, n, &b, &e) != VLM_OK || vlm_buffer_upload(b, 0, src, n, &e) != VLM_OK) {
        fprintf(stderr, "dev_copy: %s\n", e.message);
        exit(2);
    }
    return b;
}

static float *rand_f32(int64_t n, double lo, double hi) {
    float *p = malloc((size_t)n * sizeof *p);
    for (int64_t i = 0; i < n; i++)
        p[i] = (float)tt_uniform(&R, lo, hi);
    return p;
}

static vlm_tensor view(vlm_buffer *b, vlm_dtype dt, int nd, const int64_t *shape) {
    vlm_tensor t;
    vlm_error e;
    if (vlm_tensor_init(&t, b, 0, dt, nd, shape, &e) != VLM_OK) {
        fprintf(stderr, "view: %s\n", e.message);
        exit(2);
    }
    return t;
}

static void attention_case(int64_t window) {
    const int64_t cap = 77, hq = 8, hkv = 2, d = 40;
    float *q = rand_f32(hq * d, -1, 1), *k = rand_f32(cap * hkv * d, -1, 1);
    float *v = rand_f32(cap * hkv * d, -1, 1);
    vlm_buffer *bq = dev_copy(q, (size_t)(hq * d) * 4),
               *bk = dev_copy(k, (size_t)(cap * hkv * d) * 4);
    vlm_buffer *bv = dev_copy(v, (size_t)(cap * hkv * d) * 4), *bo, *blen;
    float *out = malloc((size_t)(hq * d) * 4);
    int64_t n0 = 1;
    vlm_error e;
    CHECK(vlm_buffer_alloc(G, (size_t)(hq * d) * 4, &bo, &e) == VLM_OK);
    blen = dev_copy(&n0, 8);
    vlm_tensor tq = view(bq, VLM_DTYPE_F32, 3, (int64_t[]){1, hq, d});
    vlm_tensor tk = view(bk, VLM_DTYPE_F32, 3, (int64_t[]){cap, hkv, d});
    vlm_tensor tv = view(bv, VLM_DTYPE_F32, 3, (int64_t[]){cap, hkv, d});
    vlm_tensor to = view(bo, VLM_DTYPE_F32, 3, (int64_t[]){1, hq, d});
    vlm_tensor tl = view(blen, VLM_DTYPE_I64, 1, (int64_t[]){1});

    /* Device memory cannot be allocated while recording: the arena is made large enough. */
    vlm_arena *arena;
    CHECK(vlm_arena_create(G, 1 << 20, &arena, &e) == VLM_OK);
    vlm_ctx ctx;
    vlm_ctx_init(&ctx, arena, 1);
    vlm_attn_params p = vlm_attn_params_default(0.17f);
    p.causal = 1;
    p.window = window;
    p.kv_len = &tl;
    vlm_graph *g = NULL;
    CHECK(vlm_graph_begin(&ctx) == VLM_OK);
    CHECK(vlm_op_attention(&ctx, &tq, &tk, &tv, &p, &to) == VLM_OK);
    CHECK_MSG(vlm_graph_end(&ctx, &g) == VLM_OK, "%s", ctx.err.message);
    CHECK(g != NULL);

    tt_env c;
    tt_env_init(&c, 1);
    double worst = 0;
    for (int64_t n = 1; g && n <= cap; n++) {
        /* rows at and past n hold NaN on the device: a replay that reads them fails */
        size_t bytes = (size_t)(cap * hkv * d) * 4;
        float *kn = malloc(bytes), *vn = malloc(bytes);
        memcpy(kn, k, bytes);
        memcpy(vn, v, bytes);
        for (int64_t i = n * hkv * d; i < cap * hkv * d; i++)
            kn[i] = vn[i] = NAN;
        CHECK(vlm_buffer_upload(bk, 0, kn, bytes, &e) == VLM_OK);
        CHECK(vlm_buffer_upload(bv, 0, vn, bytes, &e) == VLM_OK);
        CHECK(vlm_buffer_upload(blen, 0, &n, 8, &e) == VLM_OK);
        CHECK(vlm_graph_launch(&ctx, g) == VLM_OK);
        CHECK_MSG(vlm_buffer_download(bo, 0, out, (size_t)(hq * d) * 4, &e) == VLM_OK, "%s",
                  e.message);
        /* the CPU backend over the first n keys, query at position n - 1 */
        vlm_tensor cq, ck, cv, co;
        vlm_ctx_clear(&c.ctx);
        vlm_arena_reset(c.arena, &e);
        vlm_ctx_tensor(&c.ctx, VLM_DTYPE_F32, 3, (int64_t[]){1, hq, d}, &cq);
        vlm_ctx_tensor(&c.ctx, VLM_DTYPE_F32, 3, (int64_t[]){n, hkv, d}, &ck);
        vlm_ctx_tensor(&c.ctx, VLM_DTYPE_F32, 3, (int64_t[]){n, hkv, d}, &cv);
        vlm_ctx_tensor(&c.ctx, VLM_DTYPE_F32, 3, (int64_t[]){1, hq, d}, &co);
        memcpy((char *)cq.buf->data + cq.offset, q, (size_t)(hq * d) * 4);
        memcpy((char *)ck.buf->data + ck.offset, k, (size_t)(n * hkv * d) * 4);
        memcpy((char *)cv.buf->data + cv.offset, v, (size_t)(n * hkv * d) * 4);
        vlm_attn_params pc = vlm_attn_params_default(0.17f);
        pc.causal = 1;
        pc.window = window;
        pc.q_pos0 = n - 1;
        CHECK(vlm_op_attention(&c.ctx, &cq, &ck, &cv, &pc, &co) == VLM_OK);
        const float *ref = (const float *)((char *)co.buf->data + co.offset);
        for (int64_t i = 0; i < hq * d; i++) {
            double err = fabs((double)out[i] - ref[i]);
            if (!(err <= worst)) worst = err; /* NaN propagates */
        }
        free(kn);
        free(vn);
    }
    CHECK_MSG(worst <= 1e-5, "attention replay (window %lld): max |g - c| = %g", (long long)window,
              worst);
    fprintf(
        stderr,
        "attention: one recording, 77 replays over lengths 1..77 (window %lld): max |g - c| %.2e\n",
        (long long)window, worst);
    tt_env_free(&c);
    vlm_graph_free(g);
    vlm_arena_free(arena);
    vlm_buffer_free(bq);
    vlm_buffer_free(bk);
    vlm_buffer_free(bv);
    vlm_buffer_free(bo);
    vlm_buffer_free(blen);
    free(q);
    free(k);
    free(v);
    free(out);
}

static void rows_case(void) {
    const int64_t n = 50, dd = 9, m = 3;
    float *table = rand_f32(n * dd, -5, 5);
    vlm_buffer *bt = dev_copy(table, (size_t)(n * dd) * 4), *bo, *bids, *bdst;
    float *zero = calloc((size_t)(n * dd), 4);
    bdst = dev_copy(zero, (size_t)(n * dd) * 4);
    int64_t ids[3] = {0, 1, 2};
    bids = dev_copy(ids, sizeof ids);
    vlm_error e;
    CHECK(vlm_buffer_alloc(G, (size_t)(m * dd) * 4, &bo, &e) == VLM_OK);
    vlm_tensor tt = view(bt, VLM_DTYPE_F32, 2, (int64_t[]){n, dd});
    vlm_tensor ti = view(bids, VLM_DTYPE_I64, 1, (int64_t[]){m});
    vlm_tensor to = view(bo, VLM_DTYPE_F32, 2, (int64_t[]){m, dd});
    vlm_tensor td = view(bdst, VLM_DTYPE_F32, 2, (int64_t[]){n, dd});
    vlm_arena *arena;
    CHECK(vlm_arena_create(G, 1 << 20, &arena, &e) == VLM_OK);
    vlm_ctx ctx;
    vlm_ctx_init(&ctx, arena, 1);
    vlm_graph *g = NULL;
    CHECK(vlm_graph_begin(&ctx) == VLM_OK);
    CHECK(vlm_op_gather_rows(&ctx, &tt, &ti, &to) == VLM_OK);
    CHECK(vlm_op_scatter_rows(&ctx, &to, &ti, &td) == VLM_OK);
    CHECK_MSG(vlm_graph_end(&ctx, &g) == VLM_OK, "%s", ctx.err.message);
    CHECK(g != NULL);
    float *got = malloc((size_t)(n * dd) * 4);
    for (int rep = 0; g && rep < 20; rep++) {
        for (int i = 0; i < m; i++)
            ids[i] = tt_int(&R, 0, n - 1);
        if (ids[1] == ids[0]) ids[1] = (ids[0] + 1) % n;
        while (ids[2] == ids[0] || ids[2] == ids[1])
            ids[2] = (ids[2] + 1) % n;
        CHECK(vlm_buffer_upload(bids, 0, ids, sizeof ids, &e) == VLM_OK);
        CHECK(vlm_buffer_upload(bdst, 0, zero, (size_t)(n * dd) * 4, &e) == VLM_OK);
        CHECK(vlm_graph_launch(&ctx, g) == VLM_OK);
        CHECK(vlm_buffer_download(bo, 0, got, (size_t)(m * dd) * 4, &e) == VLM_OK);
        for (int i = 0; i < m; i++)
            CHECK(!memcmp(got + i * dd, table + ids[i] * dd, (size_t)dd * 4));
        CHECK(vlm_buffer_download(bdst, 0, got, (size_t)(n * dd) * 4, &e) == VLM_OK);
        for (int64_t r = 0; r < n; r++) {
            int hit = r == ids[0] || r == ids[1] || r == ids[2];
            CHECK(!memcmp(got + r * dd, hit ? table + r * dd : zero, (size_t)dd * 4));
        }
    }
    /* a bad id: skipped, reported once by the next download */
    ids[0] = 4;
    ids[1] = n; /* out of range */
    ids[2] = 7;
    CHECK(vlm_buffer_upload(bids, 0, ids, sizeof ids, &e) == VLM_OK);
    float sentinel[9];
    for (int i = 0; i < 9; i++)
        sentinel[i] = 12345.0f;
    CHECK(vlm_buffer_upload(bo, (size_t)dd * 4, sentinel, sizeof sentinel, &e) == VLM_OK);
    CHECK(g && vlm_graph_launch(&ctx, g) == VLM_OK);
    vlm_status s = vlm_buffer_download(bo, 0, got, (size_t)(m * dd) * 4, &e);
    CHECK(s == VLM_ERR_INVALID_ARGUMENT);
    if (s != VLM_OK) CHECK_CONTAINS(e.message, "out of range");
    CHECK(!memcmp(got + dd, sentinel, sizeof sentinel));
    CHECK(vlm_buffer_download(bo, 0, got, (size_t)(m * dd) * 4, &e) == VLM_OK); /* once */
    CHECK(!memcmp(got, table + 4 * dd, (size_t)dd * 4) &&
          !memcmp(got + 2 * dd, table + 7 * dd, (size_t)dd * 4));

    /* a cuBLAS product cannot be recorded: UNSUPPORTED, the graph untouched, eager ops work */
    vlm_tensor x, w, y;
    vlm_ctx_tensor(&ctx, VLM_DTYPE_F32, 2, (int64_t[]){20, 9}, &x);
    vlm_ctx_tensor(&ctx, VLM_DTYPE_F32, 2, (int64_t[]){5, 9}, &w);
    vlm_ctx_tensor(&ctx, VLM_DTYPE_F32, 2, (int64_t[]){20, 5}, &y);
    vlm_op_fill(&ctx, &x, 1.0f);
    vlm_op_fill(&ctx, &w, 0.5f);
    vlm_graph *before = g;
    CHECK(vlm_graph_begin(&ctx) == VLM_OK);
    CHECK(vlm_op_matmul(&ctx, &x, &w, NULL, &y) == VLM_ERR_UNSUPPORTED);
    CHECK(vlm_graph_end(&ctx, &g) == VLM_ERR_UNSUPPORTED);
    CHECK(g == before);
    vlm_ctx_clear(&ctx);
    CHECK(vlm_op_matmul(&ctx, &x, &w, NULL, &y) == VLM_OK);
    float yv[100];
    CHECK(vlm_tensor_download(&y, yv, sizeof yv, &e) == VLM_OK);
    CHECK(yv[0] == 4.5f && yv[99] == 4.5f);

    vlm_graph_free(g);
    vlm_arena_free(arena);
    vlm_buffer_free(bt);
    vlm_buffer_free(bo);
    vlm_buffer_free(bids);
    vlm_buffer_free(bdst);
    free(table);
    free(zero);
    free(got);
}

static void many_case(int64_t m) {
    const int64_t k = 72, ns[3] = {40, 8, 13};
    vlm_error e;
    vlm_arena *arena;
    CHECK(vlm_arena_create(G, 1 << 20, &arena, &e) == VLM_OK);
    vlm_ctx ctx;
    vlm_ctx_init(&ctx, arena, 1);
    float *xh = rand_f32(m * k, -1, 1);
    vlm_buffer *bx = dev_copy(xh, (size_t)(m * k) * 4);
    vlm_tensor x = view(bx, VLM_DTYPE_F32, 2, (int64_t[]){m, k});
    vlm_buffer *bw[3], *bb[3];
    vlm_tensor w[3], b[3], o1[3], o2[3];
    vlm_qweight q[3];
    for (int i = 0; i < 3; i++) {
        uint16_t *wh = malloc((size_t)(ns[i] * k) * 2);
        for (int64_t j = 0; j < ns[i] * k; j++)
            wh[j] = vlm_f32_to_bf16((float)tt_uniform(&R, -1, 1));
        float *bh = rand_f32(ns[i], -1, 1);
        bw[i] = dev_copy(wh, (size_t)(ns[i] * k) * 2);
        bb[i] = dev_copy(bh, (size_t)ns[i] * 4);
        w[i] = view(bw[i], VLM_DTYPE_BF16, 2, (int64_t[]){ns[i], k});
        b[i] = view(bb[i], VLM_DTYPE_F32, 1, (int64_t[]){ns[i]});
        q[i] = vlm_qweight_float(&w[i]);
        vlm_ctx_tensor(&ctx, VLM_DTYPE_F32, 2, (int64_t[]){m, ns[i]}, &o1[i]);
        vlm_ctx_tensor(&ctx, VLM_DTYPE_F32, 2, (int64_t[]){m, ns[i]}, &o2[i]);
        CHECK(vlm_op_matmul(&ctx, &x, &w[i], &b[i], &o1[i]) == VLM_OK);
        free(wh);
        free(bh);
    }
    const vlm_qweight *qs[3] = {&q[0], &q[1], &q[2]};
    const vlm_tensor *bs[3] = {&b[0], &b[1], &b[2]}, *os[3] = {&o2[0], &o2[1], &o2[2]};
    vlm_graph *g = NULL;
    CHECK(vlm_graph_begin(&ctx) == VLM_OK);
    CHECK(vlm_op_matmul_many(&ctx, &x, NULL, 3, qs, bs, os) == VLM_OK);
    CHECK_MSG(vlm_graph_end(&ctx, &g) == VLM_OK, "%s", ctx.err.message);
    CHECK(g && vlm_graph_launch(&ctx, g) == VLM_OK);
    for (int i = 0; i < 3; i++) {
        float a1[200], a2[200];
        CHECK(vlm_tensor_download(&o1[i], a1, (size_t)(m * ns[i]) * 4, &e) == VLM_OK);
        CHECK(vlm_tensor_download(&o2[i], a2, (size_t)(m * ns[i]) * 4, &e) == VLM_OK);
        CHECK_MSG(!memcmp(a1, a2, (size_t)(m * ns[i]) * 4), "matmul_many part %d (m %lld) differs",
                  i, (long long)m);
    }
    /* fused epilogues: out += x w^T, and silu(x wg^T) * (x wu^T), against the composed ops */
    {
        vlm_tensor r1, r2, t, g1, u1, g2;
        int64_t n = ns[0];
        vlm_ctx_tensor(&ctx, VLM_DTYPE_F32, 2, (int64_t[]){m, n}, &r1);
        vlm_ctx_tensor(&ctx, VLM_DTYPE_F32, 2, (int64_t[]){m, n}, &r2);
        vlm_ctx_tensor(&ctx, VLM_DTYPE_F32, 2, (int64_t[]){m, n}, &t);
        vlm_ctx_tensor(&ctx, VLM_DTYPE_F32, 2, (int64_t[]){m, n}, &g1);
        vlm_ctx_tensor(&ctx, VLM_DTYPE_F32, 2, (int64_t[]){m, n}, &u1);
        vlm_ctx_tensor(&ctx, VLM_DTYPE_F32, 2, (int64_t[]){m, n}, &g2);
        CHECK(vlm_op_copy(&ctx, &o1[0], &r1) == VLM_OK); /* a residual with real values */
        CHECK(vlm_op_copy(&ctx, &o1[0], &r2) == VLM_OK);
        vlm_qweight q0 = vlm_qweight_float(&w[0]);
        CHECK(vlm_op_matmul(&ctx, &x, &w[0], NULL, &t) == VLM_OK);
        CHECK(vlm_op_add(&ctx, &r1, &t, &r1) == VLM_OK);
        CHECK(vlm_op_matmul_add(&ctx, &x, &q0, NULL, &r2) == VLM_OK);
        CHECK(vlm_op_matmul(&ctx, &x, &w[0], NULL, &g1) == VLM_OK);
        CHECK(vlm_op_copy(&ctx, &g1, &u1) == VLM_OK);
        CHECK(vlm_op_gated_act(&ctx, VLM_ACT_SILU, &g1, &u1, &g1) == VLM_OK);
        CHECK(vlm_op_matmul_gated(&ctx, &x, NULL, VLM_ACT_SILU, &q0, NULL, &q0, NULL, &g2) ==
              VLM_OK);
        float a1[200], a2[200];
        CHECK(vlm_tensor_download(&r1, a1, (size_t)(m * n) * 4, &e) == VLM_OK);
        CHECK(vlm_tensor_download(&r2, a2, (size_t)(m * n) * 4, &e) == VLM_OK);
        CHECK_MSG(!memcmp(a1, a2, (size_t)(m * n) * 4), "matmul_add (m %lld) differs",
                  (long long)m);
        CHECK(vlm_tensor_download(&g1, a1, (size_t)(m * n) * 4, &e) == VLM_OK);
        CHECK(vlm_tensor_download(&g2, a2, (size_t)(m * n) * 4, &e) == VLM_OK);
        CHECK_MSG(!memcmp(a1, a2, (size_t)(m * n) * 4), "matmul_gated (m %lld) differs",
                  (long long)m);
    }
    for (int i = 0; i < 3; i++) {
        vlm_buffer_free(bw[i]);
        vlm_buffer_free(bb[i]);
    }
    vlm_graph_free(g);
    vlm_buffer_free(bx);
    vlm_arena_free(arena);
    free(xh);
}

static void long_rows_case(int64_t m) {
    const int64_t n = 40, k = 11001;
    vlm_error e;
    vlm_arena *arena;
    CHECK(vlm_arena_create(G, 1 << 20, &arena, &e) == VLM_OK);
    vlm_ctx ctx;
    vlm_ctx_init(&ctx, arena, 1);
    tt_env c;
    tt_env_init(&c, 2);
    float *xh = rand_f32(m * k, -1, 1);
    uint16_t *wh = malloc((size_t)(n * k) * 2);
    for (int64_t j = 0; j < n * k; j++)
        wh[j] = vlm_f32_to_bf16((float)tt_uniform(&R, -1, 1));
    vlm_buffer *bx = dev_copy(xh, (size_t)(m * k) * 4), *bw = dev_copy(wh, (size_t)(n * k) * 2);
    vlm_tensor x = view(bx, VLM_DTYPE_F32, 2, (int64_t[]){m, k});
    vlm_tensor w = view(bw, VLM_DTYPE_BF16, 2, (int64_t[]){n, k});
    vlm_qweight q = vlm_qweight_float(&w);
    vlm_tensor y, yg, ya;
    vlm_ctx_tensor(&ctx, VLM_DTYPE_F32, 2, (int64_t[]){m, n}, &y);
    vlm_ctx_tensor(&ctx, VLM_DTYPE_F32, 2, (int64_t[]){m, n}, &yg);
    vlm_ctx_tensor(&ctx, VLM_DTYPE_F32, 2, (int64_t[]){m, n}, &ya);
    CHECK(vlm_op_matmul(&ctx, &x, &w, NULL, &y) == VLM_OK);
    CHECK(vlm_op_matmul_gated(&ctx, &x, NULL, VLM_ACT_SILU, &q, NULL, &q, NULL, &yg) == VLM_OK);
    CHECK(vlm_op_copy(&ctx, &y, &ya) == VLM_OK);
    CHECK(vlm_op_matmul_add(&ctx, &x, &q, NULL, &ya) == VLM_OK);
    float *got = malloc((size_t)(m * n) * 4), *gg = malloc((size_t)(m * n) * 4),
          *ga = malloc((size_t)(m * n) * 4);
    CHECK(vlm_tensor_download(&y, got, (size_t)(m * n) * 4, &e) == VLM_OK);
    CHECK(vlm_tensor_download(&yg, gg, (size_t)(m * n) * 4, &e) == VLM_OK);
    CHECK(vlm_tensor_download(&ya, ga, (size_t)(m * n) * 4, &e) == VLM_OK);
    /* the CPU backend's product of the same operands */
    vlm_tensor cx, cw, cy;
    vlm_ctx_tensor(&c.ctx, VLM_DTYPE_F32, 2, (int64_t[]){m, k}, &cx);
    vlm_ctx_tensor(&c.ctx, VLM_DTYPE_BF16, 2, (int64_t[]){n, k}, &cw);
    vlm_ctx_tensor(&c.ctx, VLM_DTYPE_F32, 2, (int64_t[]){m, n}, &cy);
    memcpy((char *)cx.buf->data + cx.offset, xh, (size_t)(m * k) * 4);
    memcpy((char *)cw.buf->data + cw.offset, wh, (size_t)(n * k) * 2);
    CHECK(vlm_op_matmul(&c.ctx, &cx, &cw, NULL, &cy) == VLM_OK);
    const float *ref = (const float *)((char *)cy.buf->data + cy.offset);
    double worst = 0;
    for (int64_t r = 0; r < m; r++)
        for (int64_t j = 0; j < n; j++) {
            double mag = 0;
            for (int64_t i = 0; i < k; i++)
                mag += fabs((double)xh[r * k + i] * vlm_bf16_to_f32(wh[j * k + i]));
            double v = ref[r * n + j], tol = 2e-6 * mag;
            double e1 = fabs(got[r * n + j] - v) / tol;
            double sg = v / (1.0 + exp(-v)) * v; /* silu(v) * v */
            double e2 = fabs(gg[r * n + j] - sg) / (tol * (fabs(v) + 1.0) * 2.0 + 1e-6 * fabs(sg));
            double e3 = fabs(ga[r * n + j] - 2.0 * v) / (2.0 * tol);
            double en = fmax(e1, fmax(e2, e3));
            if (!(en <= worst)) worst = en;
        }
    CHECK_MSG(worst <= 1.0, "long rows (m %lld): worst error %.3g of the tolerance", (long long)m,
              worst);
    fprintf(stderr,
            "GEMV, rows of %lld split across warps (m %lld): worst error %.2f of the tolerance\n",
            (long long)k, (long long)m, worst);
    free(got);
    free(gg);
    free(ga);
    free(xh);
    free(wh);
    vlm_buffer_free(bx);
    vlm_buffer_free(bw);
    tt_env_free(&c);
    vlm_arena_free(arena);
}

int main(void) {
    check_cpu_refuses();
    vlm_error e;
    G = vlm_backend_cuda(0, &e);
    if (!G) {
        if (vlm_test_failures) TEST_DONE();
        SKIP("no GPU: %s", e.message);
    }
    attention_case(0);
    attention_case(5);
    rows_case();
    many_case(1);
    many_case(3);
    long_rows_case(1);
    long_rows_case(3);
    TEST_DONE();
}
#endif
