/* Every op of the CUDA backend against the CPU backend (ggml's test-backend-ops idea): the
 * same random inputs, in the same byte layouts (contiguous, padded = sliced views, permuted
 * storage, broadcast and fused-projection views), go through both backends; outputs start
 * as the same buffers (sentinel-filled, or the operand of an in-place op), and every byte
 * outside an output view must still equal the CPU's, which proves the GPU wrote nothing
 * outside the view. Sizes are odd on purpose.
 *
 * Tolerances (CPU result c, GPU result g, per element):
 * - copy / fill / add / mul / scale / gather / scatter / argmax / top-k: bit-identical
 *   (the same single f32 operation per element, conversions by the same bit rules);
 * - rope / avg_pool2d / interpolate: |g - c| <= 1e-7 + 1e-6 |c| (the same f32 operations in
 *   the same order, unfused on the GPU: expected bit-identical, the table shows it);
 * - activations: |g - c| <= 1e-6 + 1e-5 |c| (CUDA's expf / erff / tanhf vs glibc's, and
 *   fused multiply-adds);
 * - rms_norm / layer_norm / softmax: |g - c| <= 1e-6 + 1e-5 |c| (row sums in another order);
 * - rope_table: |g - c| <= 1e-6 (double cos / sin of the same f32 angle, rounded once);
 * - matmul / bmm (f32, f16 and bf16 weights, all widened exactly on both sides):
 *   |g - c| <= 5e-5 * sum_k |x_k w_k| (+ |bias|): f32 sums in another order; TF32 or a
 *   bf16 rounding of x would miss by an order of magnitude or more;
 * - matmul_q (MLX-quantized weights, every bits value and group size; both backends widen a
 *   weight as fmaf(scale, code, bias)): the matmul bound, 5e-5 * sum_k |x_k w_k| (+ |bias|);
 *   with bf16 compute on the GPU (x and dequantized weights rounded to bf16 for the tensor
 *   cores) 1e-2 * sum_k |x_k w_k|;
 * - fused products (matmul_many / matmul_gated with an RMSNorm first, matmul_add; bf16 and
 *   quantized weights): the matmul bound over the normalized x (see fused_case);
 * - embedding_q: bit-identical (the same fmaf per element), and equal to the format's values;
 * - attention: |g - c| <= 1e-4 (V in [-1, 1]; online softmax in other blocks).
 * A summary table of the largest errors per op is printed at the end. Skips (77) when the
 * library has no CUDA backend or no GPU is usable. */
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

/* ------------------------------------------------------------ environments */

typedef struct gpu_env {
    const vlm_backend *be;
    vlm_arena *arena;
    vlm_ctx ctx;
} gpu_env;

static gpu_env G;
static tt_env C;
static tt_rng R = {0x9E3779B97F4A7C15ull};

/* A CPU tensor (guarded, sentinel-filled) and its device mirror with the same bytes. */
typedef struct mt {
    tt_tensor h;
    vlm_buffer *gbuf;
    vlm_tensor g;
} mt;

static mt mt_from(tt_tensor h) {
    mt x;
    vlm_error e;
    x.h = h;
    if (vlm_buffer_alloc(G.be, h.buf->size, &x.gbuf, &e) != VLM_OK ||
        vlm_buffer_upload(x.gbuf, 0, h.buf->data, h.buf->size, &e) != VLM_OK) {
        fprintf(stderr, "mt_from: %s\n", e.message);
        exit(2);
    }
    x.g = h.t;
    x.g.buf = x.gbuf;
    return x;
}

static mt mt_make(vlm_dtype dt, int nd, const int64_t *shape, int layout) {
    return mt_from(tt_make(dt, nd, shape, layout));
}

static mt mt_rand(vlm_dtype dt, int nd, const int64_t *shape, int layout, double lo, double hi) {
    return mt_from(tt_rand(dt, nd, shape, layout, &R, lo, hi));
}

/* Re-sends the host bytes (after the test changed them on the host). */
static void mt_sync(mt *x) {
    vlm_error e;
    if (vlm_buffer_upload(x->gbuf, 0, x->h.buf->data, x->h.buf->size, &e) != VLM_OK) {
        fprintf(stderr, "mt_sync: %s\n", e.message);
        exit(2);
    }
}

static void mt_free(mt *x) {
    tt_free(&x->h);
    vlm_buffer_free(x->gbuf);
    x->gbuf = NULL;
}

/* A view of both halves with the same shape/stride/offset change. */
static mt mt_view(const mt *x, const vlm_tensor *hview) {
    mt v = *x;
    v.h.t = *hview;
    v.g = *hview;
    v.g.buf = x->gbuf;
    return v;
}

/* The device buffer as a CPU tensor with the same view (caller frees). */
static tt_tensor mt_fetch(const mt *x) {
    tt_tensor r;
    vlm_error e;
    if (vlm_buffer_alloc(vlm_backend_cpu(), x->gbuf->size, &r.buf, &e) != VLM_OK ||
        vlm_buffer_download(x->gbuf, 0, r.buf->data, x->gbuf->size, &e) != VLM_OK) {
        fprintf(stderr, "mt_fetch: %s\n", e.message);
        exit(2);
    }
    r.t = x->h.t;
    r.t.buf = r.buf;
    return r;
}

/* ------------------------------------------------------------ comparisons and the table */

/* Every byte of the fetched device buffer outside x's view equals the CPU buffer's (both
 * started as the same bytes: sentinel, or the data of an in-place operand). */
static int outside_equal(const tt_tensor *f, const mt *x) {
    size_t n = f->buf->size;
    unsigned char *mark = calloc(n ? n : 1, 1);
    if (!mark) exit(2);
    int64_t numel = vlm_tensor_numel(&x->h.t), es = (int64_t)vlm_dtype_size(x->h.t.dtype);
    for (int64_t i = 0; i < numel; i++)
        memset(mark + tt_offset(&x->h.t, i), 1, (size_t)es);
    const unsigned char *g = f->buf->data, *c = x->h.buf->data;
    int ok = 1;
    for (size_t i = 0; i < n && ok; i++)
        if (!mark[i] && g[i] != c[i]) {
            fprintf(stderr, "byte %zu of %zu (outside the view) differs\n", i, n);
            ok = 0;
        }
    free(mark);
    return ok;
}

typedef struct op_stat {
    const char *op;
    int cases, bad_cases;
    double max_abs; /* largest |g - c| */
    double worst;   /* largest |g - c| / limit (<= 1 passes) */
    int exact;
} op_stat;

static op_stat g_stats[40];
static int g_nstats;

static op_stat *stat_of(const char *op, int exact) {
    for (int i = 0; i < g_nstats; i++)
        if (strcmp(g_stats[i].op, op) == 0) return &g_stats[i];
    op_stat *s = &g_stats[g_nstats++];
    memset(s, 0, sizeof *s);
    s->op = op;
    s->exact = exact;
    return s;
}

/* Output x: GPU result (fetched) against the CPU result in x->h, per element
 * |g - c| <= atol + rtol * (scale ? scale[i] : |c|); NaN must meet NaN. Then the guard. */
static void check_close(const char *op, const char *cs, const mt *x, double atol, double rtol,
                        const double *scale) {
    tt_tensor f = mt_fetch(x);
    op_stat *st = stat_of(op, 0);
    int64_t n = vlm_tensor_numel(&x->h.t), bad = 0;
    for (int64_t i = 0; i < n; i++) {
        double g = tt_get(&f.t, i), c = tt_get(&x->h.t, i);
        double err = fabs(g - c), lim = atol + rtol * (scale ? scale[i] : fabs(c));
        int miss = isnan(c) ? !isnan(g) : !(err <= lim);
        if (!isnan(c)) {
            if (err > st->max_abs) st->max_abs = err;
            if (lim > 0 && err / lim > st->worst) st->worst = err / lim;
        }
        if (miss && bad++ < 4)
            fprintf(stderr, "%s [%s]: element %lld: gpu %.9g, cpu %.9g (err %.3g > %.3g)\n", op, cs,
                    (long long)i, g, c, err, lim);
    }
    int guard = outside_equal(&f, x);
    CHECK_MSG(bad == 0, "%s [%s]: %lld of %lld elements off", op, cs, (long long)bad, (long long)n);
    CHECK_MSG(guard, "%s [%s]: bytes outside the output view changed", op, cs);
    st->cases++;
    if (bad || !guard) st->bad_cases++;
    tt_free(&f);
}

/* Bit-identical elements (raw bytes), then the guard. */
static void check_exact(const char *op, const char *cs, const mt *x) {
    tt_tensor f = mt_fetch(x);
    op_stat *st = stat_of(op, 1);
    int64_t n = vlm_tensor_numel(&x->h.t), bad = 0;
    size_t es = vlm_dtype_size(x->h.t.dtype);
    for (int64_t i = 0; i < n; i++) {
        int64_t off = tt_offset(&x->h.t, i);
        const char *g = (const char *)f.buf->data + off, *c = (const char *)x->h.buf->data + off;
        if (memcmp(g, c, es) != 0) {
            double err = fabs(tt_get(&f.t, i) - tt_get(&x->h.t, i));
            if (err > st->max_abs || isnan(err)) st->max_abs = isnan(err) ? INFINITY : err;
            if (bad++ < 4)
                fprintf(stderr, "%s [%s]: element %lld: gpu %.9g, cpu %.9g (bits differ)\n", op, cs,
                        (long long)i, tt_get(&f.t, i), tt_get(&x->h.t, i));
        }
    }
    int guard = outside_equal(&f, x);
    CHECK_MSG(bad == 0, "%s [%s]: %lld of %lld elements differ", op, cs, (long long)bad,
              (long long)n);
    CHECK_MSG(guard, "%s [%s]: bytes outside the output view changed", op, cs);
    st->cases++;
    if (bad || !guard) st->bad_cases++;
    tt_free(&f);
}

/* Both backends must succeed. */
#define BOTH(cpu_call, gpu_call)                                                                   \
    do {                                                                                           \
        CHECK_OP(&C, cpu_call);                                                                    \
        CHECK_OP(&G, gpu_call);                                                                    \
    } while (0)

static void set_f32(const vlm_tensor *t, int64_t i, float v) {
    memcpy((char *)t->buf->data + tt_offset(t, i), &v, 4);
}

/* ------------------------------------------------------------ data movement */

