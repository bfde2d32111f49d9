/* The CUDA attention with bf16 compute (vlm_ctx.bf16_compute: the tensor-core prefill kernel,
 * flash_attention.cu) against the CPU backend's f32 attention on random data: the vision
 * tower's shapes (D 80, 16 heads, 1024 queries, windows of 64 and one full segment, q / k / v
 * sliced out of a fused qkv buffer), the text prefill's (D 128, GQA 16 / 2, causal, q_pos0 > 0
 * with Sk > Sq), a sliding window, softcap, spans, a head dim that is not a multiple of 16,
 * padded (unaligned) views, rows that see no key, no keys at all, and odd query counts
 * (1, 15, 17, 77, 333; a call with Sq <= 4 keeps the f32 kernel).
 *
 * Tolerance. In most cases q, k and v hold bf16-representable values (rounded on the host
 * before both backends see them), so the kernel's own rounding of q, k and v is exact and the
 * only bf16 step left is P: o = sum_j bf16(p_j) v_j / sum_j p_j with |bf16(p) - p| <= 2^-9 p,
 * hence |o_gpu - o_cpu| <= 2^-9 max|v| (+ f32 sums, exp2f vs expf: ~1e-6). The test allows
 * 2^-8 max|v| + 1e-5 (a factor 2 of margin): a dropped or extra key among 64 moves an output
 * by ~|v| / 64 = 2^-6 |v|, four times the tolerance. One case feeds raw f32 values: then q, k
 * rounded to bf16 move every score by at most delta = scale * 2^-8 * max_j sum_d |q_d k_jd|
 * (each product by a relative 2^-8 + 2^-18), which moves a softmax average by at most
 * 2 delta max|v| to first order, and V rounding adds 2^-9 max|v|: tolerance
 * 1.25 (2 delta + 2^-8) max|v| + 1e-5 (25% for second-order terms).
 * A result computed in f32 would pass too, so every case with Sq > 4 must also differ from the
 * f32 kernel's result somewhere (proving the bf16 path ran), and the f32 kernel must match the
 * CPU within 1e-4 (test_backend_ops' bound). Bytes outside the output view stay untouched.
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

static tt_rng R = {0x51F2C0DE77A1B3E9ull};

typedef struct fa_case {
    const char *name;
    int64_t sq, sk, hq, hkv, d;
    int causal;
    int64_t q_pos0, window;
    float softcap;
    const int64_t *segments;
    int64_t n_segments;
    const int64_t *spans;
    int64_t n_spans;
    int fused; /* q, k, v sliced out of one [S, Hq + 2 Hkv, D] projection (sq == sk) */
    int raw;   /* f32 inputs not rounded to bf16 first */
} fa_case;

/* Rounds every element of the view to the nearest bf16 value (kept as f32). */
static void round_bf16(const vlm_tensor *t) {
    for (int64_t i = 0; i < vlm_tensor_numel(t); i++)
        tt_set(t, i, vlm_bf16_to_f32(vlm_f32_to_bf16((float)tt_get(t, i))));
}

static double max_abs(const vlm_tensor *t) {
    double m = 0;
    for (int64_t i = 0; i < vlm_tensor_numel(t); i++)
        if (fabs(tt_get(t, i)) > m) m = fabs(tt_get(t, i));
    return m;
}

/* The first-order bound's delta for raw inputs (see the top): over all queries and keys. */
static double score_delta(const vlm_tensor *q, const vlm_tensor *k, int64_t group, float scale) {
    int64_t sq = q->shape[0], hq = q->shape[1], d = q->shape[2], sk = k->shape[0];
    int64_t hkv = k->shape[1];
    double worst = 0;
    for (int64_t i = 0; i < sq; i++)
        for (int64_t h = 0; h < hq; h++)
            for (int64_t j = 0; j < sk; j++) {
                double s = 0;
                for (int64_t c = 0; c < d; c++)
                    s += fabs(tt_get(q, (i * hq + h) * d + c) *
                              tt_get(k, (j * hkv + h / group) * d + c));
                if (s > worst) worst = s;
            }
    return scale * worst * (1.0 / 256 + 1.0 / 262144);
}

static vlm_buffer *upload(const vlm_backend *G, const tt_tensor *h, vlm_tensor *g) {
    vlm_buffer *b;
    vlm_error e;
    if (vlm_buffer_alloc(G, h->buf->size, &b, &e) != VLM_OK ||
        vlm_buffer_upload(b, 0, h->buf->data, h->buf->size, &e) != VLM_OK) {
        fprintf(stderr, "upload: %s\n", e.message);
        exit(2);
    }
    *g = h->t;
    g->buf = b;
    return b;
}

