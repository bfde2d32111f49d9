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

#include "tensor/cuda/cuda_internal.cuh"
#include "tensor/strided.h"

#define GEMV_MAX_M 8
#define GEMV_WARPS 8
#define WIDEN_MAX_ELEMS ((int64_t)1 << 24) /* f32 scratch for widened weights: 64 MiB */

/* ------------------------------------------------------------ GEMV (small m) */

#define GEMV_MAX_PARTS 4

/* One product of a (possibly several-part) GEMV: rows start .. start + n - 1 of the
 * launch's output space belong to it. */
typedef struct gemv_part {
    int64_t start, n;
    const char *w;
    int64_t ldw; /* elements */
    const char *bias;
    int64_t bias_stride;
    int bias_dt;
    float *y;
    int64_t ldy;
} gemv_part;

/* x [m, k] times the weights of 1 .. GEMV_MAX_PARTS products that share x (q/k/v,
 * gate/up): one launch, one warp per output row of any part. */
typedef struct gemv_args {
    int64_t n, k; /* n: the parts' rows together */
    const float *x;
    int64_t ldx;
    int n_parts;
    gemv_part part[GEMV_MAX_PARTS];
    int vec;        /* 16-byte loads of every w and of x are aligned */
    int accumulate; /* y += product (a residual added in the same pass) */
    int gated;      /* two parts, gate and up: part 0's y = act(gate) * up; n = rows of one */
    int act;        /* vlm_act of the gated form */
    int nseg;       /* warps per row (1, 2, 4 or 8): long rows split across warps */
} gemv_args;

template <int WDT> struct wtraits;
template <> struct wtraits<VLM_DTYPE_F32> {
    enum { E = 4, SIZE = 4 };
    static __device__ __forceinline__ void unpack(uint4 v, float *f) {
        f[0] = __uint_as_float(v.x);
        f[1] = __uint_as_float(v.y);
        f[2] = __uint_as_float(v.z);
        f[3] = __uint_as_float(v.w);
    }
    static __device__ __forceinline__ float one(const char *p, int64_t i) {
        return ((const float *)p)[i];
    }
};
template <> struct wtraits<VLM_DTYPE_BF16> {
    enum { E = 8, SIZE = 2 };
    static __device__ __forceinline__ void pair(uint32_t u, float *f) {
        f[0] = __uint_as_float(u << 16);
        f[1] = __uint_as_float(u & 0xffff0000u);
    }
    static __device__ __forceinline__ void unpack(uint4 v, float *f) {
        pair(v.x, f);
        pair(v.y, f + 2);
        pair(v.z, f + 4);
        pair(v.w, f + 6);
    }
    static __device__ __forceinline__ float one(const char *p, int64_t i) {
        return cu_bf16_to_f32(((const uint16_t *)p)[i]);
    }
};
template <> struct wtraits<VLM_DTYPE_F16> {
    enum { E = 8, SIZE = 2 };
    static __device__ __forceinline__ void pair(uint32_t u, float *f) {
        __half2 h = *(const __half2 *)&u; /* hardware widening is exact */
        float2 t = __half22float2(h);
        f[0] = t.x;
        f[1] = t.y;
    }
    static __device__ __forceinline__ void unpack(uint4 v, float *f) {
        pair(v.x, f);
        pair(v.y, f + 2);
        pair(v.z, f + 4);
        pair(v.w, f + 6);
    }
    static __device__ __forceinline__ float one(const char *p, int64_t i) {
        return __half2float(((const __half *)p)[i]);
    }
};

/* acc[r] += w chunk . x[r] chunk for the E elements of chunk c. */
template <int WDT, int M>
__device__ __forceinline__ void gemv_chunk(const gemv_args &a, uint4 wv, int64_t c, float *acc) {
    typedef wtraits<WDT> W;
    float wf[W::E];
    W::unpack(wv, wf);
#pragma unroll
    for (int r = 0; r < M; r++) {
        const float4 *xp = (const float4 *)(a.x + r * a.ldx + c * W::E);
#pragma unroll
        for (int q = 0; q < W::E / 4; q++) {
            float4 xv = __ldg(xp + q);
            acc[r] += wf[4 * q] * xv.x;
            acc[r] += wf[4 * q + 1] * xv.y;
            acc[r] += wf[4 * q + 2] * xv.z;
            acc[r] += wf[4 * q + 3] * xv.w;
        }
    }
}

/* acc[r] = (w row . x[r]) over segment `seg` of `nseg` equal parts of the row, for every r
 * (summed over the warp: every lane gets it). */