static void test_copy(void) {
    static const vlm_dtype fl[4] = {VLM_DTYPE_F32, VLM_DTYPE_F16, VLM_DTYPE_BF16, VLM_DTYPE_F64};
    int64_t shp[3] = {5, 7, 9};
    char cs[64];
    for (int a = 0; a < 4; a++) {
        for (int b = 0; b < 4; b++) {
            mt src = mt_rand(fl[a], 3, shp, TT_PERMUTED, -3.0, 3.0);
            /* Specials: NaN, infinities, signed zeros, f16 subnormals / overflow, f32
             * subnormals, halfway cases of the bf16 rounding. */
            static const double sp[12] = {NAN,     INFINITY, -INFINITY,  0.0,
                                          -0.0,    3.0e-6,   6.0e-8,     -1.0e-8,
                                          70000.0, 1.0e-40,  1.00390625, -65504.0};
            for (int i = 0; i < 12; i++)
                tt_set(&src.h.t, i * 17, sp[i]);
            if (fl[a] == VLM_DTYPE_F32) { /* a bf16 tie (low half exactly 0x8000) */
                uint32_t u = 0x3f808000u;
                float f;
                memcpy(&f, &u, 4);
                set_f32(&src.h.t, 5, f);
            }
            mt_sync(&src);
            mt dst = mt_make(fl[b], 3, shp, (a + b) % 2 ? TT_PADDED : TT_CONTIG);
            BOTH(vlm_op_copy(&C.ctx, &src.h.t, &dst.h.t), vlm_op_copy(&G.ctx, &src.g, &dst.g));
            snprintf(cs, sizeof cs, "%s->%s", vlm_dtype_name(fl[a]), vlm_dtype_name(fl[b]));
            check_exact("copy", cs, &dst);
            mt_free(&src);
            mt_free(&dst);
        }
    }
    /* Raw copies of the other dtypes, permuted into padded. */
    static const vlm_dtype raw[4] = {VLM_DTYPE_I32, VLM_DTYPE_I64, VLM_DTYPE_U8, VLM_DTYPE_U32};
    for (int a = 0; a < 4; a++) {
        mt src = mt_make(raw[a], 3, shp, TT_PERMUTED);
        for (int64_t i = 0; i < 5 * 7 * 9; i++) {
            uint64_t v = tt_next(&R);
            memcpy((char *)src.h.buf->data + tt_offset(&src.h.t, i), &v, vlm_dtype_size(raw[a]));
        }
        mt_sync(&src);
        mt dst = mt_make(raw[a], 3, shp, TT_PADDED);
        BOTH(vlm_op_copy(&C.ctx, &src.h.t, &dst.h.t), vlm_op_copy(&G.ctx, &src.g, &dst.g));
        check_exact("copy", vlm_dtype_name(raw[a]), &dst);
        mt_free(&src);
        mt_free(&dst);
    }
    /* Contiguous (one run), padded rows (2-D runs), and a broadcast source (stride 0). */
    {
        int64_t s2[2] = {37, 53};
        mt src = mt_rand(VLM_DTYPE_BF16, 2, s2, TT_CONTIG, -1, 1);
        mt d1 = mt_make(VLM_DTYPE_BF16, 2, s2, TT_CONTIG),
           d2 = mt_make(VLM_DTYPE_BF16, 2, s2, TT_PADDED);
        BOTH(vlm_op_copy(&C.ctx, &src.h.t, &d1.h.t), vlm_op_copy(&G.ctx, &src.g, &d1.g));
        check_exact("copy", "contiguous run", &d1);
        BOTH(vlm_op_copy(&C.ctx, &src.h.t, &d2.h.t), vlm_op_copy(&G.ctx, &src.g, &d2.g));
        check_exact("copy", "padded rows", &d2);
        int64_t s1[1] = {53};
        mt row = mt_rand(VLM_DTYPE_F32, 1, s1, TT_CONTIG, -1, 1);
        vlm_tensor hb;
        vlm_error e;
        CHECK(vlm_tensor_expand(&row.h.t, 2, s2, &hb, &e) == VLM_OK);
        mt b = mt_view(&row, &hb);
        mt d3 = mt_make(VLM_DTYPE_F16, 2, s2, TT_PADDED);
        BOTH(vlm_op_copy(&C.ctx, &b.h.t, &d3.h.t), vlm_op_copy(&G.ctx, &b.g, &d3.g));
        check_exact("copy", "broadcast f32->f16", &d3);
        mt_free(&src);
        mt_free(&d1);
        mt_free(&d2);
        mt_free(&row);
        mt_free(&d3);
    }
    /* concat and pixel_shuffle are composites of copy. */
    {
        int64_t sa[2] = {6, 5}, sb[2] = {6, 8}, so[2] = {6, 13};
        mt xa = mt_rand(VLM_DTYPE_F32, 2, sa, TT_PERMUTED, -1, 1);
        mt xb = mt_rand(VLM_DTYPE_BF16, 2, sb, TT_PADDED, -1, 1);
        mt out = mt_make(VLM_DTYPE_F32, 2, so, TT_PADDED);
        const vlm_tensor *hx[2] = {&xa.h.t, &xb.h.t}, *gx[2] = {&xa.g, &xb.g};
        BOTH(vlm_op_concat(&C.ctx, 2, hx, 1, &out.h.t), vlm_op_concat(&G.ctx, 2, gx, 1, &out.g));
        check_exact("copy", "concat", &out);
        int64_t px[2] = {36, 5}, po[2] = {4, 45};
        mt x = mt_rand(VLM_DTYPE_F32, 2, px, TT_PADDED, -1, 1);
        mt y = mt_make(VLM_DTYPE_F32, 2, po, TT_CONTIG);
        BOTH(vlm_op_pixel_shuffle(&C.ctx, &x.h.t, 3, &y.h.t),
             vlm_op_pixel_shuffle(&G.ctx, &x.g, 3, &y.g));
        check_exact("copy", "pixel_shuffle", &y);
        mt_free(&xa);
        mt_free(&xb);
        mt_free(&out);
        mt_free(&x);
        mt_free(&y);
    }
}

static void test_fill(void) {
    static const vlm_dtype fl[4] = {VLM_DTYPE_F32, VLM_DTYPE_F16, VLM_DTYPE_BF16, VLM_DTYPE_F64};
    static const float vals[4] = {3.14159f, 1.0e-30f, 70000.0f, NAN};
    int64_t shp[3] = {4, 9, 11};
    for (int a = 0; a < 4; a++) {
        for (int v = 0; v < 4; v++) {
            mt d = mt_make(fl[a], 3, shp, v % 2 ? TT_PERMUTED : TT_PADDED);
            BOTH(vlm_op_fill(&C.ctx, &d.h.t, vals[v]), vlm_op_fill(&G.ctx, &d.g, vals[v]));
            check_exact("fill", vlm_dtype_name(fl[a]), &d);
            mt_free(&d);
        }
    }
}

/* ------------------------------------------------------------ elementwise */

static void test_binary(void) {
    int64_t shp[3] = {6, 9, 13}, s1[1] = {13}, s3[3] = {6, 1, 1};
    static const vlm_dtype bd[3] = {VLM_DTYPE_F32, VLM_DTYPE_BF16, VLM_DTYPE_F16};
    for (int op = 0; op < 2; op++) {
        const char *name = op ? "mul" : "add";
        for (int t = 0; t < 3; t++) {
            mt a = mt_rand(VLM_DTYPE_F32, 3, shp, TT_PERMUTED, -4, 4);
            mt full = mt_rand(bd[t], 3, shp, TT_PADDED, -4, 4);
            mt vec = mt_rand(bd[t], 1, s1, TT_CONTIG, -4, 4);
            mt col = mt_rand(bd[t], 3, s3, TT_PADDED, -4, 4);
            mt *bs[3] = {&full, &vec, &col};
            for (int b = 0; b < 3; b++) {
                mt out = mt_make(VLM_DTYPE_F32, 3, shp, TT_PADDED);
                if (op)
                    BOTH(vlm_op_mul(&C.ctx, &a.h.t, &bs[b]->h.t, &out.h.t),
                         vlm_op_mul(&G.ctx, &a.g, &bs[b]->g, &out.g));
                else
                    BOTH(vlm_op_add(&C.ctx, &a.h.t, &bs[b]->h.t, &out.h.t),
                         vlm_op_add(&G.ctx, &a.g, &bs[b]->g, &out.g));
                check_exact(name, vlm_dtype_name(bd[t]), &out);
                mt_free(&out);
            }
            /* In place: out == a. */
            if (op)
                BOTH(vlm_op_mul(&C.ctx, &a.h.t, &vec.h.t, &a.h.t),
                     vlm_op_mul(&G.ctx, &a.g, &vec.g, &a.g));
            else
                BOTH(vlm_op_add(&C.ctx, &a.h.t, &vec.h.t, &a.h.t),
                     vlm_op_add(&G.ctx, &a.g, &vec.g, &a.g));
            check_exact(name, "in place", &a);
            mt_free(&a);
            mt_free(&full);
            mt_free(&vec);
            mt_free(&col);
        }
    }
    mt x = mt_rand(VLM_DTYPE_F32, 3, shp, TT_PERMUTED, -4, 4);
    mt out = mt_make(VLM_DTYPE_F32, 3, shp, TT_PADDED);
    BOTH(vlm_op_scale(&C.ctx, &x.h.t, 0.3f, &out.h.t), vlm_op_scale(&G.ctx, &x.g, 0.3f, &out.g));
    check_exact("scale", "permuted", &out);
    BOTH(vlm_op_scale(&C.ctx, &x.h.t, -1.7f, &x.h.t), vlm_op_scale(&G.ctx, &x.g, -1.7f, &x.g));
    check_exact("scale", "in place", &x);
    mt_free(&x);
    mt_free(&out);
}

static void test_act(void) {
    int64_t shp[2] = {23, 71}, fused[2] = {23, 142};
    for (int act = 0; act < VLM_ACT_COUNT; act++) {
        mt x = mt_rand(VLM_DTYPE_F32, 2, shp, act % 2 ? TT_PERMUTED : TT_PADDED, -8, 8);
        mt out = mt_make(VLM_DTYPE_F32, 2, shp, TT_PADDED);
        BOTH(vlm_op_act(&C.ctx, (vlm_act)act, &x.h.t, &out.h.t),
             vlm_op_act(&G.ctx, (vlm_act)act, &x.g, &out.g));
        check_close("act", "out of place", &out, 1e-6, 1e-5, NULL);
        BOTH(vlm_op_act(&C.ctx, (vlm_act)act, &x.h.t, &x.h.t),
             vlm_op_act(&G.ctx, (vlm_act)act, &x.g, &x.g));
        check_close("act", "in place", &x, 1e-6, 1e-5, NULL);
        /* gate and up: the two halves of one fused projection. */
        mt gu = mt_rand(VLM_DTYPE_F32, 2, fused, TT_CONTIG, -6, 6);
        vlm_tensor hg, hu;
        vlm_error e;
        CHECK(vlm_tensor_narrow(&gu.h.t, 1, 0, 71, &hg, &e) == VLM_OK);
        CHECK(vlm_tensor_narrow(&gu.h.t, 1, 71, 71, &hu, &e) == VLM_OK);
        mt g = mt_view(&gu, &hg), u = mt_view(&gu, &hu);
        mt o2 = mt_make(VLM_DTYPE_F32, 2, shp, TT_PERMUTED);
        BOTH(vlm_op_gated_act(&C.ctx, (vlm_act)act, &g.h.t, &u.h.t, &o2.h.t),
             vlm_op_gated_act(&G.ctx, (vlm_act)act, &g.g, &u.g, &o2.g));
        check_close("gated_act", "fused halves", &o2, 1e-6, 1e-5, NULL);
        /* In place (out == gate) needs separate buffers: the fused halves' byte ranges
         * interleave, which the front end refuses. */
        mt g2 = mt_rand(VLM_DTYPE_F32, 2, shp, TT_PADDED, -6, 6);
        mt u2 = mt_rand(VLM_DTYPE_F32, 2, shp, TT_PERMUTED, -6, 6);
        BOTH(vlm_op_gated_act(&C.ctx, (vlm_act)act, &g2.h.t, &u2.h.t, &g2.h.t),
             vlm_op_gated_act(&G.ctx, (vlm_act)act, &g2.g, &u2.g, &g2.g));
        check_close("gated_act", "in place", &g2, 1e-6, 1e-5, NULL);
        mt_free(&g2);
        mt_free(&u2);
        mt_free(&x);
        mt_free(&out);
        mt_free(&gu);
        mt_free(&o2);
    }
}

