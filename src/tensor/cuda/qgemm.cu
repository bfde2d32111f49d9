/* The CUDA GEMM on MLX affine-quantized weights for many rows of x (prefill, vision towers):
 * out [m, n] = x [m, k] @ w^T (+ bias) computed from the packed words tile by tile. A block
 * loads the packed words (+ scales, biases) of a [BN, BK] tile of w into registers while it
 * multiplies the previous tile, then widens them into shared memory; no dequantized copy of
 * w exists in device memory at any time.
 * - bf16 compute (ctx->bf16_compute): tensor cores, mma.sync m16n8k16 with f32 accumulation
 *   (mma.cuh). x is rounded to bf16 once, into arena scratch [m, k rounded up to 64] (the
 *   activation, not the weight); each weight becomes fmaf(scale, code, bias) in f32, then is
 *   rounded to bf16 (nearest, ties to even: the rounding the dequantize-into-bf16-scratch
 *   path before this kernel applied, and that cuBLAS's bf16 products of unquantized weights
 *   apply to x). Tile [BM = 64 or 96 rows of x, BN = 128 weight rows, BK = 64], 8 warps of
 *   [BM / 2, 32], double-buffered shared memory (x through cp.async).
 * - f32 compute: a SIMT GEMM with weights fmaf(scale, code, bias) exactly as the CPU kernels
 *   and the GEMV make them, f32 FMAs in k order within each split. Tile [128, 128, BK = 32],
 *   256 threads of 8x8 outputs, double-buffered shared memory.
 * When the tiles are too few to fill the GPU (n = 2048 at m = 286: 48 blocks for 132 SMs),
 * k is split into up to QG_MAX_SPLIT ranges whose partial sums go to arena scratch and are
 * added in a fixed order by a second kernel (deterministic; the sum order differs from the
 * unsplit one by the split points only). */
#include <cuda_pipeline.h>
#include <limits.h>

#include "tensor/cuda/mma.cuh"
#include "tensor/cuda/quant.cuh"
#include "tensor/strided.h"

#define QG_THREADS 256
#define QG_BN 128 /* bf16: weight rows per block */
#define QG_BK 64  /* bf16: depth per tile (two units) */
#define QG_PITCH                                                                                   \
    72               /* bf16 elements per shared row: 144 bytes, so the 8 rows one ldmatrix        \
                        phase reads fall in 8 distinct 16-byte bank groups */
#define QF_BM 128    /* f32: rows of x per block */
#define QF_BN 128    /* f32: weight rows per block */
#define QF_BK 32     /* f32: depth per tile (one unit) */
#define QF_PITCH 132 /* f32 elements per shared row (keeps float4 alignment) */
#define QG_MAX_SPLIT 16

typedef struct qgemm_args {
    int64_t m, n, k;
    const void *x; /* bf16 [m, ldx] (bf16 kernel) or f32 rows of ldx floats (f32 kernel) */
    int64_t ldx;
    const uint32_t *w;
    int64_t ldw; /* words */
    const char *s, *b;
    int64_t lds, ldb; /* elements */
    int sdt, gshift, vec;
    const char *bias; /* NULL when the sums go to split-k scratch */
    int64_t bias_stride;
    int bias_dt;
    float *y;
    int64_t ldy;
    int64_t split_stride; /* floats between the partial sums of consecutive splits */
    int64_t kt_per_split; /* k-tiles per split (blockIdx.z) */
} qgemm_args;

/* The words, scale and bias of one unit of a weight row, held in registers between the
 * global load and the dequantization into shared memory. Rows past n and units past k
 * read as zeros (scale 0, bias 0: weights 0). */
template <int BITS> struct qunit {
    uint32_t w[BITS];
    float s, b;
};

