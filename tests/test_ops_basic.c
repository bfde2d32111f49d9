/* Data movement, elementwise, normalization, softmax and selection ops against float64
 * references written here with plain loops, on random data of odd sizes, in contiguous,
 * padded (sliced) and permuted layouts; every output buffer is checked for writes outside
 * the view. Tolerances, |got - ref| <= atol + rtol * |ref|:
 *   copies, gathers, scatters, concat, pooling-free data movement: exact;
 *   f32 -> bf16/f16 conversion: exact against a nearest-even search written here;
 *   add/mul/scale: 1 f32 rounding (rtol 6e-8);
 *   activations: atol 2e-6, rtol 2e-6 (libm f32 vs f64);
 *   rms/layer norm: atol 1e-6, rtol 2e-6; softmax: atol 1e-7, rtol 2e-6;
 *   argmax/top-k: exact (indices and values). */
#include "ops_testutil.h"

static const int LAYOUTS[3] = {TT_CONTIG, TT_PADDED, TT_PERMUTED};

/* Nearest-even bf16 / f16 of a float, found by search (independent of dtype.h's bit
 * tricks): among the two neighbours that bracket v, the nearer; ties to the even code. */
static double round_bf16_ref(float v) {
    uint32_t u;
    memcpy(&u, &v, 4);
    uint32_t lo = u & 0xffff0000u, hi = lo + 0x10000u;
    float flo, fhi;
    memcpy(&flo, &lo, 4);
    memcpy(&fhi, &hi, 4);
    double dl = fabs((double)v - flo), dh = fabs((double)fhi - v);
    if (dl < dh) return flo;
    if (dh < dl) return fhi;
    return ((lo >> 16) & 1) ? fhi : flo;
}

static double round_f16_ref(float v) {
    /* f16 values are k * 2^(e-10) for normal, k * 2^-24 for subnormal: round v to the grid
     * spacing of its binade, ties to even k. */
    double a = fabs((double)v);
    int e;
    frexp(a, &e); /* a = m * 2^e, m in [0.5, 1) */
    int ex = e - 1;
    if (ex < -14) ex = -14;
    double ulp = ldexp(1.0, ex - 10);
    double k = a / ulp, f = floor(k), r;
    if (k - f > 0.5 || (k - f == 0.5 && fmod(f, 2.0) != 0.0))
        r = (f + 1) * ulp;
    else
        r = f * ulp;
    if (r > 65504.0) r = INFINITY;
    return v < 0 ? -r : r;
}

