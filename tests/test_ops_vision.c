/* Vision ops against float64 references written here: patch embedding as a direct
 * convolution loop (Conv2d with bias, Conv3d, a channels-last weight passed as a permuted
 * view, trailing pixels dropped), average pooling (overlapping windows, permuted input),
 * Idefics3 pixel shuffle replayed step by step as its torch views / permutes / reshapes,
 * and interpolation with torch's definitions evaluated in f64 (source index
 * scale * (i + 0.5) - 0.5 or scale * i, border clamping, cubic A = -0.75; antialias: the
 * widened triangle / Keys a = -0.5 filters normalized per output). Tolerances:
 * patch embedding atol 2e-6 sqrt(K) rtol 1e-5; pooling 1e-6; pixel shuffle exact;
 * interpolation atol 4e-6 rtol 1e-5 (f32 weights and sums vs f64). */
#include "ops_testutil.h"

static void test_patch_embed(tt_env *env, tt_rng *r) {
    /* 2D: img [N=2, C=3, 30, 44], P = 7 -> 4 x 6 patches (2 rows / 2 columns dropped) */
    int64_t is[4] = {2, 3, 30, 44}, E = 10, P = 7;
    tt_tensor img = tt_rand(VLM_DTYPE_F32, 4, is, TT_PADDED, r, -1, 1);
    /* weight stored channels-last [E, P, P, C] (mlx layout), viewed as [E, C, P, P] */
    int64_t wcl[4] = {E, P, P, 3}, bs[1] = {E};
    tt_tensor wst = tt_rand(VLM_DTYPE_BF16, 4, wcl, TT_CONTIG, r, -1, 1);
    vlm_tensor w;
    vlm_error e;
    int perm[4] = {0, 3, 1, 2};
    CHECK(vlm_tensor_permute(&wst.t, perm, &w, &e) == VLM_OK);
    tt_tensor b = tt_rand(VLM_DTYPE_F32, 1, bs, TT_CONTIG, r, -1, 1);
    int64_t rows = 2 * 4 * 6, os[2] = {rows, E};
    tt_tensor o = tt_make(VLM_DTYPE_F32, 2, os, TT_PADDED);
    CHECK_OP(env, vlm_op_patch_embed(&env->ctx, &img.t, &w, &b.t, &o.t));
    double *ref = tt_ref(rows * E);
    for (int n = 0; n < 2; n++)
        for (int y = 0; y < 4; y++)
            for (int x = 0; x < 6; x++)
                for (int oc = 0; oc < E; oc++) {
                    double s = tt_get(&b.t, oc);
                    for (int c = 0; c < 3; c++)
                        for (int ky = 0; ky < P; ky++)
                            for (int kx = 0; kx < P; kx++)
                                s += tt_get(&img.t,
                                            ((n * 3 + c) * 30 + y * P + ky) * 44 + x * P + kx) *
                                     tt_get(&w, ((oc * 3 + c) * P + ky) * P + kx);
                    ref[((n * 4 + y) * 6 + x) * E + oc] = s;
                }
    CHECK(tt_compare("patch_embed 2d", &o.t, ref, 2e-6 * sqrt(147.0), 1e-5) == 0);
    CHECK(tt_guard_ok(&o));
    free(ref);
    tt_free(&img);
    tt_free(&wst);
    tt_free(&b);
    tt_free(&o);

    /* 3D: img [C=3, T=5, 10, 15], kernel (2, 5, 5) -> 2 x 2 x 3 patches (one frame dropped) */
    int64_t vs[4] = {3, 5, 10, 15}, ws3[5] = {8, 3, 2, 5, 5}, os3[2] = {12, 8};
    tt_tensor vid = tt_rand(VLM_DTYPE_F32, 4, vs, TT_PERMUTED, r, -1, 1);
    tt_tensor w3 = tt_rand(VLM_DTYPE_F16, 5, ws3, TT_CONTIG, r, -1, 1);
    tt_tensor o3 = tt_make(VLM_DTYPE_F32, 2, os3, TT_CONTIG);
    CHECK_OP(env, vlm_op_patch_embed(&env->ctx, &vid.t, &w3.t, NULL, &o3.t));
    ref = tt_ref(96);
    for (int t = 0; t < 2; t++)
        for (int y = 0; y < 2; y++)
            for (int x = 0; x < 3; x++)
                for (int oc = 0; oc < 8; oc++) {
                    double s = 0;
                    for (int c = 0; c < 3; c++)
                        for (int kt = 0; kt < 2; kt++)
                            for (int ky = 0; ky < 5; ky++)
                                for (int kx = 0; kx < 5; kx++)
                                    s += tt_get(&vid.t,
                                                ((c * 5 + t * 2 + kt) * 10 + y * 5 + ky) * 15 +
                                                    x * 5 + kx) *
                                         tt_get(&w3.t, (((oc * 3 + c) * 2 + kt) * 5 + ky) * 5 + kx);
                    ref[((t * 2 + y) * 3 + x) * 8 + oc] = s;
                }
    CHECK(tt_compare("patch_embed 3d", &o3.t, ref, 2e-6 * sqrt(150.0), 1e-5) == 0);
    CHECK(tt_guard_ok(&o3));
    int64_t bad[2] = {13, 8};
    tt_tensor ob = tt_make(VLM_DTYPE_F32, 2, bad, TT_CONTIG);
    CHECK_OP_FAILS(env, vlm_op_patch_embed(&env->ctx, &vid.t, &w3.t, NULL, &ob.t),
                   VLM_ERR_INVALID_ARGUMENT, "give [12, 8]");
    free(ref);
    tt_free(&vid);
    tt_free(&w3);
    tt_free(&o3);
    tt_free(&ob);
}