template <int BITS>
__device__ __forceinline__ void qunit_load(qunit<BITS> &u, const qgemm_args &a, int64_t row,
                                           int64_t unit, bool ok) {
    if (ok) {
        load_unit<BITS>(a.w + row * a.ldw + unit * BITS, u.w, a.vec);
        int64_t g = unit >> a.gshift;
        u.s = qparam(a.s, row * a.lds + g, a.sdt);
        u.b = qparam(a.b, row * a.ldb + g, a.sdt);
    } else {
#pragma unroll
        for (int j = 0; j < BITS; j++)
            u.w[j] = 0;
        u.s = 0.0f;
        u.b = 0.0f;
    }
}

/* out element (r, c) of this block's split: the sum plus the bias (when not split). */
__device__ __forceinline__ void qg_store(const qgemm_args &a, float *y, int64_t r, int64_t c,
                                         float v) {
    if (r < a.m && c < a.n) {
        if (a.bias) v += cu_load_f(a.bias + c * a.bias_stride, a.bias_dt);
        y[r * a.ldy + c] = v;
    }
}

/* ------------------------------------------------------------ bf16: tensor cores */

/* Block (blockIdx.x, blockIdx.y, blockIdx.z) = (rows of x, weight rows, k split). Shared
 * memory (dynamic): A [2][BM][QG_PITCH] bf16 x, B [2][QG_BN][QG_PITCH] bf16 weights, both
 * k-contiguous, so ldmatrix (non-transposed) gives the A fragment of x and the "col" B
 * fragment of w^T directly. Warp w computes rows (w >> 2) * BM / 2 .. + BM / 2 and weight
 * rows (w & 3) * 32 .. + 32 of the block: MI x 4 products m16n8 per 16 of depth. */
