/* Attention on the tensor cores (bf16 operands, f32 accumulation and softmax) for prefill and
 * the vision tower when the context allows bf16 compute: the flash-attention scheme with
 * WMMA 16x16x16 tiles.
 *
 * A block owns 32 query rows of one head (2 warps of 16 rows) and walks the keys any of its
 * rows can see in tiles of 32: K and V tiles are rounded to bf16 into shared memory; each
 * warp computes its 16 x 64 scores S = Q K^T on the tensor cores into shared memory, applies
 * the scale, softcap and the row's visible intervals (attention.cuh, the same rules as the
 * f32 kernels), updates its rows' running max and sum (two lanes per row), writes P in bf16,
 * rescales its rows of O (f32, shared memory) and adds P V from the tensor cores. At the end
 * O / sum goes out. Only Q, K, V, P are rounded to bf16; every sum is f32. */
#include <cuda_bf16.h>
#include <limits.h>
#include <mma.h>

#include "tensor/cuda/attention.cuh"

using namespace nvcuda;

/* Small blocks on purpose: the kernel is bound by instruction latency, so what matters is
 * warps per multiprocessor; 32 x 32 tiles need ~50 KB of shared memory for head dim 128, so
 * four blocks (8 warps) fit on an SM, and a 286-token prefill of 16 heads makes 144 blocks
 * (64-row blocks: 80 blocks, one per SM, 4 warps). */
#define TC_BR 32   /* query rows per block */
#define TC_BK 32   /* keys per tile */
#define TC_WARPS 2 /* 16 rows each */
#define TC_MAX_D 128

typedef __nv_bfloat16 bf16;

/* Shared-memory layout (element strides padded by 16 bytes against bank conflicts; every
 * array starts 128-byte aligned). */
typedef struct tc_layout {
    int ldq, ldv, lds, ldp, ldo; /* elements */
    size_t q, k, v, s, p, o, iv, total;
} tc_layout;

__host__ __device__ static inline size_t tc_align(size_t x) {
    return (x + 127) & ~(size_t)127;
}

__host__ __device__ static inline tc_layout tc_layout_of(int d, int dv) {
    tc_layout L;
    L.ldq = d + 8;
    L.ldv = dv + 8;
    L.lds = TC_BK + 4;
    L.ldp = TC_BK + 8;
    L.ldo = dv + 4;
    size_t at = 0;
    L.q = at, at = tc_align(at + (size_t)TC_BR * L.ldq * 2);
    L.k = at, at = tc_align(at + (size_t)TC_BK * L.ldq * 2);
    L.v = at, at = tc_align(at + (size_t)TC_BK * L.ldv * 2);
    L.s = at, at = tc_align(at + (size_t)TC_BR * L.lds * 4);
    L.p = at, at = tc_align(at + (size_t)TC_BR * L.ldp * 2);
    L.o = at, at = tc_align(at + (size_t)TC_BR * L.ldo * 4);
    L.iv = at, at = tc_align(at + (size_t)TC_BR * 4 * 8);
    L.total = at;
    return L;
}

/* rows x cols of f32 (row r at base + r * stride bytes, rows >= n zero) into bf16 dst: a
 * warp per row, four columns per lane (16-byte loads when `vec`), every load of a warp's
 * rows issued before the conversions (the loop has no dependence between rows). */
__device__ __forceinline__ void tc_load(bf16 *dst, int ld, const char *base, int64_t stride,
                                        int n, int rows, int cols, int vec) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    for (int r = warp; r < rows; r += TC_WARPS) {
        const float *src = (const float *)(base + r * stride);
        for (int c = lane * 4; c < cols; c += 128) {
            float4 v = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
            if (r < n) {
                if (vec)
                    v = *(const float4 *)(src + c);
                else
                    v = make_float4(src[c], src[c + 1], src[c + 2], src[c + 3]);
            }
            __nv_bfloat162 lo = __floats2bfloat162_rn(v.x, v.y), hi = __floats2bfloat162_rn(v.z, v.w);
            *(__nv_bfloat162 *)(dst + r * ld + c) = lo;
            *(__nv_bfloat162 *)(dst + r * ld + c + 2) = hi;
        }
    }
}

