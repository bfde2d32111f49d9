/* Matrix products, rotary embeddings and attention against float64 references written here
 * (plain loops), random data, odd sizes, strided views (heads sliced out of a fused qkv
 * projection, transposed operands, padded rows), guard bytes around every output.
 * Tolerances, |got - ref| <= atol + rtol * |ref|, inputs in [-1, 1]:
 *   matmul / bmm: atol 2e-6 * sqrt(K), rtol 1e-5 (f32 accumulation of K products; the weights
 *     are exact in every dtype since the reference reads the stored f16/bf16 values);
 *   rope_table: atol 2e-7 (one f32 rounding of cos/sin of the same f32 angle);
 *   rope: atol 1e-6;  attention: atol 2e-6, rtol 1e-5. */
#include "ops_testutil.h"

static void test_matmul(tt_env *env, tt_rng *r) {
    vlm_dtype wds[3] = {VLM_DTYPE_F32, VLM_DTYPE_BF16, VLM_DTYPE_F16};
    int64_t ks[3] = {37, 1, 300};
    for (int wi = 0; wi < 3; wi++) {
        for (int ki = 0; ki < 3; ki++) {
            for (int layout = 0; layout < 3; layout++) {
                int64_t k = ks[ki], n = 29 + wi, m0 = 2, m1 = 3 + layout;
                int64_t xs[3] = {m0, m1, k}, ws[2] = {n, k}, os[3] = {m0, m1, n}, bs[1] = {n};
                tt_tensor x = tt_rand(VLM_DTYPE_F32, 3, xs, layout, r, -1, 1);
                /* weights: contiguous or with padded rows (ldw > k) */
                tt_tensor w =
                    tt_rand(wds[wi], 2, ws, layout == TT_PADDED ? TT_PADDED : TT_CONTIG, r, -1, 1);
                tt_tensor b = tt_rand(wds[(wi + 1) % 3], 1, bs, TT_PADDED, r, -1, 1);
                tt_tensor o = tt_make(VLM_DTYPE_F32, 3, os, (layout + 1) % 3);
                int with_bias = (ki + layout) % 2;
                CHECK_OP(env, vlm_op_matmul(&env->ctx, &x.t, &w.t, with_bias ? &b.t : NULL, &o.t));
                int64_t m = m0 * m1;
                double *ref = tt_ref(m * n);
                for (int64_t i = 0; i < m; i++)
                    for (int64_t j = 0; j < n; j++) {
                        double s = with_bias ? tt_get(&b.t, j) : 0.0;
                        for (int64_t p = 0; p < k; p++)
                            s += tt_get(&x.t, i * k + p) * tt_get(&w.t, j * k + p);
                        ref[i * n + j] = s;
                    }
                CHECK_MSG(tt_compare("matmul", &o.t, ref, 2e-6 * sqrt((double)k), 1e-5) == 0,
                          "w %s k %lld layout %d", vlm_dtype_name(wds[wi]), (long long)k, layout);
                CHECK(tt_guard_ok(&o));
                free(ref);
                tt_free(&x);
                tt_free(&w);
                tt_free(&b);
                tt_free(&o);
            }
        }
    }
    /* decode shape: one row against a big weight (the GEMV path) */
    int64_t xs[2] = {1, 515}, ws[2] = {263, 515}, os[2] = {1, 263};
    tt_tensor x = tt_rand(VLM_DTYPE_F32, 2, xs, TT_CONTIG, r, -1, 1);
    tt_tensor w = tt_rand(VLM_DTYPE_BF16, 2, ws, TT_CONTIG, r, -1, 1);
    tt_tensor o = tt_make(VLM_DTYPE_F32, 2, os, TT_CONTIG);
    CHECK_OP(env, vlm_op_matmul(&env->ctx, &x.t, &w.t, NULL, &o.t));
    double *ref = tt_ref(263);
    for (int j = 0; j < 263; j++) {
        double s = 0;
        for (int p = 0; p < 515; p++)
            s += tt_get(&x.t, p) * tt_get(&w.t, j * 515 + p);
        ref[j] = s;
    }
    CHECK(tt_compare("matmul gemv", &o.t, ref, 2e-6 * sqrt(515.0), 1e-5) == 0);
    CHECK(tt_guard_ok(&o));
    /* errors name the shapes */
    int64_t bad[2] = {1, 262};
    tt_tensor o2 = tt_make(VLM_DTYPE_F32, 2, bad, TT_CONTIG);
    CHECK_OP_FAILS(env, vlm_op_matmul(&env->ctx, &x.t, &w.t, NULL, &o2.t), VLM_ERR_INVALID_ARGUMENT,
                   "matmul: x f32[1,515] @ w bf16[263,515]^T needs out [..., 263]");
    vlm_tensor wt;
    vlm_error e;
    CHECK(vlm_tensor_transpose(&w.t, 0, 1, &wt, &e) == VLM_OK);
    CHECK_OP_FAILS(env, vlm_op_matmul(&env->ctx, &x.t, &wt, NULL, &o.t), VLM_ERR_UNSUPPORTED,
                   "contiguous last dimension");
    free(ref);
    tt_free(&x);
    tt_free(&w);
    tt_free(&o);
    tt_free(&o2);
}

