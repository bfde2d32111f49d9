/* Tensors, views and the scratch arena: view arithmetic checked element by element
 * against index math written here, reshape's view/no-view decision against torch's rule
 * (a view exists iff the merged dimensions are contiguous with each other), bounds and
 * overflow refusals, read-only buffers, and the arena's promise that a repeated pass takes
 * no memory from the system after the first. */
#include "ops_testutil.h"

static void test_views(void) {
    int64_t shape[3] = {4, 5, 6};
    tt_tensor x = tt_make(VLM_DTYPE_F32, 3, shape, TT_CONTIG);
    for (int64_t i = 0; i < 120; i++) tt_set(&x.t, i, (double)i);
    vlm_error e;
    vlm_tensor v;

    /* narrow dim 1 [1, 4) -> x[a, 1 + b, c] */
    CHECK(vlm_tensor_narrow(&x.t, 1, 1, 3, &v, &e) == VLM_OK);
    CHECK_EQ_INT(v.shape[1], 3);
    int ok = 1;
    for (int a = 0; a < 4; a++)
        for (int b = 0; b < 3; b++)
            for (int c = 0; c < 6; c++)
                ok &= tt_get(&v, (a * 3 + b) * 6 + c) == (double)((a * 5 + 1 + b) * 6 + c);
    CHECK(ok);
    CHECK(!vlm_tensor_is_contiguous(&v));

    /* slice with step on the last dim: x[..., 1:6:2] */
    CHECK(vlm_tensor_slice(&x.t, -1, 1, 6, 2, &v, &e) == VLM_OK);
    CHECK_EQ_INT(v.shape[2], 3);
    ok = 1;
    for (int64_t i = 0; i < 60; i++) ok &= tt_get(&v, i) == (double)((i / 3) * 6 + 1 + 2 * (i % 3));
    CHECK(ok);

    /* select dim 0 index 2 */
    CHECK(vlm_tensor_select(&x.t, 0, 2, &v, &e) == VLM_OK);
    CHECK_EQ_INT(v.ndim, 2);
    CHECK(tt_get(&v, 7) == 60.0 + 7.0);

    /* permute (2, 0, 1): v[c, a, b] = x[a, b, c] */
    int perm[3] = {2, 0, 1};
    CHECK(vlm_tensor_permute(&x.t, perm, &v, &e) == VLM_OK);
    ok = 1;
    for (int c = 0; c < 6; c++)
        for (int a = 0; a < 4; a++)
            for (int b = 0; b < 5; b++) ok &= tt_get(&v, (c * 4 + a) * 5 + b) == (double)((a * 5 + b) * 6 + c);
    CHECK(ok);
    int bad_perm[3] = {0, 0, 1};
    CHECK(vlm_tensor_permute(&x.t, bad_perm, &v, &e) == VLM_ERR_INVALID_ARGUMENT);

    /* reshape of a contiguous tensor: always a view */
    int64_t s2[2] = {-1, 6};
    CHECK(vlm_tensor_reshape(&x.t, 2, s2, &v, &e) == VLM_OK);
    CHECK_EQ_INT(v.shape[0], 20);
    CHECK(tt_get(&v, 77) == 77.0);
    /* reshape of a transposed tensor that merges non-adjacent memory: refused */
    vlm_tensor tr;
    CHECK(vlm_tensor_transpose(&x.t, 0, 1, &tr, &e) == VLM_OK); /* [5, 4, 6] */
    int64_t s3[2] = {20, 6};
    CHECK_EQ_INT(vlm_tensor_reshape(&tr, 2, s3, &v, &e), VLM_ERR_UNSUPPORTED);
    CHECK_CONTAINS(e.message, "copy it first");
    /* ... but splitting / merging only the contiguous last two dims is a view */
    int64_t s4[4] = {5, 4, 2, 3};
    CHECK(vlm_tensor_reshape(&tr, 4, s4, &v, &e) == VLM_OK);
    ok = 1;
    for (int b = 0; b < 5; b++)
        for (int a = 0; a < 4; a++)
            for (int c = 0; c < 6; c++) ok &= tt_get(&v, (b * 4 + a) * 6 + c) == (double)((a * 5 + b) * 6 + c);
    CHECK(ok);
    /* a narrowed (padded) tensor merges its outer dims only if rows stay uniform */
    vlm_tensor nar;
    CHECK(vlm_tensor_narrow(&x.t, 2, 0, 4, &nar, &e) == VLM_OK); /* [4, 5, 4] rows of 6 */
    int64_t s5[2] = {20, 4};
    CHECK(vlm_tensor_reshape(&nar, 2, s5, &v, &e) == VLM_OK);
    CHECK(tt_get(&v, 4 * 7 + 3) == (double)(7 * 6 + 3));
    int64_t s6[1] = {80};
    CHECK_EQ_INT(vlm_tensor_reshape(&nar, 1, s6, &v, &e), VLM_ERR_UNSUPPORTED);
    int64_t s7[2] = {7, -1};
    CHECK_EQ_INT(vlm_tensor_reshape(&x.t, 2, s7, &v, &e), VLM_ERR_INVALID_ARGUMENT);

    /* unsqueeze / expand */
    CHECK(vlm_tensor_unsqueeze(&x.t, 1, &v, &e) == VLM_OK);
    CHECK_EQ_INT(v.ndim, 4);
    CHECK_EQ_INT(v.shape[1], 1);
    int64_t b1[1] = {6};
    tt_tensor row = tt_make(VLM_DTYPE_F32, 1, b1, TT_CONTIG);
    int64_t es[3] = {2, 3, 6};
    CHECK(vlm_tensor_expand(&row.t, 3, es, &v, &e) == VLM_OK);
    CHECK_EQ_INT(v.stride[0], 0);
    CHECK_EQ_INT(v.stride[2], 4);
    int64_t es_bad[2] = {3, 5};
    CHECK(vlm_tensor_expand(&row.t, 2, es_bad, &v, &e) == VLM_ERR_INVALID_ARGUMENT);

    /* out of range */
    CHECK(vlm_tensor_narrow(&x.t, 1, 3, 3, &v, &e) == VLM_ERR_INVALID_ARGUMENT);
    CHECK(vlm_tensor_select(&x.t, 3, 0, &v, &e) == VLM_ERR_INVALID_ARGUMENT);
    CHECK(vlm_tensor_select(&x.t, 0, 4, &v, &e) == VLM_ERR_INVALID_ARGUMENT);
    tt_free(&row);
    tt_free(&x);
}

