/* CUDA products and embedding lookups on MLX affine-quantized weights (ops.h
 * vlm_op_matmul_q / vlm_op_embedding_q; the format is in weights/mlx_quant.h): a weight is
 * widened to f32 as fmaf(scale, code, bias), one rounding, exactly as the CPU kernels do,
 * so both backends agree within f32 summation order.
 * - m <= QGEMV_MAX_M rows (decode): a GEMV that streams the packed words once, in passes of
 *   up to 8 rows of x. A row is cut into units of 32 codes (`bits` words, always inside one
 *   group); lane l of a warp takes units l, l + 32, ... of QGEMV_ROWS output rows at once
 *   (16-byte loads where the words are aligned), long rows split over up to 8 warps of the
 *   block and summed in shared memory in a fixed order. x is staged in shared memory
 *   (qgemv_smem_kernel; a lane's 32 values of x are 128 bytes apart from its neighbours',
 *   which read through L1 costs 8x the wavefronts of a coalesced load), or read through L1
 *   when M * k floats do not fit (qgemv_kernel). Codes become floats without a conversion
 *   instruction (OR into the mantissa of 2^23, subtract 2^23: exact).
 *   Measured on an H100 (bench/quant/RESULTS.md): about 0.6 TB/s of packed 4-bit weights,
 *   latency- and issue-bound (~7.5 instructions per code at 25% occupancy, ncu), far from
 *   the 3 TB/s copy ceiling: see the notes there for what is next.
 * - larger m (prefill, vision): cuda_qgemm (qgemm.cu), a tiled GEMM that dequantizes each
 *   weight tile in shared memory (tensor cores in bf16 compute, f32 FMAs otherwise).
 * - embedding lookup: the packed rows are gathered by cuda_gather_rows (which checks the ids,
 *   or raises the device's bad-id flag while a graph is recorded), then dequantized.
 * Nothing here allocates device memory or waits, apart from what cuda_gather_rows and
 * cuda_matmul do, so the GEMV and the lookup can be recorded into graphs. */
#include <limits.h>

#include "tensor/cuda/quant.cuh"
#include "tensor/strided.h"

#define QGEMV_MAX_M 32 /* rows of x up to which the GEMV (in passes of 8) beats the GEMM */
#define QGEMV_ROWS 4   /* output rows per warp */
#define QGEMV_WARPS 4  /* warps per block */

/* ------------------------------------------------------------ GEMV */

typedef struct qgemv_args {
    int64_t n, k; /* k: a multiple of 32 */
    const float *x;
    int64_t ldx; /* x rows 16-byte aligned: ldx % 4 == 0 */
    int m;       /* rows of x in this pass, 1 .. 8 */
    const uint32_t *w;
    int64_t ldw; /* words */
    const char *s, *b;
    int64_t lds; /* elements */
    int sdt;
    int gshift; /* unit u is in group u >> gshift */
    int vec;    /* 16-byte aligned words (base and row pitch) */
    int ksplit; /* warps sharing one group of QGEMV_ROWS rows: 1, 2 or 4 */
    const char *bias;
    int64_t bias_stride;
    int bias_dt;
    float *y;
    int64_t ldy;
} qgemv_args;

/* y[i, j] = sum_c x[i, c] * fmaf(s, code, b) (+ bias[j]) for i < m, j < n. M: m rounded up
 * to 1, 2, 4 or 8 (rows past m repeat row m - 1 and are not stored). */
