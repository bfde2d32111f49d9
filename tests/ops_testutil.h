/* Helpers for the op tests (test_ops_*.c): a deterministic random generator, tensors in
 * guarded buffers with chosen layouts (contiguous, padded rows = sliced views, permuted
 * storage), element access through the strides (so references read exactly what the op
 * read), comparison against float64 references with a stated tolerance, and a check that
 * no byte outside an output view changed (the buffers start filled with a sentinel). */
#ifndef VLM_TESTS_OPS_TESTUTIL_H
#define VLM_TESTS_OPS_TESTUTIL_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/ops.h"
#include "test.h"

#define TT_SENTINEL 0xA5
#define TT_GUARD 256 /* bytes before and after every view */

/* ------------------------------------------------------------ random numbers */
typedef struct tt_rng {
    uint64_t s;
} tt_rng;

static inline uint64_t tt_next(tt_rng *r) {
    r->s ^= r->s << 13;
    r->s ^= r->s >> 7;
    r->s ^= r->s << 17;
    return r->s;
}
/* Uniform in [lo, hi). */
static inline double tt_uniform(tt_rng *r, double lo, double hi) {
    return lo + (hi - lo) * (double)(tt_next(r) >> 11) / 9007199254740992.0;
}
static inline int64_t tt_int(tt_rng *r, int64_t lo, int64_t hi) { /* [lo, hi] */
    return lo + (int64_t)(tt_next(r) % (uint64_t)(hi - lo + 1));
}

/* ------------------------------------------------------------ guarded tensors */
enum {
    TT_CONTIG = 0,   /* row-major */
    TT_PADDED = 1,   /* every extent allocated 1-2 larger, then sliced: gaps between rows */
    TT_PERMUTED = 2, /* storage in reversed dimension order (+ padding): the last dimension is
                        not contiguous */
};

typedef struct tt_tensor {
    vlm_buffer *buf;
    vlm_tensor t;
} tt_tensor;

/* Makes a tensor of the given logical shape; every byte of the buffer is the sentinel. */
static inline tt_tensor tt_make(vlm_dtype dt, int ndim, const int64_t *shape, int layout) {
    tt_tensor r;
    memset(&r, 0, sizeof r);
    int64_t alloc_shape[VLM_MAX_DIMS], es = (int64_t)vlm_dtype_size(dt);
    int perm[VLM_MAX_DIMS];
    for (int i = 0; i < ndim; i++) {
        alloc_shape[i] = shape[i] + (layout ? 1 + (i % 2) : 0);
        perm[i] = layout == TT_PERMUTED ? ndim - 1 - i : i;
    }
    /* storage order: dimension perm[0] outermost ... */
    int64_t stride[VLM_MAX_DIMS], s = es, total = es;
    for (int j = ndim - 1; j >= 0; j--) {
        stride[perm[j]] = s;
        s *= alloc_shape[perm[j]];
    }
    total = s;
    size_t bytes = (size_t)total + 2 * TT_GUARD;
    vlm_error e;
    if (vlm_buffer_alloc(vlm_backend_cpu(), bytes, &r.buf, &e) != VLM_OK) {
        fprintf(stderr, "tt_make: %s\n", e.message);
        exit(2);
    }
    memset(r.buf->data, TT_SENTINEL, bytes);
    /* Start one element in on padded layouts so the view is an interior slice. */
    int64_t off = TT_GUARD;
    if (layout)
        for (int i = 0; i < ndim; i++)
            off += stride[i];
    if (vlm_tensor_init_strided(&r.t, r.buf, off, dt, ndim, shape, stride, &e) != VLM_OK) {
        fprintf(stderr, "tt_make: %s\n", e.message);
        exit(2);
    }
    return r;
}

static inline void tt_free(tt_tensor *t) {
    vlm_buffer_free(t->buf);
    t->buf = NULL;
}

/* Byte offset of logical element `lin` (row-major over the shape). */
static inline int64_t tt_offset(const vlm_tensor *t, int64_t lin) {
    int64_t off = t->offset;
    for (int i = t->ndim - 1; i >= 0; i--) {
        off += (lin % t->shape[i]) * t->stride[i];
        lin /= t->shape[i];
    }
    return off;
}

static inline double tt_get(const vlm_tensor *t, int64_t lin) {
    const char *p = (const char *)t->buf->data + tt_offset(t, lin);
    switch (t->dtype) {
    case VLM_DTYPE_F32: {
        float f;
        memcpy(&f, p, 4);
        return f;
    }
    case VLM_DTYPE_F64: {
        double d;
        memcpy(&d, p, 8);
        return d;
    }
    case VLM_DTYPE_BF16: {
        uint16_t h;
        memcpy(&h, p, 2);
        return vlm_bf16_to_f32(h);
    }
    case VLM_DTYPE_F16: {
        uint16_t h;
        memcpy(&h, p, 2);
        return vlm_f16_to_f32(h);
    }
    case VLM_DTYPE_I32: {
        int32_t v;
        memcpy(&v, p, 4);
        return v;
    }
    case VLM_DTYPE_I64: {
        int64_t v;
        memcpy(&v, p, 8);
        return (double)v;
    }
    default:
        return 0.0;
    }
}