__global__ void __launch_bounds__(TC_WARPS * 32) att_tc_kernel(att_args a) {
    extern __shared__ __align__(128) unsigned char smem[];
    const tc_layout L = tc_layout_of((int)a.d, (int)a.dv);
    bf16 *sQ = (bf16 *)(smem + L.q), *sK = (bf16 *)(smem + L.k), *sV = (bf16 *)(smem + L.v);
    float *sS = (float *)(smem + L.s), *sO = (float *)(smem + L.o);
    bf16 *sP = (bf16 *)(smem + L.p);
    int64_t *sIv = (int64_t *)(smem + L.iv);
    __shared__ int64_t sRange[2];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int d = (int)a.d, dv = (int)a.dv;
    const int64_t n_qb = (a.sq + TC_BR - 1) / TC_BR;
    const int64_t h = blockIdx.x / n_qb, i0 = (blockIdx.x % n_qb) * TC_BR;
    const int64_t hk = h / a.group;
    const int nq = (int)(a.sq - i0 < TC_BR ? a.sq - i0 : TC_BR);

    tc_load(sQ, L.ldq, a.q + i0 * a.qs0 + h * a.qs1, a.qs0, nq, TC_BR, d, a.vq);
    for (int e = threadIdx.x; e < TC_BR * dv; e += TC_WARPS * 32)
        sO[(e / dv) * L.ldo + e % dv] = 0.0f;
    if (warp == 0) {
        int64_t lo = a.sk, hi = 0;
        for (int r = lane; r < TC_BR; r += 32) {
            int64_t iv[4] = {0, 0, 0, 0};
            if (r < nq) row_interval(a, i0 + r, iv);
            for (int c = 0; c < 4; c++)
                sIv[r * 4 + c] = iv[c];
            if (iv[1] > iv[0]) lo = min(lo, iv[0]), hi = max(hi, iv[1]);
            if (iv[3] > iv[2]) lo = min(lo, iv[2]), hi = max(hi, iv[3]);
        }
        for (int o = 16; o > 0; o >>= 1) {
            lo = min(lo, (int64_t)__shfl_xor_sync(0xffffffffu, (long long)lo, o));
            hi = max(hi, (int64_t)__shfl_xor_sync(0xffffffffu, (long long)hi, o));
        }
        if (lane == 0) {
            sRange[0] = lo;
            sRange[1] = hi;
        }
    }
    __syncthreads();
    const int64_t kbeg = sRange[0], kend = sRange[1];

    /* softmax state of row `row` (two lanes per row, each owning half the tile's columns) */
    const int row = warp * 16 + (lane >> 1), half = lane & 1, HC = TC_BK / 2;
    const int64_t iv0 = sIv[row * 4], iv1 = sIv[row * 4 + 1], iv2 = sIv[row * 4 + 2],
                  iv3 = sIv[row * 4 + 3];
    float m_run = -INFINITY, l_run = 0.0f;

    for (int64_t t0 = kbeg; t0 < kend; t0 += TC_BK) {
        int nk = (int)(kend - t0 < TC_BK ? kend - t0 : TC_BK);
        tc_load(sK, L.ldq, a.k + t0 * a.ks0 + hk * a.ks1, a.ks0, nk, TC_BK, d, a.vk);
        tc_load(sV, L.ldv, a.v + t0 * a.vs0 + hk * a.vs1, a.vs0, nk, TC_BK, dv, a.vv);
        __syncthreads();

        /* S (16 x 64 per warp) = Q K^T */
        for (int j = 0; j < TC_BK / 16; j++) {
            wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
            wmma::fill_fragment(acc, 0.0f);
            for (int kk = 0; kk < d / 16; kk++) {
                wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major> fa;
                wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::col_major> fb;
                wmma::load_matrix_sync(fa, sQ + warp * 16 * L.ldq + kk * 16, L.ldq);
                wmma::load_matrix_sync(fb, sK + j * 16 * L.ldq + kk * 16, L.ldq);
                wmma::mma_sync(acc, fa, fb, acc);
            }
            wmma::store_matrix_sync(sS + warp * 16 * L.lds + j * 16, acc, L.lds, wmma::mem_row_major);
        }
        __syncwarp();

        /* online softmax over this tile for the row; P in bf16 */
        float *srow = sS + row * L.lds + half * HC;
        float mx = -INFINITY;
#pragma unroll
        for (int c = 0; c < HC; c++) {
            int64_t key = t0 + half * HC + c;
            float sc = srow[c] * a.scale;
            if (a.softcap > 0.0f) sc = a.softcap * tanhf(sc / a.softcap);
            bool vis = key < kend && ((iv0 <= key && key < iv1) || (iv2 <= key && key < iv3));
            if (!vis) sc = -INFINITY;
            srow[c] = sc;
            mx = fmaxf(mx, sc);
        }
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
        float m_new = fmaxf(m_run, mx);
        float corr = m_new == -INFINITY ? 1.0f : expf(m_run - m_new), sum = 0.0f;
        bf16 *prow = sP + row * L.ldp + half * HC;
#pragma unroll
        for (int c = 0; c < HC; c++) {
            float p = m_new == -INFINITY ? 0.0f : expf(srow[c] - m_new);
            sum += p;
            prow[c] = __float2bfloat16_rn(p);
        }
        sum += __shfl_xor_sync(0xffffffffu, sum, 1);
        l_run = l_run * corr + sum;
        m_run = m_new;
        float *orow = sO + row * L.ldo;
        if (corr != 1.0f)
            for (int c = half; c < dv; c += 2)
                orow[c] *= corr;
        __syncwarp();

        /* O (16 x dv per warp) += P V */
        for (int n = 0; n < dv / 16; n++) {
            wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
            wmma::load_matrix_sync(acc, sO + warp * 16 * L.ldo + n * 16, L.ldo, wmma::mem_row_major);
            for (int kk = 0; kk < TC_BK / 16; kk++) {
                wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major> fa;
                wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::row_major> fb;
                wmma::load_matrix_sync(fa, sP + warp * 16 * L.ldp + kk * 16, L.ldp);
                wmma::load_matrix_sync(fb, sV + kk * 16 * L.ldv + n * 16, L.ldv);
                wmma::mma_sync(acc, fa, fb, acc);
            }
            wmma::store_matrix_sync(sO + warp * 16 * L.ldo + n * 16, acc, L.ldo, wmma::mem_row_major);
        }
        __syncthreads(); /* the next tile overwrites sK / sV */
    }

    /* out = O / sum for the block's valid rows (a row that saw no key gets zeros) */
    __syncwarp();
    if (row < nq) {
        float inv = l_run > 0.0f ? 1.0f / l_run : 0.0f;
        float *dst = (float *)(a.out + (i0 + row) * a.os0 + h * a.os1);
        const float *orow = sO + row * L.ldo;
        for (int c = half; c < dv; c += 2)
            dst[c] = orow[c] * inv;
    }
}

bool cuda_attention_tc(vlm_ctx *ctx, const att_args *a, vlm_status *st) {
    const cuda_dev *dev = cuda_dev_of(ctx);
    if (!ctx->bf16_compute || a->kv_len || a->sq < 16 || a->d % 16 || a->dv % 16 ||
        a->d > TC_MAX_D || a->dv > TC_MAX_D || dev->cc_major < 8)
        return false;
    tc_layout L = tc_layout_of((int)a->d, (int)a->dv);
    if (L.total > dev->smem_optin) return false;
    int64_t blocks = a->hq * ((a->sq + TC_BR - 1) / TC_BR);
    if (blocks > INT_MAX) return false;
    *st = cuda_check(ctx, "attention",
                     cudaFuncSetAttribute((const void *)att_tc_kernel,
                                          cudaFuncAttributeMaxDynamicSharedMemorySize,
                                          (int)L.total));
    if (*st != VLM_OK) return true;
    att_tc_kernel<<<(unsigned)blocks, TC_WARPS * 32, L.total, cuda_stream(ctx)>>>(*a);
    *st = cuda_check_launch(ctx, "attention");
    return true;
}