static void test_bmm(tt_env *env, tt_rng *r) {
    for (int variant = 0; variant < 3; variant++) {
        /* a [2, 3, 5, 17] @ b [2, 1, 17, 11] (b broadcast over dim 1) */
        int64_t B0 = 2, B1 = 3, M = 5, K = 17, N = 11;
        int64_t as[4] = {B0, B1, M, K}, os[4] = {B0, B1, M, N};
        tt_tensor a =
            tt_rand(VLM_DTYPE_F32, 4, as, variant == 2 ? TT_PERMUTED : TT_PADDED, r, -1, 1);
        tt_tensor b;
        vlm_tensor bv;
        vlm_error e;
        if (variant == 1) { /* b as the transpose of keys [2, 1, N, K] */
            int64_t bs[4] = {B0, 1, N, K};
            b = tt_rand(VLM_DTYPE_F32, 4, bs, TT_PADDED, r, -1, 1);
            CHECK(vlm_tensor_transpose(&b.t, 2, 3, &bv, &e) == VLM_OK);
        } else {
            int64_t bs[4] = {B0, 1, K, N};
            b = tt_rand(VLM_DTYPE_F32, 4, bs, variant == 0 ? TT_CONTIG : TT_PERMUTED, r, -1, 1);
            bv = b.t;
        }
        tt_tensor o = tt_make(VLM_DTYPE_F32, 4, os, variant == 1 ? TT_PERMUTED : TT_PADDED);
        CHECK_OP(env, vlm_op_bmm(&env->ctx, &a.t, &bv, &o.t));
        double *ref = tt_ref(B0 * B1 * M * N);
        for (int64_t b0 = 0; b0 < B0; b0++)
            for (int64_t b1 = 0; b1 < B1; b1++)
                for (int64_t i = 0; i < M; i++)
                    for (int64_t j = 0; j < N; j++) {
                        double s = 0;
                        for (int64_t p = 0; p < K; p++)
                            s += tt_get(&a.t, ((b0 * B1 + b1) * M + i) * K + p) *
                                 tt_get(&bv, (b0 * K + p) * N + j);
                        ref[((b0 * B1 + b1) * M + i) * N + j] = s;
                    }
        CHECK_MSG(tt_compare("bmm", &o.t, ref, 2e-6 * sqrt((double)K), 1e-5) == 0, "variant %d",
                  variant);
        CHECK(tt_guard_ok(&o));
        free(ref);
        tt_free(&a);
        tt_free(&b);
        tt_free(&o);
    }
}