static void test_pool(tt_env *env, tt_rng *r) {
    int cfg[3][4] = {{4, 4, 4, 4}, {3, 2, 2, 1}, {5, 3, 3, 4}};
    for (int c = 0; c < 3; c++) {
        int kh = cfg[c][0], kw = cfg[c][1], sh = cfg[c][2], sw = cfg[c][3];
        int64_t H = 17, W = 13, C = 9;
        int64_t xs[3] = {H, W, C};
        tt_tensor x = tt_rand(VLM_DTYPE_F32, 3, xs, c == 1 ? TT_PERMUTED : TT_PADDED, r, -2, 2);
        int64_t oh = (H - kh) / sh + 1, ow = (W - kw) / sw + 1, os[3] = {oh, ow, C};
        tt_tensor o = tt_make(VLM_DTYPE_F32, 3, os, c == 2 ? TT_PERMUTED : TT_PADDED);
        CHECK_OP(env, vlm_op_avg_pool2d(&env->ctx, &x.t, kh, kw, sh, sw, &o.t));
        double *ref = tt_ref(oh * ow * C);
        for (int64_t y = 0; y < oh; y++)
            for (int64_t xx = 0; xx < ow; xx++)
                for (int64_t ch = 0; ch < C; ch++) {
                    double s = 0;
                    for (int a = 0; a < kh; a++)
                        for (int b = 0; b < kw; b++)
                            s += tt_get(&x.t, ((y * sh + a) * W + xx * sw + b) * C + ch);
                    ref[(y * ow + xx) * C + ch] = s / (kh * kw);
                }
        CHECK(tt_compare("avg_pool2d", &o.t, ref, 1e-6, 1e-6) == 0);
        CHECK(tt_guard_ok(&o));
        free(ref);
        tt_free(&x);
        tt_free(&o);
    }
}

/* A tiny row-major array of doubles to replay torch's view / permute / reshape sequence. */
typedef struct nd {
    int ndim;
    int64_t shape[6];
    double *v;
} nd;

static nd nd_permute(nd a, const int *perm) {
    nd b = {a.ndim, {0}, NULL};
    int64_t n = 1, st[6];
    for (int i = 0; i < a.ndim; i++) {
        b.shape[i] = a.shape[perm[i]];
        n *= a.shape[i];
    }
    st[a.ndim - 1] = 1;
    for (int i = a.ndim - 2; i >= 0; i--)
        st[i] = st[i + 1] * a.shape[i + 1];
    b.v = tt_ref(n);
    for (int64_t lin = 0; lin < n; lin++) { /* lin indexes b */
        int64_t rem = lin, src = 0;
        for (int i = a.ndim - 1; i >= 0; i--) {
            src += (rem % b.shape[i]) * st[perm[i]];
            rem /= b.shape[i];
        }
        b.v[lin] = a.v[src];
    }
    free(a.v);
    return b;
}

static nd nd_view(nd a, int ndim, const int64_t *shape) { /* contiguous data: reinterpret */
    a.ndim = ndim;
    for (int i = 0; i < ndim; i++)
        a.shape[i] = shape[i];
    return a;
}

