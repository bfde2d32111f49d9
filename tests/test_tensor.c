/* Tensors, views and the scratch arena: view arithmetic checked element by element
 * against index math written here, reshape's view/no-view decision against torch's rule
 * (a view exists iff the merged dimensions are contiguous with each other), bounds and
 * overflow refusals, read-only buffers, and the arena's promise that a repeated pass takes
 * no memory from the system after the first. */
#include "ops_testutil.h"

static void test_views(void) {
    int64_t shape[3] = {4, 5, 6};
    tt_tensor x = tt_make(VLM_DTYPE_F32, 3, shape, TT_CONTIG);
    for (int64_t i = 0; i < 120; i++)
        tt_set(&x.t, i, (double)i);
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
    for (int64_t i = 0; i < 60; i++)
        ok &= tt_get(&v, i) == (double)((i / 3) * 6 + 1 + 2 * (i % 3));
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
            for (int b = 0; b < 5; b++)
                ok &= tt_get(&v, (c * 4 + a) * 5 + b) == (double)((a * 5 + b) * 6 + c);
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
            for (int c = 0; c < 6; c++)
                ok &= tt_get(&v, (b * 4 + a) * 6 + c) == (double)((a * 5 + b) * 6 + c);
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

    /* host data must be aligned to the element size (a wrapped file may not be) */
    static uint32_t raw[8];
    vlm_buffer *odd;
    CHECK(vlm_buffer_wrap(vlm_backend_cpu(), (char *)raw + 2, 16, 0, &odd, &e) == VLM_OK);
    int64_t s3[1] = {3};
    CHECK(vlm_tensor_init(&t, odd, 0, VLM_DTYPE_F32, 1, s3, &e) == VLM_ERR_INVALID_ARGUMENT);
    CHECK_CONTAINS(e.message, "not aligned");
    CHECK(vlm_tensor_init(&t, odd, 0, VLM_DTYPE_BF16, 1, s3, &e) == VLM_OK);
    vlm_buffer_free(odd);

    /* a wrapped read-only buffer (mmapped weights): ops refuse to write into it */
    static float weights[8];
    vlm_buffer *ro;
    CHECK(vlm_buffer_wrap(vlm_backend_cpu(), weights, sizeof weights, VLM_BUFFER_READONLY, &ro,
                          &e) == VLM_OK);
    int64_t s8[1] = {8};
    CHECK(vlm_tensor_init(&t, ro, 0, VLM_DTYPE_F32, 1, s8, &e) == VLM_OK);
    tt_env env;
    tt_env_init(&env, 1);
    CHECK_OP_FAILS(&env, vlm_op_fill(&env.ctx, &t, 1.0f), VLM_ERR_INVALID_ARGUMENT, "read-only");
    CHECK(weights[0] == 0.0f);
    /* errors are sticky until cleared */
    CHECK(vlm_op_fill(&env.ctx, &t, 1.0f) != VLM_OK);
    CHECK(vlm_op_scale(&env.ctx, &t, 2.0f, &t) != VLM_OK); /* would also fail, but: */
    CHECK_CONTAINS(env.ctx.err.message, "fill");           /* the first message is kept */
    vlm_ctx_clear(&env.ctx);
    tt_env_free(&env);
    vlm_buffer_free(ro);
}

/* Counting every allocation of the process (the library, libgomp, libc): the test binary's
 * malloc family overrides libc's and forwards to it. Not under AddressSanitizer, which
 * owns malloc itself. */
#if !defined(__SANITIZE_ADDRESS__)
#define COUNT_MALLOC 1
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);
static long n_malloc_calls;
void *malloc(size_t n) {
    __atomic_add_fetch(&n_malloc_calls, 1, __ATOMIC_RELAXED);
    return __libc_malloc(n);
}
void *calloc(size_t a, size_t b) {
    __atomic_add_fetch(&n_malloc_calls, 1, __ATOMIC_RELAXED);
    return __libc_calloc(a, b);
}
void *realloc(void *p, size_t n) {
    __atomic_add_fetch(&n_malloc_calls, 1, __ATOMIC_RELAXED);
    return __libc_realloc(p, n);
}
void *aligned_alloc(size_t a, size_t n) {
    __atomic_add_fetch(&n_malloc_calls, 1, __ATOMIC_RELAXED);
    return __libc_memalign(a, n);
}
int posix_memalign(void **p, size_t a, size_t n) {
    __atomic_add_fetch(&n_malloc_calls, 1, __ATOMIC_RELAXED);
    *p = __libc_memalign(a, n);
    return *p ? 0 : 12;
}
void free(void *p) {
    __libc_free(p);
}
#endif

/* The weights of a toy decoder layer (hidden 64, 4 heads of 16, GQA 4/2, MLP 96). */
typedef struct toy {
    tt_tensor norm_w, wqkv, wo, wgu, wdown, inv_freq, kcache, vcache, pos;
} toy;