template <int BITS, int M>
__global__ void __launch_bounds__(QGEMV_WARPS * 32) qgemv_kernel(qgemv_args a) {
    const int R = QGEMV_ROWS;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int ks = a.ksplit, rg = warp / ks, kp = warp - rg * ks;
    const int64_t row0 = ((int64_t)blockIdx.x * (QGEMV_WARPS / ks) + rg) * R;
    const uint32_t *wr[R];
    int64_t srow[R];
#pragma unroll
    for (int r = 0; r < R; r++) {
        int64_t j = row0 + r < a.n ? row0 + r : a.n - 1;
        wr[r] = a.w + j * a.ldw;
        srow[r] = j * a.lds;
    }
    const float *xr[M];
#pragma unroll
    for (int i = 0; i < M; i++)
        xr[i] = a.x + (int64_t)(i < a.m ? i : a.m - 1) * a.ldx;
    float acc[M][R];
#pragma unroll
    for (int i = 0; i < M; i++)
#pragma unroll
        for (int r = 0; r < R; r++)
            acc[i][r] = 0.0f;

    const int64_t units = a.k >> 5, step = 32 * ks;
    /* Two units per lane in flight when the words are few (more bytes outstanding). */
    const int U = BITS <= 4 && M <= 4 ? 2 : 1;
    for (int64_t u0 = kp * 32 + lane; u0 < units; u0 += step * U) {
        uint32_t wq[U][R][BITS];
        float sc[U][R], bi[U][R];
#pragma unroll
        for (int t = 0; t < U; t++) {
            int64_t u = u0 + t * step;
            if (u < units) {
                int64_t g = u >> a.gshift;
#pragma unroll
                for (int r = 0; r < R; r++) {
                    load_unit<BITS>(wr[r] + u * BITS, wq[t][r], a.vec);
                    sc[t][r] = qparam(a.s, srow[r] + g, a.sdt);
                    bi[t][r] = qparam(a.b, srow[r] + g, a.sdt);
                }
            }
        }
#pragma unroll
        for (int t = 0; t < U; t++) {
            int64_t u = u0 + t * step;
            if (u >= units) break;
#pragma unroll
            for (int c = 0; c < 8; c++) { /* codes 4c .. 4c + 3 */
                float wv[R][4];
#pragma unroll
                for (int r = 0; r < R; r++)
#pragma unroll
                    for (int q = 0; q < 4; q++)
                        wv[r][q] = fmaf(sc[t][r], unit_code<BITS>(wq[t][r], 4 * c + q), bi[t][r]);
#pragma unroll
                for (int i = 0; i < M; i++) {
                    float4 xv = __ldg((const float4 *)(xr[i] + u * 32) + c);
#pragma unroll
                    for (int r = 0; r < R; r++) {
                        acc[i][r] += wv[r][0] * xv.x;
                        acc[i][r] += wv[r][1] * xv.y;
                        acc[i][r] += wv[r][2] * xv.z;
                        acc[i][r] += wv[r][3] * xv.w;
                    }
                }
            }
        }
    }
#pragma unroll
    for (int i = 0; i < M; i++)
#pragma unroll
        for (int r = 0; r < R; r++)
            acc[i][r] = cu_warp_sum(acc[i][r]);
    __shared__ float part[QGEMV_WARPS][M * R];
    if (ks > 1) {
        if (lane == 0)
#pragma unroll
            for (int i = 0; i < M; i++)
#pragma unroll
                for (int r = 0; r < R; r++)
                    part[warp][i * R + r] = acc[i][r];
        __syncthreads();
        if (kp != 0) return;
#pragma unroll
        for (int i = 0; i < M; i++)
#pragma unroll
            for (int r = 0; r < R; r++) {
                float v = part[warp][i * R + r];
                for (int p = 1; p < ks; p++)
                    v += part[warp + p][i * R + r];
                acc[i][r] = v;
            }
    }
    /* Lane i * R + r stores element (i, row0 + r). */
#pragma unroll
    for (int i = 0; i < M; i++)
#pragma unroll
        for (int r = 0; r < R; r++) {
            int64_t j = row0 + r;
            if (lane == i * R + r && i < a.m && j < a.n) {
                float v = acc[i][r];
                if (a.bias) v += cu_load_f(a.bias + j * a.bias_stride, a.bias_dt);
                a.y[(int64_t)i * a.ldy + j] = v;
            }
        }
}

/* One unit of the shared-memory GEMV: requests the words of unit u + step into buffer
 * B ^ 1, then accumulates unit u from buffer B. */
