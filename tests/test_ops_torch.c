/* The ops against outputs of torch 2.11 / transformers 5.17 themselves
 * (tests/fixtures/ops/torch_ops.txt, made by tools/refgen/ops_refs.py): F.interpolate
 * (bilinear / bicubic, align_corners, antialias), Idefics3Connector.pixel_shuffle, the
 * Qwen2-VL and Qwen3-VL text rotary modules (M-RoPE sections, interleaved) with
 * apply_rotary_pos_emb, Qwen2VLVisionRotaryEmbedding with apply_rotary_pos_emb_vision,
 * attention under masks built by transformers.masking_utils (causal + sliding window,
 * Gemma 3's blockwise image overlay, packed sequences), Conv2d / Conv3d patch embedding,
 * AvgPool2d, Qwen2RMSNorm / Gemma3RMSNorm / LayerNorm and ACT2FN activations.
 * Tolerances (torch's f32 vs ours, |err| <= atol + rtol |ref|) are stated per case. */
#include "ops_testutil.h"

#define MAX_T 8
#define MAX_I 8

typedef struct fx_tensor {
    char key[32];
    int is_int;
    int ndim;
    int64_t shape[VLM_MAX_DIMS];
    int64_t n;
    double *v;
} fx_tensor;

typedef struct fx_case {
    char name[96];
    int n_t, n_i;
    fx_tensor t[MAX_T];
    char ikey[MAX_I][32];
    int64_t ival[MAX_I][8];
    int icount[MAX_I];
} fx_case;

static void case_free(fx_case *c) {
    for (int i = 0; i < c->n_t; i++)
        free(c->t[i].v);
    memset(c, 0, sizeof *c);
}

static const fx_tensor *T(const fx_case *c, const char *key) {
    for (int i = 0; i < c->n_t; i++)
        if (!strcmp(c->t[i].key, key)) return &c->t[i];
    fprintf(stderr, "%s: no tensor %s\n", c->name, key);
    exit(2);
}

static int I(const fx_case *c, const char *key, int idx) {
    for (int i = 0; i < c->n_i; i++)
        if (!strcmp(c->ikey[i], key)) return (int)c->ival[i][idx];
    fprintf(stderr, "%s: no int %s\n", c->name, key);
    exit(2);
}

static int has_int(const fx_case *c, const char *key) {
    for (int i = 0; i < c->n_i; i++)
        if (!strcmp(c->ikey[i], key)) return c->icount[i];
    return 0;
}

/* Reads the next case; 0 at end of file. */
static int read_case(FILE *f, fx_case *c) {
    char word[64];
    memset(c, 0, sizeof *c);
    while (fscanf(f, "%63s", word) == 1) {
        if (word[0] == '#') {
            int ch;
            while ((ch = fgetc(f)) != '\n' && ch != EOF) {
            }
            continue;
        }
        if (!strcmp(word, "case")) {
            if (fscanf(f, "%95s", c->name) != 1) return 0;
        } else if (!strcmp(word, "int")) {
            int k = c->n_i++;
            if (fscanf(f, "%31s", c->ikey[k]) != 1) return 0;
            int ch;
            while ((ch = fgetc(f)) != '\n' && ch != EOF) {
                ungetc(ch, f);
                long long v;
                if (fscanf(f, "%lld", &v) != 1) break;
                c->ival[k][c->icount[k]++] = v;
                while ((ch = fgetc(f)) == ' ') {
                }
                ungetc(ch, f);
            }
        } else if (!strcmp(word, "tensor")) {
            fx_tensor *t = &c->t[c->n_t++];
            char dt[8];
            if (fscanf(f, "%31s %7s %d", t->key, dt, &t->ndim) != 3) return 0;
            t->is_int = !strcmp(dt, "i64");
            t->n = 1;
            for (int i = 0; i < t->ndim; i++) {
                long long s;
                if (fscanf(f, "%lld", &s) != 1) return 0;
                t->shape[i] = s;
                t->n *= s;
            }
            t->v = tt_ref(t->n);
            for (int64_t i = 0; i < t->n; i++)
                if (fscanf(f, "%lf", &t->v[i]) != 1) return 0;
            if (!t->is_int) /* the file holds f32 values in decimal: round them back */
                for (int64_t i = 0; i < t->n; i++)
                    t->v[i] = (float)t->v[i];
        } else if (!strcmp(word, "end")) {
            return 1;
        }
    }
    return 0;
}

/* A guarded f32 (or i64) tensor holding a fixture tensor, in the given layout. */
static tt_tensor load(const fx_tensor *ft, int layout) {
    tt_tensor x = tt_make(ft->is_int ? VLM_DTYPE_I64 : VLM_DTYPE_F32, ft->ndim, ft->shape, layout);
    for (int64_t i = 0; i < ft->n; i++)
        tt_set(&x.t, i, ft->v[i]);
    return x;
}