static void toy_init(toy *m, tt_rng *r) {
    int64_t s64[1] = {64}, sqkv[2] = {128, 64}, so[2] = {64, 64}, sgu[2] = {192, 64},
            sdn[2] = {64, 96}, sf[1] = {8}, sc[3] = {64, 2, 16}, sp[2] = {3, 1};
    m->norm_w = tt_rand(VLM_DTYPE_BF16, 1, s64, TT_CONTIG, r, -1, 1);
    m->wqkv = tt_rand(VLM_DTYPE_BF16, 2, sqkv, TT_CONTIG, r, -0.2, 0.2);
    m->wo = tt_rand(VLM_DTYPE_F16, 2, so, TT_CONTIG, r, -0.2, 0.2);
    m->wgu = tt_rand(VLM_DTYPE_BF16, 2, sgu, TT_CONTIG, r, -0.2, 0.2);
    m->wdown = tt_rand(VLM_DTYPE_F32, 2, sdn, TT_CONTIG, r, -0.2, 0.2);
    m->inv_freq = tt_rand(VLM_DTYPE_F32, 1, sf, TT_CONTIG, r, 0.01, 1);
    m->kcache = tt_rand(VLM_DTYPE_F32, 3, sc, TT_CONTIG, r, -1, 1);
    m->vcache = tt_rand(VLM_DTYPE_F32, 3, sc, TT_CONTIG, r, -1, 1);
    m->pos = tt_make(VLM_DTYPE_I64, 2, sp, TT_CONTIG);
}

static void toy_free(toy *m) {
    tt_tensor *ts[9] = {&m->norm_w,   &m->wqkv,   &m->wo,     &m->wgu, &m->wdown,
                        &m->inv_freq, &m->kcache, &m->vcache, &m->pos};
    for (int i = 0; i < 9; i++)
        tt_free(ts[i]);
}

/* One decode step at position `len - 1` through every kind of op a decoder layer uses:
 * activations from the arena, norm with a bf16 (1 + w) weight, fused qkv matmul, M-RoPE
 * table and rotation, a KV-cache write, GQA attention over the cache, output projection,
 * residual add, gated MLP, argmax. */
