/* CPU Linear layers and batched products on top of the gemm kernels (gemm.h). Operands
 * whose rows cannot be addressed as a matrix with one leading stride are copied through
 * arena scratch first; a transposed right-hand side of bmm goes to the NT kernel with no
 * copy. */
#include "tensor/cpu/cpu.h"
#include "tensor/cpu/gemm.h"

/* Whether all dimensions but the last collapse into one with a uniform stride and the
 * last is contiguous: then row r starts at r * *ld elements. */
static bool flat_rows(const vlm_tensor *t, int64_t *ld) {
    int64_t es = (int64_t)vlm_dtype_size(t->dtype);
    int nd = t->ndim;
    if (nd == 0) {
        *ld = 1;
        return true;
    }
    if (t->shape[nd - 1] > 1 && t->stride[nd - 1] != es) return false;
    int64_t row_stride = -1, expect = -1;
    for (int i = nd - 2; i >= 0; i--) {
        if (t->shape[i] == 1) continue;
        if (row_stride < 0) {
            row_stride = t->stride[i];
        } else if (t->stride[i] != expect) {
            return false;
        }
        expect = t->stride[i] * t->shape[i];
    }
    int64_t cols = t->shape[nd - 1];
    if (row_stride >= 0 && row_stride / es < cols) return false; /* rows overlap (broadcast) */
    *ld = row_stride < 0 ? (cols > 0 ? cols : 1) : row_stride / es;
    return true;
}

/* A contiguous f32 copy of t in arena scratch (2-D view [rows, cols]). */
static vlm_status to_scratch(vlm_ctx *ctx, const vlm_tensor *t, vlm_tensor *out) {
    vlm_tensor c;
    vlm_error e;
    vlm_status st = vlm_arena_tensor(ctx->arena, t->dtype, t->ndim, t->shape, &c, &e);
    if (st != VLM_OK) return vlm_ctx_fail(ctx, st, "matmul: scratch: %s", e.message);
    cpu_copy(ctx, t, &c);
    *out = c;
    return VLM_OK;
}

vlm_status cpu_matmul(vlm_ctx *ctx, const vlm_tensor *x, const vlm_tensor *w,
                      const vlm_tensor *bias, const vlm_tensor *out) {
    vlm_arena_mark mark = vlm_arena_get_mark(ctx->arena);
    vlm_status st = VLM_OK;
    int64_t m = cpu_rows(x), n = w->shape[0], k = w->shape[1];
    int64_t ldx, ldy, ldw;
    vlm_tensor xs = *x, ys = *out;
    bool y_direct = flat_rows(out, &ldy);
    const float *bf = NULL;
    if (!flat_rows(x, &ldx)) {
        if ((st = to_scratch(ctx, x, &xs)) != VLM_OK) goto done;
        ldx = k > 0 ? k : 1;
    }
    if (!y_direct) {
        vlm_error e;
        if ((st = vlm_arena_tensor(ctx->arena, VLM_DTYPE_F32, out->ndim, out->shape, &ys, &e)) !=
            VLM_OK) {
            vlm_ctx_fail(ctx, st, "matmul: scratch: %s", e.message);
            goto done;
        }
        ldy = n;
    }
    if ((st = cpu_param_f32(ctx, "matmul", bias, &bf)) != VLM_OK) goto done;
    vlm_tensor ws = *w;
    ldw = w->stride[0] / (int64_t)vlm_dtype_size(w->dtype);
    if (n > 1 && ldw < k) { /* overlapping rows (a broadcast view): make them real */
        if ((st = to_scratch(ctx, w, &ws)) != VLM_OK) goto done;
        ldw = k;
    }
    if (ldw < k) ldw = k; /* a single row: its stride is irrelevant */
    vlm_cpu_gemm_nt(m, n, k, (const float *)(const void *)cpu_ptr(&xs), ldx, cpu_ptr(&ws), ws.dtype,
                    ldw, bf, (float *)(void *)cpu_ptr(&ys), ldy, ctx->n_threads);
    if (!y_direct) cpu_copy(ctx, &ys, out);
done:
    vlm_arena_release(ctx->arena, mark);
    return st;
}

/* Byte offset of batch b (row-major over the leading nd - 2 dims of `shape`) in t, with
 * broadcast (extent-1) dimensions of t contributing nothing. */