template <int BITS, int M, int B>
__device__ __forceinline__ void
smem_step(const qgemv_args &a, const float4 *xs, int per_row, int u, int units, int step,
          const uint32_t *const *wr, const int64_t *srow, uint32_t (&wq)[2][QGEMV_ROWS][BITS],
          float (&sc)[2][QGEMV_ROWS], float (&bi)[2][QGEMV_ROWS], float (&acc)[M][QGEMV_ROWS]) {
    const int R = QGEMV_ROWS;
    const int un = u + step;
    if (un < units) {
        int g = un >> a.gshift;
#pragma unroll
        for (int r = 0; r < R; r++) {
            load_unit<BITS>(wr[r] + un * BITS, wq[B ^ 1][r], a.vec);
            sc[B ^ 1][r] = qparam(a.s, srow[r] + g, a.sdt);
            bi[B ^ 1][r] = qparam(a.b, srow[r] + g, a.sdt);
        }
    }
    const int sw = u & 7;
    /* 4 bits: the code at bit 4q of a half-word is taken in place, as q * 2^(4q) (one LOP3 +
     * the 2^23 subtraction), and meets scale * 2^(-4q): the same real product as scale *
     * code, so the same fmaf result (for |scale| >= 2^-114, i.e. any scale MLX writes). */
    float s4[R][4];
    if (BITS == 4) {
#pragma unroll
        for (int r = 0; r < R; r++) {
            s4[r][0] = sc[B][r];
            s4[r][1] = sc[B][r] * 0.0625f;
            s4[r][2] = sc[B][r] * 0.00390625f;
            s4[r][3] = sc[B][r] * 0.000244140625f;
        }
    }
#pragma unroll
    for (int c = 0; c < 8; c++) { /* codes 4c .. 4c + 3 */
        float wv[R][4];
#pragma unroll
        for (int r = 0; r < R; r++) {
            if (BITS == 4) {
                uint32_t src = (c & 1) ? wq[B][r][(c >> 1) & (BITS - 1)] >> 16
                                       : wq[B][r][(c >> 1) & (BITS - 1)];
#pragma unroll
                for (int q = 0; q < 4; q++)
                    wv[r][q] =
                        fmaf(s4[r][q],
                             __uint_as_float((src & (0xFu << (4 * q))) | 0x4B000000u) - 8388608.0f,
                             bi[B][r]);
            } else {
#pragma unroll
                for (int q = 0; q < 4; q++)
                    wv[r][q] = fmaf(sc[B][r], unit_code<BITS>(wq[B][r], 4 * c + q), bi[B][r]);
            }
        }
#pragma unroll
        for (int i = 0; i < M; i++) {
            float4 xv = xs[i * per_row + u * 8 + (c ^ sw)];
#pragma unroll
            for (int r = 0; r < R; r++) {
                acc[i][r] += wv[r][0] * xv.x;
                acc[i][r] += wv[r][1] * xv.y;
                acc[i][r] += wv[r][2] * xv.z;
                acc[i][r] += wv[r][3] * xv.w;
            }
        }
    }
}

/* The decode GEMV with x in shared memory. The block's warps are T groups of QGEMV_ROWS
 * rows times `ksplit` warps that share those rows' units (blockDim = 32 * T * ksplit). x
 * [M, k] is staged once per block: unit u (32 floats = 8 float4) of a row sits at float4s
 * u * 8 + (c ^ (u & 7)), so the 8 lanes of a quarter-warp reading the same c of 8
 * consecutive units hit 8 distinct bank quads (no conflicts, no padding). A lane keeps the
 * next unit's words in flight while it computes the current one; the first unit's words
 * are requested before x is staged, so that latency overlaps the staging. */