static void test_pixel_shuffle(tt_env *env, tt_rng *r) {
    int64_t cases[3][4] = {{1, 64, 5, 2}, {3, 36, 2, 3}, {1, 144, 3, 4}}; /* B, seq, E, r */
    for (int c = 0; c < 3; c++) {
        int64_t B = cases[c][0], seq = cases[c][1], E = cases[c][2], rr = cases[c][3];
        int64_t h = (int64_t)sqrt((double)seq), w = h;
        int64_t xs[3] = {B, seq, E}, os[3] = {B, seq / (rr * rr), E * rr * rr};
        tt_tensor x = tt_rand(VLM_DTYPE_F32, 3, xs, c == 1 ? TT_PERMUTED : TT_PADDED, r, -1, 1);
        tt_tensor o = tt_make(VLM_DTYPE_F32, 3, os, TT_PADDED);
        CHECK_OP(env, vlm_op_pixel_shuffle(&env->ctx, &x.t, (int)rr, &o.t));
        /* Idefics3Connector.pixel_shuffle, step by step */
        nd a = {3, {B, seq, E}, tt_ref(B * seq * E)};
        for (int64_t i = 0; i < B * seq * E; i++)
            a.v[i] = tt_get(&x.t, i);
        int64_t s1[4] = {B, h, w, E}, s2[4] = {B, h, w / rr, E * rr};
        a = nd_view(a, 4, s1);
        a = nd_view(a, 4, s2);
        int p[4] = {0, 2, 1, 3};
        a = nd_permute(a, p);
        int64_t s3[4] = {B, w / rr, h / rr, E * rr * rr};
        a = nd_view(a, 4, s3);
        a = nd_permute(a, p);
        int64_t s4[3] = {B, seq / (rr * rr), E * rr * rr};
        a = nd_view(a, 3, s4);
        CHECK(tt_compare("pixel_shuffle", &o.t, a.v, 0, 0) == 0);
        CHECK(tt_guard_ok(&o));
        free(a.v);
        /* 2-D input: the same with B = 1 */
        if (B == 1) {
            vlm_tensor x2, o2;
            vlm_error e;
            CHECK(vlm_tensor_select(&x.t, 0, 0, &x2, &e) == VLM_OK);
            CHECK(vlm_tensor_select(&o.t, 0, 0, &o2, &e) == VLM_OK);
            CHECK_OP(env, vlm_op_fill(&env->ctx, &o2, 0.0f));
            CHECK_OP(env, vlm_op_pixel_shuffle(&env->ctx, &x2, (int)rr, &o2));
        }
        tt_free(&x);
        tt_free(&o);
    }
    int64_t xs[2] = {35, 4}, os[2] = {35, 4};
    tt_tensor x = tt_make(VLM_DTYPE_F32, 2, xs, TT_CONTIG),
              o = tt_make(VLM_DTYPE_F32, 2, os, TT_CONTIG);
    CHECK_OP_FAILS(env, vlm_op_pixel_shuffle(&env->ctx, &x.t, 2, &o.t), VLM_ERR_INVALID_ARGUMENT,
                   "square");
    tt_free(&x);
    tt_free(&o);
}

/* ------------------------------------------------------------ interpolation reference */

typedef struct taps {
    int n;
    int64_t idx[64];
    double w[64];
} taps;

static double cub1(double x, double a) {
    return ((a + 2) * x - (a + 3)) * x * x + 1;
}
static double cub2(double x, double a) {
    return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
}