template <int BITS, int MI>
__global__ void __launch_bounds__(QG_THREADS, 2) qgemm_bf16_kernel(qgemm_args a) {
    constexpr int BM = 32 * MI;
    extern __shared__ uint4 qg_smem[];
    uint16_t *As = (uint16_t *)qg_smem;
    uint16_t *Bs = As + 2 * BM * QG_PITCH;
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int wm = warp >> 2, wn = warp & 3;
    const int64_t m0 = (int64_t)blockIdx.x * BM, n0 = (int64_t)blockIdx.y * QG_BN;
    const int64_t ktiles = (a.k + QG_BK - 1) / QG_BK;
    const int64_t kt0 = (int64_t)blockIdx.z * a.kt_per_split;
    const int64_t kt1 = kt0 + a.kt_per_split < ktiles ? kt0 + a.kt_per_split : ktiles;
    const uint16_t *x = (const uint16_t *)a.x;

    /* Weights: thread t widens unit (t & 1) of the tile of weight row t >> 1. */
    const int brow = tid >> 1, bunit = tid & 1;
    const int64_t gn = n0 + brow;
    const int64_t units = a.k >> 5;
    qunit<BITS> q;

    /* x: MI 16-byte chunks (8 bf16) per thread; rows past m repeat row m - 1 (their sums are
     * not stored); the scratch's columns past k are zeros. */
    auto load_x = [&](int64_t kt, int buf) {
#pragma unroll
        for (int i = 0; i < MI; i++) {
            int e = tid + QG_THREADS * i, r = e >> 3, c8 = e & 7;
            int64_t gr = m0 + r < a.m ? m0 + r : a.m - 1;
            __pipeline_memcpy_async(As + (buf * BM + r) * QG_PITCH + 8 * c8,
                                    x + gr * a.ldx + kt * QG_BK + 8 * c8, 16);
        }
        __pipeline_commit();
    };
    auto load_w = [&](int64_t kt) {
        int64_t u = kt * 2 + bunit;
        qunit_load<BITS>(q, a, gn, u, gn < a.n && u < units);
    };
    /* Weights 8c .. 8c + 7 of the unit = fmaf(scale, code, bias) rounded to bf16: one
     * 16-byte store (the unit is four such chunks). */
    auto store_w = [&](int buf, int c) {
        uint4 *dst = (uint4 *)(Bs + (buf * QG_BN + brow) * QG_PITCH + 32 * bunit);
        uint32_t h[4];
#pragma unroll
        for (int p = 0; p < 4; p++)
            h[p] = pack_bf16x2(fmaf(q.s, unit_code<BITS>(q.w, 8 * c + 2 * p), q.b),
                               fmaf(q.s, unit_code<BITS>(q.w, 8 * c + 2 * p + 1), q.b));
        dst[c] = make_uint4(h[0], h[1], h[2], h[3]);
    };
    /* The fragments of depth step kk (16) of buffer buf for this warp. A: lanes 0-15 give
     * rows 0-15 at depth 0, lanes 16-31 rows 0-15 at depth 8. B: tiles (n 0-7, k 0-7),
     * (n 0-7, k 8-15), (n 8-15, k 0-7), (n 8-15, k 8-15) of each 16 weight rows. */
    auto load_frags = [&](int buf, int kk, uint32_t(&af)[MI][4], uint32_t(&bf)[4][2]) {
        const uint16_t *as = As + (buf * BM + wm * 16 * MI) * QG_PITCH + kk * 16;
        const uint16_t *bs = Bs + (buf * QG_BN + wn * 32) * QG_PITCH + kk * 16;
#pragma unroll
        for (int i = 0; i < MI; i++)
            ldmatrix_x4(af[i], as + (i * 16 + (lane & 15)) * QG_PITCH + (lane >> 4) * 8);
#pragma unroll
        for (int p = 0; p < 2; p++) {
            uint32_t r[4];
            ldmatrix_x4(r, bs + (p * 16 + ((lane >> 4) << 3) + (lane & 7)) * QG_PITCH +
                               ((lane >> 3) & 1) * 8);
            bf[2 * p][0] = r[0];
            bf[2 * p][1] = r[1];
            bf[2 * p + 1][0] = r[2];
            bf[2 * p + 1][1] = r[3];
        }
    };

    float acc[MI][4][4];
#pragma unroll
    for (int i = 0; i < MI; i++)
#pragma unroll
        for (int j = 0; j < 4; j++)
#pragma unroll
            for (int e = 0; e < 4; e++)
                acc[i][j][e] = 0.0f;

    if (kt0 < kt1) {
        load_x(kt0, 0);
        load_w(kt0);
#pragma unroll
        for (int c = 0; c < 4; c++)
            store_w(0, c);
        __pipeline_wait_prior(0);
    }
    __syncthreads();
    for (int64_t kt = kt0; kt < kt1; kt++) {
        const int buf = (int)((kt - kt0) & 1);
        const bool more = kt + 1 < kt1;
        if (more) { /* next tile in flight while this one is multiplied */
            load_x(kt + 1, buf ^ 1);
            load_w(kt + 1);
        }
        /* The fragments of step kk + 1 are loaded before the products of step kk, and a
         * quarter of the next weight tile is widened after them, so the tensor cores, the
         * shared-memory loads and the integer/float units overlap within a warp (the
         * asm statements keep their source order). */
        uint32_t af[2][MI][4], bf[2][4][2];
        load_frags(buf, 0, af[0], bf[0]);
#pragma unroll
        for (int kk = 0; kk < QG_BK / 16; kk++) {
            if (kk + 1 < QG_BK / 16) load_frags(buf, kk + 1, af[(kk + 1) & 1], bf[(kk + 1) & 1]);
#pragma unroll
            for (int i = 0; i < MI; i++)
#pragma unroll
                for (int j = 0; j < 4; j++)
                    mma_bf16_16816(acc[i][j], af[kk & 1][i], bf[kk & 1][j]);
            if (more) store_w(buf ^ 1, kk);
        }
        if (more) __pipeline_wait_prior(0);
        __syncthreads();
    }

    /* C fragment: acc[i][j][0..1] = (row g, columns 2t, 2t + 1), [2..3] = row g + 8. */
    float *y = a.y + (int64_t)blockIdx.z * a.split_stride;
    const int g = lane >> 2, t = lane & 3;
#pragma unroll
    for (int i = 0; i < MI; i++)
#pragma unroll
        for (int j = 0; j < 4; j++)
#pragma unroll
            for (int h = 0; h < 2; h++) {
                int64_t r = m0 + wm * 16 * MI + i * 16 + g + 8 * h;
                int64_t c = n0 + wn * 32 + j * 8 + 2 * t;
                qg_store(a, y, r, c, acc[i][j][2 * h]);
                qg_store(a, y, r, c + 1, acc[i][j][2 * h + 1]);
            }
}