static int64_t batch_offset(const vlm_tensor *t, const int64_t *shape, int nd, int64_t b) {
    int64_t off = 0;
    for (int i = nd - 3; i >= 0; i--) {
        int64_t idx = b % shape[i];
        b /= shape[i];
        if (t->shape[i] != 1) off += idx * t->stride[i];
    }
    return off;
}

/* A matrix [rows, cols] of f32 with these byte strides can go to the gemm kernels: its
 * rows are contiguous and do not overlap. */
static bool mat_ok(int64_t col_stride, int64_t row_stride, int64_t rows, int64_t cols) {
    return (cols <= 1 || col_stride == 4) && (rows <= 1 || row_stride >= 4 * cols);
}

vlm_status cpu_bmm(vlm_ctx *ctx, const vlm_tensor *a, const vlm_tensor *b, const vlm_tensor *out) {
    vlm_arena_mark mark = vlm_arena_get_mark(ctx->arena);
    vlm_status st = VLM_OK;
    int nd = out->ndim;
    int64_t m = out->shape[nd - 2], n = out->shape[nd - 1], k = a->shape[nd - 1];
    int64_t batches = 1;
    for (int i = 0; i < nd - 2; i++)
        batches *= out->shape[i];
    vlm_tensor as = *a, bs = *b, ys = *out;
    /* a: rows over k contiguous, row stride >= k. */
    if (!mat_ok(a->stride[nd - 1], a->stride[nd - 2], m, k)) {
        if ((st = to_scratch(ctx, a, &as)) != VLM_OK) goto done;
    }
    /* b: [k, n] with rows over n contiguous (NN), or its transpose [n, k] with rows over k
     * contiguous (NT, e.g. a transposed view of keys); else a copy. */
    bool nt = false;
    if (!mat_ok(b->stride[nd - 1], b->stride[nd - 2], k, n)) {
        if (mat_ok(b->stride[nd - 2], b->stride[nd - 1], n, k)) {
            nt = true;
        } else if ((st = to_scratch(ctx, b, &bs)) != VLM_OK) {
            goto done;
        }
    }
    bool y_direct = mat_ok(out->stride[nd - 1], out->stride[nd - 2], m, n);
    if (!y_direct) {
        vlm_error e;
        if ((st = vlm_arena_tensor(ctx->arena, VLM_DTYPE_F32, nd, out->shape, &ys, &e)) != VLM_OK) {
            vlm_ctx_fail(ctx, st, "bmm: scratch: %s", e.message);
            goto done;
        }
    }
    int64_t lda = as.stride[nd - 2] / 4, ldy = ys.stride[nd - 2] / 4;
    int64_t ldb = nt ? bs.stride[nd - 1] / 4 : bs.stride[nd - 2] / 4;
    if (lda < k) lda = k;
    if (ldy < n) ldy = n;
    if (nt ? ldb < k : ldb < n) ldb = nt ? k : n;
    /* Many small products: one per thread. Few large ones: threads inside each. */
    int64_t work = m * n * (k > 0 ? k : 1);
    bool per_batch = batches >= ctx->n_threads && work < ((int64_t)1 << 21);
    int nt_outer = per_batch ? ctx->n_threads : 1;
    int nt_inner = per_batch ? 1 : ctx->n_threads;
#pragma omp parallel for num_threads(nt_outer) schedule(dynamic)
    for (int64_t bi = 0; bi < batches; bi++) {
        const float *ap =
            (const float *)(const void *)(cpu_ptr(&as) + batch_offset(&as, out->shape, nd, bi));
        const float *bp =
            (const float *)(const void *)(cpu_ptr(&bs) + batch_offset(&bs, out->shape, nd, bi));
        float *yp = (float *)(void *)(cpu_ptr(&ys) + batch_offset(&ys, out->shape, nd, bi));
        if (nt)
            vlm_cpu_gemm_nt(m, n, k, ap, lda, bp, VLM_DTYPE_F32, ldb, NULL, yp, ldy, nt_inner);
        else
            vlm_cpu_gemm_nn_f32(m, n, k, 1.0f, ap, lda, bp, ldb, yp, ldy, 0, nt_inner);
    }
    if (!y_direct) cpu_copy(ctx, &ys, out);
done:
    vlm_arena_release(ctx->arena, mark);
    return st;
}