/* torch's weights for output i of one axis, in f64. */
static taps axis_ref(int64_t in, int64_t out, int64_t i, int cubic, int ac, int aa) {
    taps t = {0};
    double scale = ac ? (out > 1 ? (double)(in - 1) / (double)(out - 1) : 0.0) : (double)in / out;
    if (aa) {
        double support = (cubic ? 2.0 : 1.0) * (scale >= 1.0 ? scale : 1.0);
        double center = scale * (i + 0.5), inv = scale >= 1.0 ? 1.0 / scale : 1.0, total = 0;
        int64_t lo = (int64_t)(center - support + 0.5), hi = (int64_t)(center + support + 0.5);
        if (lo < 0) lo = 0;
        if (hi > in) hi = in;
        for (int64_t j = lo; j < hi; j++) {
            double x = fabs((j - center + 0.5) * inv), w;
            if (cubic)
                w = x < 1 ? cub1(x, -0.5) : (x < 2 ? cub2(x, -0.5) : 0.0);
            else
                w = x < 1 ? 1 - x : 0.0;
            t.idx[t.n] = j;
            t.w[t.n++] = w;
            total += w;
        }
        for (int j = 0; j < t.n; j++)
            t.w[j] /= total;
        return t;
    }
    double real = ac ? scale * i : scale * (i + 0.5) - 0.5;
    if (!cubic) {
        if (in == out) {
            t.n = 1;
            t.idx[0] = i;
            t.w[0] = 1;
            return t;
        }
        if (real < 0) real = 0;
        int64_t i0 = (int64_t)floor(real);
        if (i0 > in - 1) i0 = in - 1;
        double l = real - i0;
        t.n = 2;
        t.idx[0] = i0;
        t.idx[1] = i0 < in - 1 ? i0 + 1 : i0;
        t.w[0] = 1 - l;
        t.w[1] = l;
        return t;
    }
    int64_t i0 = (int64_t)floor(real);
    double f = real - i0;
    double ws[4] = {cub2(f + 1, -0.75), cub1(f, -0.75), cub1(1 - f, -0.75), cub2(2 - f, -0.75)};
    t.n = 4;
    for (int j = 0; j < 4; j++) {
        int64_t k = i0 - 1 + j;
        t.idx[j] = k < 0 ? 0 : (k > in - 1 ? in - 1 : k);
        t.w[j] = ws[j];
    }
    return t;
}

static void test_interpolate(tt_env *env, tt_rng *r) {
    int64_t sizes[5][4] = {
        {16, 16, 27, 33}, {40, 30, 7, 11}, {9, 13, 9, 20}, {5, 8, 23, 3}, {1, 6, 4, 6}};
    for (int sc = 0; sc < 5; sc++) {
        for (int mode = 0; mode < 2; mode++) {
            for (int ac = 0; ac < 2; ac++) {
                for (int aa = 0; aa < 2; aa++) {
                    int64_t H = sizes[sc][0], W = sizes[sc][1], OH = sizes[sc][2],
                            OW = sizes[sc][3], C = 3;
                    int64_t xs[3] = {C, H, W}, os[3] = {C, OH, OW};
                    /* channels-last storage viewed as [C, H, W] (position embeddings [H*W, C]) */
                    int64_t cl[3] = {H, W, C};
                    tt_tensor st = tt_rand(VLM_DTYPE_F32, 3, cl, TT_CONTIG, r, -1, 1);
                    vlm_tensor x;
                    vlm_error e;
                    int perm[3] = {2, 0, 1};
                    CHECK(vlm_tensor_permute(&st.t, perm, &x, &e) == VLM_OK);
                    (void)xs;
                    tt_tensor o = tt_make(VLM_DTYPE_F32, 3, os, (sc + mode) % 3);
                    CHECK_OP(env, vlm_op_interpolate(&env->ctx, &x, (vlm_interp_mode)mode, ac, aa,
                                                     &o.t));
                    double *ref = tt_ref(C * OH * OW);
                    for (int64_t c = 0; c < C; c++)
                        for (int64_t y = 0; y < OH; y++) {
                            taps ty = axis_ref(H, OH, y, mode, ac, aa);
                            for (int64_t xx = 0; xx < OW; xx++) {
                                taps tx = axis_ref(W, OW, xx, mode, ac, aa);
                                double s = 0;
                                for (int a = 0; a < ty.n; a++)
                                    for (int b = 0; b < tx.n; b++)
                                        s += ty.w[a] * tx.w[b] *
                                             tt_get(&x, (c * H + ty.idx[a]) * W + tx.idx[b]);
                                ref[(c * OH + y) * OW + xx] = s;
                            }
                        }
                    CHECK_MSG(tt_compare("interpolate", &o.t, ref, 4e-6, 1e-5) == 0,
                              "%lldx%lld -> %lldx%lld mode %d ac %d aa %d", (long long)H,
                              (long long)W, (long long)OH, (long long)OW, mode, ac, aa);
                    CHECK(tt_guard_ok(&o));
                    free(ref);
                    tt_free(&st);
                    tt_free(&o);
                }
            }
        }
    }
}

int main(void) {
    tt_env env;
    tt_env_init(&env, 2);
    tt_rng r = {0x5555aaaa12345678ull};
    test_patch_embed(&env, &r);
    test_pool(&env, &r);
    test_pixel_shuffle(&env, &r);
    test_interpolate(&env, &r);
    CHECK_EQ_INT(vlm_arena_get_stats(env.arena).used, 0);
    tt_env_free(&env);
    TEST_DONE();
}