static inline void tt_set(const vlm_tensor *t, int64_t lin, double v) {
    char *p = (char *)t->buf->data + tt_offset(t, lin);
    switch (t->dtype) {
    case VLM_DTYPE_F32: {
        float f = (float)v;
        memcpy(p, &f, 4);
        break;
    }
    case VLM_DTYPE_F64:
        memcpy(p, &v, 8);
        break;
    case VLM_DTYPE_BF16: {
        uint16_t h = vlm_f32_to_bf16((float)v);
        memcpy(p, &h, 2);
        break;
    }
    case VLM_DTYPE_F16: {
        uint16_t h = vlm_f32_to_f16((float)v);
        memcpy(p, &h, 2);
        break;
    }
    case VLM_DTYPE_I32: {
        int32_t w = (int32_t)v;
        memcpy(p, &w, 4);
        break;
    }
    case VLM_DTYPE_I64: {
        int64_t w = (int64_t)v;
        memcpy(p, &w, 8);
        break;
    }
    default:
        break;
    }
}

static inline void tt_fill_uniform(const vlm_tensor *t, tt_rng *r, double lo, double hi) {
    int64_t n = vlm_tensor_numel(t);
    for (int64_t i = 0; i < n; i++)
        tt_set(t, i, tt_uniform(r, lo, hi));
}

/* Makes and fills in one step. */
static inline tt_tensor tt_rand(vlm_dtype dt, int ndim, const int64_t *shape, int layout, tt_rng *r,
                                double lo, double hi) {
    tt_tensor x = tt_make(dt, ndim, shape, layout);
    tt_fill_uniform(&x.t, r, lo, hi);
    return x;
}

/* Every byte of the buffer that is not an element of the view is still the sentinel. */
static inline int tt_guard_ok(const tt_tensor *x) {
    size_t n = x->buf->size;
    unsigned char *mark = calloc(n, 1);
    int64_t numel = vlm_tensor_numel(&x->t), es = (int64_t)vlm_dtype_size(x->t.dtype);
    for (int64_t i = 0; i < numel; i++)
        memset(mark + tt_offset(&x->t, i), 1, (size_t)es);
    const unsigned char *b = x->buf->data;
    int ok = 1;
    for (size_t i = 0; i < n && ok; i++)
        if (!mark[i] && b[i] != TT_SENTINEL) {
            fprintf(stderr, "guard byte %zu of %zu changed\n", i, n);
            ok = 0;
        }
    free(mark);
    return ok;
}

/* got[i] vs ref[i] with |got - ref| <= atol + rtol * |ref|; prints the first few misses.
 * NaN in ref must be NaN in got. Returns the number of misses. */
static inline int64_t tt_compare(const char *what, const vlm_tensor *got, const double *ref,
                                 double atol, double rtol) {
    int64_t n = vlm_tensor_numel(got), bad = 0;
    double worst = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double g = tt_get(got, i), r = ref[i];
        double err = fabs(g - r), lim = atol + rtol * fabs(r);
        int miss = isnan(r) ? !isnan(g) : !(err <= lim);
        if (!isnan(r) && err > worst) worst = err;
        if (miss) {
            if (bad < 5)
                fprintf(stderr, "%s: element %lld: got %.9g, want %.9g (err %.3g > %.3g)\n", what,
                        (long long)i, g, r, err, lim);
            bad++;
        }
    }
    if (bad)
        fprintf(stderr, "%s: %lld of %lld elements off (worst %.3g)\n", what, (long long)bad,
                (long long)n, worst);
    else if (getenv("VLM_TEST_VERBOSE"))
        fprintf(stderr, "%s: %lld elements, worst error %.3g\n", what, (long long)n, worst);
    return bad;
}

/* A CPU context with its own arena. */
typedef struct tt_env {
    vlm_arena *arena;
    vlm_ctx ctx;
} tt_env;

static inline void tt_env_init(tt_env *env, int n_threads) {
    vlm_error e;
    if (vlm_arena_create(vlm_backend_cpu(), 1 << 20, &env->arena, &e) != VLM_OK) {
        fprintf(stderr, "arena: %s\n", e.message);
        exit(2);
    }
    vlm_ctx_init(&env->ctx, env->arena, n_threads);
}

static inline void tt_env_free(tt_env *env) {
    vlm_arena_free(env->arena);
}

static inline double *tt_ref(int64_t n) {
    double *r = calloc((size_t)(n > 0 ? n : 1), sizeof(double));
    if (!r) exit(2);
    return r;
}

/* The op must have succeeded; prints the context message otherwise. */
#define CHECK_OP(env, call)                                                                        \
    do {                                                                                           \
        vlm_status st_ = (call);                                                                   \
        CHECK_MSG(st_ == VLM_OK, "%s", (env)->ctx.err.message);                                    \
        if (st_ != VLM_OK) vlm_ctx_clear(&(env)->ctx);                                             \
    } while (0)

/* The op must fail with `status` and a message containing `needle`; re-arms the context. */
#define CHECK_OP_FAILS(env, call, status, needle)                                                  \
    do {                                                                                           \
        vlm_status st_ = (call);                                                                   \
        CHECK_EQ_INT(st_, (status));                                                               \
        CHECK_CONTAINS((env)->ctx.err.message, (needle));                                          \
        vlm_ctx_clear(&(env)->ctx);                                                                \
    } while (0)

#endif