template <int WDT, int M>
__device__ __forceinline__ void gemv_row(const gemv_args &a, const char *wr, int lane, int seg,
                                         int nseg, float *acc) {
    typedef wtraits<WDT> W;
#pragma unroll
    for (int r = 0; r < M; r++)
        acc[r] = 0.0f;
    if (a.vec) {
        const uint4 *wv = (const uint4 *)wr;
        int64_t chunks = a.k / W::E;
        int64_t c0 = chunks * seg / nseg, c1 = chunks * (seg + 1) / nseg, c = c0 + lane;
        /* U 16-byte loads in flight per lane before the arithmetic (fewer when many rows
         * of x need registers). */
        const int U = M <= 4 ? 8 : 4;
        for (; c + 32 * (U - 1) < c1; c += 32 * U) {
            uint4 wq[U];
#pragma unroll
            for (int u = 0; u < U; u++)
                wq[u] = __ldg(wv + c + 32 * u);
#pragma unroll
            for (int u = 0; u < U; u++)
                gemv_chunk<WDT, M>(a, wq[u], c + 32 * u, acc);
        }
        for (; c < c1; c += 32)
            gemv_chunk<WDT, M>(a, __ldg(wv + c), c, acc);
        if (seg == nseg - 1)
            for (int64_t i = chunks * W::E + lane; i < a.k; i += 32) {
                float wf = W::one(wr, i);
#pragma unroll
                for (int r = 0; r < M; r++)
                    acc[r] += wf * a.x[r * a.ldx + i];
            }
    } else {
        int64_t i0 = a.k * seg / nseg, i1 = a.k * (seg + 1) / nseg;
        for (int64_t i = i0 + lane; i < i1; i += 32) {
            float wf = W::one(wr, i);
#pragma unroll
            for (int r = 0; r < M; r++)
                acc[r] += wf * a.x[r * a.ldx + i];
        }
    }
#pragma unroll
    for (int r = 0; r < M; r++)
        acc[r] = cu_warp_sum(acc[r]);
}

__device__ __forceinline__ float part_bias(const gemv_part &P, int64_t j) {
    return P.bias ? cu_load_f(P.bias + j * P.bias_stride, P.bias_dt) : 0.0f;
}

/* Warps of a block share rows: a.nseg warps per row (long rows are split so that enough
 * loads are in flight when there are few rows), their partial sums added in a fixed order
 * through shared memory. */
template <int WDT, int M> __global__ void gemv_kernel(gemv_args a) {
    typedef wtraits<WDT> W;
    __shared__ float part[GEMV_WARPS][2][M];
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nseg = a.nseg;
    const int seg = w % nseg, rpb = GEMV_WARPS / nseg;
    for (int64_t base = (int64_t)blockIdx.x * rpb; base < a.n; base += (int64_t)gridDim.x * rpb) {
        const int64_t jj = base + w / nseg;
        const bool valid = jj < a.n;
        float acc[M], up[M];
        const gemv_part *P = &a.part[0];
        int64_t j = jj;
        if (valid) {
            if (a.gated) { /* row jj of part 0 (gate) and of part 1 (up) */
                const gemv_part &U = a.part[1];
                gemv_row<WDT, M>(a, P->w + jj * P->ldw * W::SIZE, lane, seg, nseg, acc);
                gemv_row<WDT, M>(a, U.w + jj * U.ldw * W::SIZE, lane, seg, nseg, up);
            } else {
                int pi = 0;
                while (pi + 1 < a.n_parts && jj >= a.part[pi + 1].start)
                    pi++;
                P = &a.part[pi];
                j = jj - P->start;
                gemv_row<WDT, M>(a, P->w + j * P->ldw * W::SIZE, lane, seg, nseg, acc);
            }
        }
        if (nseg > 1) { /* segment sums in order 0, 1, ... by the row's first warp */
            if (lane == 0 && valid)
#pragma unroll
                for (int r = 0; r < M; r++) {
                    part[w][0][r] = acc[r];
                    part[w][1][r] = a.gated ? up[r] : 0.0f;
                }
            __syncthreads();
            if (seg == 0 && valid)
#pragma unroll
                for (int r = 0; r < M; r++) {
                    float sa = part[w][0][r], su = part[w][1][r];
                    for (int q = 1; q < nseg; q++) {
                        sa += part[w + q][0][r];
                        su += part[w + q][1][r];
                    }
                    acc[r] = sa;
                    up[r] = su;
                }
            __syncthreads(); /* part is rewritten for the next rows */
        }
        if (!valid || seg != 0 || lane != 0) continue;
        if (a.gated) { /* act(g) * u */
            const gemv_part &G = a.part[0], &U = a.part[1];
            float bg = part_bias(G, jj), bu = part_bias(U, jj);
#pragma unroll
            for (int r = 0; r < M; r++) {
                float g = G.bias ? acc[r] + bg : acc[r], u = U.bias ? up[r] + bu : up[r];
                G.y[r * G.ldy + jj] = cu_act_eval(a.act, g) * u;
            }
        } else {
            float b = part_bias(*P, j);
#pragma unroll
            for (int r = 0; r < M; r++) {
                float v = P->bias ? acc[r] + b : acc[r];
                float *y = P->y + r * P->ldy + j;
                *y = a.accumulate ? *y + v : v; /* matmul then add: out + (x w + b) */
            }
        }
    }
}

