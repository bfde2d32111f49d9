/* Ops on MLX-quantized weights (vlm_op_matmul_q, vlm_op_embedding_q) against float64
 * references computed here from the codes, scales and biases themselves (w = s * q + b with
 * s, b as stored in bf16 / f16 / f32), never from the kernels' decoding. Codes are packed
 * with vlm_mlx_pack, which test_mlx_quant checks against hand-derived words.
 *
 * Cases: every bits value (2, 3, 4, 5, 6, 8) x group size (32, 64, 128) x rows of x
 * m = 1, 3 (GEMV), 17, 40 (GEMM, dequantized panels) x the three CPU paths (portable,
 * AVX2, AVX-512, lowered with VLM_CPU_ISA), with odd N, K spanning more than one GEMM depth
 * slice, padded weight rows, strided x / out, f32 and bf16 biases, 1 and 2 threads. The
 * packed words live in an exactly sized malloc block (wrapped, not copied), so a kernel
 * that reads past the last row's data is caught by AddressSanitizer.
 * Tolerance: |got - ref| <= 1e-5 * sum_k |x_k w_k| + 1e-6 (f32 accumulation of K products
 * and one f32 rounding of each weight, relative to the magnitude of the sum's terms).
 * Embedding rows: |got - ref| <= 1e-6 * (|s q| + |b|) (one f32 FMA per weight). */
#include "ops_testutil.h"
#include "tensor/cpu/isa.h"
#include "weights/mlx_quant.h"

typedef struct qcase {
    int64_t n, k;
    int bits, group;
    uint8_t *codes;  /* [n, k] */
    uint32_t *words; /* exactly (n - 1) * ldw + k * bits / 32 words */
    int64_t ldw;
    vlm_buffer *wbuf;
    tt_tensor scales, biases;
    vlm_qweight q;
} qcase;

static void qcase_make(qcase *c, tt_rng *r, int64_t n, int64_t k, int bits, int group,
                       vlm_dtype sdt, int pad_rows) {
    memset(c, 0, sizeof *c);
    c->n = n;
    c->k = k;
    c->bits = bits;
    c->group = group;
    int64_t words = k * bits / 32;
    c->ldw = words + (pad_rows ? 3 : 0);
    size_t total = (size_t)((n - 1) * c->ldw + words);
    c->codes = malloc((size_t)(n * k));
    c->words = malloc(total * sizeof *c->words);
    uint32_t *tmp = malloc((size_t)words * sizeof *tmp);
    if (!c->codes || !c->words || !tmp) exit(2);
    memset(c->words, 0x5A, total * sizeof *c->words);
    for (int64_t i = 0; i < n * k; i++)
        c->codes[i] = (uint8_t)(tt_next(r) & ((1u << bits) - 1u));
    for (int64_t row = 0; row < n; row++) {
        vlm_mlx_pack(c->codes + row * k, k, bits, tmp);
        memcpy(c->words + row * c->ldw, tmp, (size_t)words * sizeof *tmp);
    }
    free(tmp);
    vlm_error e;
    if (vlm_buffer_wrap(vlm_backend_cpu(), c->words, total * 4, VLM_BUFFER_READONLY, &c->wbuf,
                        &e) != VLM_OK ||
        vlm_tensor_init_strided(&c->q.w, c->wbuf, 0, VLM_DTYPE_U32, 2, (int64_t[]){n, words},
                                (int64_t[]){c->ldw * 4, 4}, &e) != VLM_OK) {
        fprintf(stderr, "qcase: %s\n", e.message);
        exit(2);
    }
    int64_t ss[2] = {n, k / group};
    double n_bins = (double)((1 << bits) - 1);
    int lay = pad_rows ? TT_PADDED : TT_CONTIG;
    /* scales of either sign (MLX's may be negative), weights within about [-3, 3] */
    c->scales = tt_rand(sdt, 2, ss, lay, r, -2.0 / n_bins, 2.0 / n_bins);
    c->biases = tt_rand(sdt, 2, ss, lay, r, -1.0, 1.0);
    c->q.scales = c->scales.t;
    c->q.biases = c->biases.t;
    c->q.bits = bits;
    c->q.group_size = group;
}

static void qcase_free(qcase *c) {
    vlm_buffer_free(c->wbuf);
    free(c->words);
    free(c->codes);
    tt_free(&c->scales);
    tt_free(&c->biases);
}

/* The dequantized weight [row, col] from the stored scale and bias, in float64. */
static double qcase_w(const qcase *c, int64_t row, int64_t col) {
    int64_t g = row * (c->k / c->group) + col / c->group;
    return tt_get(&c->scales.t, g) * c->codes[row * c->k + col] + tt_get(&c->biases.t, g);
}