static void toy_step(tt_env *env, toy *m, int64_t len) {
    vlm_ctx *ctx = &env->ctx;
    vlm_error e;
    int64_t hs[2] = {1, 64}, qkvs[2] = {1, 128}, qs[3] = {1, 4, 16}, ks[3] = {1, 2, 16},
            cs[2] = {1, 8}, gus[2] = {1, 192}, one[1] = {1};
    int sections[3] = {2, 3, 3};
    for (int a = 0; a < 3; a++)
        tt_set(&m->pos.t, a, (double)(len - 1));
    vlm_tensor h, n, qkv, q, k, v, part, cosv, sinv, att, o, gu, gate, up, act, down, kdst, vdst,
        kall, vall, best;
    CHECK_OP(env, vlm_ctx_tensor(ctx, VLM_DTYPE_F32, 2, hs, &h));
    CHECK_OP(env, vlm_op_fill(ctx, &h, 0.5f));
    CHECK_OP(env, vlm_ctx_tensor(ctx, VLM_DTYPE_F32, 2, hs, &n));
    CHECK_OP(env, vlm_op_rms_norm(ctx, &h, &m->norm_w.t, 1e-6f, 1.0f, &n));
    CHECK_OP(env, vlm_ctx_tensor(ctx, VLM_DTYPE_F32, 2, qkvs, &qkv));
    CHECK_OP(env, vlm_op_matmul(ctx, &n, &m->wqkv.t, NULL, &qkv));
    CHECK(vlm_tensor_narrow(&qkv, 1, 0, 64, &part, &e) == VLM_OK);
    CHECK(vlm_tensor_reshape(&part, 3, qs, &q, &e) == VLM_OK);
    CHECK(vlm_tensor_narrow(&qkv, 1, 64, 32, &part, &e) == VLM_OK);
    CHECK(vlm_tensor_reshape(&part, 3, ks, &k, &e) == VLM_OK);
    CHECK(vlm_tensor_narrow(&qkv, 1, 96, 32, &part, &e) == VLM_OK);
    CHECK(vlm_tensor_reshape(&part, 3, ks, &v, &e) == VLM_OK);
    CHECK_OP(env, vlm_ctx_tensor(ctx, VLM_DTYPE_F32, 2, cs, &cosv));
    CHECK_OP(env, vlm_ctx_tensor(ctx, VLM_DTYPE_F32, 2, cs, &sinv));
    CHECK_OP(env, vlm_op_rope_table(ctx, &m->pos.t, &m->inv_freq.t, sections,
                                    VLM_ROPE_SECTIONS_CONSECUTIVE, 1.0f, &cosv, &sinv));
    CHECK_OP(env, vlm_op_rope(ctx, &q, &cosv, &sinv, VLM_ROPE_ROTATE_HALF, &q));
    CHECK_OP(env, vlm_op_rope(ctx, &k, &cosv, &sinv, VLM_ROPE_ROTATE_HALF, &k));
    CHECK(vlm_tensor_narrow(&m->kcache.t, 0, len - 1, 1, &kdst, &e) == VLM_OK);
    CHECK(vlm_tensor_narrow(&m->vcache.t, 0, len - 1, 1, &vdst, &e) == VLM_OK);
    CHECK_OP(env, vlm_op_copy(ctx, &k, &kdst));
    CHECK_OP(env, vlm_op_copy(ctx, &v, &vdst));
    CHECK(vlm_tensor_narrow(&m->kcache.t, 0, 0, len, &kall, &e) == VLM_OK);
    CHECK(vlm_tensor_narrow(&m->vcache.t, 0, 0, len, &vall, &e) == VLM_OK);
    CHECK_OP(env, vlm_ctx_tensor(ctx, VLM_DTYPE_F32, 3, qs, &att));
    vlm_attn_params p = vlm_attn_params_default(0.25f);
    p.causal = 1;
    p.q_pos0 = len - 1;
    CHECK_OP(env, vlm_op_attention(ctx, &q, &kall, &vall, &p, &att));
    CHECK(vlm_tensor_reshape(&att, 2, hs, &att, &e) == VLM_OK);
    CHECK_OP(env, vlm_ctx_tensor(ctx, VLM_DTYPE_F32, 2, hs, &o));
    CHECK_OP(env, vlm_op_matmul(ctx, &att, &m->wo.t, NULL, &o));
    CHECK_OP(env, vlm_op_add(ctx, &h, &o, &h));
    CHECK_OP(env, vlm_ctx_tensor(ctx, VLM_DTYPE_F32, 2, gus, &gu));
    CHECK_OP(env, vlm_op_matmul(ctx, &h, &m->wgu.t, NULL, &gu));
    CHECK(vlm_tensor_narrow(&gu, 1, 0, 96, &gate, &e) == VLM_OK);
    CHECK(vlm_tensor_narrow(&gu, 1, 96, 96, &up, &e) == VLM_OK);
    CHECK_OP(env, vlm_op_gated_act(ctx, VLM_ACT_SILU, &gate, &up, &gate));
    act = gate;
    CHECK_OP(env, vlm_ctx_tensor(ctx, VLM_DTYPE_F32, 2, hs, &down));
    CHECK_OP(env, vlm_op_matmul(ctx, &act, &m->wdown.t, NULL, &down));
    CHECK_OP(env, vlm_op_add(ctx, &h, &down, &h));
    CHECK_OP(env, vlm_ctx_tensor(ctx, VLM_DTYPE_I64, 1, one, &best));
    CHECK_OP(env, vlm_op_argmax(ctx, &h, &best));
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
    vlm_arena_mark mk = vlm_arena_get_mark(a);
    CHECK(vlm_arena_alloc(a, 5u << 20, &b3, &o3, &e) == VLM_OK); /* forces a second block */
    vlm_arena_stats s = vlm_arena_get_stats(a);
    CHECK_EQ_INT(s.n_blocks, 2);
    vlm_arena_release(a, mk);
    CHECK(vlm_arena_alloc(a, 64, &b3, &o3, &e) == VLM_OK);
    CHECK(b3 == b2 && o3 == o2 + 64); /* released space is reused */
    CHECK(vlm_arena_reset(a, &e) == VLM_OK);
    s = vlm_arena_get_stats(a);
    CHECK_EQ_INT(s.n_blocks, 1); /* consolidated */
    CHECK(s.reserved >= (5u << 20));
    CHECK(vlm_arena_alloc(a, SIZE_MAX - 10, &b3, &o3, &e) == VLM_ERR_LIMIT);
    vlm_arena_free(a);

    /* Warm-up passes, then ten more decode steps of growing length: no allocation from the
     * system at all (arena blocks or anything else: libgomp, libc, the gemm kernels). */
    tt_env env;
    CHECK(vlm_arena_create(vlm_backend_cpu(), 0, &env.arena, &e) == VLM_OK);
    vlm_ctx_init(&env.ctx, env.arena, 2);
    tt_rng r = {42};
    toy m;
    toy_init(&m, &r);
    for (int64_t len = 30; len < 32; len++) {
        toy_step(&env, &m, len);
        CHECK(vlm_arena_reset(env.arena, &e) == VLM_OK);
    }
    uint64_t before = vlm_arena_get_stats(env.arena).n_system_allocs;
#ifdef COUNT_MALLOC
    long calls = __atomic_load_n(&n_malloc_calls, __ATOMIC_RELAXED);
    CHECK(calls > 10); /* the counter sees the allocations of the set-up */
#endif
    for (int64_t len = 32; len < 42; len++) {
        toy_step(&env, &m, len);
        CHECK(vlm_arena_reset(env.arena, &e) == VLM_OK);
    }
#ifdef COUNT_MALLOC
    CHECK_EQ_INT(__atomic_load_n(&n_malloc_calls, __ATOMIC_RELAXED) - calls, 0);
#endif
    CHECK_EQ_INT(vlm_arena_get_stats(env.arena).n_system_allocs, before);
    CHECK_EQ_INT(vlm_arena_get_stats(env.arena).used, 0);
    toy_free(&m);
    tt_env_free(&env);
}

int main(void) {
    test_views();
    test_bounds();
    test_arena();
    TEST_DONE();
}
