/* The context (ops.h) and the argument checks shared by every op front end. */
#include <stdarg.h>
#include <stdio.h>

#include "core/checked.h"
#include "tensor/ops_internal.h"

void vlm_ctx_init(vlm_ctx *ctx, vlm_arena *arena, int n_threads) {
    ctx->backend = arena ? vlm_arena_backend(arena) : NULL;
    ctx->arena = arena;
    ctx->n_threads = n_threads < 1 ? 1 : n_threads;
    ctx->queue = NULL;
    ctx->bf16_compute = 0;
    ctx->status = VLM_OK;
    ctx->err.status = VLM_OK;
    ctx->err.message[0] = '\0';
}

void vlm_ctx_clear(vlm_ctx *ctx) {
    ctx->status = VLM_OK;
    ctx->err.status = VLM_OK;
    ctx->err.message[0] = '\0';
}

vlm_status vlm_ctx_fail(vlm_ctx *ctx, vlm_status status, const char *fmt, ...) {
    if (ctx->status != VLM_OK) return ctx->status; /* keep the first */
    ctx->status = status;
    ctx->err.status = status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->err.message, sizeof ctx->err.message, fmt, ap);
    va_end(ap);
    return status;
}

vlm_status vlm_ctx_tensor(vlm_ctx *ctx, vlm_dtype dtype, int ndim, const int64_t *shape,
                          vlm_tensor *out) {
    if (ctx->status != VLM_OK) return ctx->status;
    if (!ctx->arena) return vlm_ctx_fail(ctx, VLM_ERR_INVALID_ARGUMENT, "ctx_tensor: no arena");
    vlm_error e;
    vlm_status st = vlm_arena_tensor(ctx->arena, dtype, ndim, shape, out, &e);
    if (st != VLM_OK) return vlm_ctx_fail(ctx, st, "ctx_tensor: %s", e.message);
    return VLM_OK;
}

vlm_desc vlm_desc_of(const vlm_tensor *t) {
    vlm_desc d;
    vlm_tensor_describe(t, d.s, sizeof d.s);
    return d;
}

bool vlm_op_begin(vlm_ctx *ctx) {
    return ctx && ctx->status == VLM_OK;
}

vlm_status vlm_op_end(vlm_ctx *ctx, vlm_status st) {
    if (st != VLM_OK && ctx->status == VLM_OK) {
        /* A backend that returned an error without recording it. */
        vlm_ctx_fail(ctx, st, "backend %s failed without a message",
                     vlm_backend_name(ctx->backend));
    }
    return st;
}

bool vlm_check_tensor(vlm_ctx *ctx, const char *op, const char *what, const vlm_tensor *t) {
    if (!t) {
        vlm_ctx_fail(ctx, VLM_ERR_INVALID_ARGUMENT, "%s: %s is NULL", op, what);
        return false;
    }
    if (t->ndim < 0 || t->ndim > VLM_MAX_DIMS || vlm_dtype_size(t->dtype) == 0) {
        vlm_ctx_fail(ctx, VLM_ERR_INVALID_ARGUMENT, "%s: %s is not a valid tensor", op, what);
        return false;
    }
    if (!t->buf || !t->buf->data) {
        if (vlm_tensor_numel(t) == 0) return true;
        vlm_ctx_fail(ctx, VLM_ERR_INVALID_ARGUMENT, "%s: %s %s has no buffer", op, what, D(t));
        return false;
    }
    if (t->buf->backend != ctx->backend) {
        vlm_ctx_fail(ctx, VLM_ERR_INVALID_ARGUMENT,
                     "%s: %s lives on backend %s, the context runs %s", op, what,
                     vlm_backend_name(t->buf->backend), vlm_backend_name(ctx->backend));
        return false;
    }
    return true;
}