static const char *isa_names[3] = {"portable", "avx2", "avx512"};

/* out = x @ dequant(w)^T (+ bias) for one case; returns the number of misses. */
static int64_t run_matmul(tt_env *env, tt_rng *r, const qcase *c, int64_t m, int layout,
                          int with_bias, vlm_dtype bdt) {
    int64_t xs[2] = {m, c->k}, os[2] = {m, c->n}, bs[1] = {c->n};
    tt_tensor x = tt_rand(VLM_DTYPE_F32, 2, xs, layout, r, -1, 1);
    tt_tensor o = tt_make(VLM_DTYPE_F32, 2, os, (layout + 1) % 3);
    tt_tensor b = tt_rand(bdt, 1, bs, TT_CONTIG, r, -1, 1);
    CHECK_OP(env, vlm_op_matmul_q(&env->ctx, &x.t, &c->q, with_bias ? &b.t : NULL, &o.t));
    double *ref = tt_ref(m * c->n), *mag = tt_ref(m * c->n);
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < c->n; j++) {
            double s = with_bias ? tt_get(&b.t, j) : 0.0, a = 0.0;
            for (int64_t p = 0; p < c->k; p++) {
                double t = tt_get(&x.t, i * c->k + p) * qcase_w(c, j, p);
                s += t;
                a += fabs(t);
            }
            ref[i * c->n + j] = s;
            mag[i * c->n + j] = a;
        }
    int64_t bad = 0;
    for (int64_t i = 0; i < m * c->n; i++) {
        double g = tt_get(&o.t, i), err = fabs(g - ref[i]), lim = 1e-5 * mag[i] + 1e-6;
        if (!(err <= lim)) {
            if (bad < 3)
                fprintf(stderr, "matmul_q: element %lld: got %.9g, want %.9g (err %.3g > %.3g)\n",
                        (long long)i, g, ref[i], err, lim);
            bad++;
        }
    }
    CHECK(tt_guard_ok(&o));
    free(ref);
    free(mag);
    tt_free(&x);
    tt_free(&o);
    tt_free(&b);
    return bad;
}

static void test_matmul_all(tt_env *env, tt_rng *r) {
    const int bits_list[6] = {2, 3, 4, 5, 6, 8}, groups[3] = {32, 64, 128};
    const int64_t ms[4] = {1, 3, 17, 40};
    const vlm_dtype sdts[3] = {VLM_DTYPE_BF16, VLM_DTYPE_F16, VLM_DTYPE_F32};
    int cases = 0;
    for (int isa = 0; isa < 3; isa++) {
        if (!vlm_cpu_isa_supported((vlm_cpu_isa)isa)) {
            fprintf(stderr, "note: this CPU has no %s path; not tested\n", isa_names[isa]);
            continue;
        }
        setenv("VLM_CPU_ISA", isa_names[isa], 1);
        for (int bi = 0; bi < 6; bi++)
            for (int gi = 0; gi < 3; gi++) {
                int bits = bits_list[bi], g = groups[gi];
                /* K = 5 groups (640 > one 512-deep GEMM slice for group 128), odd N */
                int64_t k = 5 * g, n = 37 + 2 * bi;
                int pad = (bi + gi) % 2;
                qcase c;
                qcase_make(&c, r, n, k, bits, g, sdts[(bi + gi + isa) % 3], pad);
                for (int mi = 0; mi < 4; mi++) {
                    int layout = (mi + gi) % 3, with_bias = (mi + bi) % 2;
                    env->ctx.n_threads = 1 + (mi + bi + gi) % 2;
                    vlm_dtype bdt = mi % 2 ? VLM_DTYPE_BF16 : VLM_DTYPE_F32;
                    int64_t bad = run_matmul(env, r, &c, ms[mi], layout, with_bias, bdt);
                    CHECK_MSG(bad == 0,
                              "%s: %d bits, group %d, m %lld, n %lld, k %lld, layout %d: %lld off",
                              isa_names[isa], bits, g, (long long)ms[mi], (long long)n,
                              (long long)k, layout, (long long)bad);
                    cases++;
                }
                qcase_free(&c);
            }
    }
    unsetenv("VLM_CPU_ISA");
    env->ctx.n_threads = 1;
    fprintf(stderr, "matmul_q: %d cases\n", cases);
}

/* A decode-sized product on the default path: one row, K = 1536, N = 300, 4 and 8 bits. */
static void test_matmul_decode(tt_env *env, tt_rng *r) {
    const int bits[2] = {4, 8};
    for (int i = 0; i < 2; i++) {
        qcase c;
        qcase_make(&c, r, 300, 1536, bits[i], 64, VLM_DTYPE_BF16, 0);
        env->ctx.n_threads = 2;
        CHECK_MSG(run_matmul(env, r, &c, 1, TT_CONTIG, 1, VLM_DTYPE_BF16) == 0, "decode %d bits",
                  bits[i]);
        env->ctx.n_threads = 1;
        qcase_free(&c);
    }
}

