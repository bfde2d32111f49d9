/* The CUDA GEMV engine (see gemv.cuh).
 *
 * A block of GV_WARPS warps stages the rows of x of its pass in shared memory (float
 * products without a norm read x through L1 instead) (RMSNorm applied when asked: the sum of
 * squares in double, then (x * (1 / sqrtf(mean + eps))) * (w + off) per element, norm.cu's
 * arithmetic), then walks output rows: `nseg` warps per row (long rows are split so that enough
 * loads are in flight), lanes over 16-byte chunks of a float row or over units of 32 codes of a
 * quantized row, several chunks in flight per lane. Segment sums are added in a fixed order.
 * Quantized weights are widened as fmaf(scale, code, bias), one rounding, as the CPU backend does;
 * float weights exactly.
 *
 * Staged x: unit u (32 floats = 8 float4) of a row keeps float4 c at u * 8 + (c ^ (u & 7)),
 * so lanes reading the same c of consecutive units (quantized rows) or consecutive chunks
 * (float rows) hit distinct banks.
 *
 * Launch: programmatic-dependent (cuda_launch). Before cu_pdl_wait a block only stages the
 * norm factors (constant data), so that work overlaps the previous kernel's tail. Blocks
 * that stage x are as many as fit at once, each looping over an equal number of row groups;
 * float products without a norm read x through L1 and take one block per row group. (An L2
 * prefetch of each block's first weight rows before the wait was measured slower and
 * removed: bench/qwen2_vl/RESULTS_CUDA.md.) */
#include <cuda_fp16.h>
#include <limits.h>

#include "tensor/cuda/gemv.cuh"
#include "tensor/cuda/quant.cuh"
#include "tensor/strided.h"

#define GV_WARPS 8
#define GV_STAGE_MAX (160 << 10) /* shared memory for staged rows of x */