template <int WDT> static void gemv_launch(int m, unsigned blocks, cudaStream_t s, gemv_args a) {
    int t = GEMV_WARPS * 32;
    switch (m) {
    case 1:
        gemv_kernel<WDT, 1><<<blocks, t, 0, s>>>(a);
        break;
    case 2:
        gemv_kernel<WDT, 2><<<blocks, t, 0, s>>>(a);
        break;
    case 3:
        gemv_kernel<WDT, 3><<<blocks, t, 0, s>>>(a);
        break;
    case 4:
        gemv_kernel<WDT, 4><<<blocks, t, 0, s>>>(a);
        break;
    case 5:
        gemv_kernel<WDT, 5><<<blocks, t, 0, s>>>(a);
        break;
    case 6:
        gemv_kernel<WDT, 6><<<blocks, t, 0, s>>>(a);
        break;
    case 7:
        gemv_kernel<WDT, 7><<<blocks, t, 0, s>>>(a);
        break;
    default:
        gemv_kernel<WDT, 8><<<blocks, t, 0, s>>>(a);
        break;
    }
}

static vlm_status gemv_run(vlm_ctx *ctx, const char *op, int64_t m, vlm_dtype wdt,
                           const gemv_args *in) {
    /* Rows longer than 4 KB are split across warps (up to 8 per row) while the rows alone
     * give fewer than ~32 warps per multiprocessor: a down projection (2048 rows of 11008)
     * otherwise streams each row with one warp, five rounds of loads one after another. */
    gemv_args a1 = *in, *a = &a1;
    int64_t row_bytes = a->k * (int64_t)vlm_dtype_size(wdt);
    a->nseg = 1;
    while (a->nseg < GEMV_WARPS && row_bytes / a->nseg > 4096 &&
           a->n * a->nseg < (int64_t)cuda_dev_of(ctx)->n_sm * 32)
        a->nseg *= 2;
    int64_t rpb = GEMV_WARPS / a->nseg, want = (a->n + rpb - 1) / rpb;
    unsigned blocks = (unsigned)(want < (1 << 30) ? want : (1 << 30));
    if (wdt == VLM_DTYPE_BF16)
        gemv_launch<VLM_DTYPE_BF16>((int)m, blocks, cuda_stream(ctx), *a);
    else if (wdt == VLM_DTYPE_F16)
        gemv_launch<VLM_DTYPE_F16>((int)m, blocks, cuda_stream(ctx), *a);
    else
        gemv_launch<VLM_DTYPE_F32>((int)m, blocks, cuda_stream(ctx), *a);
    return cuda_check_launch(ctx, op);
}

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
        if (m <= GEMV_MAX_M) {
            gemv_args a;
            memset(&a, 0, sizeof a);
            a.n = n;
            a.k = k;
            a.x = xp;
            a.ldx = ldx;
            a.n_parts = 1;
            a.part[0] = (gemv_part){0, n, cuda_ptr(w), ldw, bp, bstride, bdt, yp, ldy};
            a.vec = cuda_aligned16(a.part[0].w) && (ldw * esz) % 16 == 0 && cuda_aligned16(xp) &&
                    ldx % 4 == 0;
            if ((st = gemv_run(ctx, op, m, w->dtype, &a)) != VLM_OK) goto done;
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

/* ------------------------------------------------------------ several products of one x */

/* Part i of a one-launch GEMV for out = x @ w^T (+ bias); false when the layout does not
 * suit the GEMV (then the caller runs the general path). */
static bool gemv_part_of(gemv_args *a, int i, const vlm_tensor *w, const vlm_tensor *bias,
                         const vlm_tensor *out) {
    int64_t esz = (int64_t)vlm_dtype_size(w->dtype), ldy, ldw = w->stride[0] / esz;
    if (!vlm_strided_flat_rows(out, &ldy) || !cuda_aligned16(cuda_ptr(w)) || (ldw * esz) % 16 != 0)
        return false;
    gemv_part *P = &a->part[i];
    P->start = a->n;
    P->n = w->shape[0];
    P->w = cuda_ptr(w);
    P->ldw = ldw;
    P->bias = bias ? cuda_ptr(bias) : NULL;
    P->bias_stride = bias ? bias->stride[0] : 0;
    P->bias_dt = bias ? (int)bias->dtype : (int)VLM_DTYPE_F32;
    P->y = (float *)cuda_ptr(out);
    P->ldy = ldy;
    a->n += P->n;
    a->n_parts = i + 1;
    return true;
}

/* The shared start of a one-launch GEMV over x: false when x does not suit it. */
static bool gemv_begin(gemv_args *a, const vlm_tensor *x, int64_t k) {
    memset(a, 0, sizeof *a);
    int64_t m = cuda_nrows(x), ldx;
    if (m < 1 || m > GEMV_MAX_M || !vlm_strided_flat_rows(x, &ldx) ||
        !cuda_aligned16(cuda_ptr(x)) || ldx % 4)
        return false;
    a->k = k;
    a->x = (const float *)cuda_ptr(x);
    a->ldx = ldx;
    a->vec = 1;
    return true;
}

extern "C" vlm_status cuda_matmul_many(vlm_ctx *ctx, const vlm_tensor *x, int n_parts,
                                       const vlm_tensor *const *w, const vlm_tensor *const *bias,
                                       const vlm_tensor *const *out) {
    const char *op = "matmul_many";
    cuda_dev *dev;
    vlm_status st = cuda_begin(ctx, op, &dev);
    if (st != VLM_OK) return st;
    gemv_args a;
    bool one = n_parts <= GEMV_MAX_PARTS && gemv_begin(&a, x, w[0]->shape[1]);
    for (int i = 0; one && i < n_parts; i++)
        one = w[i]->dtype == w[0]->dtype && gemv_part_of(&a, i, w[i], bias[i], out[i]);
    if (one) return gemv_run(ctx, op, cuda_nrows(x), w[0]->dtype, &a);
    for (int i = 0; st == VLM_OK && i < n_parts; i++) /* prefill, other layouts */
        st = cuda_matmul(ctx, x, w[i], bias[i], out[i]);
    return st;
}

/* A contiguous f32 scratch tensor shaped like t. */
static vlm_status scratch_like(vlm_ctx *ctx, const char *op, const vlm_tensor *t, vlm_tensor *out) {
    vlm_error e;
    vlm_status st = vlm_arena_tensor(ctx->arena, VLM_DTYPE_F32, t->ndim, t->shape, out, &e);
    return st == VLM_OK ? st : vlm_ctx_fail(ctx, st, "%s: scratch: %s", op, e.message);
}

extern "C" vlm_status cuda_matmul_add(vlm_ctx *ctx, const vlm_tensor *x, const vlm_tensor *w,
                                      const vlm_tensor *bias, const vlm_tensor *out) {
    const char *op = "matmul_add";
    cuda_dev *dev;
    vlm_status st = cuda_begin(ctx, op, &dev);
    if (st != VLM_OK) return st;
    gemv_args a;
    if (gemv_begin(&a, x, w->shape[1]) && gemv_part_of(&a, 0, w, bias, out)) {
        a.accumulate = 1; /* y = y + (x w + b) in the GEMV's epilogue */
        return gemv_run(ctx, op, cuda_nrows(x), w->dtype, &a);
    }
    int64_t m = cuda_nrows(x), n = w->shape[0], k = w->shape[1], ldx, ldy;
    int64_t ldw = w->stride[0] / 2;
    if (ctx->bf16_compute && w->dtype == VLM_DTYPE_BF16 && (n == 1 || ldw >= k) &&
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
    if (st == VLM_OK) st = cuda_matmul(ctx, x, w, bias, &t);
    if (st == VLM_OK) st = cuda_binary(ctx, VLM_BINARY_ADD, out, &t, out);
    vlm_arena_release(ctx->arena, mark);
    return st;
}

extern "C" vlm_status cuda_matmul_gated(vlm_ctx *ctx, const vlm_tensor *x, vlm_act act,
                                        const vlm_tensor *wg, const vlm_tensor *bg,
                                        const vlm_tensor *wu, const vlm_tensor *bu,
                                        const vlm_tensor *out) {
    const char *op = "matmul_gated";
    cuda_dev *dev;
    vlm_status st = cuda_begin(ctx, op, &dev);
    if (st != VLM_OK) return st;
    gemv_args a;
    if (gemv_begin(&a, x, wg->shape[1]) && wg->dtype == wu->dtype &&
        gemv_part_of(&a, 0, wg, bg, out) && gemv_part_of(&a, 1, wu, bu, out)) {
        a.gated = 1;
        a.act = (int)act;
        a.n = wg->shape[0];
        return gemv_run(ctx, op, cuda_nrows(x), wg->dtype, &a);
    }
    vlm_arena_mark mark = vlm_arena_get_mark(ctx->arena);
    vlm_tensor g, u;
    st = scratch_like(ctx, op, out, &g);
    if (st == VLM_OK) st = scratch_like(ctx, op, out, &u);
    if (st == VLM_OK) st = cuda_matmul(ctx, x, wg, bg, &g);
    if (st == VLM_OK) st = cuda_matmul(ctx, x, wu, bu, &u);
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