static tt_tensor empty_like(const fx_tensor *ft, int layout) {
    return tt_make(VLM_DTYPE_F32, ft->ndim, ft->shape, layout);
}

static void expect(const char *name, const tt_tensor *got, const fx_tensor *want, double atol,
                   double rtol) {
    CHECK_EQ_INT(vlm_tensor_numel(&got->t), want->n);
    int64_t bad = tt_compare(name, &got->t, want->v, atol, rtol);
    CHECK_MSG(bad == 0, "%s", name);
    CHECK_MSG(tt_guard_ok(got), "%s: write outside the output", name);
}

static int n_cases;

static void run_interp(tt_env *env, const fx_case *c, int layout) {
    tt_tensor x = load(T(c, "x"), layout), y = empty_like(T(c, "y"), layout);
    CHECK_OP(env, vlm_op_interpolate(&env->ctx, &x.t, (vlm_interp_mode)I(c, "mode", 0),
                                     I(c, "align_corners", 0), I(c, "antialias", 0), &y.t));
    expect(c->name, &y, T(c, "y"), 2e-6, 1e-5);
    tt_free(&x);
    tt_free(&y);
}

static void run_pixel_shuffle(tt_env *env, const fx_case *c) {
    tt_tensor x = load(T(c, "x"), TT_PADDED), y = empty_like(T(c, "y"), TT_PADDED);
    CHECK_OP(env, vlm_op_pixel_shuffle(&env->ctx, &x.t, I(c, "r", 0), &y.t));
    expect(c->name, &y, T(c, "y"), 0, 0); /* a permutation: exact */
    tt_free(&x);
    tt_free(&y);
}

/* rope_table from (pos, inv_freq, sections) must give transformers' cos (and sin); rope
 * must give apply_rotary_pos_emb's q_embed. */
static void run_rope(tt_env *env, const fx_case *c, vlm_rope_sections layout) {
    const fx_tensor *fc = T(c, "cos");
    tt_tensor pos = load(T(c, "pos"), TT_CONTIG), inv = load(T(c, "inv_freq"), TT_CONTIG);
    tt_tensor cs = empty_like(fc, TT_PADDED), sn = empty_like(fc, TT_PADDED);
    int sections[4] = {0};
    int n_axes = (int)T(c, "pos")->shape[0];
    bool vision = !has_int(c, "sections");
    for (int a = 0; a < n_axes; a++)
        sections[a] = vision ? (int)fc->shape[1] / 2 : I(c, "sections", a);
    /* Vision: the frequency vector is cat(f, f), one copy per axis. */
    tt_tensor inv2 = inv;
    if (vision) {
        int64_t half = fc->shape[1];
        inv2 = tt_make(VLM_DTYPE_F32, 1, &half, TT_CONTIG);
        for (int64_t j = 0; j < half; j++)
            tt_set(&inv2.t, j, tt_get(&inv.t, j % (half / 2)));
    }
    CHECK_OP(env,
             vlm_op_rope_table(&env->ctx, &pos.t, &inv2.t, sections, layout, 1.0f, &cs.t, &sn.t));
    expect(c->name, &cs, fc, 2e-7, 2e-7);
    for (int i = 0; i < c->n_t; i++)
        if (!strcmp(c->t[i].key, "sin")) expect(c->name, &sn, &c->t[i], 2e-7, 2e-7);
    tt_tensor q = load(T(c, "q"), TT_PADDED), qe = empty_like(T(c, "q_embed"), TT_PADDED);
    CHECK_OP(env, vlm_op_rope(&env->ctx, &q.t, &cs.t, &sn.t, VLM_ROPE_ROTATE_HALF, &qe.t));
    expect(c->name, &qe, T(c, "q_embed"), 1e-6, 1e-6);
    /* in place gives the same */
    CHECK_OP(env, vlm_op_rope(&env->ctx, &q.t, &cs.t, &sn.t, VLM_ROPE_ROTATE_HALF, &q.t));
    expect(c->name, &q, T(c, "q_embed"), 1e-6, 1e-6);
    if (vision) tt_free(&inv2);
    tt_free(&pos);
    tt_free(&inv);
    tt_free(&cs);
    tt_free(&sn);
    tt_free(&q);
    tt_free(&qe);
}

static void run_attention(tt_env *env, const fx_case *c) {
    tt_tensor q = load(T(c, "q"), TT_PADDED), k = load(T(c, "k"), TT_PADDED),
              v = load(T(c, "v"), TT_PADDED), o = empty_like(T(c, "out"), TT_PADDED);
    vlm_attn_params p = vlm_attn_params_default((float)(1.0 / sqrt((double)T(c, "q")->shape[2])));
    p.causal = I(c, "causal", 0);
    int64_t segs[8], spans[8];
    if (has_int(c, "window")) p.window = I(c, "window", 0);
    if (has_int(c, "segments")) {
        int n = has_int(c, "segments");
        for (int i = 0; i < n; i++)
            segs[i] = I(c, "segments", i);
        p.segments = segs;
        p.n_segments = n - 1;
    }
    if (has_int(c, "spans")) {
        int n = has_int(c, "spans");
        for (int i = 0; i < n; i++)
            spans[i] = I(c, "spans", i);
        p.spans = spans;
        p.n_spans = n / 2;
    }
    CHECK_OP(env, vlm_op_attention(&env->ctx, &q.t, &k.t, &v.t, &p, &o.t));
    expect(c->name, &o, T(c, "out"), 2e-6, 1e-5);
    tt_free(&q);
    tt_free(&k);
    tt_free(&v);
    tt_free(&o);
}