bool vlm_check_out(vlm_ctx *ctx, const char *op, const char *what, const vlm_tensor *t) {
    if (!vlm_check_tensor(ctx, op, what, t)) return false;
    if (t->buf && (t->buf->flags & VLM_BUFFER_READONLY) && vlm_tensor_numel(t) > 0) {
        vlm_ctx_fail(ctx, VLM_ERR_INVALID_ARGUMENT, "%s: output %s %s is in a read-only buffer", op,
                     what, D(t));
        return false;
    }
    for (int i = 0; i < t->ndim; i++) {
        if (t->stride[i] == 0 && t->shape[i] > 1) {
            vlm_ctx_fail(ctx, VLM_ERR_INVALID_ARGUMENT,
                         "%s: output %s %s is a broadcast view (stride 0)", op, what, D(t));
            return false;
        }
    }
    return true;
}

bool vlm_check_dtype(vlm_ctx *ctx, const char *op, const char *what, const vlm_tensor *t,
                     unsigned mask) {
    if (t->dtype >= 0 && t->dtype < VLM_DTYPE_COUNT && (mask & (1u << t->dtype))) return true;
    char allowed[96] = "";
    size_t pos = 0;
    for (int d = 0; d < VLM_DTYPE_COUNT; d++) {
        if (mask & (1u << d)) {
            int w = snprintf(allowed + pos, sizeof allowed - pos, "%s%s", pos ? "/" : "",
                             vlm_dtype_name((vlm_dtype)d));
            if (w > 0 && (size_t)w < sizeof allowed - pos) pos += (size_t)w;
        }
    }
    vlm_ctx_fail(ctx, VLM_ERR_UNSUPPORTED, "%s: %s %s has dtype %s, expected %s", op, what, D(t),
                 vlm_dtype_name(t->dtype), allowed);
    return false;
}

bool vlm_check_ndim(vlm_ctx *ctx, const char *op, const char *what, const vlm_tensor *t, int lo,
                    int hi) {
    if (t->ndim >= lo && t->ndim <= hi) return true;
    if (lo == hi)
        vlm_ctx_fail(ctx, VLM_ERR_INVALID_ARGUMENT, "%s: %s %s must have %d dims", op, what, D(t),
                     lo);
    else
        vlm_ctx_fail(ctx, VLM_ERR_INVALID_ARGUMENT, "%s: %s %s must have %d to %d dims", op, what,
                     D(t), lo, hi);
    return false;
}

bool vlm_check_inner_contiguous(vlm_ctx *ctx, const char *op, const char *what,
                                const vlm_tensor *t) {
    if (t->ndim == 0 || t->shape[t->ndim - 1] <= 1 ||
        t->stride[t->ndim - 1] == (int64_t)vlm_dtype_size(t->dtype))
        return true;
    vlm_ctx_fail(ctx, VLM_ERR_UNSUPPORTED,
                 "%s: %s %s needs a contiguous last dimension (copy it with vlm_op_contiguous)", op,
                 what, D(t));
    return false;
}

bool vlm_same_view(const vlm_tensor *a, const vlm_tensor *b) {
    if (a->buf != b->buf || a->offset != b->offset || a->dtype != b->dtype || a->ndim != b->ndim)
        return false;
    for (int i = 0; i < a->ndim; i++) {
        if (a->shape[i] != b->shape[i]) return false;
        if (a->shape[i] > 1 && a->stride[i] != b->stride[i]) return false;
    }
    return true;
}

/* Byte range [lo, hi) a view touches (hi == lo when empty). */
static void extent(const vlm_tensor *t, int64_t *lo, int64_t *hi) {
    *lo = t->offset;
    int64_t span = (int64_t)vlm_dtype_size(t->dtype);
    for (int i = 0; i < t->ndim; i++) {
        if (t->shape[i] == 0) {
            *hi = *lo;
            return;
        }
        span += (t->shape[i] - 1) * t->stride[i]; /* bounded by the buffer: checked at init */
    }
    *hi = *lo + span;
}

/* For two views with the same shape and strides whose offsets differ by d bytes: can an
 * element of one start less than `es` bytes from an element of the other? That is: are
 * there steps delta_k in [-(n_k - 1), n_k - 1] with |d - sum delta_k s_k| < es. Dimensions
 * are tried from the largest stride down; at each only the few steps that leave a remainder
 * the inner dimensions can still cover are followed. Answers "yes" when the search would
 * branch too much (a conservative answer). */