static void run(const vlm_backend *G, tt_env *cpu, const fa_case *c) {
    int64_t sq3[3] = {c->sq, c->hq, c->d}, sk3[3] = {c->sk, c->hkv, c->d},
            so3[3] = {c->sq, c->hq, c->d};
    tt_tensor store = {0}, qs = {0}, ks = {0}, vs = {0};
    vlm_tensor q, k, v;
    vlm_error e;
    if (c->fused) {
        int64_t sf[3] = {c->sq, c->hq + 2 * c->hkv, c->d};
        store = tt_rand(VLM_DTYPE_F32, 3, sf, TT_CONTIG, &R, -2, 2);
        CHECK(vlm_tensor_narrow(&store.t, 1, 0, c->hq, &q, &e) == VLM_OK);
        CHECK(vlm_tensor_narrow(&store.t, 1, c->hq, c->hkv, &k, &e) == VLM_OK);
        CHECK(vlm_tensor_narrow(&store.t, 1, c->hq + c->hkv, c->hkv, &v, &e) == VLM_OK);
        for (int64_t i = 0; i < vlm_tensor_numel(&v); i++) /* V in [-1, 1] */
            tt_set(&v, i, tt_get(&v, i) / 2);
    } else {
        qs = tt_rand(VLM_DTYPE_F32, 3, sq3, TT_PADDED, &R, -2, 2);
        ks = tt_rand(VLM_DTYPE_F32, 3, sk3, TT_CONTIG, &R, -2, 2);
        vs = tt_rand(VLM_DTYPE_F32, 3, sk3, TT_PADDED, &R, -1, 1);
        q = qs.t;
        k = ks.t;
        v = vs.t;
    }
    if (!c->raw) {
        round_bf16(&q);
        round_bf16(&k);
        round_bf16(&v);
    }
    tt_tensor out = tt_make(VLM_DTYPE_F32, 3, so3, c->d % 2 ? TT_CONTIG : TT_PADDED);
    vlm_attn_params p = vlm_attn_params_default(1.0f / sqrtf((float)c->d));
    p.causal = c->causal;
    p.q_pos0 = c->q_pos0;
    p.window = c->window;
    p.softcap = c->softcap;
    p.segments = c->segments;
    p.n_segments = c->n_segments;
    p.spans = c->spans;
    p.n_spans = c->n_spans;

    /* device copies (the same bytes, hence the same strides), taken before the CPU runs */
    vlm_tensor gq, gk, gv, go;
    vlm_buffer *bufs[4];
    int nb = 0;
    if (c->fused) {
        vlm_tensor gs;
        bufs[nb++] = upload(G, &store, &gs);
        gq = q, gk = k, gv = v;
        gq.buf = gk.buf = gv.buf = gs.buf;
    } else {
        bufs[nb++] = upload(G, &qs, &gq);
        bufs[nb++] = upload(G, &ks, &gk);
        bufs[nb++] = upload(G, &vs, &gv);
    }
    bufs[nb++] = upload(G, &out, &go);
    size_t on = out.buf->size;
    CHECK_OP(cpu, vlm_op_attention(&cpu->ctx, &q, &k, &v, &p, &out.t));

    vlm_arena *arena;
    CHECK(vlm_arena_create(G, 0, &arena, &e) == VLM_OK);
    vlm_ctx ctx;
    vlm_ctx_init(&ctx, arena, 1);
    unsigned char *g16 = malloc(on), *g32 = malloc(on);
    for (int bf = 1; bf >= 0; bf--) {
        ctx.bf16_compute = bf;
        unsigned char *dst = bf ? g16 : g32;
        CHECK(vlm_buffer_download(go.buf, 0, dst, on, &e) == VLM_OK); /* sentinel bytes */
        CHECK_MSG(vlm_op_attention(&ctx, &gq, &gk, &gv, &p, &go) == VLM_OK, "%s: %s", c->name,
                  ctx.err.message);
        vlm_ctx_clear(&ctx);
        CHECK(vlm_buffer_download(go.buf, 0, dst, on, &e) == VLM_OK);
    }

    double vmax = max_abs(&v), tol = ldexp(vmax, -8) + 1e-5;
    if (c->raw)
        tol =
            1.25 * (2 * score_delta(&q, &k, c->hq / c->hkv, p.scale) + ldexp(1, -8)) * vmax + 1e-5;
    double worst = 0, worst32 = 0;
    int differs = 0;
    for (int64_t i = 0; i < vlm_tensor_numel(&out.t); i++) {
        int64_t off = tt_offset(&out.t, i);
        float a16, a32;
        memcpy(&a16, g16 + off, 4);
        memcpy(&a32, g32 + off, 4);
        double ref = tt_get(&out.t, i);
        double err = fabs(a16 - ref), err32 = fabs(a32 - ref);
        if (!(err <= worst)) worst = err; /* NaN sticks */
        if (!(err32 <= worst32)) worst32 = err32;
        differs |= a16 != a32;
    }
    /* every byte outside the view is still the CPU buffer's (sentinel) */
    int outside_ok = 1;
    {
        unsigned char *mark = calloc(on, 1);
        for (int64_t i = 0; i < vlm_tensor_numel(&out.t); i++)
            memset(mark + tt_offset(&out.t, i), 1, 4);
        for (size_t i = 0; i < on; i++)
            if (!mark[i] && (g16[i] != TT_SENTINEL || g32[i] != TT_SENTINEL)) outside_ok = 0;
        free(mark);
    }
    CHECK_MSG(outside_ok, "%s: bytes outside the output view changed", c->name);
    CHECK_MSG(worst <= tol, "%s: bf16 worst error %.3g > tolerance %.3g", c->name, worst, tol);
    CHECK_MSG(worst32 <= 1e-4, "%s: f32 kernel worst error %.3g", c->name, worst32);
    if (c->sq > 4 && c->sk > 0)
        CHECK_MSG(differs, "%s: bf16 compute gave the f32 kernel's result bit for bit", c->name);
    fprintf(stderr,
            "%-28s sq %4lld sk %4lld h %2lld/%lld d %3lld: worst %.2e (tol %.2e), f32 %.1e\n",
            c->name, (long long)c->sq, (long long)c->sk, (long long)c->hq, (long long)c->hkv,
            (long long)c->d, worst, tol, worst32);
    free(g16);
    free(g32);
    vlm_arena_free(arena);
    for (int i = 0; i < nb; i++)
        vlm_buffer_free(bufs[i]);
    tt_free(&out);
    if (c->fused) {
        tt_free(&store);
    } else {
        tt_free(&qs);
        tt_free(&ks);
        tt_free(&vs);
    }
}