static void run_patch(tt_env *env, const fx_case *c) {
    tt_tensor img = load(T(c, "img"), TT_CONTIG), w = load(T(c, "w"), TT_CONTIG);
    tt_tensor out = empty_like(T(c, "out"), TT_PADDED), b = {0};
    if (c->n_t == 4) b = load(T(c, "b"), TT_CONTIG);
    CHECK_OP(env, vlm_op_patch_embed(&env->ctx, &img.t, &w.t, b.buf ? &b.t : NULL, &out.t));
    expect(c->name, &out, T(c, "out"), 1e-5, 1e-5);
    tt_free(&img);
    tt_free(&w);
    tt_free(&out);
    if (b.buf) tt_free(&b);
}

static void run_pool(tt_env *env, const fx_case *c) {
    tt_tensor x = load(T(c, "x"), TT_PERMUTED), o = empty_like(T(c, "out"), TT_PADDED);
    CHECK_OP(env, vlm_op_avg_pool2d(&env->ctx, &x.t, I(c, "k", 0), I(c, "k", 1), I(c, "s", 0),
                                    I(c, "s", 1), &o.t));
    expect(c->name, &o, T(c, "out"), 1e-6, 1e-6);
    tt_free(&x);
    tt_free(&o);
}

static void run_norm(tt_env *env, const fx_case *c) {
    tt_tensor x = load(T(c, "x"), TT_PADDED), w = load(T(c, "w"), TT_CONTIG);
    tt_tensor o = empty_like(T(c, "out"), TT_PADDED);
    if (strstr(c->name, "layer_norm")) {
        tt_tensor b = load(T(c, "b"), TT_CONTIG);
        CHECK_OP(env, vlm_op_layer_norm(&env->ctx, &x.t, &w.t, &b.t, 1e-6f, &o.t));
        tt_free(&b);
    } else {
        float off = strstr(c->name, "gemma3") ? 1.0f : 0.0f;
        CHECK_OP(env, vlm_op_rms_norm(&env->ctx, &x.t, &w.t, 1e-6f, off, &o.t));
    }
    expect(c->name, &o, T(c, "out"), 2e-6, 2e-6);
    tt_free(&x);
    tt_free(&w);
    tt_free(&o);
}

static void run_act(tt_env *env, const fx_case *c) {
    tt_tensor x = load(T(c, "x"), TT_CONTIG), o = empty_like(T(c, "y"), TT_CONTIG);
    CHECK_OP(env, vlm_op_act(&env->ctx, (vlm_act)I(c, "act", 0), &x.t, &o.t));
    expect(c->name, &o, T(c, "y"), 1e-6, 2e-6);
    tt_free(&x);
    tt_free(&o);
}

int main(void) {
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/fixtures/ops/torch_ops.txt", vlm_test_source_dir());
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        return 1;
    }
    tt_env env;
    tt_env_init(&env, 2);
    fx_case c;
    while (read_case(f, &c)) {
        n_cases++;
        const char *n = c.name;
        if (!strncmp(n, "interp_", 7)) {
            run_interp(&env, &c, TT_CONTIG);
            run_interp(&env, &c, TT_PERMUTED);
        } else if (!strncmp(n, "pixel_shuffle", 13)) {
            run_pixel_shuffle(&env, &c);
        } else if (!strcmp(n, "mrope_qwen2vl") || !strcmp(n, "vision_rope_qwen2vl")) {
            run_rope(&env, &c, VLM_ROPE_SECTIONS_CONSECUTIVE);
        } else if (!strcmp(n, "mrope_qwen3vl_interleaved")) {
            run_rope(&env, &c, VLM_ROPE_SECTIONS_INTERLEAVED);
        } else if (!strncmp(n, "attn_", 5)) {
            run_attention(&env, &c);
        } else if (!strncmp(n, "patch_", 6)) {
            run_patch(&env, &c);
        } else if (!strncmp(n, "avg_pool", 8)) {
            run_pool(&env, &c);
        } else if (strstr(n, "norm")) {
            run_norm(&env, &c);
        } else if (!strncmp(n, "act_", 4)) {
            run_act(&env, &c);
        } else {
            fprintf(stderr, "unknown case %s\n", n);
            CHECK(0);
        }
        case_free(&c);
    }
    fclose(f);
    CHECK_EQ_INT(n_cases, 53);
    tt_env_free(&env);
    TEST_DONE();
}
