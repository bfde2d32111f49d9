/* CUDA Linear layers (x @ w^T + bias, w f32/f16/bf16) and batched products, f32 arithmetic
 * throughout (products of exactly widened weights, f32 sums; no TF32).
 * - m <= GEMV_MAX_M rows (decode): a GEMV kernel that streams each weight row once in its
 *   own dtype with 16-byte loads (one warp per output column, all m rows of x at once), so a
 *   decode step reads the weights once at close to memory bandwidth.
 * - larger m: cuBLAS SGEMM. f16/bf16 weights are first widened into f32 scratch, a bounded
 *   block of rows at a time (the products then match the CPU's exact widening).
 * - larger m, bf16 weights, and a context that allows bf16 compute (vlm_ctx.bf16_compute):
 *   x is rounded to bf16 once and the product runs on the tensor cores (cublasGemmEx, bf16
 *   operands, f32 accumulation and output): ~15x the f32 rate, at bf16 input precision.
 * Operands whose rows cannot be addressed with one leading stride are copied into
 * contiguous scratch first, as the CPU backend does; a transposed right-hand side of bmm
 * goes to cuBLAS as a transposed operand with no copy. */
#include <cuda_fp16.h>
#include <limits.h>
#include <stdlib.h>

#include "tensor/cuda/gemv.cuh"
#include "tensor/strided.h"

#define WIDEN_MAX_ELEMS ((int64_t)1 << 24) /* f32 scratch for widened weights: 64 MiB */

/* ------------------------------------------------------------ bias / zero rows */

/* y[r, j] = (set ? 0 : y[r, j]) + bias[j] (bias may be absent when set): columns across
 * x-blocks, rows across y-blocks (no index division per element). */
__global__ void bias_rows_kernel(float *y, int64_t ldy, int64_t m, int64_t n, const char *bias,
                                 int64_t bstride, int bdt, int set) {
    for (int64_t j = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; j < n;
         j += (int64_t)gridDim.x * blockDim.x) {
        float b = bias ? cu_load_f(bias + j * bstride, bdt) : 0.0f;
        for (int64_t r = blockIdx.y; r < m; r += gridDim.y) {
            float *p = y + r * ldy + j;
            *p = set ? b : *p + b;
        }
    }
}

static void bias_rows(cudaStream_t s, float *y, int64_t ldy, int64_t m, int64_t n, const char *bias,
                      int64_t bstride, int bdt, int set) {
    dim3 grid((unsigned)((n + 255) / 256 < 1024 ? (n + 255) / 256 : 1024),
              (unsigned)(m < 4096 ? m : 4096));
    bias_rows_kernel<<<grid, 256, 0, s>>>(y, ldy, m, n, bias, bstride, bdt, set);
}

/* ------------------------------------------------------------ bf16 operands */

/* dst[r, c] = bf16(x[r * ldx + c]) for an [m, k] block into rows of ldd >= k elements
 * (columns k .. ldd - 1 become zeros); `flat4`: x is contiguous, 16-byte aligned, ldd == k
 * and k % 4 == 0, so four elements move per thread. */
__global__ void to_bf16_kernel(const float *x, int64_t ldx, int64_t m, int64_t k, uint16_t *dst,
                               int64_t ldd, int flat4) {
    if (flat4) {
        for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < m * k / 4;
             e += (int64_t)gridDim.x * blockDim.x) {
            float4 v = ((const float4 *)x)[e];
            uint2 o;
            o.x = (uint32_t)cu_f32_to_bf16(v.x) | ((uint32_t)cu_f32_to_bf16(v.y) << 16);
            o.y = (uint32_t)cu_f32_to_bf16(v.z) | ((uint32_t)cu_f32_to_bf16(v.w) << 16);
            ((uint2 *)dst)[e] = o;
        }
        return;
    }
    int64_t total = m * ldd;
    for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < total;
         e += (int64_t)gridDim.x * blockDim.x) {
        int64_t r = e / ldd, c = e - r * ldd;
        dst[e] = c < k ? cu_f32_to_bf16(x[r * ldx + c]) : 0;
    }
}

