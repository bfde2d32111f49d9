/* CUDA products and embedding lookups on MLX affine-quantized weights (ops.h
 * vlm_op_matmul_q / vlm_op_embedding_q; the format is in weights/mlx_quant.h): a weight is
 * widened to f32 as fmaf(scale, code, bias), one rounding, exactly as the CPU kernels do,
 * so both backends agree within f32 summation order.
 * - m <= QGEMV_MAX_M rows (decode): the GEMV engine (gemv.cu), which also runs the fused
 *   products (q/k/v, gate/up, residual add, RMSNorm first) on quantized weights.
 * - larger m (prefill, vision): cuda_qgemm (qgemm.cu), a tiled GEMM that dequantizes each
 *   weight tile in shared memory (tensor cores in bf16 compute, f32 FMAs otherwise).
 * - embedding lookup: the packed rows are gathered by cuda_gather_rows (which checks the ids,
 *   or raises the device's bad-id flag while a graph is recorded), then dequantized.
 * Nothing here allocates device memory or waits, apart from what cuda_gather_rows and
 * cuda_matmul do, so the GEMV and the lookup can be recorded into graphs. */
#include <limits.h>

#include "tensor/cuda/gemv.cuh"
#include "tensor/cuda/quant.cuh"
#include "tensor/strided.h"

/* ------------------------------------------------------------ dequantization */

typedef struct qdeq_args {
    int64_t rows, k;
    const uint32_t *w;
    int64_t ldw;
    const char *s, *b;
    int64_t lds;
    int sdt, gshift, vec;
    const char *ids; /* NULL: row r of the output is weight row r; else ids[r] (scales of that
                        row; the words are already gathered into w) */
    int64_t ids_stride;
    int ids_dt;
    int64_t limit; /* ids must be in [0, limit) (a bad one, met while recording, is skipped) */
    char *out;
    int64_t os0, os1; /* bytes */
    int odt;          /* F32 or BF16 */
} qdeq_args;

/* One thread per unit of 32 codes: out[r, 32u + j] = fmaf(s, code, b). */
template <int BITS> __global__ void qdeq_kernel(qdeq_args a) {
    const int64_t units = a.k >> 5, total = a.rows * units;
    for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < total;
         e += (int64_t)gridDim.x * blockDim.x) {
        int64_t r = e / units, u = e - r * units, sr = r;
        if (a.ids) {
            sr = cu_load_index(a.ids + r * a.ids_stride, a.ids_dt);
            if (sr < 0 || sr >= a.limit) continue;
        }
        uint32_t w[BITS];
        load_unit<BITS>(a.w + r * a.ldw + u * BITS, w, a.vec);
        int64_t g = u >> a.gshift;
        float s = qparam(a.s, sr * a.lds + g, a.sdt), b = qparam(a.b, sr * a.lds + g, a.sdt);
        char *o = a.out + r * a.os0 + u * 32 * a.os1;
        if (a.odt == VLM_DTYPE_BF16) { /* contiguous rows, 64-byte aligned units */
            uint4 *ov = (uint4 *)o;
#pragma unroll
            for (int c = 0; c < 4; c++) {
                uint32_t h[4];
#pragma unroll
                for (int q = 0; q < 4; q++) {
                    float lo = fmaf(s, unit_code<BITS>(w, 8 * c + 2 * q), b);
                    float hi = fmaf(s, unit_code<BITS>(w, 8 * c + 2 * q + 1), b);
                    h[q] = (uint32_t)cu_f32_to_bf16(lo) | ((uint32_t)cu_f32_to_bf16(hi) << 16);
                }
                ov[c] = make_uint4(h[0], h[1], h[2], h[3]);
            }
        } else if (a.os1 == 4 && cuda_aligned16(o)) {
            float4 *ov = (float4 *)o;
#pragma unroll
            for (int c = 0; c < 8; c++)
                ov[c] = make_float4(fmaf(s, unit_code<BITS>(w, 4 * c), b),
                                    fmaf(s, unit_code<BITS>(w, 4 * c + 1), b),
                                    fmaf(s, unit_code<BITS>(w, 4 * c + 2), b),
                                    fmaf(s, unit_code<BITS>(w, 4 * c + 3), b));
        } else {
#pragma unroll
            for (int j = 0; j < 32; j++)
                *(float *)(o + j * a.os1) = fmaf(s, unit_code<BITS>(w, j), b);
        }
    }
}