/* ------------------------------------------------------------ normalization */

static void test_norms(void) {
    int64_t shp[3] = {5, 7, 257}, s1[1] = {257};
    static const vlm_dtype wd[3] = {VLM_DTYPE_F32, VLM_DTYPE_BF16, VLM_DTYPE_F16};
    for (int t = 0; t < 4; t++) {
        int layout = t % 2 ? TT_PERMUTED : TT_PADDED;
        mt x = mt_rand(VLM_DTYPE_F32, 3, shp, layout, -3, 3);
        mt w = mt_rand(wd[t % 3], 1, s1, t == 2 ? TT_PADDED : TT_CONTIG, -2, 2);
        mt b = mt_rand(wd[(t + 1) % 3], 1, s1, TT_CONTIG, -1, 1);
        mt out = mt_make(VLM_DTYPE_F32, 3, shp, TT_PADDED);
        const mt *wp = t == 3 ? NULL : &w;
        float off = t == 1 ? 1.0f : 0.0f;
        BOTH(vlm_op_rms_norm(&C.ctx, &x.h.t, wp ? &wp->h.t : NULL, 1e-6f, off, &out.h.t),
             vlm_op_rms_norm(&G.ctx, &x.g, wp ? &wp->g : NULL, 1e-6f, off, &out.g));
        check_close("rms_norm", vlm_dtype_name(wd[t % 3]), &out, 1e-6, 1e-5, NULL);
        BOTH(vlm_op_layer_norm(&C.ctx, &x.h.t, wp ? &wp->h.t : NULL, t == 2 ? NULL : &b.h.t, 1e-5f,
                               &out.h.t),
             vlm_op_layer_norm(&G.ctx, &x.g, wp ? &wp->g : NULL, t == 2 ? NULL : &b.g, 1e-5f,
                               &out.g));
        check_close("layer_norm", vlm_dtype_name(wd[t % 3]), &out, 1e-6, 1e-5, NULL);
        BOTH(vlm_op_softmax(&C.ctx, &x.h.t, &out.h.t), vlm_op_softmax(&G.ctx, &x.g, &out.g));
        check_close("softmax", "out of place", &out, 1e-6, 1e-5, NULL);
        /* In place; a masked (-inf) entry in every row. */
        for (int64_t r = 0; r < 35; r++)
            tt_set(&x.h.t, r * 257 + (r * 13) % 257, -INFINITY);
        mt_sync(&x);
        BOTH(vlm_op_softmax(&C.ctx, &x.h.t, &x.h.t), vlm_op_softmax(&G.ctx, &x.g, &x.g));
        check_close("softmax", "in place", &x, 1e-6, 1e-5, NULL);
        BOTH(vlm_op_rms_norm(&C.ctx, &x.h.t, &w.h.t, 1e-6f, 0.0f, &x.h.t),
             vlm_op_rms_norm(&G.ctx, &x.g, &w.g, 1e-6f, 0.0f, &x.g));
        check_close("rms_norm", "in place", &x, 1e-6, 1e-5, NULL);
        mt_free(&x);
        mt_free(&w);
        mt_free(&b);
        mt_free(&out);
    }
    /* Long rows (a 2048-wide hidden state) and many short ones. */
    int64_t s2[2] = {3, 2048}, w2[1] = {2048}, s3[2] = {1000, 7}, w3[1] = {7};
    mt x = mt_rand(VLM_DTYPE_F32, 2, s2, TT_CONTIG, -10, 10);
    mt w = mt_rand(VLM_DTYPE_BF16, 1, w2, TT_CONTIG, -2, 2);
    mt out = mt_make(VLM_DTYPE_F32, 2, s2, TT_CONTIG);
    BOTH(vlm_op_rms_norm(&C.ctx, &x.h.t, &w.h.t, 1e-6f, 0.0f, &out.h.t),
         vlm_op_rms_norm(&G.ctx, &x.g, &w.g, 1e-6f, 0.0f, &out.g));
    check_close("rms_norm", "2048 wide", &out, 1e-6, 1e-5, NULL);
    mt y = mt_rand(VLM_DTYPE_F32, 2, s3, TT_PADDED, -3, 3);
    mt wy = mt_rand(VLM_DTYPE_F16, 1, w3, TT_CONTIG, -2, 2);
    mt oy = mt_make(VLM_DTYPE_F32, 2, s3, TT_CONTIG);
    BOTH(vlm_op_layer_norm(&C.ctx, &y.h.t, &wy.h.t, &wy.h.t, 1e-5f, &oy.h.t),
         vlm_op_layer_norm(&G.ctx, &y.g, &wy.g, &wy.g, 1e-5f, &oy.g));
    check_close("layer_norm", "1000 rows of 7", &oy, 1e-6, 1e-5, NULL);
    mt_free(&x);
    mt_free(&w);
    mt_free(&out);
    mt_free(&y);
    mt_free(&wy);
    mt_free(&oy);
}

/* ------------------------------------------------------------ matrix products */

/* scale[i] = sum_k |x[r, k] w[c, k]| (+ |bias[c]|) for out element i = (r, c) of an
 * [m, n] product; x, w read through their views (x [.., k] flattened to rows). */
static double *dot_scale(const vlm_tensor *x, const vlm_tensor *w, const vlm_tensor *bias,
                         int64_t m, int64_t n, int64_t k, int w_is_kn) {
    double *s = tt_ref(m * n);
    for (int64_t r = 0; r < m; r++)
        for (int64_t c = 0; c < n; c++) {
            double acc = bias ? fabs(tt_get(bias, c)) : 0.0;
            for (int64_t j = 0; j < k; j++)
                acc += fabs(tt_get(x, r * k + j) * tt_get(w, w_is_kn ? j * n + c : c * k + j));
            s[r * n + c] = acc;
        }
    return s;
}

static void matmul_case(const char *cs, int64_t m, int64_t n, int64_t k, vlm_dtype wdt, int bias_dt,
                        int xlayout, int ylayout, int w_broadcast) {
    int64_t sx[2] = {m, k}, sw[2] = {n, k}, sy[2] = {m, n}, sb[1] = {n}, s1[2] = {1, k};
    mt x = mt_rand(VLM_DTYPE_F32, 2, sx, xlayout, -1, 1);
    mt wfull = mt_rand(wdt, 2, w_broadcast ? s1 : sw, TT_CONTIG, -1, 1);
    mt w = wfull;
    if (w_broadcast) { /* every row the same: stride 0 */
        vlm_tensor hv;
        vlm_error e;
        CHECK(vlm_tensor_expand(&wfull.h.t, 2, sw, &hv, &e) == VLM_OK);
        w = mt_view(&wfull, &hv);
    }
    mt b = mt_rand(bias_dt >= 0 ? (vlm_dtype)bias_dt : VLM_DTYPE_F32, 1, sb, TT_CONTIG, -1, 1);
    mt y = mt_make(VLM_DTYPE_F32, 2, sy, ylayout);
    const vlm_tensor *hb = bias_dt >= 0 ? &b.h.t : NULL, *gb = bias_dt >= 0 ? &b.g : NULL;
    BOTH(vlm_op_matmul(&C.ctx, &x.h.t, &w.h.t, hb, &y.h.t),
         vlm_op_matmul(&G.ctx, &x.g, &w.g, gb, &y.g));
    double *s = dot_scale(&x.h.t, &w.h.t, hb, m, n, k, 0);
    check_close("matmul", cs, &y, 1e-7, 5e-5, s);
    free(s);
    mt_free(&x);
    mt_free(&wfull);
    mt_free(&b);
    mt_free(&y);
}

static void test_matmul(void) {
    /* GEMV kernel (m <= 8): vector and scalar paths, tails, every weight dtype. */
    matmul_case("gemv bf16 m1 k300", 1, 77, 300, VLM_DTYPE_BF16, VLM_DTYPE_BF16, TT_CONTIG,
                TT_CONTIG, 0);
    matmul_case("gemv bf16 m1 k256", 1, 50, 256, VLM_DTYPE_BF16, -1, TT_CONTIG, TT_PADDED, 0);
    matmul_case("gemv f16 m3 k512", 3, 129, 512, VLM_DTYPE_F16, VLM_DTYPE_F32, TT_CONTIG, TT_CONTIG,
                0);
    matmul_case("gemv f32 m8 k1000", 8, 64, 1000, VLM_DTYPE_F32, -1, TT_PADDED, TT_PADDED, 0);
    matmul_case("gemv bf16 m5 k2048", 5, 200, 2048, VLM_DTYPE_BF16, VLM_DTYPE_F16, TT_CONTIG,
                TT_CONTIG, 0);
    matmul_case("gemv bf16 m1 k11008", 1, 96, 11008, VLM_DTYPE_BF16, -1, TT_CONTIG, TT_CONTIG, 0);
    matmul_case("gemv broadcast w", 2, 9, 33, VLM_DTYPE_F16, -1, TT_CONTIG, TT_CONTIG, 1);
    matmul_case("gemv k0", 2, 9, 0, VLM_DTYPE_BF16, VLM_DTYPE_F32, TT_CONTIG, TT_CONTIG, 0);
    /* cuBLAS: direct f32, widened f16/bf16 (in blocks), strided x / out, k == 0. */
    matmul_case("sgemm f32 m129", 129, 130, 257, VLM_DTYPE_F32, VLM_DTYPE_F32, TT_PADDED, TT_PADDED,
                0);
    matmul_case("sgemm bf16 m17", 17, 77, 300, VLM_DTYPE_BF16, VLM_DTYPE_F16, TT_CONTIG, TT_CONTIG,
                0);
    matmul_case("sgemm f16 m64", 64, 96, 128, VLM_DTYPE_F16, -1, TT_CONTIG, TT_PADDED, 0);
    matmul_case("sgemm broadcast w", 12, 9, 33, VLM_DTYPE_F32, -1, TT_CONTIG, TT_CONTIG, 1);
    matmul_case("sgemm k0", 12, 9, 0, VLM_DTYPE_BF16, VLM_DTYPE_BF16, TT_CONTIG, TT_CONTIG, 0);
    /* 3-D x whose rows need a copy (permuted leading dims), 3-D out permuted too. */
    {
        int64_t sx[3] = {3, 11, 64}, sw[2] = {40, 64}, sy[3] = {3, 11, 40};
        mt x = mt_rand(VLM_DTYPE_F32, 3, sx, TT_PERMUTED, -1, 1);
        mt w = mt_rand(VLM_DTYPE_BF16, 2, sw, TT_PADDED, -1, 1);
        mt y = mt_make(VLM_DTYPE_F32, 3, sy, TT_PERMUTED);
        BOTH(vlm_op_matmul(&C.ctx, &x.h.t, &w.h.t, NULL, &y.h.t),
             vlm_op_matmul(&G.ctx, &x.g, &w.g, NULL, &y.g));
        /* x flattened to rows in logical order: element (r, j) is logical r * 64 + j. */
        double *s = dot_scale(&x.h.t, &w.h.t, NULL, 33, 40, 64, 0);
        check_close("matmul", "3-D permuted x and out", &y, 1e-7, 5e-5, s);
        free(s);
        mt_free(&x);
        mt_free(&w);
        mt_free(&y);
    }
    /* patch_embed: strided patch view, copy, matmul. */
    {
        int64_t si[3] = {3, 30, 44}, sw[4] = {16, 3, 7, 7}, sb[1] = {16}, so[2] = {24, 16};
        mt img = mt_rand(VLM_DTYPE_F32, 3, si, TT_PADDED, -1, 1);
        mt w = mt_rand(VLM_DTYPE_BF16, 4, sw, TT_PERMUTED, -1, 1);
        mt b = mt_rand(VLM_DTYPE_F32, 1, sb, TT_CONTIG, -1, 1);
        mt y = mt_make(VLM_DTYPE_F32, 2, so, TT_CONTIG);
        BOTH(vlm_op_patch_embed(&C.ctx, &img.h.t, &w.h.t, &b.h.t, &y.h.t),
             vlm_op_patch_embed(&G.ctx, &img.g, &w.g, &b.g, &y.g));
        /* Bound: 147-term sums of products in [-1, 1] plus the bias. */
        double *s = tt_ref(24 * 16);
        for (int i = 0; i < 24 * 16; i++)
            s[i] = 148.0;
        check_close("matmul", "patch_embed", &y, 1e-7, 5e-5, s);
        free(s);
        mt_free(&img);
        mt_free(&w);
        mt_free(&b);
        mt_free(&y);
    }
}