static void test_copy(tt_env *env, tt_rng *r) {
    int64_t shape[3] = {5, 7, 9};
    vlm_dtype dts[4] = {VLM_DTYPE_F32, VLM_DTYPE_BF16, VLM_DTYPE_F16, VLM_DTYPE_F64};
    for (int li = 0; li < 3; li++) {
        for (int si = 0; si < 4; si++) {
            for (int di = 0; di < 4; di++) {
                tt_tensor src = tt_rand(dts[si], 3, shape, LAYOUTS[li], r, -3, 3);
                tt_tensor dst = tt_make(dts[di], 3, shape, LAYOUTS[(li + di) % 3]);
                CHECK_OP(env, vlm_op_copy(&env->ctx, &src.t, &dst.t));
                double *ref = tt_ref(315);
                for (int64_t i = 0; i < 315; i++) {
                    double v = tt_get(&src.t, i);
                    if (dts[di] == VLM_DTYPE_BF16)
                        v = round_bf16_ref((float)v);
                    else if (dts[di] == VLM_DTYPE_F16)
                        v = round_f16_ref((float)v);
                    else if (dts[di] == VLM_DTYPE_F32 || dts[si] != VLM_DTYPE_F64)
                        v = (float)v;
                    ref[i] = v;
                }
                CHECK(tt_compare("copy", &dst.t, ref, 0, 0) == 0);
                CHECK(tt_guard_ok(&dst));
                free(ref);
                tt_free(&src);
                tt_free(&dst);
            }
        }
    }
    /* integer copies are raw; conversions between ints and floats are refused */
    int64_t s1[1] = {11};
    tt_tensor a = tt_make(VLM_DTYPE_I64, 1, s1, TT_PADDED),
              b = tt_make(VLM_DTYPE_I64, 1, s1, TT_CONTIG);
    for (int i = 0; i < 11; i++)
        tt_set(&a.t, i, (double)(i * 1000003));
    CHECK_OP(env, vlm_op_copy(&env->ctx, &a.t, &b.t));
    CHECK(tt_get(&b.t, 10) == 10000030.0);
    tt_tensor c = tt_make(VLM_DTYPE_F32, 1, s1, TT_CONTIG);
    CHECK_OP_FAILS(env, vlm_op_copy(&env->ctx, &a.t, &c.t), VLM_ERR_UNSUPPORTED,
                   "copy: cannot convert i64[11]");
    int64_t s2[1] = {12};
    tt_tensor d = tt_make(VLM_DTYPE_F32, 1, s2, TT_CONTIG);
    CHECK_OP_FAILS(env, vlm_op_copy(&env->ctx, &c.t, &d.t), VLM_ERR_INVALID_ARGUMENT,
                   "shapes differ: f32[11] vs f32[12]");
    /* overlapping but different views are refused */
    vlm_tensor v1, v2;
    vlm_error e;
    CHECK(vlm_tensor_narrow(&d.t, 0, 0, 6, &v1, &e) == VLM_OK);
    CHECK(vlm_tensor_narrow(&d.t, 0, 3, 6, &v2, &e) == VLM_OK);
    CHECK_OP_FAILS(env, vlm_op_copy(&env->ctx, &v1, &v2), VLM_ERR_INVALID_ARGUMENT, "overlaps");
    /* fill */
    CHECK_OP(env, vlm_op_fill(&env->ctx, &v1, -2.5f));
    CHECK(tt_get(&d.t, 5) == -2.5 && tt_get(&d.t, 0) == -2.5);
    tt_free(&a);
    tt_free(&b);
    tt_free(&c);
    tt_free(&d);
}

static void test_concat(tt_env *env, tt_rng *r) {
    int64_t s0[3] = {3, 2, 5}, s1[3] = {3, 7, 5}, s2[3] = {3, 1, 5}, so[3] = {3, 10, 5};
    tt_tensor a = tt_rand(VLM_DTYPE_F32, 3, s0, TT_PERMUTED, r, -1, 1);
    tt_tensor b = tt_rand(VLM_DTYPE_BF16, 3, s1, TT_PADDED, r, -1, 1);
    tt_tensor c = tt_rand(VLM_DTYPE_F32, 3, s2, TT_CONTIG, r, -1, 1);
    tt_tensor o = tt_make(VLM_DTYPE_F32, 3, so, TT_PADDED);
    const vlm_tensor *xs[3] = {&a.t, &b.t, &c.t};
    CHECK_OP(env, vlm_op_concat(&env->ctx, 3, xs, 1, &o.t));
    double *ref = tt_ref(150);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 10; j++)
            for (int k = 0; k < 5; k++) {
                double v;
                if (j < 2)
                    v = tt_get(&a.t, (i * 2 + j) * 5 + k);
                else if (j < 9)
                    v = tt_get(&b.t, (i * 7 + j - 2) * 5 + k);
                else
                    v = tt_get(&c.t, i * 5 + k);
                ref[(i * 10 + j) * 5 + k] = v;
            }
    CHECK(tt_compare("concat", &o.t, ref, 0, 0) == 0);
    CHECK(tt_guard_ok(&o));
    CHECK_OP_FAILS(env, vlm_op_concat(&env->ctx, 2, xs, 1, &o.t), VLM_ERR_INVALID_ARGUMENT,
                   "add up to 9");
    CHECK_OP_FAILS(env, vlm_op_concat(&env->ctx, 3, xs, 2, &o.t), VLM_ERR_INVALID_ARGUMENT,
                   "does not match");
    free(ref);
    tt_free(&a);
    tt_free(&b);
    tt_free(&c);
    tt_free(&o);
}