static vlm_status qdeq_run(vlm_ctx *ctx, const char *op, int bits, const qdeq_args &a) {
    cuda_dev *dev = cuda_dev_of(ctx);
    unsigned blocks = cuda_blocks(a.rows * (a.k >> 5), 256, dev);
    cudaStream_t s = cuda_stream(ctx);
    switch (bits) {
    case 2:
        qdeq_kernel<2><<<blocks, 256, 0, s>>>(a);
        break;
    case 3:
        qdeq_kernel<3><<<blocks, 256, 0, s>>>(a);
        break;
    case 4:
        qdeq_kernel<4><<<blocks, 256, 0, s>>>(a);
        break;
    case 5:
        qdeq_kernel<5><<<blocks, 256, 0, s>>>(a);
        break;
    case 6:
        qdeq_kernel<6><<<blocks, 256, 0, s>>>(a);
        break;
    default:
        qdeq_kernel<8><<<blocks, 256, 0, s>>>(a);
        break;
    }
    return cuda_check_launch(ctx, op);
}

/* ------------------------------------------------------------ helpers */

/* Words, scales and biases of rows >= n0 of a validated quantized weight. */
typedef struct qmat {
    const uint32_t *w;
    int64_t ldw;
    const char *s, *b;
    int64_t lds;
    int sdt, vec;
} qmat;

static qmat qmat_of(const vlm_qweight *q) {
    qmat m;
    m.w = (const uint32_t *)(const void *)cuda_ptr(&q->w);
    m.ldw = q->w.shape[0] > 1 ? q->w.stride[0] / 4 : q->w.shape[1];
    m.s = cuda_ptr(&q->scales);
    m.b = cuda_ptr(&q->biases);
    m.sdt = q->scales.dtype;
    int64_t es = (int64_t)vlm_dtype_size(q->scales.dtype);
    m.lds = q->scales.shape[0] > 1 ? q->scales.stride[0] / es : q->scales.shape[1];
    if (q->biases.shape[0] > 1 && q->biases.stride[0] != q->scales.stride[0]) m.lds = -1;
    m.vec = cuda_aligned16(m.w) && (m.ldw * 4) % 16 == 0;
    return m;
}

/* A 2-D tensor over raw device memory (arena scratch), valid while `fake` lives. */
static vlm_status raw_tensor(vlm_ctx *ctx, const char *op, void *data, size_t bytes, vlm_dtype dt,
                             int64_t rows, int64_t cols, vlm_buffer *fake, vlm_tensor *t) {
    vlm_error e;
    int64_t shp[2] = {rows, cols};
    if (vlm_tensor_init(t, NULL, 0, dt, 2, shp, &e) != VLM_OK)
        return vlm_ctx_fail(ctx, VLM_ERR_INTERNAL, "%s: %s", op, e.message);
    *fake = (vlm_buffer){ctx->backend, data, bytes, 0};
    t->buf = fake;
    return VLM_OK;
}

/* ------------------------------------------------------------ matmul_q */

extern "C" vlm_status cuda_matmul_q(vlm_ctx *ctx, const vlm_tensor *x, const vlm_qweight *w,
                                    const vlm_tensor *bias, const vlm_tensor *out) {
    const char *op = "matmul_q";
    cuda_dev *dev;
    vlm_status st = cuda_begin(ctx, op, &dev);
    if (st != VLM_OK) return st;
    vlm_arena_mark mark = vlm_arena_get_mark(ctx->arena);
    const int64_t m = cuda_nrows(x), n = w->w.shape[0], k = w->w.shape[1] * 32 / w->bits;
    qmat q = qmat_of(w);
    if (m > QGEMV_MAX_M && k > 0) {
        st = cuda_qgemm(ctx, op, x, w, bias, out);
        goto done;
    }
    if (k == 0 || q.lds < 0) {
        /* No columns (out = bias), or scales and biases with different row pitches (a view
         * no loader makes): the float path over a dequantized copy. */
        vlm_tensor wf;
        if (k == 0) {
            vlm_buffer fake;
            if ((st = raw_tensor(ctx, op, (void *)q.w, 0, VLM_DTYPE_F32, n, 0, &fake, &wf)) ==
                VLM_OK)
                st = cuda_matmul(ctx, x, &wf, bias, out);
            goto done;
        }
        vlm_error e;
        int64_t shp[2] = {n, k};
        if ((st = vlm_arena_tensor(ctx->arena, VLM_DTYPE_F32, 2, shp, &wf, &e)) != VLM_OK) {
            vlm_ctx_fail(ctx, st, "%s: scratch: %s", op, e.message);
            goto done;
        }
        vlm_tensor sc, bc;
        if ((st = cuda_contiguous_scratch(ctx, op, &w->scales, w->scales.dtype, &sc)) != VLM_OK ||
            (st = cuda_contiguous_scratch(ctx, op, &w->biases, w->biases.dtype, &bc)) != VLM_OK)
            goto done;
        vlm_qweight w2 = *w;
        w2.scales = sc;
        w2.biases = bc;
        qmat q2 = qmat_of(&w2);
        qdeq_args a;
        memset(&a, 0, sizeof a);
        a.rows = n;
        a.k = k;
        a.w = q2.w;
        a.ldw = q2.ldw;
        a.s = q2.s;
        a.b = q2.b;
        a.lds = q2.lds;
        a.sdt = q2.sdt;
        a.gshift = cuda_group_shift(w->group_size);
        a.vec = q2.vec;
        a.out = cuda_ptr(&wf);
        a.os0 = k * 4;
        a.os1 = 4;
        a.odt = VLM_DTYPE_F32;
        if ((st = qdeq_run(ctx, op, w->bits, a)) != VLM_OK) goto done;
        st = cuda_matmul(ctx, x, &wf, bias, out);
        goto done;
    }
    {
        vlm_tensor xs = *x, ys = *out;
        int64_t ld;
        if (!vlm_strided_flat_rows(out, &ld)) {
            vlm_error e;
            if ((st = vlm_arena_tensor(ctx->arena, VLM_DTYPE_F32, out->ndim, out->shape, &ys,
                                       &e)) != VLM_OK) {
                vlm_ctx_fail(ctx, st, "%s: scratch: %s", op, e.message);
                goto done;
            }
        }
        gv_args a;
        if (!cuda_gemv_begin(ctx, &a, &xs, k, NULL)) {
            if ((st = cuda_contiguous_scratch(ctx, op, x, x->dtype, &xs)) != VLM_OK) goto done;
            if (!cuda_gemv_begin(ctx, &a, &xs, k, NULL)) {
                st = vlm_ctx_fail(ctx, VLM_ERR_UNSUPPORTED, "%s: rows of %lld columns", op,
                                  (long long)k);
                goto done;
            }
        }
        if (!cuda_gemv_add(&a, w, bias, &ys)) {
            st = vlm_ctx_fail(ctx, VLM_ERR_INTERNAL, "%s: weight layout", op);
            goto done;
        }
        if ((st = cuda_gemv_run(ctx, op, &a)) != VLM_OK) goto done;
        if (!vlm_strided_flat_rows(out, &ld)) st = cuda_copy_tensor(ctx, op, &ys, out);
    }
done:
    vlm_arena_release(ctx->arena, mark);
    return st;
}