/* dst [n, ldd] = the bf16 rows of w [n, k] (ldw) with zero columns k .. ldd - 1. */
__global__ void pad_rows_bf16_kernel(const uint16_t *w, int64_t ldw, int64_t n, int64_t k,
                                     uint16_t *dst, int64_t ldd) {
    int64_t total = n * ldd;
    for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < total;
         e += (int64_t)gridDim.x * blockDim.x) {
        int64_t r = e / ldd, c = e - r * ldd;
        dst[e] = c < k ? w[r * ldw + c] : 0;
    }
}

/* cuBLAS runs on the device's stream; it is not recorded into graphs. */
static vlm_status blas_ready(vlm_ctx *ctx, const char *op) {
    if (cuda_capturing(ctx))
        return vlm_ctx_fail(ctx, VLM_ERR_UNSUPPORTED,
                            "%s: cuBLAS products are not recorded in graphs", op);
    return VLM_OK;
}

/* y [m, n] (ldy) = x [m, k] (ldx, f32) @ w^T + beta * y with w [n, k] bf16 (ldw): x
 * rounded to bf16, tensor-core product with f32 accumulation. */
static vlm_status gemm_bf16(vlm_ctx *ctx, const char *op, cuda_dev *dev, const float *xp,
                            int64_t ldx, const char *wp, int64_t ldw, float *yp, int64_t ldy,
                            int64_t m, int64_t n, int64_t k, float beta) {
    /* Hopper's fast GEMM kernels read operands with 16-byte aligned rows: a depth that is
     * not a multiple of 8 (a 3420-wide MLP) is padded with zero columns, in x's bf16 copy
     * and, when many rows will reuse it, in a bf16 copy of w (a copy costs one pass over w;
     * the fallback kernels run at a third of the speed). */
    int64_t kp = k;
    const char *wuse = wp;
    int64_t ldwu = ldw;
    if ((k % 8 || ldw % 8) && m >= 64) {
        kp = (k + 7) / 8 * 8;
        uint16_t *wpad;
        vlm_status st = cuda_scratch(ctx, op, (size_t)(n * kp) * 2, (void **)&wpad);
        if (st != VLM_OK) return st;
        pad_rows_bf16_kernel<<<cuda_blocks(n * kp, 256, dev), 256, 0, cuda_stream(ctx)>>>(
            (const uint16_t *)wp, ldw, n, k, wpad, kp);
        if ((st = cuda_check_launch(ctx, op)) != VLM_OK) return st;
        wuse = (const char *)wpad;
        ldwu = kp;
    }
    uint16_t *xb;
    vlm_status st = cuda_scratch(ctx, op, (size_t)(m * kp) * 2, (void **)&xb);
    if (st != VLM_OK) return st;
    int flat4 = ldx == k && kp == k && k % 4 == 0 && cuda_aligned16(xp);
    to_bf16_kernel<<<cuda_blocks(flat4 ? m * k / 4 : m * kp, 256, dev), 256, 0, cuda_stream(ctx)>>>(
        xp, ldx, m, k, xb, kp, flat4);
    if ((st = cuda_check_launch(ctx, op)) != VLM_OK) return st;
    const float one = 1.0f;
    return cuda_check_blas(ctx, op,
                           cublasGemmEx(dev->blas, CUBLAS_OP_T, CUBLAS_OP_N, (int)n, (int)m,
                                        (int)kp, &one, wuse, CUDA_R_16BF, (int)ldwu, xb,
                                        CUDA_R_16BF, (int)kp, &beta, yp, CUDA_R_32F, (int)ldy,
                                        CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

/* ------------------------------------------------------------ matmul */

extern "C" vlm_status cuda_matmul(vlm_ctx *ctx, const vlm_tensor *x, const vlm_tensor *w,
                                  const vlm_tensor *bias, const vlm_tensor *out) {
    const char *op = "matmul";
    cuda_dev *dev;
    vlm_status st = cuda_begin(ctx, op, &dev);
    if (st != VLM_OK) return st;
    vlm_arena_mark mark = vlm_arena_get_mark(ctx->arena);
    int64_t m = cuda_nrows(x), n = w->shape[0], k = w->shape[1];
    int64_t ldx, ldy;
    vlm_tensor xs = *x, ys = *out;
    bool y_direct = vlm_strided_flat_rows(out, &ldy);
    if (!vlm_strided_flat_rows(x, &ldx)) {
        if ((st = cuda_contiguous_scratch(ctx, op, x, VLM_DTYPE_F32, &xs)) != VLM_OK) goto done;
        ldx = k > 0 ? k : 1;
    }
    if (!y_direct) {
        vlm_error e;
        if ((st = vlm_arena_tensor(ctx->arena, VLM_DTYPE_F32, out->ndim, out->shape, &ys, &e)) !=
            VLM_OK) {
            vlm_ctx_fail(ctx, st, "%s: scratch: %s", op, e.message);
            goto done;
        }
        ldy = n;
    }
    {
        const float *xp = (const float *)cuda_ptr(&xs);
        float *yp = (float *)cuda_ptr(&ys);
        int64_t esz = (int64_t)vlm_dtype_size(w->dtype);
        int64_t ldw = w->stride[0] / esz;
        const char *bp = bias ? cuda_ptr(bias) : NULL;
        int64_t bstride = bias ? bias->stride[0] : 0;
        int bdt = bias ? (int)bias->dtype : (int)VLM_DTYPE_F32;
        gv_args a;
        vlm_qweight wq = vlm_qweight_float(w);
        if (m <= GEMV_MAX_M && cuda_gemv_begin(ctx, &a, &xs, k, NULL) &&
            cuda_gemv_add(&a, &wq, bias, &ys)) {
            if ((st = cuda_gemv_run(ctx, op, &a)) != VLM_OK) goto done;
        } else if (k == 0) {
            bias_rows(cuda_stream(ctx), yp, ldy, m, n, bp, bstride, bdt, 1);
            if ((st = cuda_check_launch(ctx, op)) != VLM_OK) goto done;
        } else {
            if (m > INT_MAX || n > INT_MAX || k > INT_MAX || ldx > INT_MAX || ldy > INT_MAX) {
                st = vlm_ctx_fail(ctx, VLM_ERR_LIMIT,
                                  "%s: %lld x %lld x %lld exceeds cuBLAS's int sizes", op,
                                  (long long)m, (long long)n, (long long)k);
                goto done;
            }
            const float one = 1.0f, zero = 0.0f;
            bool direct = w->dtype == VLM_DTYPE_F32 && (n == 1 || ldw >= k);
            if ((st = blas_ready(ctx, op)) != VLM_OK) goto done;
            if (ctx->bf16_compute && w->dtype == VLM_DTYPE_BF16 && (n == 1 || ldw >= k)) {
                if (ldw < k) ldw = k;
                /* the bias is written first and the product added to it (beta = 1): one
                 * pass over y instead of a read-modify-write after */
                if (bp) {
                    bias_rows(cuda_stream(ctx), yp, ldy, m, n, bp, bstride, bdt, 1);
                    if ((st = cuda_check_launch(ctx, op)) != VLM_OK) goto done;
                }
                st = gemm_bf16(ctx, op, dev, xp, ldx, cuda_ptr(w), ldw, yp, ldy, m, n, k,
                               bp ? 1.0f : 0.0f);
                if (st != VLM_OK) goto done;
                bp = NULL; /* added */
            } else if (direct) {
                if (ldw < k) ldw = k; /* one row: its stride is irrelevant */
                st = cuda_check_blas(ctx, op,
                                     cublasSgemm(dev->blas, CUBLAS_OP_T, CUBLAS_OP_N, (int)n,
                                                 (int)m, (int)k, &one, (const float *)cuda_ptr(w),
                                                 (int)ldw, xp, (int)ldx, &zero, yp, (int)ldy));
                if (st != VLM_OK) goto done;
            } else {
                /* Widen a block of weight rows to f32, multiply, next block. */
                int64_t nb = WIDEN_MAX_ELEMS / k;
                if (nb < 1) nb = 1;
                if (nb > n) nb = n;
                float *wf;
                if ((st = cuda_scratch(ctx, op, (size_t)(nb * k) * 4, (void **)&wf)) != VLM_OK)
                    goto done;
                for (int64_t n0 = 0; n0 < n; n0 += nb) {
                    int64_t rows = n - n0 < nb ? n - n0 : nb;
                    vlm_tensor src = *w, dst;
                    src.offset += n0 * w->stride[0];
                    src.shape[0] = rows;
                    vlm_error e;
                    int64_t shp[2] = {rows, k};
                    if (vlm_tensor_init(&dst, NULL, 0, VLM_DTYPE_F32, 2, shp, &e) != VLM_OK) {
                        st = vlm_ctx_fail(ctx, VLM_ERR_INTERNAL, "%s: %s", op, e.message);
                        goto done;
                    }
                    vlm_buffer fake = {ctx->backend, wf, (size_t)(nb * k) * 4, 0};
                    dst.buf = &fake; /* only the pointer is used, during this call */
                    if ((st = cuda_copy_tensor(ctx, op, &src, &dst)) != VLM_OK) goto done;
                    st = cuda_check_blas(ctx, op,
                                         cublasSgemm(dev->blas, CUBLAS_OP_T, CUBLAS_OP_N, (int)rows,
                                                     (int)m, (int)k, &one, wf, (int)k, xp, (int)ldx,
                                                     &zero, yp + n0, (int)ldy));
                    if (st != VLM_OK) goto done;
                }
            }
            if (bp) {
                bias_rows(cuda_stream(ctx), yp, ldy, m, n, bp, bstride, bdt, 0);
                if ((st = cuda_check_launch(ctx, op)) != VLM_OK) goto done;
            }
        }
    }
    if (!y_direct) st = cuda_copy_tensor(ctx, op, &ys, out);
done:
    vlm_arena_release(ctx->arena, mark);
    return st;
}

/* ------------------------------------------------------------ fused products (ops.h) */

/* out = x @ w^T + bias for a float or quantized w (the unfused path). */
static vlm_status product(vlm_ctx *ctx, const vlm_tensor *x, const vlm_qweight *w,
                          const vlm_tensor *bias, const vlm_tensor *out) {
    return w->bits ? cuda_matmul_q(ctx, x, w, bias, out) : cuda_matmul(ctx, x, &w->w, bias, out);
}

/* A contiguous f32 scratch tensor shaped like t. */
static vlm_status scratch_like(vlm_ctx *ctx, const char *op, const vlm_tensor *t, vlm_tensor *out) {
    vlm_error e;
    vlm_status st = vlm_arena_tensor(ctx->arena, VLM_DTYPE_F32, t->ndim, t->shape, out, &e);
    return st == VLM_OK ? st : vlm_ctx_fail(ctx, st, "%s: scratch: %s", op, e.message);
}

/* *xn = x, or its RMSNorm in scratch (released with the caller's mark). */
static vlm_status normed(vlm_ctx *ctx, const char *op, const vlm_tensor *x, const vlm_prenorm *norm,
                         vlm_tensor *xn) {
    if (!norm) {
        *xn = *x;
        return VLM_OK;
    }
    vlm_status st = scratch_like(ctx, op, x, xn);
    return st == VLM_OK ? cuda_rms_norm(ctx, x, norm->w, norm->eps, norm->w_offset, xn) : st;
}

/* A one-launch GEMV over the n products (gated / accumulate set by the caller after):
 * false when m is too large for the weights' kind or a layout does not suit. */
static bool gemv_of(vlm_ctx *ctx, gv_args *a, const vlm_tensor *x, const vlm_prenorm *norm, int n,
                    const vlm_qweight *const *w, const vlm_tensor *const *bias,
                    const vlm_tensor *const *out) {
    int64_t m = cuda_nrows(x);
    if (norm && cuda_dev_of(ctx)->gemv_norm_apart) return false;
    if (m > (w[0]->bits ? QGEMV_MAX_M : GEMV_MAX_M) ||
        !cuda_gemv_begin(ctx, a, x, vlm_qweight_cols(w[0]), norm))
        return false;
    for (int i = 0; i < n; i++)
        if (!cuda_gemv_add(a, w[i], bias[i], out[i])) return false;
    return true;
}

extern "C" vlm_status cuda_matmul_many(vlm_ctx *ctx, const vlm_tensor *x, const vlm_prenorm *norm,
                                       int n, const vlm_qweight *const *w,
                                       const vlm_tensor *const *bias,
                                       const vlm_tensor *const *out) {
    const char *op = "matmul_many";
    cuda_dev *dev;
    vlm_status st = cuda_begin(ctx, op, &dev);
    if (st != VLM_OK) return st;
    gv_args a;
    if (gemv_of(ctx, &a, x, norm, n, w, bias, out)) return cuda_gemv_run(ctx, op, &a);
    vlm_arena_mark mark = vlm_arena_get_mark(ctx->arena);
    vlm_tensor xn;
    st = normed(ctx, op, x, norm, &xn);
    for (int i = 0; st == VLM_OK && i < n; i++) /* prefill, other layouts */
        st = product(ctx, &xn, w[i], bias[i], out[i]);
    vlm_arena_release(ctx->arena, mark);
    return st;
}

extern "C" vlm_status cuda_matmul_add(vlm_ctx *ctx, const vlm_tensor *x, const vlm_qweight *wq,
                                      const vlm_tensor *bias, const vlm_tensor *out) {
    const char *op = "matmul_add";
    cuda_dev *dev;
    vlm_status st = cuda_begin(ctx, op, &dev);
    if (st != VLM_OK) return st;
    gv_args a;
    if (gemv_of(ctx, &a, x, NULL, 1, &wq, &bias, &out)) {
        a.accumulate = 1; /* y = y + (x w + b) in the GEMV's epilogue */
        return cuda_gemv_run(ctx, op, &a);
    }
    const vlm_tensor *w = &wq->w;
    int64_t m = cuda_nrows(x), n = w->shape[0], k = w->shape[1], ldx, ldy;
    int64_t ldw = w->stride[0] / 2;
    if (!wq->bits && ctx->bf16_compute && w->dtype == VLM_DTYPE_BF16 && (n == 1 || ldw >= k) &&
        vlm_strided_flat_rows(x, &ldx) && vlm_strided_flat_rows(out, &ldy) && m <= INT_MAX &&
        n <= INT_MAX && k <= INT_MAX && ldx <= INT_MAX && ldy <= INT_MAX) {
        /* bf16 compute: the bias onto the residual, then the product accumulated (beta 1) */
        if ((st = blas_ready(ctx, op)) != VLM_OK) return st;
        if (bias) {
            bias_rows(cuda_stream(ctx), (float *)cuda_ptr(out), ldy, m, n, cuda_ptr(bias),
                      bias->stride[0], (int)bias->dtype, 0);
            if ((st = cuda_check_launch(ctx, op)) != VLM_OK) return st;
        }
        vlm_arena_mark mark = vlm_arena_get_mark(ctx->arena);
        st = gemm_bf16(ctx, op, dev, (const float *)cuda_ptr(x), ldx, cuda_ptr(w),
                       ldw < k ? k : ldw, (float *)cuda_ptr(out), ldy, m, n, k, 1.0f);
        vlm_arena_release(ctx->arena, mark);
        return st;
    }
    vlm_arena_mark mark = vlm_arena_get_mark(ctx->arena);
    vlm_tensor t;
    st = scratch_like(ctx, op, out, &t);
    if (st == VLM_OK) st = product(ctx, x, wq, bias, &t);
    if (st == VLM_OK) st = cuda_binary(ctx, VLM_BINARY_ADD, out, &t, out);
    vlm_arena_release(ctx->arena, mark);
    return st;
}

extern "C" vlm_status cuda_matmul_gated(vlm_ctx *ctx, const vlm_tensor *x, const vlm_prenorm *norm,
                                        vlm_act act, const vlm_qweight *wg, const vlm_tensor *bg,
                                        const vlm_qweight *wu, const vlm_tensor *bu,
                                        const vlm_tensor *out) {
    const char *op = "matmul_gated";
    cuda_dev *dev;
    vlm_status st = cuda_begin(ctx, op, &dev);
    if (st != VLM_OK) return st;
    gv_args a;
    const vlm_qweight *ws[2] = {wg, wu};
    const vlm_tensor *bs[2] = {bg, bu}, *os[2] = {out, out};
    if (gemv_of(ctx, &a, x, norm, 2, ws, bs, os)) {
        a.gated = 1;
        a.act = (int)act;
        return cuda_gemv_run(ctx, op, &a);
    }
    vlm_arena_mark mark = vlm_arena_get_mark(ctx->arena);
    vlm_tensor xn, g, u;
    st = normed(ctx, op, x, norm, &xn);
    if (st == VLM_OK) st = scratch_like(ctx, op, out, &g);
    if (st == VLM_OK) st = scratch_like(ctx, op, out, &u);
    if (st == VLM_OK) st = product(ctx, &xn, wg, bg, &g);
    if (st == VLM_OK) st = product(ctx, &xn, wu, bu, &u);
    if (st == VLM_OK) st = cuda_gated_act(ctx, act, &g, &u, out);
    vlm_arena_release(ctx->arena, mark);
    return st;
}

/* ------------------------------------------------------------ bmm */

/* Whether offsets off(b) of every batch are b * *stride (>= 0) for one stride. */
static bool uniform_batches(const vlm_tensor *t, const int64_t *shape, int nd, int64_t batches,
                            int64_t *stride) {
    int64_t s = batches > 1 ? vlm_strided_batch_offset(t, shape, nd, 1) : 0;
    for (int64_t b = 2; b < batches; b++)
        if (vlm_strided_batch_offset(t, shape, nd, b) != b * s) return false;
    *stride = s;
    return true;
}

extern "C" vlm_status cuda_bmm(vlm_ctx *ctx, const vlm_tensor *a, const vlm_tensor *b,
                               const vlm_tensor *out) {
    const char *op = "bmm";
    cuda_dev *dev;
    vlm_status st = cuda_begin(ctx, op, &dev);
    if (st != VLM_OK) return st;
    vlm_arena_mark mark = vlm_arena_get_mark(ctx->arena);
    int nd = out->ndim;
    int64_t m = out->shape[nd - 2], n = out->shape[nd - 1], k = a->shape[nd - 1];
    int64_t batches = 1;
    for (int i = 0; i < nd - 2; i++)
        batches *= out->shape[i];
    vlm_tensor as = *a, bs = *b, ys = *out;
    bool nt = false, y_direct;
    int64_t lda, ldb, ldy, sa, sb, sy;
    if (k == 0) { /* empty sums */
        st = cuda_fill(ctx, out, 0.0f);
        goto done;
    }
    if ((st = blas_ready(ctx, op)) != VLM_OK) goto done;
    if (!vlm_strided_mat_ok(a->stride[nd - 1], a->stride[nd - 2], m, k) &&
        (st = cuda_contiguous_scratch(ctx, op, a, VLM_DTYPE_F32, &as)) != VLM_OK)
        goto done;
    if (!vlm_strided_mat_ok(b->stride[nd - 1], b->stride[nd - 2], k, n)) {
        if (vlm_strided_mat_ok(b->stride[nd - 2], b->stride[nd - 1], n, k))
            nt = true;
        else if ((st = cuda_contiguous_scratch(ctx, op, b, VLM_DTYPE_F32, &bs)) != VLM_OK)
            goto done;
    }
    y_direct = vlm_strided_mat_ok(out->stride[nd - 1], out->stride[nd - 2], m, n);
    if (!y_direct) {
        vlm_error e;
        if ((st = vlm_arena_tensor(ctx->arena, VLM_DTYPE_F32, nd, out->shape, &ys, &e)) != VLM_OK) {
            vlm_ctx_fail(ctx, st, "%s: scratch: %s", op, e.message);
            goto done;
        }
    }
    lda = as.stride[nd - 2] / 4;
    ldy = ys.stride[nd - 2] / 4;
    ldb = nt ? bs.stride[nd - 1] / 4 : bs.stride[nd - 2] / 4;
    if (lda < k) lda = k;
    if (ldy < n) ldy = n;
    if (nt ? ldb < k : ldb < n) ldb = nt ? k : n;
    if (m > INT_MAX || n > INT_MAX || k > INT_MAX || lda > INT_MAX || ldb > INT_MAX ||
        ldy > INT_MAX || batches > INT_MAX) {
        st = vlm_ctx_fail(ctx, VLM_ERR_LIMIT, "%s: sizes exceed cuBLAS's int range", op);
        goto done;
    }
    {
        /* Column-major view: out^T [n, m] = op(b^T) [n, k] @ a^T [k, m]. */
        const float one = 1.0f, zero = 0.0f;
        cublasOperation_t opb = nt ? CUBLAS_OP_T : CUBLAS_OP_N;
        const char *ap = cuda_ptr(&as), *bp = cuda_ptr(&bs);
        char *yp = cuda_ptr(&ys);
        if (uniform_batches(&as, out->shape, nd, batches, &sa) &&
            uniform_batches(&bs, out->shape, nd, batches, &sb) &&
            uniform_batches(&ys, out->shape, nd, batches, &sy)) {
            st = cuda_check_blas(ctx, op,
                                 cublasSgemmStridedBatched(dev->blas, opb, CUBLAS_OP_N, (int)n,
                                                           (int)m, (int)k, &one, (const float *)bp,
                                                           (int)ldb, sb / 4, (const float *)ap,
                                                           (int)lda, sa / 4, &zero, (float *)yp,
                                                           (int)ldy, sy / 4, (int)batches));
        } else {
            /* Irregular batch strides: arrays of matrix pointers. */
            size_t bytes = (size_t)batches * 3 * sizeof(void *);
            const void **host = (const void **)malloc(bytes);
            void *dptr;
            if (!host) {
                st = vlm_ctx_fail(ctx, VLM_ERR_OUT_OF_MEMORY, "%s: out of memory", op);
                goto done;
            }
            for (int64_t i = 0; i < batches; i++) {
                host[i] = bp + vlm_strided_batch_offset(&bs, out->shape, nd, i);
                host[batches + i] = ap + vlm_strided_batch_offset(&as, out->shape, nd, i);
                host[2 * batches + i] = yp + vlm_strided_batch_offset(&ys, out->shape, nd, i);
            }
            st = cuda_scratch_upload(ctx, op, host, bytes, &dptr);
            free(host);
            if (st != VLM_OK) goto done;
            const float **pb = (const float **)dptr, **pa = pb + batches;
            float **py = (float **)(pb + 2 * batches);
            st = cuda_check_blas(ctx, op,
                                 cublasSgemmBatched(dev->blas, opb, CUBLAS_OP_N, (int)n, (int)m,
                                                    (int)k, &one, pb, (int)ldb, pa, (int)lda, &zero,
                                                    py, (int)ldy, (int)batches));
        }
        if (st != VLM_OK) goto done;
    }
    if (!y_direct) st = cuda_copy_tensor(ctx, op, &ys, out);
done:
    vlm_arena_release(ctx->arena, mark);
    return st;
}