static void test_rope(tt_env *env, tt_rng *r) {
    /* Tables: 1 axis; 3 axes consecutive (Qwen2-VL M-RoPE); 3 axes interleaved (Qwen3-VL);
     * 2 axes with a doubled frequency vector (Qwen2-VL vision). The reference follows HF's
     * formulation: angles per axis for every frequency, then the per-frequency choice. */
    const int S = 13, half = 12;
    int secs[4][3] = {{12, 0, 0}, {2, 5, 5}, {4, 4, 4}, {6, 6, 0}};
    int axes[4] = {1, 3, 3, 2};
    for (int c = 0; c < 4; c++) {
        int na = axes[c];
        int64_t ps[2] = {na, S}, fs[1] = {half}, cs[2] = {S, half};
        tt_tensor pos = tt_make(c == 2 ? VLM_DTYPE_I32 : VLM_DTYPE_I64, na == 1 ? 1 : 2,
                                na == 1 ? ps + 1 : ps, TT_PADDED);
        for (int64_t i = 0; i < na * S; i++)
            tt_set(&pos.t, i, (double)tt_int(r, 0, 5000));
        tt_tensor inv = tt_make(VLM_DTYPE_F32, 1, fs, TT_CONTIG);
        for (int j = 0; j < half; j++) {
            int jj = c == 3 ? j % (half / 2) : j; /* vision: cat(f, f) over half / 2 */
            int dim = c == 3 ? half : 2 * half;
            tt_set(&inv.t, j, (float)(1.0 / pow(10000.0, (double)(2 * jj) / dim)));
        }
        tt_tensor cosv = tt_make(VLM_DTYPE_F32, 2, cs, TT_PADDED),
                  sinv = tt_make(VLM_DTYPE_F32, 2, cs, TT_PERMUTED);
        vlm_rope_sections lay =
            c == 2 ? VLM_ROPE_SECTIONS_INTERLEAVED : VLM_ROPE_SECTIONS_CONSECUTIVE;
        float scaling = c == 1 ? 0.75f : 1.0f;
        CHECK_OP(env, vlm_op_rope_table(&env->ctx, &pos.t, &inv.t, na > 1 ? secs[c] : NULL, lay,
                                        scaling, &cosv.t, &sinv.t));
        double *rc = tt_ref(S * half), *rs = tt_ref(S * half);
        for (int s = 0; s < S; s++) {
            for (int j = 0; j < half; j++) {
                int a = 0;
                if (c == 2) { /* HF apply_interleaved_mrope: start from T, overwrite H / W slices */
                    for (int d = 1; d < 3; d++)
                        if (j % 3 == d && j < 3 * secs[c][d]) a = d;
                } else if (na > 1) { /* split into sections, section i takes axis i */
                    int end = 0;
                    for (a = 0; a < na; a++) {
                        end += secs[c][a];
                        if (j < end) break;
                    }
                }
                float ang = (float)tt_get(&pos.t, a * S + s) * (float)tt_get(&inv.t, j);
                rc[s * half + j] = (double)(float)cos((double)ang) * scaling;
                rs[s * half + j] = (double)(float)sin((double)ang) * scaling;
            }
        }
        CHECK_MSG(tt_compare("rope_table cos", &cosv.t, rc, 2e-7, 0) == 0, "case %d", c);
        CHECK_MSG(tt_compare("rope_table sin", &sinv.t, rs, 2e-7, 0) == 0, "case %d", c);
        CHECK(tt_guard_ok(&cosv) && tt_guard_ok(&sinv));
        free(rc);
        free(rs);

        /* apply to q [S, H, D] with D = 28 > R = 24 (partial rotary), q a strided view of
         * [H, S, D] storage, both pairings, out of place and in place. */
        for (int mode = 0; mode < 2; mode++) {
            int64_t qs[3] = {5, S, 28};
            tt_tensor qst = tt_rand(VLM_DTYPE_F32, 3, qs, TT_PADDED, r, -1, 1);
            vlm_tensor q;
            vlm_error e;
            CHECK(vlm_tensor_transpose(&qst.t, 0, 1, &q, &e) == VLM_OK);
            int64_t os[3] = {S, 5, 28};
            tt_tensor o = tt_make(VLM_DTYPE_F32, 3, os, TT_PADDED);
            double *ref = tt_ref(S * 5 * 28);
            for (int s = 0; s < S; s++)
                for (int h = 0; h < 5; h++)
                    for (int i = 0; i < 28; i++) {
                        int64_t base = (s * 5 + h) * 28;
                        double x = tt_get(&q, base + i), y;
                        if (i >= 2 * half) {
                            y = x;
                        } else if (mode == VLM_ROPE_ROTATE_HALF) { /* q*cos + rotate_half(q)*sin */
                            int j = i % half;
                            double rot = i < half ? -tt_get(&q, base + i + half)
                                                  : tt_get(&q, base + i - half);
                            y = x * tt_get(&cosv.t, s * half + j) +
                                rot * tt_get(&sinv.t, s * half + j);
                        } else {
                            int j = i / 2;
                            double rot =
                                i % 2 == 0 ? -tt_get(&q, base + i + 1) : tt_get(&q, base + i - 1);
                            y = x * tt_get(&cosv.t, s * half + j) +
                                rot * tt_get(&sinv.t, s * half + j);
                        }
                        ref[base + i] = y;
                    }
            CHECK_OP(env, vlm_op_rope(&env->ctx, &q, &cosv.t, &sinv.t, (vlm_rope_mode)mode, &o.t));
            CHECK(tt_compare("rope", &o.t, ref, 1e-6, 0) == 0);
            CHECK(tt_guard_ok(&o));
            CHECK_OP(env, vlm_op_rope(&env->ctx, &q, &cosv.t, &sinv.t, (vlm_rope_mode)mode, &q));
            CHECK(tt_compare("rope in place", &q, ref, 1e-6, 0) == 0);
            CHECK(tt_guard_ok(&qst));
            free(ref);
            tt_free(&qst);
            tt_free(&o);
        }
        tt_free(&pos);
        tt_free(&inv);
        tt_free(&cosv);
        tt_free(&sinv);
    }
    int64_t ps[2] = {3, 4}, fs[1] = {6}, cs[2] = {4, 6};
    tt_tensor pos = tt_make(VLM_DTYPE_I64, 2, ps, TT_CONTIG),
              inv = tt_make(VLM_DTYPE_F32, 1, fs, TT_CONTIG);
    tt_tensor cv = tt_make(VLM_DTYPE_F32, 2, cs, TT_CONTIG),
              sv = tt_make(VLM_DTYPE_F32, 2, cs, TT_CONTIG);
    int bad[3] = {2, 2, 1};
    CHECK_OP_FAILS(env,
                   vlm_op_rope_table(&env->ctx, &pos.t, &inv.t, bad, VLM_ROPE_SECTIONS_CONSECUTIVE,
                                     1.0f, &cv.t, &sv.t),
                   VLM_ERR_INVALID_ARGUMENT, "sections add up to 5, inv_freq has 6");
    tt_free(&pos);
    tt_free(&inv);
    tt_free(&cv);
    tt_free(&sv);
}