/* ------------------------------------------------------------ f32: SIMT */

/* Codes 16H .. 16H + 15 of the unit as f32 weights into column `col` of a [QF_BK][QF_PITCH]
 * tile (H a template argument so the code positions are constants). */
template <int BITS, int H>
__device__ __forceinline__ void qf_widen(float *col, const qunit<BITS> &q) {
#pragma unroll
    for (int j = 0; j < 16; j++)
        col[(16 * H + j) * QF_PITCH] = fmaf(q.s, unit_code<BITS>(q.w, 16 * H + j), q.b);
}

/* Block (rows of x, weight rows, k split). Shared memory (dynamic): A [2][QF_BK][QF_PITCH]
 * x and B [2][QF_BK][QF_PITCH] weights, k-major ([k][row]) so each step reads float4s.
 * Thread (ty, tx) = (tid >> 4, tid & 15) computes rows {4ty .. 4ty + 3, 64 + 4ty .. + 3}
 * and weight rows {4tx .. 4tx + 3, 64 + 4tx .. + 3} of the block (two float4s each, read
 * by 16 threads as 256 contiguous bytes). Thread t widens codes 16 (t >> 7) .. + 15 of
 * weight row t & 127 (t >> 7 is the same in a warp). */
template <int BITS>
__global__ void __launch_bounds__(QG_THREADS, 2) qgemm_f32_kernel(qgemm_args a) {
    extern __shared__ float4 qf_smem[];
    float *As = (float *)qf_smem, *Bs = As + 2 * QF_BK * QF_PITCH;
    const int tid = threadIdx.x, tx = tid & 15, ty = tid >> 4;
    const int64_t m0 = (int64_t)blockIdx.x * QF_BM, n0 = (int64_t)blockIdx.y * QF_BN;
    const int64_t ktiles = a.k / QF_BK; /* k is a multiple of 32 */
    const int64_t kt0 = (int64_t)blockIdx.z * a.kt_per_split;
    const int64_t kt1 = kt0 + a.kt_per_split < ktiles ? kt0 + a.kt_per_split : ktiles;
    const float *x = (const float *)a.x;

    const int brow = tid & 127, half = tid >> 7;
    const int64_t gn = n0 + brow;
    qunit<BITS> q;
    float4 xa[4];

    /* x: float4 e = tid + 256 i of the [128, 32] tile is row e >> 3, columns 4 (e & 7) .. */
    auto load = [&](int64_t kt) {
#pragma unroll
        for (int i = 0; i < 4; i++) {
            int e = tid + QG_THREADS * i, r = e >> 3, c4 = e & 7;
            xa[i] = m0 + r < a.m
                        ? __ldg((const float4 *)(x + (m0 + r) * a.ldx + kt * QF_BK + 4 * c4))
                        : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
        }
        qunit_load<BITS>(q, a, gn, kt, gn < a.n);
    };
    auto store = [&](int buf) {
        float *as = As + buf * QF_BK * QF_PITCH;
#pragma unroll
        for (int i = 0; i < 4; i++) {
            int e = tid + QG_THREADS * i, r = e >> 3, c4 = e & 7;
            as[(4 * c4) * QF_PITCH + r] = xa[i].x;
            as[(4 * c4 + 1) * QF_PITCH + r] = xa[i].y;
            as[(4 * c4 + 2) * QF_PITCH + r] = xa[i].z;
            as[(4 * c4 + 3) * QF_PITCH + r] = xa[i].w;
        }
        float *col = Bs + buf * QF_BK * QF_PITCH + brow;
        if (half == 0)
            qf_widen<BITS, 0>(col, q);
        else
            qf_widen<BITS, 1>(col, q);
    };

    float acc[8][8];
#pragma unroll
    for (int i = 0; i < 8; i++)
#pragma unroll
        for (int j = 0; j < 8; j++)
            acc[i][j] = 0.0f;
    if (kt0 < kt1) {
        load(kt0);
        store(0);
    }
    __syncthreads();
    for (int64_t kt = kt0; kt < kt1; kt++) {
        const int buf = (int)((kt - kt0) & 1);
        const bool more = kt + 1 < kt1;
        if (more) load(kt + 1);
        const float *as = As + buf * QF_BK * QF_PITCH, *bs = Bs + buf * QF_BK * QF_PITCH;
#pragma unroll
        for (int kk = 0; kk < QF_BK; kk++) {
            float4 a0 = *(const float4 *)(as + kk * QF_PITCH + 4 * ty);
            float4 a1 = *(const float4 *)(as + kk * QF_PITCH + 64 + 4 * ty);
            float4 b0 = *(const float4 *)(bs + kk * QF_PITCH + 4 * tx);
            float4 b1 = *(const float4 *)(bs + kk * QF_PITCH + 64 + 4 * tx);
            float ar[8] = {a0.x, a0.y, a0.z, a0.w, a1.x, a1.y, a1.z, a1.w};
            float br[8] = {b0.x, b0.y, b0.z, b0.w, b1.x, b1.y, b1.z, b1.w};
#pragma unroll
            for (int i = 0; i < 8; i++)
#pragma unroll
                for (int j = 0; j < 8; j++)
                    acc[i][j] = fmaf(ar[i], br[j], acc[i][j]);
        }
        if (more) store(buf ^ 1);
        __syncthreads();
    }
    float *y = a.y + (int64_t)blockIdx.z * a.split_stride;
#pragma unroll
    for (int i = 0; i < 8; i++)
#pragma unroll
        for (int j = 0; j < 8; j++)
            qg_store(a, y, m0 + (i >> 2) * 64 + 4 * ty + (i & 3),
                     n0 + (j >> 2) * 64 + 4 * tx + (j & 3), acc[i][j]);
}