static bool can_hit(int k, int nd, const int64_t *n, const int64_t *s, int64_t d, int64_t es,
                    int *budget) {
    if (--*budget < 0) return true;
    if (k == nd) return d > -es && d < es;
    int64_t reach = es - 1; /* largest |sum| the inner dimensions can make, plus slack */
    for (int m = k + 1; m < nd; m++)
        reach += (n[m] - 1) * s[m];
    int64_t lo = d - reach, hi = d + reach; /* delta * s[k] must land in [lo, hi] */
    int64_t dlo = lo >= 0 ? (lo + s[k] - 1) / s[k] : -((-lo) / s[k]);
    int64_t dhi = hi >= 0 ? hi / s[k] : -((-hi + s[k] - 1) / s[k]);
    if (dlo < -(n[k] - 1)) dlo = -(n[k] - 1);
    if (dhi > n[k] - 1) dhi = n[k] - 1;
    for (int64_t delta = dlo; delta <= dhi; delta++)
        if (can_hit(k + 1, nd, n, s, d - delta * s[k], es, budget)) return true;
    return false;
}

/* Exact overlap test for views of one layout at different offsets. */
static bool same_layout_overlap(const vlm_tensor *a, const vlm_tensor *b) {
    int64_t n[VLM_MAX_DIMS], s[VLM_MAX_DIMS];
    int nd = 0;
    for (int i = 0; i < a->ndim; i++) { /* drop extent-1 and stride-0 dimensions */
        if (a->shape[i] > 1 && a->stride[i] > 0) {
            n[nd] = a->shape[i];
            s[nd] = a->stride[i];
            nd++;
        }
    }
    for (int i = 1; i < nd; i++) { /* sort by stride, largest first */
        for (int j = i; j > 0 && s[j] > s[j - 1]; j--) {
            int64_t t = s[j];
            s[j] = s[j - 1];
            s[j - 1] = t;
            t = n[j];
            n[j] = n[j - 1];
            n[j - 1] = t;
        }
    }
    int budget = 256;
    return can_hit(0, nd, n, s, b->offset - a->offset, (int64_t)vlm_dtype_size(a->dtype), &budget);
}

static bool same_layout(const vlm_tensor *a, const vlm_tensor *b) {
    if (a->ndim != b->ndim || vlm_dtype_size(a->dtype) != vlm_dtype_size(b->dtype)) return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i] || (a->shape[i] > 1 && a->stride[i] != b->stride[i]))
            return false;
    return true;
}

bool vlm_check_no_overlap(vlm_ctx *ctx, const char *op, const vlm_tensor *out, const vlm_tensor *in,
                          bool alias_ok) {
    if (!in || !out || !in->buf || in->buf != out->buf) return true;
    if (alias_ok && vlm_same_view(out, in)) return true;
    int64_t a0, a1, b0, b1;
    extent(out, &a0, &a1);
    extent(in, &b0, &b1);
    if (a0 == a1 || b0 == b1 || a1 <= b0 || b1 <= a0) return true;
    /* Interleaved views of one layout (the two halves of a fused projection) share an
     * extent without sharing an element. */
    if (same_layout(out, in) && !same_layout_overlap(out, in)) return true;
    vlm_ctx_fail(ctx, VLM_ERR_INVALID_ARGUMENT, "%s: output %s overlaps input %s%s", op, D(out),
                 D(in), alias_ok ? " (only an identical view may be updated in place)" : "");
    return false;
}

bool vlm_check_same_shape(vlm_ctx *ctx, const char *op, const vlm_tensor *a, const vlm_tensor *b) {
    if (vlm_tensor_same_shape(a, b)) return true;
    vlm_ctx_fail(ctx, VLM_ERR_INVALID_ARGUMENT, "%s: shapes differ: %s vs %s", op, D(a), D(b));
    return false;
}

bool vlm_check_ids(vlm_ctx *ctx, const char *op, const vlm_tensor *ids) {
    return vlm_check_tensor(ctx, op, "ids", ids) && vlm_check_ndim(ctx, op, "ids", ids, 1, 1) &&
           vlm_check_dtype(ctx, op, "ids", ids, VLM_F_INDEX);
}