/* ------------------------------------------------------------ attention */

/* Is key j visible to the query at position p? Written from the definitions: HF's
 * causal_mask_function, sliding_window_overlay (kv > q - w; bidirectional: |q - kv| < w),
 * packed-sequence equality and blockwise (same image) overlays. */
static int visible_ref(const vlm_attn_params *p, int64_t pos, int64_t j) {
    int base = 1;
    if (p->causal && j > pos) base = 0;
    if (p->window > 0) {
        if (!(j > pos - p->window)) base = 0;
        if (!p->causal && !(j < pos + p->window)) base = 0;
    }
    if (p->segments) {
        int64_t sp = -1, sj = -1;
        for (int64_t s = 0; s < p->n_segments; s++) {
            if (p->segments[s] <= pos && pos < p->segments[s + 1]) sp = s;
            if (p->segments[s] <= j && j < p->segments[s + 1]) sj = s;
        }
        if (sp != sj) base = 0;
    }
    for (int64_t s = 0; s < p->n_spans; s++)
        if (p->spans[2 * s] <= pos && pos < p->spans[2 * s + 1] && p->spans[2 * s] <= j &&
            j < p->spans[2 * s + 1])
            return 1;
    return base;
}

static void attention_case(tt_env *env, tt_rng *r, const char *name, int64_t sq, int64_t sk,
                           int64_t hq, int64_t hkv, int64_t d, int64_t dv, vlm_attn_params p,
                           int fused) {
    /* q, k, v as column slices of one fused projection [S, (hq + hkv) * d + hkv * dv] when
     * fused (and sq == sk), else separate padded tensors. */
    tt_tensor store = {0}, qt = {0}, kt = {0}, vt = {0};
    vlm_tensor q, k, v;
    vlm_error e;
    int64_t qs[3] = {sq, hq, d}, ks[3] = {sk, hkv, d}, vs[3] = {sk, hkv, dv};
    if (fused) {
        int64_t w = hq * d + hkv * d + hkv * dv, fs[2] = {sq, w};
        store = tt_rand(VLM_DTYPE_F32, 2, fs, TT_PADDED, r, -1, 1);
        vlm_tensor part;
        CHECK(vlm_tensor_narrow(&store.t, 1, 0, hq * d, &part, &e) == VLM_OK);
        CHECK(vlm_tensor_reshape(&part, 3, qs, &q, &e) == VLM_OK);
        CHECK(vlm_tensor_narrow(&store.t, 1, hq * d, hkv * d, &part, &e) == VLM_OK);
        CHECK(vlm_tensor_reshape(&part, 3, ks, &k, &e) == VLM_OK);
        CHECK(vlm_tensor_narrow(&store.t, 1, (hq + hkv) * d, hkv * dv, &part, &e) == VLM_OK);
        CHECK(vlm_tensor_reshape(&part, 3, vs, &v, &e) == VLM_OK);
    } else {
        qt = tt_rand(VLM_DTYPE_F32, 3, qs, TT_PADDED, r, -1, 1);
        kt = tt_rand(VLM_DTYPE_F32, 3, ks, TT_PADDED, r, -1, 1);
        vt = tt_rand(VLM_DTYPE_F32, 3, vs, TT_PADDED, r, -1, 1);
        q = qt.t;
        k = kt.t;
        v = vt.t;
    }
    int64_t os[3] = {sq, hq, dv};
    tt_tensor o = tt_make(VLM_DTYPE_F32, 3, os, fused ? TT_CONTIG : TT_PADDED);
    CHECK_OP(env, vlm_op_attention(&env->ctx, &q, &k, &v, &p, &o.t));
    double *ref = tt_ref(sq * hq * dv), *sc = tt_ref(sk);
    int64_t g = hq / hkv;
    for (int64_t i = 0; i < sq; i++)
        for (int64_t h = 0; h < hq; h++) {
            int64_t kh = h / g, pos = p.q_pos0 + i;
            double m = -INFINITY, sum = 0;
            for (int64_t j = 0; j < sk; j++) {
                double s = 0;
                for (int64_t c = 0; c < d; c++)
                    s += tt_get(&q, (i * hq + h) * d + c) * tt_get(&k, (j * hkv + kh) * d + c);
                s *= p.scale;
                if (p.softcap > 0) s = p.softcap * tanh(s / p.softcap);
                sc[j] = visible_ref(&p, pos, j) ? s : -INFINITY;
                m = fmax(m, sc[j]);
            }
            for (int64_t c = 0; c < dv; c++)
                ref[(i * hq + h) * dv + c] = 0;
            if (m == -INFINITY) continue; /* sees nothing: zeros */
            for (int64_t j = 0; j < sk; j++)
                sum += exp(sc[j] - m);
            for (int64_t j = 0; j < sk; j++) {
                double w = exp(sc[j] - m) / sum;
                for (int64_t c = 0; c < dv; c++)
                    ref[(i * hq + h) * dv + c] += w * tt_get(&v, (j * hkv + kh) * dv + c);
            }
        }
    CHECK_MSG(tt_compare(name, &o.t, ref, 2e-6, 1e-5) == 0, "%s", name);
    CHECK_MSG(tt_guard_ok(&o), "%s", name);
    free(ref);
    free(sc);
    if (fused)
        tt_free(&store);
    else {
        tt_free(&qt);
        tt_free(&kt);
        tt_free(&vt);
    }
    tt_free(&o);
}