static void test_bounds(void) {
    vlm_buffer *buf;
    vlm_error e;
    CHECK(vlm_buffer_alloc(vlm_backend_cpu(), 64, &buf, &e) == VLM_OK);
    vlm_tensor t;
    int64_t s16[1] = {16}, s17[1] = {17};
    CHECK(vlm_tensor_init(&t, buf, 0, VLM_DTYPE_F32, 1, s16, &e) == VLM_OK);
    CHECK(vlm_tensor_init(&t, buf, 0, VLM_DTYPE_F32, 1, s17, &e) == VLM_ERR_INVALID_ARGUMENT);
    CHECK_CONTAINS(e.message, "exceeds the buffer");
    CHECK(vlm_tensor_init(&t, buf, 4, VLM_DTYPE_F32, 1, s16, &e) == VLM_ERR_INVALID_ARGUMENT);
    CHECK(vlm_tensor_init(&t, buf, 2, VLM_DTYPE_F32, 1, s16, &e) == VLM_ERR_INVALID_ARGUMENT);
    CHECK_CONTAINS(e.message, "multiple");
    int64_t huge[3] = {INT64_MAX / 2, 4, 2};
    CHECK(vlm_tensor_init(&t, NULL, 0, VLM_DTYPE_F32, 3, huge, &e) == VLM_ERR_LIMIT);
    int64_t neg[2] = {3, -1};
    CHECK(vlm_tensor_init(&t, buf, 0, VLM_DTYPE_F32, 2, neg, &e) != VLM_OK);
    int64_t sh[2] = {2, 2}, st_big[2] = {INT64_MAX / 2, 4};
    CHECK(vlm_tensor_init_strided(&t, buf, 0, VLM_DTYPE_F32, 2, sh, st_big, &e) != VLM_OK);
    int64_t empty[2] = {0, 1000000};
    CHECK(vlm_tensor_init(&t, buf, 0, VLM_DTYPE_F32, 2, empty, &e) == VLM_OK);
    CHECK_EQ_INT(vlm_tensor_numel(&t), 0);
    /* uploads are bounds-checked too */
    char src[80] = {0};
    CHECK(vlm_buffer_upload(buf, 32, src, 33, &e) == VLM_ERR_INVALID_ARGUMENT);
    CHECK(vlm_buffer_upload(buf, SIZE_MAX, src, 2, &e) == VLM_ERR_INVALID_ARGUMENT);
    vlm_buffer_free(buf);

    /* a wrapped read-only buffer (mmapped weights): ops refuse to write into it */
    static float weights[8];
    vlm_buffer *ro;
    CHECK(vlm_buffer_wrap(vlm_backend_cpu(), weights, sizeof weights, VLM_BUFFER_READONLY, &ro, &e) ==
          VLM_OK);
    int64_t s8[1] = {8};
    CHECK(vlm_tensor_init(&t, ro, 0, VLM_DTYPE_F32, 1, s8, &e) == VLM_OK);
    tt_env env;
    tt_env_init(&env, 1);
    CHECK_OP_FAILS(&env, vlm_op_fill(&env.ctx, &t, 1.0f), VLM_ERR_INVALID_ARGUMENT, "read-only");
    CHECK(weights[0] == 0.0f);
    /* errors are sticky until cleared */
    CHECK(vlm_op_fill(&env.ctx, &t, 1.0f) != VLM_OK);
    CHECK(vlm_op_scale(&env.ctx, &t, 2.0f, &t) != VLM_OK); /* would also fail, but: */
    CHECK_CONTAINS(env.ctx.err.message, "fill"); /* the first message is kept */
    vlm_ctx_clear(&env.ctx);
    tt_env_free(&env);
    vlm_buffer_free(ro);
}