/* ------------------------------------------------------------ quantized weights */

/* An MLX-quantized weight [n, k] on both backends: random packed words, scales in
 * [-0.1, 0.1] (negative scales occur in the format), biases in [-1, 1]. */
typedef struct mq {
    mt w, s, b;
    vlm_qweight hq, gq;
} mq;

static mq mq_rand(int64_t n, int64_t k, int bits, int group, vlm_dtype sdt, int wlayout,
                  int slayout, int blayout) {
    mq q;
    int64_t sw[2] = {n, k * bits / 32}, sg[2] = {n, k / group};
    q.w = mt_make(VLM_DTYPE_U32, 2, sw, wlayout);
    for (int64_t i = 0; i < vlm_tensor_numel(&q.w.h.t); i++) {
        uint32_t u = (uint32_t)(tt_next(&R) >> 32);
        memcpy((char *)q.w.h.t.buf->data + tt_offset(&q.w.h.t, i), &u, 4);
    }
    mt_sync(&q.w);
    q.s = mt_rand(sdt, 2, sg, slayout, -0.1, 0.1);
    q.b = mt_rand(sdt, 2, sg, blayout, -1, 1);
    memset(&q.hq, 0, sizeof q.hq);
    q.hq.w = q.w.h.t;
    q.hq.scales = q.s.h.t;
    q.hq.biases = q.b.h.t;
    q.hq.bits = bits;
    q.hq.group_size = group;
    q.gq = q.hq;
    q.gq.w = q.w.g;
    q.gq.scales = q.s.g;
    q.gq.biases = q.b.g;
    return q;
}

static void mq_free(mq *q) {
    mt_free(&q->w);
    mt_free(&q->s);
    mt_free(&q->b);
}

/* Weight (r, c) as the format defines it, fmaf(scale, code, bias), from the host copy. */
static double mq_weight(const mq *q, int64_t r, int64_t c) {
    const vlm_qweight *h = &q->hq;
    int64_t bit = c * h->bits, words = h->w.shape[1];
    uint64_t v = 0;
    for (int i = 0; i < 2 && bit / 32 + i < words; i++) {
        uint32_t u;
        memcpy(&u, (const char *)h->w.buf->data + tt_offset(&h->w, r * words + bit / 32 + i), 4);
        v |= (uint64_t)u << (32 * i);
    }
    unsigned code = (unsigned)(v >> (bit % 32)) & ((1u << h->bits) - 1u);
    int64_t g = r * h->scales.shape[1] + c / h->group_size;
    return fmaf((float)tt_get(&h->scales, g), (float)code, (float)tt_get(&h->biases, g));
}

/* scale[i] = sum_c |x[r, c] w[j, c]| (+ |bias[j]|) for out element i = (r, j). */
static double *q_dot_scale(const vlm_tensor *x, const mq *q, const vlm_tensor *bias, int64_t m,
                           int64_t n, int64_t k) {
    double *wd = tt_ref(n * k), *s = tt_ref(m * n);
    for (int64_t j = 0; j < n; j++)
        for (int64_t c = 0; c < k; c++)
            wd[j * k + c] = mq_weight(q, j, c);
    for (int64_t r = 0; r < m; r++)
        for (int64_t j = 0; j < n; j++) {
            double acc = bias ? fabs(tt_get(bias, j)) : 0.0;
            for (int64_t c = 0; c < k; c++)
                acc += fabs(tt_get(x, r * k + c) * wd[j * k + c]);
            s[r * n + j] = acc;
        }
    free(wd);
    return s;
}

typedef struct qcase {
    int64_t m, n, k;
    int bits, group;
    vlm_dtype sdt;
    int bias_dt; /* -1: no bias */
    int xlayout, ylayout, wlayout;
    int split_params; /* scales and biases with different row pitches */
    int bf16;         /* bf16 compute on the GPU */
} qcase;

static void matmul_q_case(const qcase *c) {
    char cs[160];
    snprintf(cs, sizeof cs, "%d-bit g%d %s m%lld n%lld k%lld%s%s%s%s", c->bits, c->group,
             vlm_dtype_name(c->sdt), (long long)c->m, (long long)c->n, (long long)c->k,
             c->bias_dt >= 0 ? " bias" : "", c->wlayout == TT_PADDED ? " padded-w" : "",
             c->split_params ? " split-pitch" : "", c->bf16 ? " bf16-compute" : "");
    int64_t sx[2] = {c->m, c->k}, sy[2] = {c->m, c->n}, sb[1] = {c->n};
    mt x = mt_rand(VLM_DTYPE_F32, 2, sx, c->xlayout, -1, 1);
    mq q = mq_rand(c->n, c->k, c->bits, c->group, c->sdt, c->wlayout, TT_CONTIG,
                   c->split_params ? TT_PADDED : TT_CONTIG);
    mt b =
        mt_rand(c->bias_dt >= 0 ? (vlm_dtype)c->bias_dt : VLM_DTYPE_F32, 1, sb, TT_CONTIG, -1, 1);
    mt y = mt_make(VLM_DTYPE_F32, 2, sy, c->ylayout);
    const vlm_tensor *hb = c->bias_dt >= 0 ? &b.h.t : NULL, *gb = c->bias_dt >= 0 ? &b.g : NULL;
    G.ctx.bf16_compute = c->bf16;
    if (c->split_params) {
        /* The CPU backend assumes one row pitch for scales and biases: the reference is
         * the sum in double over the format's weights, rounded to f32. */
        CHECK_OP(&G, vlm_op_matmul_q(&G.ctx, &x.g, &q.gq, gb, &y.g));
        for (int64_t r = 0; r < c->m; r++)
            for (int64_t j = 0; j < c->n; j++) {
                double acc = hb ? tt_get(hb, j) : 0.0;
                for (int64_t i = 0; i < c->k; i++)
                    acc += tt_get(&x.h.t, r * c->k + i) * mq_weight(&q, j, i);
                tt_set(&y.h.t, r * c->n + j, acc);
            }
    } else {
        BOTH(vlm_op_matmul_q(&C.ctx, &x.h.t, &q.hq, hb, &y.h.t),
             vlm_op_matmul_q(&G.ctx, &x.g, &q.gq, gb, &y.g));
    }
    G.ctx.bf16_compute = 0;
    double *s = q_dot_scale(&x.h.t, &q, hb, c->m, c->n, c->k);
    check_close(c->bf16 ? "matmul_q bf16" : "matmul_q", cs, &y, 1e-7, c->bf16 ? 1e-2 : 5e-5, s);
    free(s);
    mt_free(&x);
    mq_free(&q);
    mt_free(&b);
    mt_free(&y);
}

static void test_matmul_q(void) {
    static const int bits[6] = {2, 3, 4, 5, 6, 8}, groups[3] = {32, 64, 128};
    static const int64_t ms[5] = {1, 3, 8, 9, 77};
    static const vlm_dtype sdts[3] = {VLM_DTYPE_BF16, VLM_DTYPE_F16, VLM_DTYPE_F32};
    static const int layouts[3] = {TT_CONTIG, TT_PADDED, TT_PERMUTED};
    int idx = 0;
    /* Every bits value x group size x m (GEMV passes of 1, 3, 8, 8 + 1 rows; the tiled
     * GEMM at 77), odd n, layouts, scale dtypes and biases rotating over the cases. */
    for (int bi = 0; bi < 6; bi++)
        for (int gi = 0; gi < 3; gi++)
            for (int mi = 0; mi < 5; mi++, idx++) {
                qcase c;
                memset(&c, 0, sizeof c);
                c.m = ms[mi];
                c.n = 37 + 2 * ((bi + mi) % 4) * 7; /* 37 .. 79, odd */
                c.k = groups[gi] * (1 + (bi + gi + mi) % 3);
                c.bits = bits[bi];
                c.group = groups[gi];
                c.sdt = sdts[idx % 3];
                c.bias_dt = idx % 2 ? (int)sdts[(idx / 2) % 3] : -1;
                c.xlayout = layouts[idx % 3];
                c.ylayout = idx % 4 == 1 ? TT_PADDED : TT_CONTIG;
                c.wlayout = idx % 5 == 2 ? TT_PADDED : TT_CONTIG;
                matmul_q_case(&c);
            }
    /* Long rows (the GEMV splits k over 2 or 4 warps), many output rows, scales and biases
     * with different row pitches (against a double reference: the CPU backend takes one
     * pitch for both). */
    qcase extra[] = {
        {1, 97, 11008, 4, 64, VLM_DTYPE_BF16, -1, TT_CONTIG, TT_CONTIG, TT_CONTIG, 0, 0},
        {1, 45, 11008, 3, 32, VLM_DTYPE_BF16, VLM_DTYPE_BF16, TT_CONTIG, TT_CONTIG, TT_CONTIG, 0,
         0},
        {2, 33, 4096, 8, 128, VLM_DTYPE_F16, VLM_DTYPE_F32, TT_PADDED, TT_CONTIG, TT_CONTIG, 0, 0},
        {5, 41, 8192, 5, 64, VLM_DTYPE_F32, -1, TT_CONTIG, TT_PADDED, TT_PADDED, 0, 0},
        {1, 1001, 2048, 4, 64, VLM_DTYPE_BF16, VLM_DTYPE_BF16, TT_CONTIG, TT_CONTIG, TT_CONTIG, 0,
         0},
        {8, 515, 2048, 6, 64, VLM_DTYPE_BF16, -1, TT_CONTIG, TT_CONTIG, TT_CONTIG, 0, 0},
        {31, 67, 512, 2, 128, VLM_DTYPE_BF16, -1, TT_PADDED, TT_PADDED, TT_CONTIG, 0, 0},
        {3, 39, 256, 4, 64, VLM_DTYPE_BF16, VLM_DTYPE_BF16, TT_CONTIG, TT_CONTIG, TT_CONTIG, 1, 0},
        {40, 39, 256, 6, 32, VLM_DTYPE_F16, -1, TT_CONTIG, TT_CONTIG, TT_CONTIG, 1, 0},
        /* bf16 compute (prefill on the tensor cores): x and the dequantized weights rounded
         * to bf16, f32 accumulation: |g - c| <= 1e-2 * sum |x w| (two 2^-9 roundings). */
        {77, 59, 384, 4, 64, VLM_DTYPE_BF16, VLM_DTYPE_BF16, TT_CONTIG, TT_CONTIG, TT_CONTIG, 0, 1},
        {1, 59, 384, 4, 64, VLM_DTYPE_BF16, -1, TT_CONTIG, TT_CONTIG, TT_CONTIG, 0, 1},
    };
    for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++)
        matmul_q_case(&extra[i]);
    /* x with three dimensions (a [batch, seq, k] activation). */
    {
        int64_t sx[3] = {2, 5, 128}, sy[3] = {2, 5, 43};
        mt x = mt_rand(VLM_DTYPE_F32, 3, sx, TT_PADDED, -1, 1);
        mq q = mq_rand(43, 128, 4, 32, VLM_DTYPE_BF16, TT_CONTIG, TT_CONTIG, TT_CONTIG);
        mt y = mt_make(VLM_DTYPE_F32, 3, sy, TT_CONTIG);
        BOTH(vlm_op_matmul_q(&C.ctx, &x.h.t, &q.hq, NULL, &y.h.t),
             vlm_op_matmul_q(&G.ctx, &x.g, &q.gq, NULL, &y.g));
        double *s = q_dot_scale(&x.h.t, &q, NULL, 10, 43, 128);
        check_close("matmul_q", "3-D x", &y, 1e-7, 5e-5, s);
        free(s);
        mt_free(&x);
        mq_free(&q);
        mt_free(&y);
    }
}