static void test_embedding(tt_env *env, tt_rng *r) {
    const int bits_list[6] = {2, 3, 4, 5, 6, 8};
    for (int isa = 0; isa < 3; isa++) {
        if (!vlm_cpu_isa_supported((vlm_cpu_isa)isa)) continue;
        setenv("VLM_CPU_ISA", isa_names[isa], 1);
        for (int bi = 0; bi < 6; bi++) {
            int g = bi % 2 ? 32 : 128;
            qcase c;
            qcase_make(&c, r, 23, 2 * g, bits_list[bi], g, VLM_DTYPE_BF16, bi % 2);
            const int64_t m = 9, ids_v[9] = {0, 22, 5, 5, 11, 1, 21, 0, 13};
            int64_t is[1] = {m}, os[2] = {m, c.k};
            tt_tensor ids = tt_make(bi % 2 ? VLM_DTYPE_I32 : VLM_DTYPE_I64, 1, is, TT_CONTIG);
            for (int64_t i = 0; i < m; i++)
                tt_set(&ids.t, i, (double)ids_v[i]);
            /* contiguous rows, padded rows, and a permuted (strided columns) output */
            for (int layout = 0; layout < 3; layout++) {
                tt_tensor o = tt_make(VLM_DTYPE_F32, 2, os, layout);
                CHECK_OP(env, vlm_op_embedding_q(&env->ctx, &c.q, &ids.t, &o.t));
                int64_t bad = 0;
                for (int64_t i = 0; i < m; i++)
                    for (int64_t p = 0; p < c.k; p++) {
                        int64_t gi = ids_v[i] * (c.k / g) + p / g;
                        double s = tt_get(&c.scales.t, gi), b = tt_get(&c.biases.t, gi);
                        double q = c.codes[ids_v[i] * c.k + p], ref = s * q + b;
                        double got = tt_get(&o.t, i * c.k + p);
                        if (!(fabs(got - ref) <= 1e-6 * (fabs(s * q) + fabs(b)))) bad++;
                    }
                CHECK_MSG(bad == 0, "%s embedding %d bits layout %d: %lld off", isa_names[isa],
                          bits_list[bi], layout, (long long)bad);
                CHECK(tt_guard_ok(&o));
                tt_free(&o);
            }
            tt_free(&ids);
            qcase_free(&c);
        }
    }
    unsetenv("VLM_CPU_ISA");
}