/* A "decode step": allocate activations from the arena and run a few ops that take
 * temporaries (norm with a bf16 weight, attention, matmul through a strided input). */
static void fake_step(tt_env *env, const tt_tensor *w, const tt_tensor *kcache, int64_t len) {
    vlm_ctx *ctx = &env->ctx;
    int64_t hs[2] = {1, 64};
    vlm_tensor h, n, q, o, k, kv;
    vlm_error e;
    CHECK_OP(env, vlm_ctx_tensor(ctx, VLM_DTYPE_F32, 2, hs, &h));
    CHECK_OP(env, vlm_op_fill(ctx, &h, 0.5f));
    CHECK_OP(env, vlm_ctx_tensor(ctx, VLM_DTYPE_F32, 2, hs, &n));
    CHECK_OP(env, vlm_op_rms_norm(ctx, &h, &w->t, 1e-6f, 1.0f, &n));
    int64_t qs[3] = {1, 4, 16};
    CHECK(vlm_tensor_reshape(&n, 3, qs, &q, &e) == VLM_OK);
    CHECK_OP(env, vlm_ctx_tensor(ctx, VLM_DTYPE_F32, 3, qs, &o));
    CHECK(vlm_tensor_narrow(&kcache->t, 0, 0, len, &k, &e) == VLM_OK);
    vlm_attn_params p = vlm_attn_params_default(0.25f);
    p.causal = 1;
    p.q_pos0 = len - 1;
    CHECK_OP(env, vlm_op_attention(ctx, &q, &k, &k, &p, &o));
    CHECK(vlm_tensor_narrow(&kcache->t, 0, 0, 8, &kv, &e) == VLM_OK);
    (void)kv;
}

static void test_arena(void) {
    vlm_error e;
    vlm_arena *a;
    CHECK(vlm_arena_create(vlm_backend_cpu(), 0, &a, &e) == VLM_OK);
    vlm_buffer *b1, *b2, *b3;
    int64_t o1, o2, o3;
    CHECK(vlm_arena_alloc(a, 100, &b1, &o1, &e) == VLM_OK);
    CHECK(vlm_arena_alloc(a, 3, &b2, &o2, &e) == VLM_OK);
    CHECK(o1 % VLM_ARENA_ALIGN == 0 && o2 % VLM_ARENA_ALIGN == 0 && o2 >= o1 + 100);
    vlm_arena_mark m = vlm_arena_get_mark(a);
    CHECK(vlm_arena_alloc(a, 5u << 20, &b3, &o3, &e) == VLM_OK); /* forces a second block */
    vlm_arena_stats s = vlm_arena_get_stats(a);
    CHECK_EQ_INT(s.n_blocks, 2);
    vlm_arena_release(a, m);
    CHECK(vlm_arena_alloc(a, 64, &b3, &o3, &e) == VLM_OK);
    CHECK(b3 == b2 && o3 == o2 + 64); /* released space is reused */
    CHECK(vlm_arena_reset(a, &e) == VLM_OK);
    s = vlm_arena_get_stats(a);
    CHECK_EQ_INT(s.n_blocks, 1); /* consolidated */
    CHECK(s.reserved >= (5u << 20));
    CHECK(vlm_arena_alloc(a, SIZE_MAX - 10, &b3, &o3, &e) == VLM_ERR_LIMIT);
    vlm_arena_free(a);

    /* Warm-up pass, then ten more passes of growing length: no system allocation. */
    tt_env env;
    CHECK(vlm_arena_create(vlm_backend_cpu(), 0, &env.arena, &e) == VLM_OK);
    vlm_ctx_init(&env.ctx, env.arena, 2);
    tt_rng r = {42};
    int64_t ws[1] = {64}, ks[3] = {64, 4, 16};
    tt_tensor w = tt_rand(VLM_DTYPE_BF16, 1, ws, TT_CONTIG, &r, -1, 1);
    tt_tensor kc = tt_rand(VLM_DTYPE_F32, 3, ks, TT_CONTIG, &r, -1, 1);
    fake_step(&env, &w, &kc, 40);
    CHECK(vlm_arena_reset(env.arena, &e) == VLM_OK);
    fake_step(&env, &w, &kc, 41);
    CHECK(vlm_arena_reset(env.arena, &e) == VLM_OK);
    uint64_t before = vlm_arena_get_stats(env.arena).n_system_allocs;
    for (int64_t len = 42; len < 52; len++) {
        fake_step(&env, &w, &kc, len);
        CHECK(vlm_arena_reset(env.arena, &e) == VLM_OK);
    }
    CHECK_EQ_INT(vlm_arena_get_stats(env.arena).n_system_allocs, before);
    CHECK_EQ_INT(vlm_arena_get_stats(env.arena).used, 0);
    tt_free(&w);
    tt_free(&kc);
    tt_env_free(&env);
}

int main(void) {
    test_views();
    test_bounds();
    test_arena();
    TEST_DONE();
}