/* ------------------------------------------------------------ fused products */

/* A weight of the fused-op tests: bf16 (bits 0) or MLX-quantized (group 64, bf16 params). */
typedef struct fw {
    int bits;
    mt f;
    mq q;
    vlm_qweight h, g;
} fw;

static fw fw_rand(int64_t n, int64_t k, int bits) {
    fw w;
    memset(&w, 0, sizeof w);
    w.bits = bits;
    if (bits) {
        w.q = mq_rand(n, k, bits, 64, VLM_DTYPE_BF16, TT_CONTIG, TT_CONTIG, TT_CONTIG);
        w.h = w.q.hq;
        w.g = w.q.gq;
    } else {
        int64_t sw[2] = {n, k};
        w.f = mt_rand(VLM_DTYPE_BF16, 2, sw, TT_CONTIG, -1, 1);
        w.h = vlm_qweight_float(&w.f.h.t);
        w.g = vlm_qweight_float(&w.f.g);
    }
    return w;
}

static void fw_free(fw *w) {
    if (w->bits)
        mq_free(&w->q);
    else
        mt_free(&w->f);
}

/* scale[r * n + j] = sum_c |xn[r, c] w[j, c]| (+ |bias[j]|). */
static double *fw_scale(const vlm_tensor *xn, const fw *w, const vlm_tensor *bias, int64_t m,
                        int64_t n, int64_t k) {
    if (w->bits) return q_dot_scale(xn, &w->q, bias, m, n, k);
    return dot_scale(xn, &w->f.h.t, bias, m, n, k, 0);
}

/* matmul_many with an RMSNorm first (q/k/v), matmul_gated with one (gate/up + SiLU) and
 * matmul_add (the residual): the CUDA GEMV engine's fused forms against the CPU backend,
 * which composes them from rms_norm, matmul_q, gated_act and add. Tolerance: the matmul
 * bound over the normalized x, 5e-5 * sum |xn w| (+ |bias|); gated: that bound carried
 * through act(g) * u (|silu'| <= 1.1); add: plus 1e-6 |out|. */
static void fused_case(int bits, int64_t m, int64_t k) {
    char cs[64];
    snprintf(cs, sizeof cs, "%s m%lld k%lld",
             bits ? (bits == 4   ? "4-bit"
                     : bits == 8 ? "8-bit"
                                 : "3-bit")
                  : "bf16",
             (long long)m, (long long)k);
    const int64_t ns[3] = {75, 13, 21}, nf = 93;
    int64_t sx[2] = {m, k}, sk[1] = {k};
    mt x = mt_rand(VLM_DTYPE_F32, 2, sx, TT_PADDED, -3, 3);
    mt nw = mt_rand(VLM_DTYPE_BF16, 1, sk, TT_CONTIG, -2, 2);
    mt xn = mt_make(VLM_DTYPE_F32, 2, sx, TT_CONTIG);
    CHECK_OP(&C, vlm_op_rms_norm(&C.ctx, &x.h.t, &nw.h.t, 1e-6f, 0.0f, &xn.h.t));
    const vlm_prenorm hn = {&nw.h.t, 1e-6f, 0.0f}, gn = {&nw.g, 1e-6f, 0.0f};
    fw w[3];
    mt b[3], y[3];
    for (int i = 0; i < 3; i++) {
        int64_t sb[1] = {ns[i]}, sy[2] = {m, ns[i]};
        w[i] = fw_rand(ns[i], k, bits);
        b[i] = mt_rand(VLM_DTYPE_BF16, 1, sb, TT_CONTIG, -1, 1);
        y[i] = mt_make(VLM_DTYPE_F32, 2, sy, i == 1 ? TT_PADDED : TT_CONTIG);
    }
    {
        const vlm_qweight *hw[3] = {&w[0].h, &w[1].h, &w[2].h},
                          *gw[3] = {&w[0].g, &w[1].g, &w[2].g};
        const vlm_tensor *hb[3] = {&b[0].h.t, NULL, &b[2].h.t}, *gb[3] = {&b[0].g, NULL, &b[2].g};
        const vlm_tensor *hy[3] = {&y[0].h.t, &y[1].h.t, &y[2].h.t},
                         *gy[3] = {&y[0].g, &y[1].g, &y[2].g};
        BOTH(vlm_op_matmul_many(&C.ctx, &x.h.t, &hn, 3, hw, hb, hy),
             vlm_op_matmul_many(&G.ctx, &x.g, &gn, 3, gw, gb, gy));
        for (int i = 0; i < 3; i++) {
            double *sc = fw_scale(&xn.h.t, &w[i], hb[i], m, ns[i], k);
            check_close("fused many", cs, &y[i], 1e-6, 5e-5, sc);
            free(sc);
        }
    }
    /* gated: gate and up of nf rows */
    {
        int64_t sy[2] = {m, nf}, sb[1] = {nf};
        fw wg = fw_rand(nf, k, bits), wu = fw_rand(nf, k, bits);
        mt bg = mt_rand(VLM_DTYPE_F32, 1, sb, TT_CONTIG, -1, 1);
        mt out = mt_make(VLM_DTYPE_F32, 2, sy, TT_CONTIG);
        tt_tensor g = tt_make(VLM_DTYPE_F32, 2, sy, TT_CONTIG),
                  u = tt_make(VLM_DTYPE_F32, 2, sy, TT_CONTIG);
        BOTH(vlm_op_matmul_gated(&C.ctx, &x.h.t, &hn, VLM_ACT_SILU, &wg.h, &bg.h.t, &wu.h, NULL,
                                 &out.h.t),
             vlm_op_matmul_gated(&G.ctx, &x.g, &gn, VLM_ACT_SILU, &wg.g, &bg.g, &wu.g, NULL,
                                 &out.g));
        CHECK_OP(&C, vlm_op_matmul_q(&C.ctx, &xn.h.t, &wg.h, &bg.h.t, &g.t));
        CHECK_OP(&C, vlm_op_matmul_q(&C.ctx, &xn.h.t, &wu.h, NULL, &u.t));
        double *sg = fw_scale(&xn.h.t, &wg, &bg.h.t, m, nf, k),
               *su = fw_scale(&xn.h.t, &wu, NULL, m, nf, k);
        for (int64_t i = 0; i < m * nf; i++) {
            double gv = tt_get(&g.t, i), uv = tt_get(&u.t, i), silu = gv / (1.0 + exp(-gv));
            sg[i] = 1.1 * sg[i] * fabs(uv) + fabs(silu) * su[i];
        }
        check_close("fused gated", cs, &out, 1e-6, 5e-5, sg);
        free(sg);
        free(su);
        tt_free(&g);
        tt_free(&u);
        fw_free(&wg);
        fw_free(&wu);
        mt_free(&bg);
        mt_free(&out);
    }
    /* add: out += x w^T + b onto a random residual */
    {
        int64_t sy[2] = {m, ns[0]};
        mt res = mt_rand(VLM_DTYPE_F32, 2, sy, TT_CONTIG, -5, 5);
        double *sc = fw_scale(&x.h.t, &w[0], &b[0].h.t, m, ns[0], k);
        for (int64_t i = 0; i < m * ns[0]; i++)
            sc[i] += 0.02 * fabs(tt_get(&res.h.t, i)); /* 1e-6 |out| within 5e-5 * ... */
        BOTH(vlm_op_matmul_add(&C.ctx, &x.h.t, &w[0].h, &b[0].h.t, &res.h.t),
             vlm_op_matmul_add(&G.ctx, &x.g, &w[0].g, &b[0].g, &res.g));
        check_close("fused add", cs, &res, 1e-6, 5e-5, sc);
        free(sc);
        mt_free(&res);
    }
    for (int i = 0; i < 3; i++) {
        fw_free(&w[i]);
        mt_free(&b[i]);
        mt_free(&y[i]);
    }
    mt_free(&x);
    mt_free(&nw);
    mt_free(&xn);
}

static void test_fused(void) {
    static const int bits[4] = {0, 4, 8, 3};
    for (int i = 0; i < 4; i++) {
        fused_case(bits[i], 1, bits[i] ? 2048 : 2050);
        fused_case(bits[i], 3, bits[i] ? 1024 : 1030);
    }
    fused_case(4, 1, 11008); /* long rows: split across warps */
    fused_case(0, 8, 320);
    fused_case(4, 17, 256); /* quantized GEMV in passes of 8 rows */
}

/* The prefill GEMM (m > 32, qgemm.cu) for every bits value in both compute modes: odd n
 * over several 64- and 128-row weight tiles, k with half a 64-deep tile at the end (352),
 * m over one or several row tiles (70 .. 81, and 286: the benchmark's prompt, 96-row
 * tiles), k split over blocks (n 37, k 4096), padded and permuted x, padded out, scales and
 * biases with different row pitches. Tolerances as in test_matmul_q: 5e-5 * sum |x w| in
 * f32, 1e-2 * sum |x w| with bf16 compute. */