int main(void) {
    vlm_error e;
    const vlm_backend *G = vlm_backend_cuda(0, &e);
    if (!G) SKIP("no GPU: %s", e.message);
    tt_env cpu;
    tt_env_init(&cpu, 8);
    /* the vision tower: windows of 64 patches (cu_window_seqlens) and one full image */
    int64_t win[17], full[2] = {0, 1024};
    for (int i = 0; i <= 16; i++)
        win[i] = 64 * i;
    static const int64_t uneven[6] = {0, 7, 7, 90, 150, 200}; /* an empty and a short one */
    static const int64_t spans[4] = {3, 40, 100, 181};
    const fa_case cs[] = {
        {"vision windows d80", 1024, 1024, 16, 16, 80, 0, 0, 0, 0, win, 16, NULL, 0, 1, 0},
        {"vision full d80", 1024, 1024, 16, 16, 80, 0, 0, 0, 0, full, 1, NULL, 0, 1, 0},
        {"text prefill d128 gqa", 333, 333, 16, 2, 128, 1, 0, 0, 0, NULL, 0, NULL, 0, 1, 0},
        {"causal q_pos0 sk>sq", 77, 300, 16, 2, 128, 1, 223, 0, 0, NULL, 0, NULL, 0, 0, 0},
        {"sq 1 (f32 kernel)", 1, 300, 16, 2, 128, 1, 299, 0, 0, NULL, 0, NULL, 0, 0, 0},
        {"sq 15", 15, 15, 16, 2, 128, 1, 0, 0, 0, NULL, 0, NULL, 0, 0, 0},
        {"sq 17 q_pos0", 17, 60, 16, 2, 128, 1, 43, 0, 0, NULL, 0, NULL, 0, 0, 0},
        {"sliding window d64", 200, 200, 4, 2, 64, 1, 0, 37, 0, NULL, 0, NULL, 0, 0, 0},
        {"bidir window d128", 130, 130, 4, 1, 128, 0, 0, 21, 0, NULL, 0, NULL, 0, 0, 0},
        {"softcap d96", 150, 150, 4, 2, 96, 1, 0, 0, 2.0f, NULL, 0, NULL, 0, 0, 0},
        {"spans causal d64", 200, 200, 4, 2, 64, 1, 0, 0, 0, NULL, 0, spans, 2, 0, 0},
        {"spans window d64", 200, 200, 4, 2, 64, 1, 0, 9, 0, NULL, 0, spans, 2, 0, 0},
        {"segments d72", 200, 200, 4, 2, 72, 0, 0, 0, 0, uneven, 5, NULL, 0, 0, 0},
        {"rows seeing nothing d32", 20, 40, 2, 1, 32, 0, 30, 5, 0, NULL, 0, NULL, 0, 0, 0},
        {"no keys", 9, 0, 2, 1, 64, 0, 0, 0, 0, NULL, 0, NULL, 0, 0, 0},
        {"raw f32 inputs d128", 100, 100, 8, 2, 128, 1, 0, 0, 0, NULL, 0, NULL, 0, 0, 1},
    };
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++)
        run(G, &cpu, &cs[i]);
    tt_env_free(&cpu);
    TEST_DONE();
}
#endif
