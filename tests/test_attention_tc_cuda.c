/* The bf16 tensor-core attention (src/tensor/cuda/attention_tc.cu, used when a context
 * allows bf16 compute) against the CPU backend's f32 attention on the same random inputs,
 * for every mask rule the models use: Qwen2.5-VL vision windows (segments, bidirectional,
 * head dim 80), causal GQA prefill (8 query heads over 2 kv heads, head dim 128), a later
 * prefill chunk (q_pos0 > 0) with a sliding window, a bidirectional span inside causal
 * attention (Gemma 3 images), softcap; query counts that are not multiples of the 64-row
 * block. Tolerance |g - c| <= 2e-2 with V in [-1, 1] and scores of order 1: Q, K, P and V are
 * rounded to bf16 (relative 2^-9 each), sums stay f32. The same calls with bf16 compute off
 * must stay within 1e-5 (the f32 kernel), which also proves the switch selects the path.
 * Skips (77) without a GPU. */
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

static tt_rng R = {0x452821E638D01377ull};
static const vlm_backend *G;

typedef struct tc_case {
    const char *name;
    int64_t sq, sk, hq, hkv, d;
    int causal;
    int64_t q_pos0, window;
    const int64_t *segments;
    int64_t n_segments;
    const int64_t *spans;
    int64_t n_spans;
    float softcap;
} tc_case;

static vlm_buffer *to_dev(const vlm_tensor *t) {
    vlm_buffer *b;
    vlm_error e;
    size_t n = (size_t)vlm_tensor_nbytes(t);
    if (vlm_buffer_alloc(G, n, &b, &e) != VLM_OK ||
        vlm_buffer_upload(b, 0, (const char *)t->buf->data + t->offset, n, &e) != VLM_OK) {
        fprintf(stderr, "to_dev: %s\n", e.message);
        exit(2);
    }
    return b;
}

static void run_case(const tc_case *c) {
    tt_env cpu;
    tt_env_init(&cpu, 2);
    int64_t qs[3] = {c->sq, c->hq, c->d}, ks[3] = {c->sk, c->hkv, c->d};
    tt_tensor q = tt_rand(VLM_DTYPE_F32, 3, qs, 0, &R, -1, 1);
    tt_tensor k = tt_rand(VLM_DTYPE_F32, 3, ks, 0, &R, -1, 1);
    tt_tensor v = tt_rand(VLM_DTYPE_F32, 3, ks, 0, &R, -1, 1);
    tt_tensor o = tt_make(VLM_DTYPE_F32, 3, qs, 0);
    vlm_attn_params p = vlm_attn_params_default(1.0f / sqrtf((float)c->d));
    p.causal = c->causal;
    p.q_pos0 = c->q_pos0;
    p.window = c->window;
    p.segments = c->segments;
    p.n_segments = c->n_segments;
    p.spans = c->spans;
    p.n_spans = c->n_spans;
    p.softcap = c->softcap;
    CHECK(vlm_op_attention(&cpu.ctx, &q.t, &k.t, &v.t, &p, &o.t) == VLM_OK);
    const float *ref = (const float *)((const char *)o.t.buf->data + o.t.offset);

    vlm_buffer *bq = to_dev(&q.t), *bk = to_dev(&k.t), *bv = to_dev(&v.t), *bo;
    vlm_error e;
    size_t on = (size_t)vlm_tensor_nbytes(&o.t);
    CHECK(vlm_buffer_alloc(G, on, &bo, &e) == VLM_OK);
    vlm_tensor gq, gk, gv, go;
    vlm_tensor_init(&gq, bq, 0, VLM_DTYPE_F32, 3, qs, &e);
    vlm_tensor_init(&gk, bk, 0, VLM_DTYPE_F32, 3, ks, &e);
    vlm_tensor_init(&gv, bv, 0, VLM_DTYPE_F32, 3, ks, &e);
    vlm_tensor_init(&go, bo, 0, VLM_DTYPE_F32, 3, qs, &e);
    vlm_arena *arena;
    CHECK(vlm_arena_create(G, 0, &arena, &e) == VLM_OK);
    vlm_ctx ctx;
    vlm_ctx_init(&ctx, arena, 1);
    float *got = malloc(on);
    for (int bf = 1; bf >= 0; bf--) {
        ctx.bf16_compute = bf;
        vlm_ctx_clear(&ctx);
        CHECK_MSG(vlm_op_attention(&ctx, &gq, &gk, &gv, &p, &go) == VLM_OK, "%s: %s", c->name, ctx.err.message);
        CHECK(vlm_buffer_download(bo, 0, got, on, &e) == VLM_OK);
        double worst = 0;
        for (size_t i = 0; i < on / 4; i++) {
            double err = fabs((double)got[i] - ref[i]);
            if (!(err <= worst)) worst = err;
        }
        double tol = bf ? 2e-2 : 1e-5;
        CHECK_MSG(worst <= tol, "%s (%s): max |g - c| = %g > %g", c->name, bf ? "bf16" : "f32", worst, tol);
        fprintf(stderr, "%-34s %s: max |g - c| %.2e (tolerance %.0e)\n", c->name,
                bf ? "bf16 tensor cores" : "f32              ", worst, tol);
    }
    free(got);
    vlm_arena_free(arena);
    vlm_buffer_free(bq);
    vlm_buffer_free(bk);
    vlm_buffer_free(bv);
    vlm_buffer_free(bo);
    tt_free(&q);
    tt_free(&k);
    tt_free(&v);
    tt_free(&o);
    tt_env_free(&cpu);
}

int main(void) {
    vlm_error e;
    G = vlm_backend_cuda(0, &e);
    if (!G) SKIP("no GPU: %s", e.message);
    static const int64_t seg[] = {0, 64, 128, 192, 256, 300};
    static const int64_t span[] = {20, 60};
    tc_case cases[] = {
        {"vision windows (segments), d 80", 300, 300, 4, 4, 80, 0, 0, 0, seg, 5, NULL, 0, 0.0f},
        {"vision full, d 80", 200, 200, 4, 4, 80, 0, 0, 0, NULL, 0, NULL, 0, 0.0f},
        {"causal GQA prefill, d 128", 150, 150, 8, 2, 128, 1, 0, 0, NULL, 0, NULL, 0, 0.0f},
        {"later chunk + window 50, d 64", 70, 200, 4, 2, 64, 1, 130, 50, NULL, 0, NULL, 0, 0.0f},
        {"causal + bidirectional span, d 64", 100, 100, 2, 1, 64, 1, 0, 0, NULL, 0, span, 1, 0.0f},
        {"softcap 30, d 32", 40, 40, 2, 2, 32, 1, 0, 0, NULL, 0, NULL, 0, 30.0f},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) run_case(&cases[i]);
    TEST_DONE();
}
#endif