static void test_matmul_q_gemm(void) {
    static const int bits[6] = {2, 3, 4, 5, 6, 8}, groups[3] = {32, 64, 128};
    static const vlm_dtype sdts[3] = {VLM_DTYPE_BF16, VLM_DTYPE_F16, VLM_DTYPE_F32};
    static const int layouts[3] = {TT_CONTIG, TT_PADDED, TT_PERMUTED};
    for (int i = 0; i < 6; i++)
        for (int bf = 0; bf < 2; bf++) {
            int j = 2 * i + bf;
            qcase c;
            memset(&c, 0, sizeof c);
            c.m = j % 3 == 2 ? 286 : 70 + j;
            c.n = 133 + 2 * j;
            c.group = groups[i % 3];
            c.k = c.group == 32 ? 352 : c.group == 64 ? 448 : 384;
            c.bits = bits[i];
            c.sdt = sdts[j % 3];
            c.bias_dt = (i + bf) % 2 ? -1 : (int)sdts[(j / 2) % 3];
            c.xlayout = layouts[j % 3];
            c.ylayout = j % 4 == 1 ? TT_PADDED : TT_CONTIG;
            c.wlayout = j % 5 == 3 ? TT_PADDED : TT_CONTIG;
            c.bf16 = bf;
            matmul_q_case(&c);
        }
    qcase extra[] = {
        {40, 37, 4096, 4, 64, VLM_DTYPE_BF16, VLM_DTYPE_F32, TT_CONTIG, TT_CONTIG, TT_CONTIG, 0, 0},
        {40, 37, 4096, 3, 128, VLM_DTYPE_F16, -1, TT_PADDED, TT_PADDED, TT_CONTIG, 0, 1},
        {65, 39, 256, 5, 32, VLM_DTYPE_BF16, VLM_DTYPE_BF16, TT_CONTIG, TT_CONTIG, TT_CONTIG, 1, 0},
        {65, 39, 256, 8, 64, VLM_DTYPE_BF16, -1, TT_CONTIG, TT_CONTIG, TT_CONTIG, 1, 1},
    };
    for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++)
        matmul_q_case(&extra[i]);
}

static void test_embedding_q(void) {
    static const int bits[6] = {2, 3, 4, 5, 6, 8}, groups[3] = {32, 64, 128};
    static const vlm_dtype sdts[3] = {VLM_DTYPE_BF16, VLM_DTYPE_F16, VLM_DTYPE_F32};
    int64_t sid[1] = {18};
    int idx = 0;
    for (int bi = 0; bi < 6; bi++)
        for (int gi = 0; gi < 3; gi++, idx++) {
            int64_t k = groups[gi] * (1 + idx % 2), so[2] = {9, k};
            mq t = mq_rand(50, k, bits[bi], groups[gi], sdts[idx % 3],
                           idx % 3 == 1 ? TT_PADDED : TT_CONTIG, TT_CONTIG, TT_CONTIG);
            /* ids: every other element of an i32/i64 vector (strided). */
            mt ids = mt_make(idx % 2 ? VLM_DTYPE_I64 : VLM_DTYPE_I32, 1, sid, TT_CONTIG);
            for (int i = 0; i < 18; i++)
                tt_set(&ids.h.t, i, (double)tt_int(&R, 0, 49));
            mt_sync(&ids);
            vlm_tensor hs;
            vlm_error e;
            CHECK(vlm_tensor_slice(&ids.h.t, 0, 0, 18, 2, &hs, &e) == VLM_OK);
            mt idv = mt_view(&ids, &hs);
            mt out = mt_make(VLM_DTYPE_F32, 2, so, idx % 2 ? TT_PADDED : TT_PERMUTED);
            BOTH(vlm_op_embedding_q(&C.ctx, &t.hq, &idv.h.t, &out.h.t),
                 vlm_op_embedding_q(&G.ctx, &t.gq, &idv.g, &out.g));
            char cs[64];
            snprintf(cs, sizeof cs, "%d-bit g%d %s", bits[bi], groups[gi],
                     vlm_dtype_name(sdts[idx % 3]));
            check_exact("embedding_q", cs, &out);
            /* and the values are the format's, fmaf(scale, code, bias) */
            int bad = 0;
            for (int i = 0; i < 9 && !bad; i++) {
                int64_t id = (int64_t)tt_get(&idv.h.t, i);
                for (int64_t c = 0; c < k && !bad; c++)
                    bad = tt_get(&out.h.t, i * k + c) != mq_weight(&t, id, c);
            }
            CHECK_MSG(!bad, "embedding_q [%s]: CPU rows differ from the format's values", cs);
            mq_free(&t);
            mt_free(&ids);
            mt_free(&out);
        }
    /* An id out of range: the op fails naming it and writes nothing. */
    {
        mq t = mq_rand(50, 64, 4, 64, VLM_DTYPE_BF16, TT_CONTIG, TT_CONTIG, TT_CONTIG);
        int64_t s4[1] = {4}, o4[2] = {4, 64};
        mt ids = mt_make(VLM_DTYPE_I64, 1, s4, TT_CONTIG);
        double v[4] = {1, 2, 3, 50};
        for (int i = 0; i < 4; i++)
            tt_set(&ids.h.t, i, v[i]);
        mt_sync(&ids);
        mt out = mt_make(VLM_DTYPE_F32, 2, o4, TT_CONTIG);
        CHECK_OP_FAILS(&G, vlm_op_embedding_q(&G.ctx, &t.gq, &ids.g, &out.g),
                       VLM_ERR_INVALID_ARGUMENT, "ids[3] = 50 is out of range [0, 50)");
        check_exact("embedding_q", "bad id leaves out untouched", &out);
        mq_free(&t);
        mt_free(&ids);
        mt_free(&out);
    }
}

static void bmm_case(const char *cs, const int64_t *sa, const int64_t *sb, const int64_t *so,
                     int alayout, int b_transposed, int ylayout) {
    mt a = mt_rand(VLM_DTYPE_F32, 4, sa, alayout, -1, 1);
    mt bstore, b;
    if (b_transposed) { /* b = transpose of a stored [.., n, k] */
        int64_t st[4] = {sb[0], sb[1], sb[3], sb[2]};
        bstore = mt_rand(VLM_DTYPE_F32, 4, st, TT_PADDED, -1, 1);
        vlm_tensor hv;
        vlm_error e;
        CHECK(vlm_tensor_transpose(&bstore.h.t, 2, 3, &hv, &e) == VLM_OK);
        b = mt_view(&bstore, &hv);
    } else {
        bstore = mt_rand(VLM_DTYPE_F32, 4, sb, TT_CONTIG, -1, 1);
        b = bstore;
    }
    mt y = mt_make(VLM_DTYPE_F32, 4, so, ylayout);
    BOTH(vlm_op_bmm(&C.ctx, &a.h.t, &b.h.t, &y.h.t), vlm_op_bmm(&G.ctx, &a.g, &b.g, &y.g));
    int64_t m = so[2], n = so[3], k = sa[3], nb = so[0] * so[1];
    double *s = tt_ref(nb * m * n);
    for (int64_t bi = 0; bi < nb; bi++) {
        int64_t i0 = bi / so[1], i1 = bi % so[1];
        int64_t ab = (sa[0] == 1 ? 0 : i0) * sa[1] + (sa[1] == 1 ? 0 : i1);
        int64_t bb = (sb[0] == 1 ? 0 : i0) * sb[1] + (sb[1] == 1 ? 0 : i1);
        for (int64_t r = 0; r < m; r++)
            for (int64_t c = 0; c < n; c++) {
                double acc = 0;
                for (int64_t j = 0; j < k; j++)
                    acc += fabs(tt_get(&a.h.t, (ab * m + r) * k + j) *
                                tt_get(&b.h.t, (bb * k + j) * n + c));
                s[(bi * m + r) * n + c] = acc;
            }
    }
    check_close("bmm", cs, &y, 1e-7, 5e-5, s);
    free(s);
    mt_free(&a);
    mt_free(&bstore);
    mt_free(&y);
}

static void test_bmm(void) {
    int64_t a1[4] = {2, 3, 17, 33}, b1[4] = {2, 3, 33, 19}, o1[4] = {2, 3, 17, 19};
    bmm_case("strided batches", a1, b1, o1, TT_CONTIG, 0, TT_CONTIG);
    int64_t a2[4] = {2, 1, 9, 16}, b2[4] = {1, 3, 16, 11}, o2[4] = {2, 3, 9, 11};
    bmm_case("broadcast batches", a2, b2, o2, TT_PADDED, 0, TT_PADDED);
    int64_t a3[4] = {1, 4, 21, 40}, b3[4] = {1, 4, 40, 30}, o3[4] = {1, 4, 21, 30};
    bmm_case("transposed b", a3, b3, o3, TT_CONTIG, 1, TT_CONTIG);
    bmm_case("permuted a and out", a3, b3, o3, TT_PERMUTED, 1, TT_PERMUTED);
    int64_t a4[4] = {2, 2, 5, 0}, b4[4] = {2, 2, 0, 6}, o4[4] = {2, 2, 5, 6};
    bmm_case("k0", a4, b4, o4, TT_CONTIG, 0, TT_PADDED);
}

/* ------------------------------------------------------------ rotary embeddings */

static void test_rope(void) {
    /* Tables: one axis (i64), M-RoPE sections (i32, consecutive and interleaved). */
    struct {
        int n_axes, half, s, layout;
        int sections[3];
        vlm_dtype pdt;
        float scaling;
    } cases[3] = {{1, 32, 37, 0, {0}, VLM_DTYPE_I64, 1.0f},
                  {3, 64, 41, VLM_ROPE_SECTIONS_CONSECUTIVE, {16, 24, 24}, VLM_DTYPE_I32, 0.7f},
                  {3, 64, 29, VLM_ROPE_SECTIONS_INTERLEAVED, {24, 20, 20}, VLM_DTYPE_I64, 1.0f}};
    for (int c = 0; c < 3; c++) {
        int64_t sp[2] = {cases[c].n_axes, cases[c].s}, sf[1] = {cases[c].half},
                so[2] = {cases[c].s, cases[c].half};
        mt pos = mt_make(cases[c].pdt, cases[c].n_axes == 1 ? 1 : 2,
                         cases[c].n_axes == 1 ? sp + 1 : sp, TT_PADDED);
        for (int64_t i = 0; i < cases[c].n_axes * cases[c].s; i++)
            tt_set(&pos.h.t, i, (double)tt_int(&R, 0, 4000));
        mt_sync(&pos);
        mt f = mt_make(VLM_DTYPE_F32, 1, sf, TT_CONTIG);
        for (int64_t j = 0; j < cases[c].half; j++)
            tt_set(&f.h.t, j, (float)(1.0 / pow(1000000.0, (double)j / (double)cases[c].half)));
        mt_sync(&f);
        mt co = mt_make(VLM_DTYPE_F32, 2, so, TT_PADDED),
           si = mt_make(VLM_DTYPE_F32, 2, so, TT_CONTIG);
        const int *sec = cases[c].n_axes > 1 ? cases[c].sections : NULL;
        BOTH(vlm_op_rope_table(&C.ctx, &pos.h.t, &f.h.t, sec, (vlm_rope_sections)cases[c].layout,
                               cases[c].scaling, &co.h.t, &si.h.t),
             vlm_op_rope_table(&G.ctx, &pos.g, &f.g, sec, (vlm_rope_sections)cases[c].layout,
                               cases[c].scaling, &co.g, &si.g));
        check_close("rope_table", "cos", &co, 1e-6, 0, NULL);
        check_close("rope_table", "sin", &si, 1e-6, 0, NULL);
        mt_free(&pos);
        mt_free(&f);
        mt_free(&co);
        mt_free(&si);
    }
    /* Application: heads sliced out of a fused projection, full and partial rotary, both
     * pairings, in place and into a padded output. */
    for (int mode = 0; mode < 2; mode++) {
        for (int partial = 0; partial < 2; partial++) {
            int64_t s = 9, h = 5, d = 64, half = partial ? 16 : 32;
            int64_t sf[3] = {s, 2 * h, d}, sx[3] = {s, h, d}, sc[2] = {s, half};
            mt fused = mt_rand(VLM_DTYPE_F32, 3, sf, TT_CONTIG, -1, 1);
            vlm_tensor hq;
            vlm_error e;
            CHECK(vlm_tensor_narrow(&fused.h.t, 1, h, h, &hq, &e) == VLM_OK);
            mt x = mt_view(&fused, &hq);
            mt co = mt_rand(VLM_DTYPE_F32, 2, sc, TT_PADDED, -1, 1);
            mt si = mt_rand(VLM_DTYPE_F32, 2, sc, TT_CONTIG, -1, 1);
            mt out = mt_make(VLM_DTYPE_F32, 3, sx, TT_PADDED);
            BOTH(vlm_op_rope(&C.ctx, &x.h.t, &co.h.t, &si.h.t, (vlm_rope_mode)mode, &out.h.t),
                 vlm_op_rope(&G.ctx, &x.g, &co.g, &si.g, (vlm_rope_mode)mode, &out.g));
            check_close("rope", partial ? "partial" : "full", &out, 1e-7, 1e-6, NULL);
            BOTH(vlm_op_rope(&C.ctx, &x.h.t, &co.h.t, &si.h.t, (vlm_rope_mode)mode, &x.h.t),
                 vlm_op_rope(&G.ctx, &x.g, &co.g, &si.g, (vlm_rope_mode)mode, &x.g));
            check_close("rope", "in place (fused buffer)", &fused, 1e-7, 1e-6, NULL);
            mt_free(&fused);
            mt_free(&co);
            mt_free(&si);
            mt_free(&out);
        }
    }
}