template <int WDT> struct gv_float;
template <> struct gv_float<VLM_DTYPE_F32> {
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
/* The 8 halves of a 16-byte chunk widened by T::pair, two at a time. */
template <typename T> __device__ __forceinline__ void gv_unpack_pairs(uint4 v, float *f) {
    T::pair(v.x, f);
    T::pair(v.y, f + 2);
    T::pair(v.z, f + 4);
    T::pair(v.w, f + 6);
}
template <> struct gv_float<VLM_DTYPE_BF16> {
    enum { E = 8, SIZE = 2 };
    static __device__ __forceinline__ void pair(uint32_t u, float *f) {
        f[0] = __uint_as_float(u << 16);
        f[1] = __uint_as_float(u & 0xffff0000u);
    }
    static __device__ __forceinline__ void unpack(uint4 v, float *f) {
        gv_unpack_pairs<gv_float>(v, f);
    }
    static __device__ __forceinline__ float one(const char *p, int64_t i) {
        return cu_bf16_to_f32(((const uint16_t *)p)[i]);
    }
};
template <> struct gv_float<VLM_DTYPE_F16> {
    enum { E = 8, SIZE = 2 };
    static __device__ __forceinline__ void pair(uint32_t u, float *f) {
        __half2 h = *(const __half2 *)&u; /* hardware widening is exact */
        float2 t = __half22float2(h);
        f[0] = t.x;
        f[1] = t.y;
    }
    static __device__ __forceinline__ void unpack(uint4 v, float *f) {
        gv_unpack_pairs<gv_float>(v, f);
    }
    static __device__ __forceinline__ float one(const char *p, int64_t i) {
        return __half2float(((const __half *)p)[i]);
    }
};

/* Float4 e of a staged row, swizzled within its unit. */
__device__ __forceinline__ int gv_swz(int e) {
    return (e & ~7) | ((e ^ (e >> 3)) & 7);
}
/* Element i of a row of x: staged (SX, swizzled in shared memory) or read from global. */
template <bool SX> __device__ __forceinline__ float gv_x1(const float *xr, int i) {
    return SX ? xr[gv_swz(i >> 2) * 4 + (i & 3)] : __ldg(xr + i);
}

/* Chunks (16 bytes) per lane in flight for float rows, units for quantized ones. */
template <int M> __device__ __forceinline__ constexpr int gv_u_float() {
    return M <= 2 ? 8 : 4;
}
template <int BITS> __device__ __forceinline__ constexpr int gv_u_quant() {
    return BITS <= 4 ? 4 : 2;
}

/* ------------------------------------------------------------ one row of float weights */

template <int WDT, int M, bool SX>
__device__ __forceinline__ void gv_chunk_f(uint4 wv, const float4 *xs, int kp4, int c, float *acc) {
    typedef gv_float<WDT> W;
    float wf[W::E];
    W::unpack(wv, wf);
#pragma unroll
    for (int q = 0; q < W::E / 4; q++) {
        const int e = SX ? gv_swz(c * (W::E / 4) + q) : c * (W::E / 4) + q;
#pragma unroll
        for (int r = 0; r < M; r++) {
            float4 xv = SX ? xs[r * kp4 + e] : __ldg(xs + r * kp4 + e);
            acc[r] += wf[4 * q] * xv.x;
            acc[r] += wf[4 * q + 1] * xv.y;
            acc[r] += wf[4 * q + 2] * xv.z;
            acc[r] += wf[4 * q + 3] * xv.w;
        }
    }
}

/* A lane's chunks of a float row segment: c0 + lane, c0 + lane + 32, ... below c1, taken in
 * batches of U loads in flight, the rest one by one. */
template <int WDT> struct gv_span_f {
    int c, c1;
    __device__ __forceinline__ gv_span_f(const gv_args &a, int lane, int seg, int nseg) {
        const int chunks = (int)a.k / gv_float<WDT>::E;
        c1 = (int)((int64_t)chunks * (seg + 1) / nseg);
        c = (int)((int64_t)chunks * seg / nseg) + lane;
    }
};

/* acc[r] = w row . x row r over segment `seg` of `nseg` (summed over the warp). */
template <int WDT, int M, bool SX>
__device__ __forceinline__ void gv_row_f(const gv_args &a, const char *wr, const float4 *xs,
                                         int lane, int seg, int nseg, float *acc) {
    typedef gv_float<WDT> W;
    const int kp4 = SX ? a.kp / 4 : (int)(a.ldx / 4), k = (int)a.k; /* float4s per row of x */
#pragma unroll
    for (int r = 0; r < M; r++)
        acc[r] = 0.0f;
    if (a.vec) {
        const uint4 *wv = (const uint4 *)wr;
        const int U = gv_u_float<M>();
        gv_span_f<WDT> sp(a, lane, seg, nseg);
        int c = sp.c;
        for (; c + 32 * (U - 1) < sp.c1; c += 32 * U) {
            uint4 wq[U];
#pragma unroll
            for (int u = 0; u < U; u++)
                wq[u] = __ldg(wv + c + 32 * u);
#pragma unroll
            for (int u = 0; u < U; u++)
                gv_chunk_f<WDT, M, SX>(wq[u], xs, kp4, c + 32 * u, acc);
        }
        for (; c < sp.c1; c += 32)
            gv_chunk_f<WDT, M, SX>(__ldg(wv + c), xs, kp4, c, acc);
        const int chunks = k / W::E;
        if (seg == nseg - 1)
            for (int i = chunks * W::E + lane; i < k; i += 32) {
                float wf = W::one(wr, i);
#pragma unroll
                for (int r = 0; r < M; r++)
                    acc[r] += wf * gv_x1<SX>((const float *)(xs + r * kp4), i);
            }
    } else {
        const int i1 = (int)((int64_t)k * (seg + 1) / nseg);
        for (int i = (int)((int64_t)k * seg / nseg) + lane; i < i1; i += 32) {
            float wf = W::one(wr, i);
#pragma unroll
            for (int r = 0; r < M; r++)
                acc[r] += wf * gv_x1<SX>((const float *)(xs + r * kp4), i);
        }
    }
#pragma unroll
    for (int r = 0; r < M; r++)
        acc[r] = cu_warp_sum(acc[r]);
}

/* ------------------------------------------------------------ one row of quantized weights */

template <int BITS, int M>
__device__ __forceinline__ void gv_unit_q(const uint32_t *w, float s, float b, const float4 *xs,
                                          int kp4, int u, float *acc) {
    float f[32];
    unit_codes<BITS>(w, f);
#pragma unroll
    for (int c = 0; c < 8; c++) {
        float w0 = fmaf(s, f[4 * c], b), w1 = fmaf(s, f[4 * c + 1], b);
        float w2 = fmaf(s, f[4 * c + 2], b), w3 = fmaf(s, f[4 * c + 3], b);
        const int e = u * 8 + (c ^ (u & 7));
#pragma unroll
        for (int r = 0; r < M; r++) {
            float4 xv = xs[r * kp4 + e];
            acc[r] += w0 * xv.x;
            acc[r] += w1 * xv.y;
            acc[r] += w2 * xv.z;
            acc[r] += w3 * xv.w;
        }
    }
}

template <int BITS, int M>
__device__ __forceinline__ void gv_row_q(const gv_args &a, const gv_part &P, int64_t j,
                                         const float4 *xs, int lane, int seg, int nseg,
                                         float *acc) {
    const int kp4 = a.kp / 4;
    const uint32_t *wr = (const uint32_t *)(P.w + j * P.ldw);
    const int64_t srow = j * P.lds;
    const int units = (int)(a.k >> 5), u1 = (int)((int64_t)units * (seg + 1) / nseg);
#pragma unroll
    for (int r = 0; r < M; r++)
        acc[r] = 0.0f;
    const int U = gv_u_quant<BITS>(); /* units in flight per lane */
    const int L = a.lpr;              /* lanes of this row: 32, or 16 (two rows per warp) */
    for (int u = (int)((int64_t)units * seg / nseg) + (lane & (L - 1)); u < u1; u += L * U) {
        uint32_t wq[U][BITS];
        float sc[U], bi[U];
#pragma unroll
        for (int t = 0; t < U; t++) {
            const int uu = u + L * t, g = uu >> a.gshift;
            if (uu < u1) {
                load_unit<BITS>(wr + (int64_t)uu * BITS, wq[t], a.vec);
                sc[t] = qparam(P.s, srow + g, a.sdt);
                bi[t] = qparam(P.b, srow + g, a.sdt);
            }
        }
#pragma unroll
        for (int t = 0; t < U; t++)
            if (u + L * t < u1) gv_unit_q<BITS, M>(wq[t], sc[t], bi[t], xs, kp4, u + L * t, acc);
    }
#pragma unroll
    for (int r = 0; r < M; r++)
        for (int o = L / 2; o > 0; o >>= 1) /* over the row's lanes only */
            acc[r] += __shfl_xor_sync(0xffffffffu, acc[r], o);
}

/* ------------------------------------------------------------ the kernel */

/* The part holding output row jj of a non-gated launch, and the row within it. */
__device__ __forceinline__ const gv_part *gv_locate(const gv_args &a, int64_t jj, int64_t *j) {
    int pi = 0;
    while (pi + 1 < a.n_parts && jj >= a.part[pi + 1].start)
        pi++;
    *j = jj - a.part[pi].start;
    return &a.part[pi];
}

__device__ __forceinline__ float gv_bias(const gv_part &P, int64_t j) {
    return P.bias ? cu_load_f(P.bias + j * P.bias_stride, P.bias_dt) : 0.0f;
}

template <int WDT, int BITS, int M, bool SX>
__device__ __forceinline__ void gv_row(const gv_args &a, const gv_part &P, int64_t j,
                                       const float4 *xs, int lane, int seg, int nseg, float *acc) {
    if (BITS) /* a constant: the other branch is compiled away */
        gv_row_q<(BITS ? BITS : 4), M>(a, P, j, xs, lane, seg, nseg, acc);
    else
        gv_row_f<WDT, M, SX>(a, P.w + j * P.ldw, xs, lane, seg, nseg, acc);
}

/* Staging: rows 0 .. M - 1 of x (rows past mp repeat row mp - 1) with GV_LD loads in flight
 * per thread, squares summed as they arrive; with a norm, the factors (w + off) are staged
 * beside them (same swizzle; constant data, so before the wait) and every staged x becomes
 * (x * rr) * f, norm.cu's order. */
#define GV_LD 4

/* The norm factors. */
template <int M> __device__ __forceinline__ void gv_stage_factors(const gv_args &a, float4 *xs) {
    const int kp4 = a.kp / 4, k = (int)a.k, nt = blockDim.x;
    float *gam = (float *)(xs + M * kp4);
    if (a.norm)
        for (int i0 = threadIdx.x; i0 < a.kp; i0 += GV_LD * nt) {
            float f[GV_LD];
#pragma unroll
            for (int t = 0; t < GV_LD; t++) {
                const int i = i0 + t * nt;
                f[t] = 1.0f;
                if (i < k && a.nw) {
                    f[t] = cu_load_f(a.nw + i * a.nw_stride, a.nw_dt);
                    if (a.w_offset != 0.0f) f[t] += a.w_offset;
                }
            }
#pragma unroll
            for (int t = 0; t < GV_LD; t++) {
                const int i = i0 + t * nt;
                if (i < a.kp) gam[gv_swz(i >> 2) * 4 + (i & 3)] = f[t];
            }
        }
}

template <int M> __device__ __forceinline__ void gv_stage(const gv_args &a, float4 *xs) {
    __shared__ double red[32];
    __shared__ float rrs[M];
    const int kp4 = a.kp / 4, k = (int)a.k, k4 = k / 4, nt = blockDim.x;
    const float *gam = (const float *)(xs + M * kp4);
    double ss[M];
#pragma unroll
    for (int r = 0; r < M; r++) {
        const float *xr = a.x + (int64_t)(r < a.mp ? r : a.mp - 1) * a.ldx;
        float4 *dr = xs + r * kp4;
        ss[r] = 0.0;
        const int vec4 = a.xvec ? k4 : 0; /* float4s loaded as such */
        for (int e0 = threadIdx.x; e0 < vec4; e0 += GV_LD * nt) {
            float4 v[GV_LD];
#pragma unroll
            for (int t = 0; t < GV_LD; t++)
                if (e0 + t * nt < vec4) v[t] = __ldg((const float4 *)xr + e0 + t * nt);
#pragma unroll
            for (int t = 0; t < GV_LD; t++)
                if (e0 + t * nt < vec4) {
                    dr[gv_swz(e0 + t * nt)] = v[t];
                    ss[r] += (double)v[t].x * v[t].x + (double)v[t].y * v[t].y +
                             (double)v[t].z * v[t].z + (double)v[t].w * v[t].w;
                }
        }
        for (int i0 = vec4 * 4 + threadIdx.x; i0 < a.kp; i0 += GV_LD * nt) {
            float v[GV_LD];
#pragma unroll
            for (int t = 0; t < GV_LD; t++) {
                const int i = i0 + t * nt;
                v[t] = i < k ? xr[i] : 0.0f;
            }
#pragma unroll
            for (int t = 0; t < GV_LD; t++) {
                const int i = i0 + t * nt;
                if (i < a.kp) {
                    ((float *)dr)[gv_swz(i >> 2) * 4 + (i & 3)] = v[t];
                    ss[r] += (double)v[t] * v[t];
                }
            }
        }
    }
    if (a.norm) {
#pragma unroll
        for (int r = 0; r < M; r++) {
            double t = cu_block_sum_d(ss[r], red);
            if (threadIdx.x == 0) rrs[r] = 1.0f / sqrtf((float)(t / (double)k) + a.eps);
        }
    }
    __syncthreads();
    if (!a.norm) return;
#pragma unroll
    for (int r = 0; r < M; r++) {
        float *dr = (float *)(xs + r * kp4);
        const float rr = rrs[r];
        for (int p = threadIdx.x; p < a.kp; p += nt)
            dr[p] = (dr[p] * rr) * gam[p];
    }
    __syncthreads();
}

/* One group of output rows (base + warp / nseg) of a block. */
template <int WDT, int BITS, int M, bool SX>
__device__ __forceinline__ void gv_group(const gv_args &a, int64_t base, const float4 *xs,
                                         float (*part)[2][M]) {
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nseg = a.nseg, seg = w % nseg;
    const int lpr = BITS ? a.lpr : 32; /* float rows: always a whole warp */
    const int64_t jr = base + (int64_t)(w / nseg) * (32 / lpr) + lane / lpr;
    const bool valid = jr < a.n;
    /* a row past the end is computed as the last row and not stored: every lane takes part
     * in the warp's shuffles */
    const int64_t jj = valid ? jr : a.n - 1;
    float acc[M], up[M];
    const gv_part *P = &a.part[0];
    int64_t j = jj;
    if (BITS || valid) { /* float rows: one row per warp, nothing shared with other rows */
        if (a.gated) {
            gv_row<WDT, BITS, M, SX>(a, a.part[0], jj, xs, lane, seg, nseg, acc);
            gv_row<WDT, BITS, M, SX>(a, a.part[1], jj, xs, lane, seg, nseg, up);
        } else {
            P = gv_locate(a, jj, &j);
            gv_row<WDT, BITS, M, SX>(a, *P, j, xs, lane, seg, nseg, acc);
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
    if (!valid || seg != 0 || (lane & (lpr - 1)) != 0) return;
    if (a.gated) { /* act(g) * u */
        const gv_part &G = a.part[0], &U = a.part[1];
        const float bg = gv_bias(G, jj), bu = gv_bias(U, jj);
#pragma unroll
        for (int r = 0; r < M; r++) {
            if (r >= a.mp) break;
            float g = G.bias ? acc[r] + bg : acc[r], u = U.bias ? up[r] + bu : up[r];
            G.y[r * G.ldy + jj] = cu_act_eval(a.act, g) * u;
        }
    } else {
        const float b = gv_bias(*P, j);
#pragma unroll
        for (int r = 0; r < M; r++) {
            if (r >= a.mp) break;
            float v = P->bias ? acc[r] + b : acc[r];
            float *y = P->y + r * P->ldy + j;
            *y = a.accumulate ? *y + v : v; /* matmul then add: out + (x w + b) */
        }
    }
}

/* One or two rows of x: at least 5 blocks per multiprocessor for float rows (<= 51
 * registers), 3 for quantized ones (<= 85), so that enough loads are in flight. */
template <int WDT, int BITS, int M, bool SX>
__global__ void __launch_bounds__(GV_WARPS * 32, M > 2  ? 1
                                                 : BITS ? 3
                                                        : 5) gv_kernel(gv_args a) {
    extern __shared__ float4 gv_xs[];
    __shared__ float part[GV_WARPS][2][M];
    const int rpb = GV_WARPS / a.nseg * (32 / a.lpr);
    if (SX) gv_stage_factors<M>(a, gv_xs);
    cu_pdl_wait();
    cu_pdl_trigger();
    if (SX) gv_stage<M>(a, gv_xs);
    const float4 *xs = SX ? gv_xs : (const float4 *)a.x;
    for (int64_t base = (int64_t)blockIdx.x * rpb; base < a.n; base += (int64_t)gridDim.x * rpb)
        gv_group<WDT, BITS, M, SX>(a, base, xs, part);
}

/* ------------------------------------------------------------ host side */

typedef void (*gv_fn)(gv_args);

template <int WDT, int BITS, bool SX> static gv_fn gv_pick_m(int mp) {
    if (mp <= 1) return gv_kernel<WDT, BITS, 1, SX>;
    if (mp <= 2) return gv_kernel<WDT, BITS, 2, SX>;
    if (mp <= 4) return gv_kernel<WDT, BITS, 4, SX>;
    return gv_kernel<WDT, BITS, 8, SX>;
}

static gv_fn gv_pick(const gv_args *a, int mp) {
    switch (a->bits) {
    case 0:
        if (!a->sx) { /* x read through L1 (no norm to apply) */
            if (a->wdt == VLM_DTYPE_BF16) return gv_pick_m<VLM_DTYPE_BF16, 0, false>(mp);
            if (a->wdt == VLM_DTYPE_F16) return gv_pick_m<VLM_DTYPE_F16, 0, false>(mp);
            return gv_pick_m<VLM_DTYPE_F32, 0, false>(mp);
        }
        if (a->wdt == VLM_DTYPE_BF16) return gv_pick_m<VLM_DTYPE_BF16, 0, true>(mp);
        if (a->wdt == VLM_DTYPE_F16) return gv_pick_m<VLM_DTYPE_F16, 0, true>(mp);
        return gv_pick_m<VLM_DTYPE_F32, 0, true>(mp);
    case 2:
        return gv_pick_m<VLM_DTYPE_F32, 2, true>(mp);
    case 3:
        return gv_pick_m<VLM_DTYPE_F32, 3, true>(mp);
    case 4:
        return gv_pick_m<VLM_DTYPE_F32, 4, true>(mp);
    case 5:
        return gv_pick_m<VLM_DTYPE_F32, 5, true>(mp);
    case 6:
        return gv_pick_m<VLM_DTYPE_F32, 6, true>(mp);
    default:
        return gv_pick_m<VLM_DTYPE_F32, 8, true>(mp);
    }
}

static int gv_rows_of(int64_t m) {
    return m <= 1 ? 1 : m <= 2 ? 2 : m <= 4 ? 4 : 8;
}

/* Shared memory a block may use for staged rows of x (and the norm factors). */
static size_t gv_stage_cap(const cuda_dev *dev) {
    return dev->smem_optin < GV_STAGE_MAX ? dev->smem_optin : GV_STAGE_MAX;
}

bool cuda_gemv_begin(vlm_ctx *ctx, gv_args *a, const vlm_tensor *x, int64_t k,
                     const vlm_prenorm *norm) {
    memset(a, 0, sizeof *a);
    int64_t m = cuda_nrows(x), ldx;
    if (m < 1 || k < 1 || !vlm_strided_flat_rows(x, &ldx) || k > INT_MAX / 2) return false;
    /* at least one staged row must fit */
    int64_t kp = (k + 31) / 32 * 32;
    if ((size_t)kp * 4 * (norm ? 2 : 1) > gv_stage_cap(cuda_dev_of(ctx))) return false;
    a->m = m;
    a->k = k;
    a->kp = (int)kp;
    a->x = (const float *)cuda_ptr(x);
    a->ldx = m > 1 ? ldx : k;
    a->xvec = cuda_aligned16(a->x) && (m == 1 || ldx % 4 == 0);
    a->vec = 1;
    if (norm) {
        a->norm = 1;
        a->nw = norm->w ? cuda_ptr(norm->w) : NULL;
        a->nw_stride = norm->w ? norm->w->stride[0] : 0;
        a->nw_dt = norm->w ? (int)norm->w->dtype : (int)VLM_DTYPE_F32;
        a->eps = norm->eps;
        a->w_offset = norm->w_offset;
    }
    return true;
}

bool cuda_gemv_add(gv_args *a, const vlm_qweight *w, const vlm_tensor *bias,
                   const vlm_tensor *out) {
    int i = a->n_parts;
    int64_t ldy;
    if (i >= GEMV_MAX_PARTS || !vlm_strided_flat_rows(out, &ldy)) return false;
    gv_part *P = &a->part[i];
    memset(P, 0, sizeof *P);
    if (w->bits) {
        int64_t es = (int64_t)vlm_dtype_size(w->scales.dtype);
        int64_t lds = w->scales.shape[0] > 1 ? w->scales.stride[0] / es : w->scales.shape[1];
        if (w->biases.shape[0] > 1 && w->biases.stride[0] != w->scales.stride[0]) return false;
        if (i > 0 && (a->bits != w->bits || a->sdt != (int)w->scales.dtype ||
                      a->gshift != cuda_group_shift(w->group_size)))
            return false;
        a->bits = w->bits;
        a->sdt = (int)w->scales.dtype;
        a->gshift = cuda_group_shift(w->group_size);
        P->ldw = w->w.shape[0] > 1 ? w->w.stride[0] : w->w.shape[1] * 4;
        P->s = cuda_ptr(&w->scales);
        P->b = cuda_ptr(&w->biases);
        P->lds = lds;
        if (!cuda_aligned16(cuda_ptr(&w->w)) || P->ldw % 16) a->vec = 0;
    } else {
        if (i > 0 && (a->bits != 0 || a->wdt != (int)w->w.dtype)) return false;
        a->wdt = (int)w->w.dtype;
        int64_t esz = (int64_t)vlm_dtype_size(w->w.dtype);
        P->ldw = w->w.shape[0] > 1 ? w->w.stride[0] : w->w.shape[1] * esz;
        if (!cuda_aligned16(cuda_ptr(&w->w)) || P->ldw % 16) a->vec = 0;
    }
    P->start = a->n;
    P->n = w->w.shape[0];
    P->w = cuda_ptr(&w->w);
    P->bias = bias ? cuda_ptr(bias) : NULL;
    P->bias_stride = bias ? bias->stride[0] : 0;
    P->bias_dt = bias ? (int)bias->dtype : (int)VLM_DTYPE_F32;
    P->y = (float *)cuda_ptr(out);
    P->ldy = a->m > 1 ? ldy : P->n;
    a->n += P->n;
    a->n_parts = i + 1;
    return true;
}

vlm_status cuda_gemv_run(vlm_ctx *ctx, const char *op, gv_args *a) {
    cuda_dev *dev = cuda_dev_of(ctx);
    if (a->gated) a->n = a->part[0].n;
    if (a->n == 0 || a->n_parts == 0) return VLM_OK;
    /* Rows longer than 4 KB are split across warps (up to all of a block's) while the rows
     * alone give fewer than ~32 warps per multiprocessor. */
    const int64_t row_bytes =
        a->bits ? a->k * a->bits / 8 : a->k * (int64_t)vlm_dtype_size((vlm_dtype)a->wdt);
    a->nseg = 1;
    while (a->nseg < GV_WARPS && row_bytes / a->nseg > 4096 &&
           a->n * a->nseg < (int64_t)dev->n_sm * 32)
        a->nseg *= 2;
    /* short quantized rows (<= 64 units of 32 codes): 16 lanes per row, two rows per warp,
     * so that each lane has a full batch of loads in flight */
    a->lpr = a->bits && a->nseg == 1 && a->k <= 64 * 32 ? 16 : 32;
    const int64_t rpb = GV_WARPS / a->nseg * (32 / a->lpr), groups = (a->n + rpb - 1) / rpb;
    int per = (int)(gv_stage_cap(dev) / ((size_t)a->kp * 4)) -
              (a->norm ? 1 : 0);                          /* rows a block stages */
    per = per >= 8 ? 8 : per >= 4 ? 4 : per >= 2 ? 2 : 1; /* M of the kernel: 1, 2, 4, 8 */
    const gv_args base = *a;
    for (int64_t r0 = 0; r0 < a->m; r0 += per) {
        gv_args p = base;
        p.mp = (int)(a->m - r0 < per ? a->m - r0 : per);
        const int M = gv_rows_of(p.mp);
        p.x = base.x + r0 * base.ldx;
        for (int i = 0; i < p.n_parts; i++)
            p.part[i].y = base.part[i].y + r0 * base.part[i].ldy;
        /* float weights without a norm read x through L1 as it is (no staging, one block per
         * row group): rows of x must then be exactly the kernel's M */
        p.sx = !(p.bits == 0 && !p.norm && p.xvec && M == p.mp && p.ldx / 4 <= INT_MAX);
        gv_fn fn = gv_pick(&p, p.mp);
        const size_t smem =
            p.sx ? (size_t)(M + (p.norm ? 1 : 0)) * (size_t)p.kp * 4 : 0; /* x rows, factors */
        cudaError_t e = cudaSuccess;
        if (smem > (48 << 10))
            e = cudaFuncSetAttribute((const void *)fn, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                     (int)smem);
        /* a block stages x once and loops over row groups: as many blocks as fit at once */
        int occ = 0;
        if (e == cudaSuccess && cudaOccupancyMaxActiveBlocksPerMultiprocessor(
                                    &occ, fn, GV_WARPS * 32, smem) != cudaSuccess)
            occ = 1;
        if (occ < 1) occ = 1;
        /* every block the same number of row groups: with ~2 groups per resident block a
         * static split of groups over all resident blocks leaves a third of them idle for
         * the last turn, fewer blocks with equal turns finish together */
        int64_t blocks = (int64_t)occ * dev->n_sm;
        if (blocks > groups || dev->gemv_full_grid || !p.sx) blocks = groups;
        const int64_t turns = (groups + blocks - 1) / blocks;
        blocks = (groups + turns - 1) / turns;
        if (blocks > INT_MAX) blocks = INT_MAX;
        if (e == cudaSuccess)
            e = cuda_launch(ctx, fn, dim3((unsigned)blocks), dim3(GV_WARPS * 32), smem, p);
        vlm_status st = cuda_check(ctx, op, e);
        if (st == VLM_OK) st = cuda_check_launch(ctx, op);
        if (st != VLM_OK) return st;
    }
    return VLM_OK;
}