static void test_gather_scatter(tt_env *env, tt_rng *r) {
    vlm_dtype tds[3] = {VLM_DTYPE_F32, VLM_DTYPE_BF16, VLM_DTYPE_F16};
    for (int ti = 0; ti < 3; ti++) {
        int64_t ts[2] = {37, 13}, is[1] = {9}, os[2] = {9, 13};
        tt_tensor tab = tt_rand(tds[ti], 2, ts, LAYOUTS[ti], r, -2, 2);
        tt_tensor ids = tt_make(ti == 1 ? VLM_DTYPE_I32 : VLM_DTYPE_I64, 1, is, TT_PADDED);
        int64_t idv[9] = {36, 0, 5, 5, 17, 2, 36, 1, 30};
        for (int i = 0; i < 9; i++)
            tt_set(&ids.t, i, (double)idv[i]);
        tt_tensor out = tt_make(VLM_DTYPE_F32, 2, os, LAYOUTS[(ti + 1) % 3]);
        CHECK_OP(env, vlm_op_embedding(&env->ctx, &tab.t, &ids.t, &out.t));
        double *ref = tt_ref(9 * 13);
        for (int i = 0; i < 9; i++)
            for (int j = 0; j < 13; j++)
                ref[i * 13 + j] = tt_get(&tab.t, idv[i] * 13 + j);
        CHECK(tt_compare("embedding", &out.t, ref, 0, 0) == 0);
        CHECK(tt_guard_ok(&out));
        /* an id out of range: refused, output untouched */
        tt_tensor out2 = tt_make(VLM_DTYPE_F32, 2, os, TT_CONTIG);
        tt_set(&ids.t, 4, 37.0);
        CHECK_OP_FAILS(env, vlm_op_gather_rows(&env->ctx, &tab.t, &ids.t, &out2.t),
                       VLM_ERR_INVALID_ARGUMENT, "ids[4] = 37 is out of range [0, 37)");
        tt_set(&ids.t, 4, -1.0);
        CHECK_OP_FAILS(env, vlm_op_gather_rows(&env->ctx, &tab.t, &ids.t, &out2.t),
                       VLM_ERR_INVALID_ARGUMENT, "ids[4] = -1");
        const unsigned char *bytes = out2.buf->data;
        int untouched = 1;
        for (size_t i = 0; i < out2.buf->size; i++)
            untouched &= bytes[i] == TT_SENTINEL;
        CHECK(untouched);
        free(ref);
        tt_free(&tab);
        tt_free(&ids);
        tt_free(&out);
        tt_free(&out2);
    }
    /* scatter: splice 4 "image" rows into 11 "text" rows */
    int64_t ss[2] = {4, 6}, is[1] = {4}, os[2] = {11, 6};
    tt_tensor src = tt_rand(VLM_DTYPE_F32, 2, ss, TT_PERMUTED, r, -1, 1);
    tt_tensor ids = tt_make(VLM_DTYPE_I64, 1, is, TT_CONTIG);
    int64_t idv[4] = {3, 4, 5, 9};
    for (int i = 0; i < 4; i++)
        tt_set(&ids.t, i, (double)idv[i]);
    tt_tensor out = tt_rand(VLM_DTYPE_F32, 2, os, TT_PADDED, r, 5, 6);
    double *ref = tt_ref(66);
    for (int i = 0; i < 66; i++)
        ref[i] = tt_get(&out.t, i);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 6; j++)
            ref[idv[i] * 6 + j] = tt_get(&src.t, i * 6 + j);
    CHECK_OP(env, vlm_op_scatter_rows(&env->ctx, &src.t, &ids.t, &out.t));
    CHECK(tt_compare("scatter_rows", &out.t, ref, 0, 0) == 0);
    CHECK(tt_guard_ok(&out));
    tt_set(&ids.t, 3, 4.0);
    CHECK_OP_FAILS(env, vlm_op_scatter_rows(&env->ctx, &src.t, &ids.t, &out.t),
                   VLM_ERR_INVALID_ARGUMENT, "row 4 is written twice");
    free(ref);
    tt_free(&src);
    tt_free(&ids);
    tt_free(&out);
}