/* ------------------------------------------------------------ attention */

typedef struct att_case {
    const char *name;
    int64_t sq, sk, hq, hkv, d, dv;
    int causal;
    int64_t q_pos0, window;
    float softcap;
    const int64_t *segments;
    int64_t n_segments;
    const int64_t *spans;
    int64_t n_spans;
    int fused; /* q, k, v sliced out of one [S, Hq + 2 Hkv, D] projection (sq == sk) */
} att_case;

static void attention_case(const att_case *c) {
    int64_t sq3[3] = {c->sq, c->hq, c->d}, sk3[3] = {c->sk, c->hkv, c->d},
            sv3[3] = {c->sk, c->hkv, c->dv}, so3[3] = {c->sq, c->hq, c->dv};
    mt q, k, v, store;
    memset(&store, 0, sizeof store);
    if (c->fused) {
        int64_t sf[3] = {c->sq, c->hq + 2 * c->hkv, c->d};
        store = mt_rand(VLM_DTYPE_F32, 3, sf, TT_CONTIG, -2, 2);
        /* V values in [-1, 1] like the others: rescale the V heads on the host. */
        vlm_tensor hq, hk, hv;
        vlm_error e;
        CHECK(vlm_tensor_narrow(&store.h.t, 1, 0, c->hq, &hq, &e) == VLM_OK);
        CHECK(vlm_tensor_narrow(&store.h.t, 1, c->hq, c->hkv, &hk, &e) == VLM_OK);
        CHECK(vlm_tensor_narrow(&store.h.t, 1, c->hq + c->hkv, c->hkv, &hv, &e) == VLM_OK);
        for (int64_t i = 0; i < vlm_tensor_numel(&hv); i++)
            tt_set(&hv, i, tt_get(&hv, i) / 2);
        mt_sync(&store);
        q = mt_view(&store, &hq);
        k = mt_view(&store, &hk);
        v = mt_view(&store, &hv);
    } else {
        q = mt_rand(VLM_DTYPE_F32, 3, sq3, TT_PADDED, -2, 2);
        k = mt_rand(VLM_DTYPE_F32, 3, sk3, TT_CONTIG, -2, 2);
        v = mt_rand(VLM_DTYPE_F32, 3, sv3, TT_PADDED, -1, 1);
    }
    mt out = mt_make(VLM_DTYPE_F32, 3, so3, c->dv % 2 ? TT_CONTIG : TT_PADDED);
    vlm_attn_params p = vlm_attn_params_default(1.0f / sqrtf((float)c->d));
    p.causal = c->causal;
    p.q_pos0 = c->q_pos0;
    p.window = c->window;
    p.softcap = c->softcap;
    p.segments = c->segments;
    p.n_segments = c->n_segments;
    p.spans = c->spans;
    p.n_spans = c->n_spans;
    BOTH(vlm_op_attention(&C.ctx, &q.h.t, &k.h.t, &v.h.t, &p, &out.h.t),
         vlm_op_attention(&G.ctx, &q.g, &k.g, &v.g, &p, &out.g));
    check_close("attention", c->name, &out, 1e-4, 0, NULL);
    if (c->fused) {
        mt_free(&store);
    } else {
        mt_free(&q);
        mt_free(&k);
        mt_free(&v);
    }
    mt_free(&out);
}

static void test_attention(void) {
    static const int64_t seg[5] = {0, 5, 5, 23, 40};
    static const int64_t spans[4] = {3, 9, 20, 31};
    static const int64_t vis_seg[5] = {0, 64, 128, 192, 250};
    att_case cs[] = {
        {"prefill bidirectional d80 gqa", 37, 37, 4, 2, 80, 80, 0, 0, 0, 0, NULL, 0, NULL, 0, 0},
        {"causal q_pos0 d128", 19, 50, 6, 2, 128, 128, 1, 31, 0, 0, NULL, 0, NULL, 0, 0},
        {"causal window softcap", 70, 70, 4, 4, 64, 64, 1, 0, 7, 20.0f, NULL, 0, NULL, 0, 0},
        {"segments d72", 40, 40, 2, 1, 72, 72, 0, 0, 0, 0, seg, 4, NULL, 0, 0},
        {"vision windows d80", 250, 250, 3, 3, 80, 80, 0, 0, 0, 0, vis_seg, 4, NULL, 0, 0},
        {"causal spans", 45, 45, 4, 2, 64, 64, 1, 0, 0, 0, NULL, 0, spans, 2, 0},
        {"sliding window spans", 45, 45, 4, 2, 64, 64, 1, 0, 6, 0, NULL, 0, spans, 2, 0},
        {"decode split-K", 1, 1000, 8, 2, 128, 128, 1, 999, 0, 0, NULL, 0, NULL, 0, 0},
        {"decode window", 1, 700, 7, 1, 128, 128, 1, 699, 100, 0, NULL, 0, NULL, 0, 0},
        {"decode mha", 1, 300, 4, 4, 96, 96, 1, 299, 0, 0, NULL, 0, NULL, 0, 0},
        {"3 queries by head", 3, 64, 8, 2, 128, 128, 1, 61, 0, 0, NULL, 0, NULL, 0, 0},
        {"d256", 5, 33, 8, 4, 256, 256, 1, 28, 0, 0, NULL, 0, NULL, 0, 0},
        {"d64 dv48", 20, 20, 3, 1, 64, 48, 0, 0, 0, 0, NULL, 0, NULL, 0, 0},
        {"d30 odd", 13, 29, 2, 1, 30, 17, 0, 0, 0, 0, NULL, 0, NULL, 0, 0},
        {"nothing visible", 3, 20, 2, 1, 32, 32, 0, 30, 5, 0, NULL, 0, NULL, 0, 0},
        {"no keys", 2, 0, 2, 1, 32, 32, 0, 0, 0, 0, NULL, 0, NULL, 0, 0},
        {"fused qkv causal", 33, 33, 4, 2, 32, 32, 1, 0, 0, 0, NULL, 0, NULL, 0, 1},
        {"long prefill", 300, 300, 2, 1, 128, 128, 1, 0, 0, 0, NULL, 0, NULL, 0, 0},
    };
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++)
        attention_case(&cs[i]);
}

/* ------------------------------------------------------------ rows, pooling, resampling */

static void test_gather_scatter(void) {
    static const vlm_dtype td[3] = {VLM_DTYPE_F32, VLM_DTYPE_BF16, VLM_DTYPE_F16};
    int64_t st[2] = {50, 37}, sid[1] = {18}, so[2] = {9, 37};
    for (int t = 0; t < 3; t++) {
        for (int same = 0; same < 2; same++) {
            mt table = mt_rand(td[t], 2, st, t == 1 ? TT_PADDED : TT_CONTIG, -3, 3);
            /* ids: every other element of an i32/i64 vector (strided). */
            mt ids = mt_make(same ? VLM_DTYPE_I64 : VLM_DTYPE_I32, 1, sid, TT_CONTIG);
            for (int i = 0; i < 18; i++)
                tt_set(&ids.h.t, i, (double)tt_int(&R, 0, 49));
            mt_sync(&ids);
            vlm_tensor hs;
            vlm_error e;
            CHECK(vlm_tensor_slice(&ids.h.t, 0, 0, 18, 2, &hs, &e) == VLM_OK);
            mt idv = mt_view(&ids, &hs);
            mt out = mt_make(same ? td[t] : VLM_DTYPE_F32, 2, so, TT_PADDED);
            BOTH(vlm_op_gather_rows(&C.ctx, &table.h.t, &idv.h.t, &out.h.t),
                 vlm_op_gather_rows(&G.ctx, &table.g, &idv.g, &out.g));
            check_exact("gather_rows", vlm_dtype_name(td[t]), &out);
            mt_free(&table);
            mt_free(&ids);
            mt_free(&out);
        }
    }
    /* An id out of range: the op fails naming it and writes nothing. */
    {
        mt table = mt_rand(VLM_DTYPE_F32, 2, st, TT_CONTIG, -3, 3);
        int64_t s4[1] = {4}, o4[2] = {4, 37};
        mt ids = mt_make(VLM_DTYPE_I64, 1, s4, TT_CONTIG);
        double v[4] = {1, 2, 3, 50};
        for (int i = 0; i < 4; i++)
            tt_set(&ids.h.t, i, v[i]);
        mt_sync(&ids);
        mt out = mt_make(VLM_DTYPE_F32, 2, o4, TT_CONTIG);
        CHECK_OP_FAILS(&G, vlm_op_gather_rows(&G.ctx, &table.g, &ids.g, &out.g),
                       VLM_ERR_INVALID_ARGUMENT, "ids[3] = 50 is out of range [0, 50)");
        check_exact("gather_rows", "bad id leaves out untouched", &out);
        mt_free(&table);
        mt_free(&ids);
        mt_free(&out);
    }
    /* Scatter into bf16 and f32 rows; duplicates refused. */
    for (int t = 0; t < 2; t++) {
        int64_t ss[2] = {6, 37}, sn[2] = {20, 37}, s6[1] = {6};
        mt src = mt_rand(VLM_DTYPE_F32, 2, ss, TT_PADDED, -3, 3);
        mt out = mt_rand(t ? VLM_DTYPE_BF16 : VLM_DTYPE_F32, 2, sn, TT_PERMUTED, -1, 1);
        mt ids = mt_make(t ? VLM_DTYPE_I32 : VLM_DTYPE_I64, 1, s6, TT_CONTIG);
        double v[6] = {19, 0, 7, 3, 12, 8};
        for (int i = 0; i < 6; i++)
            tt_set(&ids.h.t, i, v[i]);
        mt_sync(&ids);
        BOTH(vlm_op_scatter_rows(&C.ctx, &src.h.t, &ids.h.t, &out.h.t),
             vlm_op_scatter_rows(&G.ctx, &src.g, &ids.g, &out.g));
        check_exact("scatter_rows", t ? "to bf16" : "to f32", &out);
        tt_set(&ids.h.t, 4, 7.0);
        mt_sync(&ids);
        CHECK_OP_FAILS(&G, vlm_op_scatter_rows(&G.ctx, &src.g, &ids.g, &out.g),
                       VLM_ERR_INVALID_ARGUMENT, "row 7 is written twice (ids[4])");
        check_exact("scatter_rows", "duplicate leaves out untouched", &out);
        mt_free(&src);
        mt_free(&out);
        mt_free(&ids);
    }
}