static void test_errors(tt_env *env, tt_rng *r) {
    qcase c;
    qcase_make(&c, r, 8, 64, 4, 32, VLM_DTYPE_BF16, 0);
    int64_t xs[2] = {2, 64}, os[2] = {2, 8};
    tt_tensor x = tt_rand(VLM_DTYPE_F32, 2, xs, TT_CONTIG, r, -1, 1);
    tt_tensor o = tt_make(VLM_DTYPE_F32, 2, os, TT_CONTIG);
    vlm_qweight q = c.q;
    q.bits = 7;
    CHECK_OP_FAILS(env, vlm_op_matmul_q(&env->ctx, &x.t, &q, NULL, &o.t), VLM_ERR_UNSUPPORTED,
                   "7 bits and group size 32 is not supported");
    q = c.q;
    q.group_size = 64; /* scales [8, 2] do not fit K / 64 = 1 */
    CHECK_OP_FAILS(env, vlm_op_matmul_q(&env->ctx, &x.t, &q, NULL, &o.t), VLM_ERR_INVALID_ARGUMENT,
                   "do not fit 4 bits with group size 64");
    q = c.q;
    q.bits = 8; /* 8 words per row at 8 bits are 32 columns, x has 64 */
    CHECK_OP_FAILS(env, vlm_op_matmul_q(&env->ctx, &x.t, &q, NULL, &o.t), VLM_ERR_INVALID_ARGUMENT,
                   "do not fit 8 bits");
    q = c.q;
    q.biases.dtype = VLM_DTYPE_F16; /* not the scales' dtype */
    CHECK_OP_FAILS(env, vlm_op_matmul_q(&env->ctx, &x.t, &q, NULL, &o.t), VLM_ERR_INVALID_ARGUMENT,
                   "biases f16[8,2]");
    int64_t bad_os[2] = {2, 9};
    tt_tensor o2 = tt_make(VLM_DTYPE_F32, 2, bad_os, TT_CONTIG);
    CHECK_OP_FAILS(env, vlm_op_matmul_q(&env->ctx, &x.t, &c.q, NULL, &o2.t),
                   VLM_ERR_INVALID_ARGUMENT, "w [8, 64]^T (4-bit) needs out [..., 8]");
    int64_t is[1] = {2}, eo[2] = {2, 64};
    tt_tensor ids = tt_make(VLM_DTYPE_I64, 1, is, TT_CONTIG);
    tt_set(&ids.t, 0, 3);
    tt_set(&ids.t, 1, 8);
    tt_tensor e = tt_make(VLM_DTYPE_F32, 2, eo, TT_CONTIG);
    CHECK_OP_FAILS(env, vlm_op_embedding_q(&env->ctx, &c.q, &ids.t, &e.t), VLM_ERR_INVALID_ARGUMENT,
                   "ids[1] = 8 is out of range [0, 8)");
    CHECK(tt_guard_ok(&e)); /* nothing written */
    /* a float weight (bits 0) is vlm_op_matmul */
    int64_t ws[2] = {8, 64};
    tt_tensor wf = tt_rand(VLM_DTYPE_BF16, 2, ws, TT_CONTIG, r, -1, 1);
    vlm_qweight fq = vlm_qweight_float(&wf.t);
    CHECK_EQ_INT(vlm_qweight_rows(&fq), 8);
    CHECK_EQ_INT(vlm_qweight_cols(&fq), 64);
    CHECK_EQ_INT(vlm_qweight_cols(&c.q), 64);
    tt_tensor o3 = tt_make(VLM_DTYPE_F32, 2, os, TT_CONTIG);
    CHECK_OP(env, vlm_op_matmul_q(&env->ctx, &x.t, &fq, NULL, &o.t));
    CHECK_OP(env, vlm_op_matmul(&env->ctx, &x.t, &wf.t, NULL, &o3.t));
    for (int i = 0; i < 16; i++)
        CHECK(tt_get(&o.t, i) == tt_get(&o3.t, i));
    tt_free(&wf);
    tt_free(&o3);
    tt_free(&ids);
    tt_free(&e);
    tt_free(&o2);
    tt_free(&x);
    tt_free(&o);
    qcase_free(&c);
}

/* Scales and biases stored with different row pitches (scales padded rows, biases
 * contiguous): the kernels read both with one pitch, so the CPU backend copies them first;
 * the results must still match the reference from the tensors' own values. */
static void test_mixed_pitch(tt_env *env, tt_rng *r) {
    qcase c;
    qcase_make(&c, r, 37, 256, 4, 64, VLM_DTYPE_BF16, 1);
    tt_free(&c.biases);
    c.biases = tt_rand(VLM_DTYPE_BF16, 2, (int64_t[]){37, 4}, TT_CONTIG, r, -1.0, 1.0);
    c.q.biases = c.biases.t;
    CHECK(c.q.biases.stride[0] != c.q.scales.stride[0]);
    CHECK_EQ_INT(run_matmul(env, r, &c, 1, TT_CONTIG, 0, VLM_DTYPE_F32), 0);
    CHECK_EQ_INT(run_matmul(env, r, &c, 9, TT_PADDED, 1, VLM_DTYPE_F32), 0);
    const int64_t ids_v[3] = {36, 0, 17};
    tt_tensor ids = tt_make(VLM_DTYPE_I64, 1, (int64_t[]){3}, TT_CONTIG);
    for (int64_t i = 0; i < 3; i++)
        tt_set(&ids.t, i, (double)ids_v[i]);
    tt_tensor o = tt_make(VLM_DTYPE_F32, 2, (int64_t[]){3, c.k}, TT_CONTIG);
    CHECK_OP(env, vlm_op_embedding_q(&env->ctx, &c.q, &ids.t, &o.t));
    int64_t bad = 0;
    for (int64_t i = 0; i < 3; i++)
        for (int64_t p = 0; p < c.k; p++) {
            double ref = qcase_w(&c, ids_v[i], p), got = tt_get(&o.t, i * c.k + p);
            if (!(fabs(got - ref) <= 1e-6 * (fabs(ref) + 1.0))) bad++;
        }
    CHECK_MSG(bad == 0, "embedding with mixed pitches: %lld off", (long long)bad);
    tt_free(&o);
    tt_free(&ids);
    qcase_free(&c);
}

int main(void) {
    tt_env env;
    tt_env_init(&env, 1);
    tt_rng r = {0x1234567887654321ull};
    test_matmul_all(&env, &r);
    test_matmul_decode(&env, &r);
    test_embedding(&env, &r);
    test_errors(&env, &r);
    test_mixed_pitch(&env, &r);
    tt_env_free(&env);
    TEST_DONE();
}