static void test_binary(tt_env *env, tt_rng *r) {
    int64_t as[3] = {3, 5, 7};
    int64_t bshapes[4][3] = {{7, 0, 0}, {5, 1, 0}, {3, 1, 7}, {3, 5, 7}};
    int bnd[4] = {1, 2, 3, 3};
    for (int op = 0; op < 2; op++) {
        for (int bi = 0; bi < 4; bi++) {
            for (int li = 0; li < 3; li++) {
                tt_tensor a = tt_rand(VLM_DTYPE_F32, 3, as, LAYOUTS[li], r, -2, 2);
                tt_tensor b = tt_rand(bi == 2 ? VLM_DTYPE_BF16 : VLM_DTYPE_F32, bnd[bi],
                                      bshapes[bi], LAYOUTS[(li + 1) % 3], r, -2, 2);
                tt_tensor o = tt_make(VLM_DTYPE_F32, 3, as, LAYOUTS[(li + 2) % 3]);
                double *ref = tt_ref(105);
                for (int i = 0; i < 3; i++)
                    for (int j = 0; j < 5; j++)
                        for (int k = 0; k < 7; k++) {
                            int64_t bl;
                            if (bi == 0)
                                bl = k;
                            else if (bi == 1)
                                bl = j;
                            else if (bi == 2)
                                bl = i * 7 + k;
                            else
                                bl = (i * 5 + j) * 7 + k;
                            double x = tt_get(&a.t, (i * 5 + j) * 7 + k), y = tt_get(&b.t, bl);
                            ref[(i * 5 + j) * 7 + k] = op ? x * y : x + y;
                        }
                if (op)
                    CHECK_OP(env, vlm_op_mul(&env->ctx, &a.t, &b.t, &o.t));
                else
                    CHECK_OP(env, vlm_op_add(&env->ctx, &a.t, &b.t, &o.t));
                CHECK(tt_compare(op ? "mul" : "add", &o.t, ref, 0, 6e-8) == 0);
                CHECK(tt_guard_ok(&o));
                /* in place */
                CHECK_OP(env, op ? vlm_op_mul(&env->ctx, &a.t, &b.t, &a.t)
                                 : vlm_op_add(&env->ctx, &a.t, &b.t, &a.t));
                CHECK(tt_compare("binary in place", &a.t, ref, 0, 6e-8) == 0);
                free(ref);
                tt_free(&a);
                tt_free(&b);
                tt_free(&o);
            }
        }
    }
    int64_t as2[2] = {4, 6}, bs2[1] = {5};
    tt_tensor a = tt_rand(VLM_DTYPE_F32, 2, as2, TT_CONTIG, r, -1, 1);
    tt_tensor b = tt_rand(VLM_DTYPE_F32, 1, bs2, TT_CONTIG, r, -1, 1);
    CHECK_OP_FAILS(env, vlm_op_add(&env->ctx, &a.t, &b.t, &a.t), VLM_ERR_INVALID_ARGUMENT,
                   "add: b f32[5] does not broadcast to a f32[4,6]");
    /* scale, large enough to run threaded */
    int64_t big[2] = {301, 257};
    tt_tensor x = tt_rand(VLM_DTYPE_F32, 2, big, TT_PADDED, r, -4, 4);
    tt_tensor y = tt_make(VLM_DTYPE_F32, 2, big, TT_PERMUTED);
    CHECK_OP(env, vlm_op_scale(&env->ctx, &x.t, 0.37f, &y.t));
    double *ref = tt_ref(301 * 257);
    for (int64_t i = 0; i < 301 * 257; i++)
        ref[i] = tt_get(&x.t, i) * (double)0.37f;
    CHECK(tt_compare("scale", &y.t, ref, 0, 6e-8) == 0);
    CHECK(tt_guard_ok(&y));
    free(ref);
    tt_free(&a);
    tt_free(&b);
    tt_free(&x);
    tt_free(&y);
}