/* ------------------------------------------------------------ split-k sum */

/* y[r, c] = sum over the splits, in order, of part[s][r, c] (+ bias[c]); part [splits, m, n]. */
__global__ void qgemm_sum_kernel(const float *part, int splits, int64_t m, int64_t n,
                                 const char *bias, int64_t bias_stride, int bias_dt, float *y,
                                 int64_t ldy) {
    const int64_t total = m * n;
    for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < total;
         e += (int64_t)gridDim.x * blockDim.x) {
        float v = part[e];
        for (int s = 1; s < splits; s++)
            v += part[s * total + e];
        int64_t r = e / n, c = e - r * n;
        if (bias) v += cu_load_f(bias + c * bias_stride, bias_dt);
        y[r * ldy + c] = v;
    }
}

/* ------------------------------------------------------------ launch */

template <int BITS>
static cudaError_t qgemm_launch_bits(bool bf16, int mi, dim3 grid, cudaStream_t s,
                                     const qgemm_args &a) {
    size_t smem =
        bf16 ? (size_t)2 * (32 * mi + QG_BN) * QG_PITCH * 2 : (size_t)2 * 2 * QF_BK * QF_PITCH * 4;
    void (*kern)(qgemm_args) = !bf16     ? qgemm_f32_kernel<BITS>
                               : mi == 3 ? qgemm_bf16_kernel<BITS, 3>
                                         : qgemm_bf16_kernel<BITS, 2>;
    cudaError_t e =
        cudaFuncSetAttribute(kern, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
    if (e != cudaSuccess) return e;
    kern<<<grid, QG_THREADS, smem, s>>>(a);
    return cudaSuccess;
}

static cudaError_t qgemm_launch(int bits, bool bf16, int mi, dim3 grid, cudaStream_t s,
                                const qgemm_args &a) {
    switch (bits) {
    case 2:
        return qgemm_launch_bits<2>(bf16, mi, grid, s, a);
    case 3:
        return qgemm_launch_bits<3>(bf16, mi, grid, s, a);
    case 4:
        return qgemm_launch_bits<4>(bf16, mi, grid, s, a);
    case 5:
        return qgemm_launch_bits<5>(bf16, mi, grid, s, a);
    case 6:
        return qgemm_launch_bits<6>(bf16, mi, grid, s, a);
    default:
        return qgemm_launch_bits<8>(bf16, mi, grid, s, a);
    }
}

/* Row pitch in elements of a [rows, cols] tensor with contiguous rows (one row: any). */
static int64_t row_pitch(const vlm_tensor *t) {
    return t->shape[0] > 1 ? t->stride[0] / (int64_t)vlm_dtype_size(t->dtype) : t->shape[1];
}

vlm_status cuda_qgemm(vlm_ctx *ctx, const char *op, const vlm_tensor *x, const vlm_qweight *w,
                      const vlm_tensor *bias, const vlm_tensor *out) {
    cuda_dev *dev = cuda_dev_of(ctx);
    cudaStream_t stream = cuda_stream(ctx);
    const int64_t m = cuda_nrows(x), n = w->w.shape[0], k = w->w.shape[1] * 32 / w->bits;
    const bool bf16 = ctx->bf16_compute != 0;
    vlm_status st;
    vlm_error e;
    qgemm_args a;
    memset(&a, 0, sizeof a);
    a.m = m;
    a.n = n;
    a.k = k;
    a.w = (const uint32_t *)(const void *)cuda_ptr(&w->w);
    a.ldw = row_pitch(&w->w);
    a.s = cuda_ptr(&w->scales);
    a.b = cuda_ptr(&w->biases);
    a.lds = row_pitch(&w->scales);
    a.ldb = row_pitch(&w->biases);
    a.sdt = w->scales.dtype;
    a.gshift = cuda_group_shift(w->group_size);
    a.vec = cuda_aligned16(a.w) && (a.ldw * 4) % 16 == 0;

    /* Tiles: bf16 rows of x per block 64 or 96, whichever wastes less (a block's fixed cost,
     * widening its weight tile, counted as 32 rows). */
    int mi = 2;
    int64_t bm = QF_BM, bn = QF_BN, bk = QF_BK;
    if (bf16) {
        int64_t c2 = (m + 63) / 64 * (64 + 32), c3 = (m + 95) / 96 * (96 + 32);
        mi = c3 < c2 ? 3 : 2;
        bm = 32 * mi;
        bn = QG_BN;
        bk = QG_BK;
    }
    const int64_t mt = (m + bm - 1) / bm, nt = (n + bn - 1) / bn, ktiles = (k + bk - 1) / bk;
    if (mt > INT_MAX || nt > 65535)
        return vlm_ctx_fail(ctx, VLM_ERR_LIMIT, "%s: %lld x %lld exceeds the GEMM's grid", op,
                            (long long)m, (long long)n);

    /* x: bf16 scratch [m, ktiles * 64] (zero columns past k), or f32 rows of ldx floats,
     * 16-byte aligned (else a contiguous copy). */
    int64_t ldx = 0;
    vlm_tensor xs = *x;
    if (bf16) {
        int64_t kp = ktiles * QG_BK;
        uint16_t *xb;
        if ((st = cuda_scratch(ctx, op, (size_t)(m * kp) * 2, (void **)&xb)) != VLM_OK) return st;
        if (!vlm_strided_flat_rows(x, &ldx)) {
            if ((st = cuda_contiguous_scratch(ctx, op, x, VLM_DTYPE_F32, &xs)) != VLM_OK) return st;
            ldx = k;
        }
        const float *xp = (const float *)cuda_ptr(&xs);
        int flat4 = ldx == k && kp == k && cuda_aligned16(xp);
        to_bf16_kernel<<<cuda_blocks(flat4 ? m * k / 4 : m * kp, 256, dev), 256, 0, stream>>>(
            xp, ldx, m, k, xb, kp, flat4);
        if ((st = cuda_check_launch(ctx, op)) != VLM_OK) return st;
        a.x = xb;
        a.ldx = kp;
    } else {
        if (!vlm_strided_flat_rows(x, &ldx) || !cuda_aligned16(cuda_ptr(x)) || ldx % 4 != 0) {
            if ((st = cuda_contiguous_scratch(ctx, op, x, VLM_DTYPE_F32, &xs)) != VLM_OK) return st;
            ldx = k;
        }
        a.x = cuda_ptr(&xs);
        a.ldx = ldx;
    }

    /* Split k when the tiles fill less than one wave of resident blocks (two per SM: the
     * registers both kernels are bounded to; at least 4 k-tiles per split). */
    const int per_sm = 2;
    int64_t slots = (int64_t)dev->n_sm * per_sm, blocks = mt * nt, splits = 1;
    if (blocks < slots) {
        splits = slots / blocks;
        if (splits > ktiles / 4) splits = ktiles / 4;
        if (splits > QG_MAX_SPLIT) splits = QG_MAX_SPLIT;
        if (splits < 1) splits = 1;
    }
    a.kt_per_split = (ktiles + splits - 1) / splits;
    splits = (ktiles + a.kt_per_split - 1) / a.kt_per_split; /* none empty */

    /* Output: out's rows directly, or a contiguous scratch copied back; split sums go to
     * scratch [splits, m, n] first. */
    int64_t ldy;
    vlm_tensor ys = *out;
    bool y_direct = vlm_strided_flat_rows(out, &ldy);
    if (!y_direct) {
        if ((st = vlm_arena_tensor(ctx->arena, VLM_DTYPE_F32, out->ndim, out->shape, &ys, &e)) !=
            VLM_OK)
            return vlm_ctx_fail(ctx, st, "%s: scratch: %s", op, e.message);
        ldy = n;
    }
    float *yp = (float *)cuda_ptr(&ys);
    float *part = NULL;
    if (splits > 1) {
        if ((st = cuda_scratch(ctx, op, (size_t)(splits * m * n) * 4, (void **)&part)) != VLM_OK)
            return st;
        a.y = part;
        a.ldy = n;
        a.split_stride = m * n;
    } else {
        a.y = yp;
        a.ldy = ldy;
        a.bias = bias ? cuda_ptr(bias) : NULL;
        a.bias_stride = bias ? bias->stride[0] : 0;
        a.bias_dt = bias ? (int)bias->dtype : (int)VLM_DTYPE_F32;
    }
    dim3 grid((unsigned)mt, (unsigned)nt, (unsigned)splits);
    if ((st = cuda_check(ctx, op, qgemm_launch(w->bits, bf16, mi, grid, stream, a))) != VLM_OK ||
        (st = cuda_check_launch(ctx, op)) != VLM_OK)
        return st;
    if (splits > 1) {
        qgemm_sum_kernel<<<cuda_blocks(m * n, 256, dev), 256, 0, stream>>>(
            part, (int)splits, m, n, bias ? cuda_ptr(bias) : NULL, bias ? bias->stride[0] : 0,
            bias ? (int)bias->dtype : (int)VLM_DTYPE_F32, yp, ldy);
        if ((st = cuda_check_launch(ctx, op)) != VLM_OK) return st;
    }
    if (!y_direct) return cuda_copy_tensor(ctx, op, &ys, out);
    return VLM_OK;
}