template <int BITS, int M> __global__ void __launch_bounds__(256) qgemv_smem_kernel(qgemv_args a) {
    extern __shared__ float4 xs[];
    const int R = QGEMV_ROWS;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int ks = a.ksplit, T = (int)(blockDim.x >> 5) / ks, rg = warp / ks, kp = warp - rg * ks;
    const int64_t row0 = ((int64_t)blockIdx.x * T + rg) * R;
    /* k <= QGEMV_SMEM_MAX / 4 here: 32-bit indices */
    const int units = (int)(a.k >> 5), step = 32 * ks;
    const uint32_t *wr[R];
    int64_t srow[R];
#pragma unroll
    for (int r = 0; r < R; r++) {
        int64_t j = row0 + r < a.n ? row0 + r : a.n - 1;
        wr[r] = a.w + j * a.ldw;
        srow[r] = j * a.lds;
    }
    uint32_t wq[2][R][BITS];
    float sc[2][R], bi[2][R];
    int u = kp * 32 + lane;
    if (u < units) {
        int g = u >> a.gshift;
#pragma unroll
        for (int r = 0; r < R; r++) {
            load_unit<BITS>(wr[r] + u * BITS, wq[0][r], a.vec);
            sc[0][r] = qparam(a.s, srow[r] + g, a.sdt);
            bi[0][r] = qparam(a.b, srow[r] + g, a.sdt);
        }
    }
    const int per_row = units * 8; /* float4s of one row of x */
#pragma unroll
    for (int i = 0; i < M; i++) {
        const float4 *xr = (const float4 *)(a.x + (int64_t)(i < a.m ? i : a.m - 1) * a.ldx);
#pragma unroll 4
        for (int e = threadIdx.x; e < per_row; e += blockDim.x) {
            int uu = e >> 3, c = e & 7;
            xs[i * per_row + uu * 8 + (c ^ (uu & 7))] = __ldg(xr + e);
        }
    }
    __syncthreads();

    float acc[M][R];
#pragma unroll
    for (int i = 0; i < M; i++)
#pragma unroll
        for (int r = 0; r < R; r++)
            acc[i][r] = 0.0f;
    /* two steps per turn, so the buffers are indexed by constants (registers, not stack) */
    for (;;) {
        if (u >= units) break;
        smem_step<BITS, M, 0>(a, xs, per_row, u, units, step, wr, srow, wq, sc, bi, acc);
        u += step;
        if (u >= units) break;
        smem_step<BITS, M, 1>(a, xs, per_row, u, units, step, wr, srow, wq, sc, bi, acc);
        u += step;
    }
#pragma unroll
    for (int i = 0; i < M; i++)
#pragma unroll
        for (int r = 0; r < R; r++)
            acc[i][r] = cu_warp_sum(acc[i][r]);
    __shared__ float part[8][M * R];
    if (ks > 1) {
        if (lane == 0)
#pragma unroll
            for (int i = 0; i < M; i++)
#pragma unroll
                for (int r = 0; r < R; r++)
                    part[warp][i * R + r] = acc[i][r];
        __syncthreads();
        if (kp != 0) return;
#pragma unroll
        for (int i = 0; i < M; i++)
#pragma unroll
            for (int r = 0; r < R; r++) {
                float v = part[warp][i * R + r];
                for (int p = 1; p < ks; p++)
                    v += part[warp + p][i * R + r];
                acc[i][r] = v;
            }
    }
#pragma unroll
    for (int i = 0; i < M; i++)
#pragma unroll
        for (int r = 0; r < R; r++) {
            int64_t j = row0 + r;
            if (lane == i * R + r && i < a.m && j < a.n) {
                float v = acc[i][r];
                if (a.bias) v += cu_load_f(a.bias + j * a.bias_stride, a.bias_dt);
                a.y[(int64_t)i * a.ldy + j] = v;
            }
        }
}

#define QGEMV_SMEM_MAX (160 << 10) /* x staged in shared memory up to this (else L1 kernel) */

/* The launch of one pass (a.m rows of x) with the kernel that fits: x in shared memory when
 * M * k floats fit QGEMV_SMEM_MAX, else the L1 kernel (then M is 4 or 8). */
template <int BITS, int M>
static cudaError_t qgemv_go(const cuda_dev *dev, cudaStream_t s, qgemv_args a) {
    const int64_t units = a.k >> 5, chunks = (units + 31) / 32;
    const int64_t groups = (a.n + QGEMV_ROWS - 1) / QGEMV_ROWS;
    size_t smem = (size_t)M * (size_t)a.k * 4;
    if (smem <= QGEMV_SMEM_MAX) {
        if (smem > (48 << 10)) {
            cudaError_t e = cudaFuncSetAttribute(
                qgemv_smem_kernel<BITS, M>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
            if (e != cudaSuccess) return e;
        }
        int ks = 1;
        while (ks < 8 && chunks >= 4 * ks) /* at least 2 chunks of 32 units per warp */
            ks *= 2;
        /* T: the block size whose last wave is fullest (blocks resident per SM from the
         * occupancy calculator; a half-empty last wave costs as much as a full one). */
        /* Every block stages all of x (M * k floats): with several rows of x, small blocks
         * would read it from L2 far more often than the weights, so T stays >= M there. */
        int T = 8 / ks, t_min = M < 8 / ks ? M : 8 / ks;
        double best = -1.0;
        for (int t = 8 / ks; t >= t_min; t /= 2) {
            int occ = 0;
            if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(&occ, qgemv_smem_kernel<BITS, M>,
                                                              32 * ks * t, smem) != cudaSuccess ||
                occ < 1)
                occ = 1;
            double waves = (double)((groups + t - 1) / t) / ((double)occ * dev->n_sm);
            double eff = waves / ceil(waves);
            if (eff > best + 0.05) {
                best = eff;
                T = t;
            }
        }
        a.ksplit = ks;
        int64_t blocks = (groups + T - 1) / T;
        if (blocks > INT_MAX) return cudaErrorInvalidConfiguration;
        qgemv_smem_kernel<BITS, M><<<(unsigned)blocks, 32 * ks * T, smem, s>>>(a);
        return cudaSuccess;
    }
    const int64_t rows_per_block = (int64_t)QGEMV_ROWS * (QGEMV_WARPS / a.ksplit);
    int64_t blocks = (a.n + rows_per_block - 1) / rows_per_block;
    if (blocks > INT_MAX) return cudaErrorInvalidConfiguration;
    qgemv_kernel<BITS, (M >= 4 ? M : 4)><<<(unsigned)blocks, QGEMV_WARPS * 32, 0, s>>>(a);
    return cudaSuccess;
}