static void test_attention(tt_env *env, tt_rng *r) {
    float sc = 0.25f;
    vlm_attn_params p = vlm_attn_params_default(sc);
    /* bidirectional over 70 queries (two query blocks), GQA 4/2, fused qkv, Dv != D */
    attention_case(env, r, "bidirectional", 70, 70, 4, 2, 24, 20, p, 1);
    /* causal prefill crossing key blocks, sliding window 17 */
    p = vlm_attn_params_default(sc);
    p.causal = 1;
    p.window = 17;
    attention_case(env, r, "causal window", 200, 200, 2, 1, 16, 16, p, 1);
    /* decode: 3 new queries after 147 cached keys, 6 query heads over 2 kv heads (rows are
     * stacked by head) */
    p = vlm_attn_params_default(sc);
    p.causal = 1;
    p.q_pos0 = 147;
    attention_case(env, r, "decode gqa", 3, 150, 6, 2, 32, 32, p, 0);
    p.window = 40;
    attention_case(env, r, "decode window", 1, 150, 8, 2, 16, 16, p, 0);
    /* block-diagonal segments (per-frame / per-window vision attention), one empty */
    int64_t segs[5] = {0, 30, 30, 95, 130};
    p = vlm_attn_params_default(sc);
    p.segments = segs;
    p.n_segments = 4;
    attention_case(env, r, "segments", 130, 130, 3, 3, 20, 20, p, 1);
    /* Gemma 3: sliding causal with two bidirectional image spans (spans override both) */
    int64_t spans[4] = {10, 25, 60, 90};
    p = vlm_attn_params_default(sc);
    p.causal = 1;
    p.window = 20;
    p.spans = spans;
    p.n_spans = 2;
    attention_case(env, r, "spans", 100, 100, 4, 1, 8, 8, p, 1);
    /* softcap, causal, chunk in the middle of the cache */
    p = vlm_attn_params_default(1.0f);
    p.causal = 1;
    p.softcap = 3.0f;
    p.q_pos0 = 40;
    attention_case(env, r, "softcap", 9, 60, 2, 2, 8, 8, p, 0);
    /* no keys at all: zeros */
    p = vlm_attn_params_default(sc);
    attention_case(env, r, "no keys", 4, 0, 2, 1, 8, 8, p, 0);

    /* bad parameters */
    int64_t qs[3] = {4, 2, 8};
    tt_tensor q = tt_rand(VLM_DTYPE_F32, 3, qs, TT_CONTIG, r, -1, 1);
    tt_tensor o = tt_make(VLM_DTYPE_F32, 3, qs, TT_CONTIG);
    int64_t bad_segs[3] = {0, 3, 5};
    p = vlm_attn_params_default(sc);
    p.segments = bad_segs;
    p.n_segments = 2;
    CHECK_OP_FAILS(env, vlm_op_attention(&env->ctx, &q.t, &q.t, &q.t, &p, &o.t),
                   VLM_ERR_INVALID_ARGUMENT, "segments must run from 0 to Sk = 4");
    int64_t bad_spans[4] = {2, 4, 3, 4};
    p = vlm_attn_params_default(sc);
    p.spans = bad_spans;
    p.n_spans = 2;
    CHECK_OP_FAILS(env, vlm_op_attention(&env->ctx, &q.t, &q.t, &q.t, &p, &o.t),
                   VLM_ERR_INVALID_ARGUMENT, "span 1 [3, 4)");
    int64_t ks[3] = {4, 3, 8};
    tt_tensor k = tt_rand(VLM_DTYPE_F32, 3, ks, TT_CONTIG, r, -1, 1);
    p = vlm_attn_params_default(sc);
    CHECK_OP_FAILS(env, vlm_op_attention(&env->ctx, &q.t, &k.t, &k.t, &p, &o.t),
                   VLM_ERR_INVALID_ARGUMENT, "Hq % Hkv == 0");
    CHECK_OP_FAILS(env, vlm_op_attention(&env->ctx, &q.t, &q.t, &q.t, &p, &q.t),
                   VLM_ERR_INVALID_ARGUMENT, "overlaps");
    tt_free(&q);
    tt_free(&o);
    tt_free(&k);
}

int main(void) {
    tt_env env;
    tt_env_init(&env, 2);
    tt_rng r = {0x1234567887654321ull};
    test_matmul(&env, &r);
    test_bmm(&env, &r);
    test_rope(&env, &r);
    test_attention(&env, &r);
    CHECK_EQ_INT(vlm_arena_get_stats(env.arena).used, 0);
    tt_env_free(&env);
    TEST_DONE();
}
