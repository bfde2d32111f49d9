/* CPU Linear layers (float and MLX-quantized weights), quantized embedding lookups and
 * batched products on top of the gemm kernels (gemm.h). Operands whose rows cannot be
 * addressed as a matrix with one leading stride are copied through arena scratch first; a
 * transposed right-hand side of bmm goes to the NT kernel with no copy. */
#include <omp.h>

#include "tensor/cpu/cpu.h"
#include "tensor/cpu/gemm.h"
#include "tensor/strided.h"

/* A contiguous copy of t (same dtype and shape) in arena scratch. */
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
    bool y_direct = vlm_strided_flat_rows(out, &ldy);
    const float *bf = NULL;
    if (!vlm_strided_flat_rows(x, &ldx)) {
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

/* The quantized weight as the gemm kernels take it (validated by the front end). */
static vlm_cpu_qmat qmat_of(const vlm_qweight *w) {
    vlm_cpu_qmat q;
    q.w = (const uint32_t *)(const void *)cpu_ptr(&w->w);
    q.ldw = w->w.stride[0] / 4;
    q.scales = cpu_ptr(&w->scales);
    q.biases = cpu_ptr(&w->biases);
    q.sdt = w->scales.dtype;
    q.lds = w->scales.stride[0] / (int64_t)vlm_dtype_size(q.sdt);
    q.bits = w->bits;
    q.group = w->group_size;
    if (w->w.shape[0] <= 1) q.ldw = w->w.shape[1]; /* a single row: its stride is irrelevant */
    if (w->scales.shape[0] <= 1) q.lds = w->scales.shape[1];
    return q;
}

/* The kernels read scales and biases with one row pitch: when the two are stored with
 * different pitches (views of larger tensors), both are copied contiguous into scratch. */
static vlm_status same_pitch(vlm_ctx *ctx, const vlm_qweight *w, vlm_qweight *out) {
    *out = *w;
    if (w->scales.shape[0] <= 1 || w->biases.stride[0] == w->scales.stride[0]) return VLM_OK;
    vlm_status st = to_scratch(ctx, &w->scales, &out->scales);
    return st == VLM_OK ? to_scratch(ctx, &w->biases, &out->biases) : st;
}

vlm_status cpu_matmul_q(vlm_ctx *ctx, const vlm_tensor *x, const vlm_qweight *w_in,
                        const vlm_tensor *bias, const vlm_tensor *out) {
    vlm_arena_mark mark = vlm_arena_get_mark(ctx->arena);
    vlm_qweight wp;
    const vlm_qweight *w = &wp;
    vlm_status st = same_pitch(ctx, w_in, &wp);
    if (st != VLM_OK) goto done;
    int64_t m = cpu_rows(x), n = w->w.shape[0], k = w->w.shape[1] * 32 / w->bits;
    int64_t ldx, ldy;
    vlm_tensor xs = *x, ys = *out;
    bool y_direct = vlm_strided_flat_rows(out, &ldy);
    const float *bf = NULL;
    if (!vlm_strided_flat_rows(x, &ldx)) {
        if ((st = to_scratch(ctx, x, &xs)) != VLM_OK) goto done;
        ldx = k;
    }
    if (!y_direct) {
        vlm_error e;
        if ((st = vlm_arena_tensor(ctx->arena, VLM_DTYPE_F32, out->ndim, out->shape, &ys, &e)) !=
            VLM_OK) {
            vlm_ctx_fail(ctx, st, "matmul_q: scratch: %s", e.message);
            goto done;
        }
        ldy = n;
    }
    if ((st = cpu_param_f32(ctx, "matmul_q", bias, &bf)) != VLM_OK) goto done;
    vlm_cpu_qmat q = qmat_of(w);
    vlm_cpu_gemm_nt_q(m, n, k, (const float *)(const void *)cpu_ptr(&xs), ldx, &q, bf,
                      (float *)(void *)cpu_ptr(&ys), ldy, ctx->n_threads);
    if (!y_direct) cpu_copy(ctx, &ys, out);
done:
    vlm_arena_release(ctx->arena, mark);
    return st;
}

vlm_status cpu_gather_rows_q(vlm_ctx *ctx, const vlm_qweight *table_in, const vlm_tensor *ids,
                             const vlm_tensor *out) {
    const char *op = "embedding_q";
    int64_t rows = table_in->w.shape[0], k = out->shape[1], m = ids->shape[0];
    const char *ib = cpu_ptr(ids);
    for (int64_t i = 0; i < m; i++) {
        int64_t id = cpu_load_index(ib + i * ids->stride[0], ids->dtype);
        if (id < 0 || id >= rows)
            return vlm_ctx_fail(ctx, VLM_ERR_INVALID_ARGUMENT,
                                "%s: ids[%lld] = %lld is out of range [0, %lld)", op, (long long)i,
                                (long long)id, (long long)rows);
    }
    vlm_arena_mark mark = vlm_arena_get_mark(ctx->arena);
    vlm_qweight table;
    vlm_status st = same_pitch(ctx, table_in, &table);
    if (st != VLM_OK) {
        vlm_arena_release(ctx->arena, mark);
        return st;
    }
    vlm_cpu_qmat q = qmat_of(&table);
    vlm_cpu_isa isa = vlm_cpu_isa_selected();
    char *ob = cpu_ptr(out);
    const bool direct = out->stride[1] == 4 || k <= 1;
    float *tmp = NULL;
    int nt = m * k >= CPU_PAR_MIN ? ctx->n_threads : 1;
    if (!direct) { /* one row of scratch per thread, copied out through the strides */
        st = cpu_scratch(ctx, op, (size_t)nt * (size_t)k, &tmp);
        if (st != VLM_OK) {
            vlm_arena_release(ctx->arena, mark);
            return st;
        }
    }
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t i = 0; i < m; i++) {
        int64_t id = cpu_load_index(ib + i * ids->stride[0], ids->dtype);
        char *orow = ob + i * out->stride[0];
        if (direct) {
            vlm_cpu_qmat_dequant_row(isa, &q, id, 0, k, (float *)(void *)orow);
            continue;
        }
        float *t = tmp + (size_t)omp_get_thread_num() * (size_t)k;
        vlm_cpu_qmat_dequant_row(isa, &q, id, 0, k, t);
        for (int64_t c = 0; c < k; c++)
            memcpy(orow + c * out->stride[1], &t[c], 4);
    }
    vlm_arena_release(ctx->arena, mark);
    return VLM_OK;
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
    if (!vlm_strided_mat_ok(a->stride[nd - 1], a->stride[nd - 2], m, k)) {
        if ((st = to_scratch(ctx, a, &as)) != VLM_OK) goto done;
    }
    /* b: [k, n] with rows over n contiguous (NN), or its transpose [n, k] with rows over k
     * contiguous (NT, e.g. a transposed view of keys); else a copy. */
    bool nt = false;
    if (!vlm_strided_mat_ok(b->stride[nd - 1], b->stride[nd - 2], k, n)) {
        if (vlm_strided_mat_ok(b->stride[nd - 2], b->stride[nd - 1], n, k)) {
            nt = true;
        } else if ((st = to_scratch(ctx, b, &bs)) != VLM_OK) {
            goto done;
        }
    }
    bool y_direct = vlm_strided_mat_ok(out->stride[nd - 1], out->stride[nd - 2], m, n);
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
            (const float *)(const void *)(cpu_ptr(&as) +
                                          vlm_strided_batch_offset(&as, out->shape, nd, bi));
        const float *bp =
            (const float *)(const void *)(cpu_ptr(&bs) +
                                          vlm_strided_batch_offset(&bs, out->shape, nd, bi));
        float *yp =
            (float *)(void *)(cpu_ptr(&ys) + vlm_strided_batch_offset(&ys, out->shape, nd, bi));
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