static double act_ref(vlm_act act, double x) {
    switch (act) {
    case VLM_ACT_SILU:
        return x / (1.0 + exp(-x));
    case VLM_ACT_GELU:
        return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
    case VLM_ACT_GELU_TANH:
        return 0.5 * x * (1.0 + tanh(sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
    case VLM_ACT_QUICK_GELU:
        return x / (1.0 + exp(-1.702 * x));
    default:
        return x > 0 ? x : 0.0;
    }
}

static void test_act(tt_env *env, tt_rng *r) {
    int64_t s[2] = {67, 129}; /* > CPU_PAR_MIN / 4 so the threaded path runs too */
    int64_t n = 67 * 129;
    for (int act = 0; act < VLM_ACT_COUNT; act++) {
        tt_tensor x = tt_rand(VLM_DTYPE_F32, 2, s, LAYOUTS[act % 3], r, -8, 8);
        tt_tensor o = tt_make(VLM_DTYPE_F32, 2, s, LAYOUTS[(act + 1) % 3]);
        CHECK_OP(env, vlm_op_act(&env->ctx, (vlm_act)act, &x.t, &o.t));
        double *ref = tt_ref(n);
        for (int64_t i = 0; i < n; i++)
            ref[i] = act_ref((vlm_act)act, tt_get(&x.t, i));
        CHECK_MSG(tt_compare("act", &o.t, ref, 2e-6, 2e-6) == 0, "act %d", act);
        CHECK(tt_guard_ok(&o));
        /* gated: gate and up as the two halves of one fused projection [67, 2 * 129] */
        int64_t fs[2] = {67, 258};
        tt_tensor fused = tt_rand(VLM_DTYPE_F32, 2, fs, TT_PADDED, r, -6, 6);
        vlm_tensor gate, up;
        vlm_error e;
        CHECK(vlm_tensor_narrow(&fused.t, 1, 0, 129, &gate, &e) == VLM_OK);
        CHECK(vlm_tensor_narrow(&fused.t, 1, 129, 129, &up, &e) == VLM_OK);
        CHECK_OP(env, vlm_op_gated_act(&env->ctx, (vlm_act)act, &gate, &up, &o.t));
        for (int64_t i = 0; i < n; i++)
            ref[i] = act_ref((vlm_act)act, tt_get(&gate, i)) * tt_get(&up, i);
        CHECK_MSG(tt_compare("gated_act", &o.t, ref, 1e-5, 4e-6) == 0, "act %d", act);
        CHECK(tt_guard_ok(&o));
        /* in place into the gate half */
        CHECK_OP(env, vlm_op_gated_act(&env->ctx, (vlm_act)act, &gate, &up, &gate));
        CHECK(tt_compare("gated_act in place", &gate, ref, 1e-5, 4e-6) == 0);
        free(ref);
        tt_free(&x);
        tt_free(&o);
        tt_free(&fused);
    }
}

static void test_norms(tt_env *env, tt_rng *r) {
    int64_t s[3] = {3, 11, 67};
    vlm_dtype wds[3] = {VLM_DTYPE_F32, VLM_DTYPE_BF16, VLM_DTYPE_F16};
    for (int li = 0; li < 3; li++) {
        tt_tensor x = tt_rand(VLM_DTYPE_F32, 3, s, LAYOUTS[li], r, -3, 5);
        int64_t ws[1] = {67};
        tt_tensor w = tt_rand(wds[li], 1, ws, LAYOUTS[li], r, -1, 1.5);
        tt_tensor b = tt_rand(wds[(li + 1) % 3], 1, ws, TT_PADDED, r, -1, 1);
        tt_tensor o = tt_make(VLM_DTYPE_F32, 3, s, LAYOUTS[(li + 1) % 3]);
        double *ref = tt_ref(3 * 11 * 67);
        for (int off = 0; off < 2; off++) {
            for (int withw = 0; withw < 2; withw++) {
                for (int row = 0; row < 33; row++) {
                    double ss = 0;
                    for (int k = 0; k < 67; k++)
                        ss += tt_get(&x.t, row * 67 + k) * tt_get(&x.t, row * 67 + k);
                    double rr = 1.0 / sqrt(ss / 67 + 1e-6);
                    for (int k = 0; k < 67; k++)
                        ref[row * 67 + k] =
                            tt_get(&x.t, row * 67 + k) * rr * (withw ? tt_get(&w.t, k) + off : 1.0);
                }
                CHECK_OP(env, vlm_op_rms_norm(&env->ctx, &x.t, withw ? &w.t : NULL, 1e-6f,
                                              (float)off, &o.t));
                CHECK(tt_compare("rms_norm", &o.t, ref, 1e-6, 2e-6) == 0);
                CHECK(tt_guard_ok(&o));
            }
        }
        for (int mode = 0; mode < 4; mode++) { /* w?, b? */
            for (int row = 0; row < 33; row++) {
                double m = 0, v = 0;
                for (int k = 0; k < 67; k++)
                    m += tt_get(&x.t, row * 67 + k);
                m /= 67;
                for (int k = 0; k < 67; k++)
                    v += pow(tt_get(&x.t, row * 67 + k) - m, 2);
                v /= 67;
                for (int k = 0; k < 67; k++) {
                    double y = (tt_get(&x.t, row * 67 + k) - m) / sqrt(v + 1e-5);
                    if (mode & 1) y *= tt_get(&w.t, k);
                    if (mode & 2) y += tt_get(&b.t, k);
                    ref[row * 67 + k] = y;
                }
            }
            CHECK_OP(env, vlm_op_layer_norm(&env->ctx, &x.t, (mode & 1) ? &w.t : NULL,
                                            (mode & 2) ? &b.t : NULL, 1e-5f, &o.t));
            CHECK(tt_compare("layer_norm", &o.t, ref, 1e-6, 2e-6) == 0);
            CHECK(tt_guard_ok(&o));
        }
        /* in place */
        CHECK_OP(env, vlm_op_layer_norm(&env->ctx, &x.t, &w.t, &b.t, 1e-5f, &x.t));
        CHECK(tt_compare("layer_norm in place", &x.t, ref, 1e-6, 2e-6) == 0);
        int64_t bad[1] = {66};
        tt_tensor w2 = tt_make(VLM_DTYPE_F32, 1, bad, TT_CONTIG);
        CHECK_OP_FAILS(env, vlm_op_rms_norm(&env->ctx, &x.t, &w2.t, 1e-6f, 0.0f, &o.t),
                       VLM_ERR_INVALID_ARGUMENT, "rms_norm: w f32[66] must be [67]");
        tt_free(&w2);
        free(ref);
        tt_free(&x);
        tt_free(&w);
        tt_free(&b);
        tt_free(&o);
    }
}

static void test_softmax(tt_env *env, tt_rng *r) {
    int64_t s[2] = {9, 301};
    for (int li = 0; li < 3; li++) {
        tt_tensor x = tt_rand(VLM_DTYPE_F32, 2, s, LAYOUTS[li], r, -30, 30);
        tt_set(&x.t, 5, -INFINITY); /* a masked entry */
        tt_tensor o = tt_make(VLM_DTYPE_F32, 2, s, LAYOUTS[(li + 2) % 3]);
        double *ref = tt_ref(9 * 301);
        for (int row = 0; row < 9; row++) {
            double m = -INFINITY, sum = 0;
            for (int k = 0; k < 301; k++)
                m = fmax(m, tt_get(&x.t, row * 301 + k));
            for (int k = 0; k < 301; k++)
                sum += exp(tt_get(&x.t, row * 301 + k) - m);
            for (int k = 0; k < 301; k++)
                ref[row * 301 + k] = exp(tt_get(&x.t, row * 301 + k) - m) / sum;
        }
        CHECK_OP(env, vlm_op_softmax(&env->ctx, &x.t, &o.t));
        CHECK(tt_compare("softmax", &o.t, ref, 1e-7, 2e-6) == 0);
        CHECK(tt_guard_ok(&o));
        free(ref);
        tt_free(&x);
        tt_free(&o);
    }
}

static void test_select(tt_env *env, tt_rng *r) {
    int64_t s[2] = {6, 1000};
    tt_tensor x = tt_make(VLM_DTYPE_F32, 2, s, TT_PERMUTED);
    /* values from a small set so there are many ties */
    for (int64_t i = 0; i < 6000; i++)
        tt_set(&x.t, i, (double)tt_int(r, -20, 20) * 0.25);
    tt_set(&x.t, 2 * 1000 + 17, NAN); /* row 2 has a NaN: it wins */
    tt_set(&x.t, 2 * 1000 + 400, NAN);
    int64_t os[1] = {6};
    tt_tensor am = tt_make(VLM_DTYPE_I64, 1, os, TT_PADDED);
    CHECK_OP(env, vlm_op_argmax(&env->ctx, &x.t, &am.t));
    for (int row = 0; row < 6; row++) {
        int64_t best = 0;
        for (int64_t i = 1; i < 1000; i++) {
            double v = tt_get(&x.t, row * 1000 + i), bv = tt_get(&x.t, row * 1000 + best);
            if (isnan(bv)) break;
            if (isnan(v) || v > bv) best = i;
        }
        CHECK_EQ_INT((int64_t)tt_get(&am.t, row), best);
    }
    CHECK(tt_guard_ok(&am));
    for (int64_t k = 1; k <= 1000; k += 333) {
        int64_t ks[2] = {6, k};
        tt_tensor vals = tt_make(VLM_DTYPE_F32, 2, ks, TT_PADDED);
        tt_tensor idx = tt_make(k % 2 ? VLM_DTYPE_I32 : VLM_DTYPE_I64, 2, ks, TT_PERMUTED);
        CHECK_OP(env, vlm_op_topk(&env->ctx, &x.t, k, &vals.t, &idx.t));
        int ok = 1;
        for (int row = 0; row < 6 && ok; row++) {
            /* reference: selection by repeated scans (rank: NaN, larger value, smaller index) */
            char *taken = calloc(1000, 1);
            for (int64_t j = 0; j < k && ok; j++) {
                int64_t best = -1;
                for (int64_t i = 0; i < 1000; i++) {
                    if (taken[i]) continue;
                    double v = tt_get(&x.t, row * 1000 + i);
                    if (best < 0) {
                        best = i;
                        continue;
                    }
                    double bv = tt_get(&x.t, row * 1000 + best);
                    if ((isnan(v) && !isnan(bv)) || (!isnan(v) && !isnan(bv) && v > bv)) best = i;
                }
                taken[best] = 1;
                double gv = tt_get(&vals.t, row * k + j), rv = tt_get(&x.t, row * 1000 + best);
                ok = (int64_t)tt_get(&idx.t, row * k + j) == best &&
                     (gv == rv || (isnan(gv) && isnan(rv)));
                if (!ok)
                    fprintf(stderr, "topk k=%lld row %d slot %lld\n", (long long)k, row,
                            (long long)j);
            }
            free(taken);
        }
        CHECK(ok);
        CHECK(tt_guard_ok(&vals) && tt_guard_ok(&idx));
        tt_free(&vals);
        tt_free(&idx);
    }
    int64_t ks[2] = {6, 5};
    tt_tensor vals = tt_make(VLM_DTYPE_F32, 2, ks, TT_CONTIG);
    CHECK_OP_FAILS(env, vlm_op_topk(&env->ctx, &x.t, 1001, &vals.t, NULL), VLM_ERR_INVALID_ARGUMENT,
                   "k = 1001");
    tt_free(&vals);
    tt_free(&x);
    tt_free(&am);
}

int main(void) {
    tt_env env;
    tt_env_init(&env, 2);
    tt_rng r = {0x9e3779b97f4a7c15ull};
    test_copy(&env, &r);
    test_concat(&env, &r);
    test_gather_scatter(&env, &r);
    test_binary(&env, &r);
    test_act(&env, &r);
    test_norms(&env, &r);
    test_softmax(&env, &r);
    test_select(&env, &r);
    CHECK_EQ_INT(vlm_arena_get_stats(env.arena).used, 0); /* every op gave its scratch back */
    tt_env_free(&env);
    TEST_DONE();
}