/* ------------------------------------------------------------ embedding lookup */

extern "C" vlm_status cuda_gather_rows_q(vlm_ctx *ctx, const vlm_qweight *table,
                                         const vlm_tensor *ids, const vlm_tensor *out) {
    const char *op = "embedding_q";
    cuda_dev *dev;
    vlm_status st = cuda_begin(ctx, op, &dev);
    if (st != VLM_OK) return st;
    vlm_arena_mark mark = vlm_arena_get_mark(ctx->arena);
    const int64_t m = ids->shape[0], words = table->w.shape[1], k = out->shape[1];
    qmat q = qmat_of(table);
    vlm_tensor packed, sc = table->scales, bc = table->biases;
    vlm_error e;
    int64_t shp[2] = {m, words};
    if ((st = vlm_arena_tensor(ctx->arena, VLM_DTYPE_U32, 2, shp, &packed, &e)) != VLM_OK) {
        vlm_ctx_fail(ctx, st, "%s: scratch: %s", op, e.message);
        goto done;
    }
    /* The packed rows (checks the ids, as gather_rows does). */
    if ((st = cuda_gather_rows(ctx, &table->w, ids, &packed)) != VLM_OK) goto done;
    if (q.lds < 0) { /* scales and biases with different row pitches: contiguous copies */
        if ((st = cuda_contiguous_scratch(ctx, op, &table->scales, table->scales.dtype, &sc)) !=
                VLM_OK ||
            (st = cuda_contiguous_scratch(ctx, op, &table->biases, table->biases.dtype, &bc)) !=
                VLM_OK)
            goto done;
        vlm_qweight t2 = *table;
        t2.scales = sc;
        t2.biases = bc;
        q = qmat_of(&t2);
    }
    {
        qdeq_args a;
        memset(&a, 0, sizeof a);
        a.rows = m;
        a.k = k;
        a.w = (const uint32_t *)(const void *)cuda_ptr(&packed);
        a.ldw = words;
        a.s = q.s;
        a.b = q.b;
        a.lds = q.lds;
        a.sdt = q.sdt;
        a.gshift = cuda_group_shift(table->group_size);
        a.vec = cuda_aligned16(a.w) && (words * 4) % 16 == 0;
        a.ids = cuda_ptr(ids);
        a.ids_stride = ids->stride[0];
        a.ids_dt = ids->dtype;
        a.limit = table->w.shape[0];
        a.out = cuda_ptr(out);
        a.os0 = out->stride[0];
        a.os1 = out->stride[1];
        a.odt = VLM_DTYPE_F32;
        if (k > 0 && m > 0) st = qdeq_run(ctx, op, table->bits, a);
    }
done:
    vlm_arena_release(ctx->arena, mark);
    return st;
}