static void test_pool(void) {
    int64_t s1[3] = {9, 11, 5}, o1[3] = {4, 4, 5};
    mt x = mt_rand(VLM_DTYPE_F32, 3, s1, TT_PERMUTED, -2, 2);
    mt y = mt_make(VLM_DTYPE_F32, 3, o1, TT_PADDED);
    BOTH(vlm_op_avg_pool2d(&C.ctx, &x.h.t, 3, 2, 2, 3, &y.h.t),
         vlm_op_avg_pool2d(&G.ctx, &x.g, 3, 2, 2, 3, &y.g));
    check_close("avg_pool2d", "3x2 stride 2x3 permuted", &y, 1e-7, 1e-6, NULL);
    int64_t s2[3] = {16, 16, 40}, o2[3] = {4, 4, 40};
    mt x2 = mt_rand(VLM_DTYPE_F32, 3, s2, TT_CONTIG, -2, 2);
    mt y2 = mt_make(VLM_DTYPE_F32, 3, o2, TT_CONTIG);
    BOTH(vlm_op_avg_pool2d(&C.ctx, &x2.h.t, 4, 4, 4, 4, &y2.h.t),
         vlm_op_avg_pool2d(&G.ctx, &x2.g, 4, 4, 4, 4, &y2.g));
    check_close("avg_pool2d", "4x4 (Gemma 3)", &y2, 1e-7, 1e-6, NULL);
    mt_free(&x);
    mt_free(&y);
    mt_free(&x2);
    mt_free(&y2);
}

static void test_interp(void) {
    int64_t sx[4] = {2, 3, 13, 17};
    int64_t sizes[3][2] = {{27, 31}, {5, 7}, {13, 9}};
    char cs[64];
    for (int mode = 0; mode < 2; mode++)
        for (int ac = 0; ac < 2; ac++)
            for (int aa = 0; aa < 2; aa++)
                for (int s = 0; s < 3; s++) {
                    int64_t so[4] = {2, 3, sizes[s][0], sizes[s][1]};
                    mt x = mt_rand(VLM_DTYPE_F32, 4, sx, (s + aa) % 2 ? TT_PERMUTED : TT_PADDED, -1,
                                   1);
                    mt y = mt_make(VLM_DTYPE_F32, 4, so, s == 1 ? TT_PERMUTED : TT_CONTIG);
                    BOTH(vlm_op_interpolate(&C.ctx, &x.h.t, (vlm_interp_mode)mode, ac, aa, &y.h.t),
                         vlm_op_interpolate(&G.ctx, &x.g, (vlm_interp_mode)mode, ac, aa, &y.g));
                    snprintf(cs, sizeof cs, "%s ac%d aa%d %lldx%lld", mode ? "bicubic" : "bilinear",
                             ac, aa, (long long)sizes[s][0], (long long)sizes[s][1]);
                    check_close("interpolate", cs, &y, 1e-7, 1e-6, NULL);
                    mt_free(&x);
                    mt_free(&y);
                }
}

/* ------------------------------------------------------------ selection */

/* Values rounded to tenths (ties), NaNs in some rows, signed zeros in another. */
static void fill_select(mt *x, int64_t rows, int64_t n) {
    for (int64_t i = 0; i < rows * n; i++)
        tt_set(&x->h.t, i, floor(tt_uniform(&R, -5, 5) * 10) / 10);
    if (rows > 1) {
        tt_set(&x->h.t, 1 * n + n / 2, NAN);
        tt_set(&x->h.t, 1 * n + n - 1, NAN);
    }
    if (rows > 2)
        for (int64_t j = 0; j < n; j++)
            tt_set(&x->h.t, 2 * n + j, j % 3 ? -0.0 : 0.0);
    mt_sync(x);
}

static void test_argmax(void) {
    int64_t sx[2] = {7, 1001}, so[1] = {7};
    for (int t = 0; t < 2; t++) {
        mt x = mt_make(VLM_DTYPE_F32, 2, sx, t ? TT_PERMUTED : TT_CONTIG);
        fill_select(&x, 7, 1001);
        mt y = mt_make(t ? VLM_DTYPE_I64 : VLM_DTYPE_I32, 1, so, TT_PADDED);
        BOTH(vlm_op_argmax(&C.ctx, &x.h.t, &y.h.t), vlm_op_argmax(&G.ctx, &x.g, &y.g));
        check_exact("argmax", t ? "i64 permuted" : "i32", &y);
        mt_free(&x);
        mt_free(&y);
    }
    int64_t s3[3] = {3, 4, 50}, o3[2] = {3, 4}, s1[1] = {152064}, o1[1] = {1};
    mt x3 = mt_make(VLM_DTYPE_F32, 3, s3, TT_PADDED);
    fill_select(&x3, 12, 50);
    mt y3 = mt_make(VLM_DTYPE_I64, 2, o3, TT_PERMUTED);
    BOTH(vlm_op_argmax(&C.ctx, &x3.h.t, &y3.h.t), vlm_op_argmax(&G.ctx, &x3.g, &y3.g));
    check_exact("argmax", "3-D", &y3);
    mt xv = mt_rand(VLM_DTYPE_F32, 1, s1, TT_CONTIG, -20, 20);
    mt yv = mt_make(VLM_DTYPE_I32, 1, o1, TT_CONTIG);
    BOTH(vlm_op_argmax(&C.ctx, &xv.h.t, &yv.h.t), vlm_op_argmax(&G.ctx, &xv.g, &yv.g));
    check_exact("argmax", "vocabulary row", &yv);
    mt_free(&x3);
    mt_free(&y3);
    mt_free(&xv);
    mt_free(&yv);
}

static void topk_case(const char *cs, int64_t rows, int64_t n, int64_t k, int layout, int want_v,
                      int want_i, vlm_dtype idt, int ties) {
    int64_t sx[2] = {rows, n}, so[2] = {rows, k};
    mt x = mt_make(VLM_DTYPE_F32, 2, sx, layout);
    if (ties) {
        fill_select(&x, rows, n);
    } else {
        tt_fill_uniform(&x.h.t, &R, -30, 30);
        mt_sync(&x);
    }
    mt v = mt_make(VLM_DTYPE_F32, 2, so, TT_PADDED), i = mt_make(idt, 2, so, TT_PERMUTED);
    BOTH(vlm_op_topk(&C.ctx, &x.h.t, k, want_v ? &v.h.t : NULL, want_i ? &i.h.t : NULL),
         vlm_op_topk(&G.ctx, &x.g, k, want_v ? &v.g : NULL, want_i ? &i.g : NULL));
    check_exact("topk", cs, &v); /* untouched (all sentinel) when not wanted */
    check_exact("topk", cs, &i);
    mt_free(&x);
    mt_free(&v);
    mt_free(&i);
}

static void test_topk(void) {
    topk_case("k1", 5, 300, 1, TT_CONTIG, 1, 1, VLM_DTYPE_I64, 1);
    topk_case("k7 ties nan zeros", 5, 300, 7, TT_PERMUTED, 1, 1, VLM_DTYPE_I32, 1);
    topk_case("k = n", 5, 300, 300, TT_PADDED, 1, 1, VLM_DTYPE_I64, 1);
    topk_case("values only", 3, 257, 20, TT_CONTIG, 1, 0, VLM_DTYPE_I64, 1);
    topk_case("indices only", 3, 257, 20, TT_CONTIG, 0, 1, VLM_DTYPE_I32, 1);
    topk_case("vocabulary k50", 2, 152064, 50, TT_CONTIG, 1, 1, VLM_DTYPE_I64, 0);
    topk_case("k5000 device scratch", 2, 20000, 5000, TT_CONTIG, 1, 1, VLM_DTYPE_I64, 1);
}

/* ------------------------------------------------------------ refusals */

static void test_refusals(void) {
    vlm_error e;
    CHECK(vlm_backend_cuda(999, &e) == NULL);
    CHECK_CONTAINS(e.message, "device 999 does not exist");
    CHECK(vlm_backend_is_cuda(G.be));
    CHECK(!vlm_backend_is_cuda(vlm_backend_cpu()));
    char host[64];
    vlm_buffer *b = NULL;
    CHECK_EQ_INT(vlm_buffer_wrap(G.be, host, sizeof host, 0, &b, &e), VLM_ERR_UNSUPPORTED);
    CHECK(b == NULL);
    /* A CPU tensor handed to a CUDA context. */
    int64_t s[1] = {8};
    tt_tensor h = tt_make(VLM_DTYPE_F32, 1, s, TT_CONTIG);
    CHECK_OP_FAILS(&G, vlm_op_fill(&G.ctx, &h.t, 1.0f), VLM_ERR_INVALID_ARGUMENT,
                   "lives on backend cpu");
    tt_free(&h);
    /* Head dims over the kernel's limit. */
    int64_t sq[3] = {2, 1, 300};
    mt q = mt_rand(VLM_DTYPE_F32, 3, sq, TT_CONTIG, -1, 1),
       o = mt_make(VLM_DTYPE_F32, 3, sq, TT_CONTIG);
    vlm_attn_params p = vlm_attn_params_default(0.1f);
    CHECK_OP_FAILS(&G, vlm_op_attention(&G.ctx, &q.g, &q.g, &q.g, &p, &o.g), VLM_ERR_UNSUPPORTED,
                   "exceed 256");
    mt_free(&q);
    mt_free(&o);
    CHECK(vlm_cuda_synchronize(G.be, &e) == VLM_OK);
}

int main(void) {
    vlm_error e;
    G.be = vlm_backend_cuda(0, &e);
    if (!G.be) SKIP("%s", e.message);
    printf("device: %s\n", vlm_cuda_describe(G.be));
    if (vlm_arena_create(G.be, 64 << 20, &G.arena, &e) != VLM_OK) {
        fprintf(stderr, "gpu arena: %s\n", e.message);
        return 2;
    }
    vlm_ctx_init(&G.ctx, G.arena, 1);
    tt_env_init(&C, 4);

    test_copy();
    test_fill();
    test_binary();
    test_act();
    test_norms();
    test_matmul();
    test_matmul_q();
    test_matmul_q_gemm();
    test_fused();
    test_embedding_q();
    test_bmm();
    test_rope();
    test_attention();
    test_gather_scatter();
    test_pool();
    test_interp();
    test_argmax();
    test_topk();
    test_refusals();

    printf("%-12s %6s %6s %12s %10s  %s\n", "op", "cases", "failed", "max |g-c|", "err/limit",
           "tolerance");
    for (int i = 0; i < g_nstats; i++) {
        const op_stat *s = &g_stats[i];
        printf("%-12s %6d %6d %12.3g %10.3g  %s\n", s->op, s->cases, s->bad_cases, s->max_abs,
               s->exact ? 0.0 : s->worst, s->exact ? "bit-identical" : "see file header");
    }
    vlm_arena_free(G.arena);
    tt_env_free(&C);
    TEST_DONE();
}
#endif