template <int BITS>
static cudaError_t qgemv_launch_bits(const cuda_dev *dev, cudaStream_t s, const qgemv_args &a) {
    if (a.m <= 1) return qgemv_go<BITS, 1>(dev, s, a);
    if (a.m <= 2) return qgemv_go<BITS, 2>(dev, s, a);
    if (a.m <= 4) return qgemv_go<BITS, 4>(dev, s, a);
    return qgemv_go<BITS, 8>(dev, s, a);
}

static cudaError_t qgemv_launch(int bits, const cuda_dev *dev, cudaStream_t s,
                                const qgemv_args &a) {
    switch (bits) {
    case 2:
        return qgemv_launch_bits<2>(dev, s, a);
    case 3:
        return qgemv_launch_bits<3>(dev, s, a);
    case 4:
        return qgemv_launch_bits<4>(dev, s, a);
    case 5:
        return qgemv_launch_bits<5>(dev, s, a);
    case 6:
        return qgemv_launch_bits<6>(dev, s, a);
    default:
        return qgemv_launch_bits<8>(dev, s, a);
    }
}

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
        a.gshift = group_shift(w->group_size);
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
        int64_t ldx, ldy;
        vlm_tensor xs = *x, ys = *out;
        bool y_direct = vlm_strided_flat_rows(out, &ldy);
        if (!vlm_strided_flat_rows(x, &ldx) || !cuda_aligned16(cuda_ptr(x)) || ldx % 4 != 0) {
            if ((st = cuda_contiguous_scratch(ctx, op, x, x->dtype, &xs)) != VLM_OK) goto done;
            ldx = k;
        }
        if (m == 1) ldx = k; /* one row: its stride is irrelevant (and may be anything) */
        if (!y_direct) {
            vlm_error e;
            if ((st = vlm_arena_tensor(ctx->arena, VLM_DTYPE_F32, out->ndim, out->shape, &ys,
                                       &e)) != VLM_OK) {
                vlm_ctx_fail(ctx, st, "%s: scratch: %s", op, e.message);
                goto done;
            }
            ldy = n;
        }
        qgemv_args a;
        memset(&a, 0, sizeof a);
        a.n = n;
        a.k = k;
        a.ldx = ldx;
        a.w = q.w;
        a.ldw = q.ldw;
        a.s = q.s;
        a.b = q.b;
        a.lds = q.lds;
        a.sdt = q.sdt;
        a.gshift = group_shift(w->group_size);
        a.vec = q.vec;
        const int64_t units = k / 32;
        a.ksplit = units >= 256 ? 4 : units >= 128 ? 2 : 1;
        a.bias = bias ? cuda_ptr(bias) : NULL;
        a.bias_stride = bias ? bias->stride[0] : 0;
        a.bias_dt = bias ? (int)bias->dtype : (int)VLM_DTYPE_F32;
        a.ldy = ldy;
        for (int64_t i0 = 0; i0 < m; i0 += 8) {
            a.m = (int)(m - i0 < 8 ? m - i0 : 8);
            a.x = (const float *)cuda_ptr(&xs) + i0 * ldx;
            a.y = (float *)cuda_ptr(&ys) + i0 * ldy;
            if ((st = cuda_check(ctx, op, qgemv_launch(w->bits, dev, cuda_stream(ctx), a))) !=
                VLM_OK)
                goto done;
            if ((st = cuda_check_launch(ctx, op)) != VLM_OK) goto done;
        }
        if (!y_direct) st = cuda_copy_tensor(ctx, op, &ys, out);
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
        a.gshift = group_shift(table->group_size);
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
