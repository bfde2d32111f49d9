/* CUDA prefill attention on the tensor cores (FlashAttention-2 style), used when the context
 * allows bf16 compute (vlm_ctx.bf16_compute) for calls with more than 4 queries
 * (attention.cu's cuda_attention hands them over; VLM_CUDA_FLASH=0 keeps its f32 kernel).
 *
 * A block of 4 warps takes 64 consecutive queries of one head; each warp owns 16 of them and
 * keeps everything about them in registers: Q as bf16 mma A fragments [D16/16][4], the scores
 * of one key tile S [BK/8][4] (f32 accumulators of mma m16n8k16), the running row max and
 * sum, and O [D16/8][4] (f32). The block walks the keys that some of its rows see in tiles of
 * BK. Per tile: the block rounds the tile's K and V rows to bf16 into shared memory (rows of
 * D16 + 8 bf16, an odd number of 16-byte words, so ldmatrix is conflict-free); each warp
 * computes S = Q K^T (K fragments by ldmatrix), scales / softcaps / masks the accumulators,
 * runs the online softmax with the row max and sum reduced over the 4 lanes of a row (quad
 * shuffles), and adds P V with P rounded to bf16 in registers as the A operand: the C
 * fragment of two adjacent 8-key score tiles is exactly the A fragment of one 16-key step
 * (mma.cuh layouts); V fragments come from ldmatrix.trans. The f32 rows of the next tile are
 * fetched into registers (16-byte loads where the views allow) before this tile is used, so
 * their latency hides behind the products.
 *
 * Masks are the f32 kernel's (attention.cuh): each row's base and span intervals, computed
 * in the kernel (causal, window, q_pos0) or read from the host's upload (segments, spans); a
 * warp skips a tile none of its rows sees and masks only tiles its rows see in part. Head
 * dims D == Dv <= 128, zero padded to D16 = 16 * ceil(D / 16); BK = 64 keys for D <= 80, 32
 * above (registers). Precision: q, k, v and P rounded to bf16 (8 significant bits), products
 * and sums in f32. Measured on an H100 (bench/qwen2_vl/RESULTS_CUDA.md): 3.7x the f32 kernel
 * on the Qwen2.5-VL-3B vision tower, 4x on its text prefill. */
#include <limits.h>

#include "tensor/cuda/attention.cuh"
#include "tensor/cuda/mma.cuh"

#define FA_WARPS 4
#define FA_BR (FA_WARPS * 16) /* query rows per block */
#define FA_LOG2E 1.4426950408889634f

/* Up to 4 consecutive floats at p (left of them remain in the row), zeros past the row:
 * one 16-byte load when rows are 16-byte aligned (vec). */
__device__ __forceinline__ float4 fa_load4(const float *p, bool vec, int left) {
    if (vec) return __ldg((const float4 *)p);
    float4 v = make_float4(p[0], 0.0f, 0.0f, 0.0f);
    if (left > 1) v.y = p[1];
    if (left > 2) v.z = p[2];
    if (left > 3) v.w = p[3];
    return v;
}

template <int DK, int BK>
__global__ void __launch_bounds__(FA_WARPS * 32, 1) fa_kernel(att_args a) {
    constexpr int D16 = DK * 16, LD = D16 + 8, NT = BK / 8, C4 = D16 / 4;
    constexpr int PER = BK * C4 / (FA_WARPS * 32); /* float4 chunks per thread per matrix */
    __shared__ __align__(16) uint16_t sK[BK * LD], sV[BK * LD];
    __shared__ int64_t sRange[FA_WARPS][2];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, g = lane >> 2, t = lane & 3;
    const int64_t h = blockIdx.y;
    const int64_t qb = (int64_t)gridDim.x - 1 - blockIdx.x; /* late (causal: longest) first */
    const int64_t r0 = qb * FA_BR + warp * 16;              /* the warp's first query */
    const int D = (int)a.d;

    /* This thread's rows g and g + 8 of the warp: validity and visible intervals; the
     * block's key range is the union of its rows'. */
    int64_t iv[2][4];
    bool rv[2];
#pragma unroll
    for (int r = 0; r < 2; r++) {
        int64_t i = r0 + g + 8 * r;
        rv[r] = i < a.sq;
        if (rv[r]) {
            row_interval(a, i, iv[r]);
        } else {
            iv[r][0] = iv[r][1] = iv[r][2] = iv[r][3] = 0;
        }
    }
    {
        int64_t lo = a.sk, hi = 0;
#pragma unroll
        for (int r = 0; r < 2; r++)
#pragma unroll
            for (int c = 0; c < 4; c += 2)
                if (iv[r][c + 1] > iv[r][c]) {
                    lo = min(lo, iv[r][c]);
                    hi = max(hi, iv[r][c + 1]);
                }
        for (int o = 16; o > 0; o >>= 1) {
            lo = min(lo, (int64_t)__shfl_xor_sync(0xffffffffu, (long long)lo, o));
            hi = max(hi, (int64_t)__shfl_xor_sync(0xffffffffu, (long long)hi, o));
        }
        if (lane == 0) {
            sRange[warp][0] = lo;
            sRange[warp][1] = hi;
        }
    }
    /* Q fragments: qa[kk] covers dims 16kk .. 16kk + 15 of rows g (e = 0, 2) and g + 8. */
    uint32_t qa[DK][4];
    {
        const float *qr[2];
#pragma unroll
        for (int r = 0; r < 2; r++)
            qr[r] = (const float *)(a.q + (rv[r] ? r0 + g + 8 * r : 0) * a.qs0 + h * a.qs1);
#pragma unroll
        for (int kk = 0; kk < DK; kk++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                int r = e & 1, c = kk * 16 + 2 * t + 8 * (e >> 1);
                float x0 = rv[r] && c < D ? qr[r][c] : 0.0f;
                float x1 = rv[r] && c + 1 < D ? qr[r][c + 1] : 0.0f;
                qa[kk][e] = pack_bf16x2(x0, x1);
            }
    }
    __syncthreads();
    int64_t kbeg = a.sk, kend = 0;
#pragma unroll
    for (int w = 0; w < FA_WARPS; w++) {
        kbeg = min(kbeg, sRange[w][0]);
        kend = max(kend, sRange[w][1]);
    }
    const int ntiles = kend > kbeg ? (int)((kend - kbeg + BK - 1) / BK) : 0;
    const int64_t kvh = h / a.group;
    const char *kbase = a.k + kvh * a.ks1, *vbase = a.v + kvh * a.vs1;

    /* Chunk p of this thread: row (tid + p * threads) / C4, columns 4 * (... % C4) + 0..3;
     * columns past D and rows past the tile's keys are zeros (P is 0 there and 0 * NaN is
     * not). */
    float4 kr[PER], vr[PER];
    auto fetch = [&](int j) {
        int64_t kt = kbeg + (int64_t)j * BK;
        int n = (int)min((int64_t)BK, kend - kt);
#pragma unroll
        for (int p = 0; p < PER; p++) {
            int e = threadIdx.x + p * FA_WARPS * 32, r = e / C4, c = 4 * (e % C4);
            float4 z = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
            kr[p] = z;
            vr[p] = z;
            if (r < n && c < D) {
                const float *kp = (const float *)(kbase + (kt + r) * a.ks0) + c;
                const float *vp = (const float *)(vbase + (kt + r) * a.vs0) + c;
                kr[p] = fa_load4(kp, a.vk, D - c);
                vr[p] = fa_load4(vp, a.vv, D - c);
            }
        }
    };
    auto store = [&]() {
#pragma unroll
        for (int p = 0; p < PER; p++) {
            int e = threadIdx.x + p * FA_WARPS * 32, r = e / C4, c = 4 * (e % C4);
            *(uint2 *)(sK + r * LD + c) =
                make_uint2(pack_bf16x2(kr[p].x, kr[p].y), pack_bf16x2(kr[p].z, kr[p].w));
            *(uint2 *)(sV + r * LD + c) =
                make_uint2(pack_bf16x2(vr[p].x, vr[p].y), pack_bf16x2(vr[p].z, vr[p].w));
        }
    };

    float o[2 * DK][4], m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};
#pragma unroll
    for (int nd = 0; nd < 2 * DK; nd++)
#pragma unroll
        for (int e = 0; e < 4; e++)
            o[nd][e] = 0.0f;
    const float sl2 = a.scale * FA_LOG2E;
    /* ldmatrix row addresses of this lane: K tiles (keys +8 for lanes 16..31, dims +8 for
     * lanes 8..15 / 24..31), V tiles transposed (keys +8 for lanes 8..15 / 24..31, dims +8
     * for lanes 16..31). */
    const uint16_t *kl = sK + ((lane >> 4) * 8 + (lane & 7)) * LD + ((lane >> 3) & 1) * 8;
    const uint16_t *vl = sV + (((lane >> 3) & 1) * 8 + (lane & 7)) * LD + (lane >> 4) * 8;

    if (ntiles > 0) fetch(0);
    for (int j = 0; j < ntiles; j++) {
        store();
        __syncthreads();
        if (j + 1 < ntiles) fetch(j + 1); /* in flight during this tile's products */
        const int64_t kt = kbeg + (int64_t)j * BK;
        const int n = (int)min((int64_t)BK, kend - kt);
        /* The rows' intervals relative to the tile, clipped to its n keys. */
        int lo[2][2], hi[2][2];
        bool any = false, full = true;
#pragma unroll
        for (int r = 0; r < 2; r++) {
            bool fr = !rv[r];
#pragma unroll
            for (int c = 0; c < 2; c++) {
                lo[r][c] = (int)max((int64_t)0, min(iv[r][2 * c] - kt, (int64_t)n));
                hi[r][c] = (int)max((int64_t)lo[r][c], min(iv[r][2 * c + 1] - kt, (int64_t)n));
                any |= hi[r][c] > lo[r][c];
                fr |= lo[r][c] == 0 && hi[r][c] == BK;
            }
            full &= fr;
        }
        if (__any_sync(0xffffffffu, any)) {
            full = __all_sync(0xffffffffu, full);
            float s[NT][4];
#pragma unroll
            for (int nt = 0; nt < NT; nt++)
#pragma unroll
                for (int e = 0; e < 4; e++)
                    s[nt][e] = 0.0f;
#pragma unroll
            for (int kk = 0; kk < DK; kk++)
#pragma unroll
                for (int nt = 0; nt < NT; nt += 2) {
                    uint32_t b[4]; /* key tiles nt, nt + 1 x dims 16kk .. 16kk + 15 */
                    ldmatrix_x4(b, kl + nt * 8 * LD + kk * 16);
                    mma_bf16_16816(s[nt], qa[kk], b);
                    mma_bf16_16816(s[nt + 1], qa[kk], b + 2);
                }
                /* Scores in log2 units, masked; element e of tile nt is row g + 8 (e >> 1), key
                 * nt*8 + 2t + (e & 1). */
#pragma unroll
            for (int nt = 0; nt < NT; nt++)
#pragma unroll
                for (int e = 0; e < 4; e++) {
                    int r = e >> 1, c = nt * 8 + 2 * t + (e & 1);
                    float x = s[nt][e];
                    if (a.softcap > 0.0f)
                        x = a.softcap * tanhf(x * a.scale / a.softcap) * FA_LOG2E;
                    else
                        x *= sl2;
                    if (!full &&
                        !((lo[r][0] <= c && c < hi[r][0]) || (lo[r][1] <= c && c < hi[r][1])))
                        x = -INFINITY;
                    s[nt][e] = x;
                }
#pragma unroll
            for (int r = 0; r < 2; r++) {
                float mx = -INFINITY;
#pragma unroll
                for (int nt = 0; nt < NT; nt++)
                    mx = fmaxf(mx, fmaxf(s[nt][2 * r], s[nt][2 * r + 1]));
                mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
                mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
                float mn = fmaxf(m[r], mx);
                float mu = mn == -INFINITY ? 0.0f : mn; /* nothing seen yet: p = 0, no NaN */
                float alpha = exp2f(m[r] - mu), sum = 0.0f;
#pragma unroll
                for (int nt = 0; nt < NT; nt++)
#pragma unroll
                    for (int e = 2 * r; e < 2 * r + 2; e++) {
                        float p = exp2f(s[nt][e] - mu);
                        s[nt][e] = p;
                        sum += p;
                    }
                l[r] = l[r] * alpha + sum; /* this lane's columns; quad-summed at the end */
                m[r] = mn;
#pragma unroll
                for (int nd = 0; nd < 2 * DK; nd++) {
                    o[nd][2 * r] *= alpha;
                    o[nd][2 * r + 1] *= alpha;
                }
            }
            /* O += P V, 16 keys per step: A = score tiles 2kk, 2kk + 1 rounded to bf16. */
#pragma unroll
            for (int kk = 0; kk < BK / 16; kk++) {
                uint32_t pa[4] = {pack_bf16x2(s[2 * kk][0], s[2 * kk][1]),
                                  pack_bf16x2(s[2 * kk][2], s[2 * kk][3]),
                                  pack_bf16x2(s[2 * kk + 1][0], s[2 * kk + 1][1]),
                                  pack_bf16x2(s[2 * kk + 1][2], s[2 * kk + 1][3])};
#pragma unroll
                for (int nd = 0; nd < 2 * DK; nd += 2) {
                    uint32_t b[4]; /* keys 16kk .. 16kk + 15 x dim tiles nd, nd + 1 */
                    ldmatrix_x4_trans(b, vl + kk * 16 * LD + nd * 8);
                    mma_bf16_16816(o[nd], pa, b);
                    mma_bf16_16816(o[nd + 1], pa, b + 2);
                }
            }
        }
        __syncthreads(); /* the next store overwrites the tile */
    }

    /* Normalized rows (zeros for a row that saw no key). */
#pragma unroll
    for (int r = 0; r < 2; r++) {
        float lr = l[r];
        lr += __shfl_xor_sync(0xffffffffu, lr, 1);
        lr += __shfl_xor_sync(0xffffffffu, lr, 2);
        if (!rv[r]) continue;
        float inv = lr > 0.0f ? 1.0f / lr : 0.0f;
        float *dst = (float *)(a.out + (r0 + g + 8 * r) * a.os0 + h * a.os1);
#pragma unroll
        for (int nd = 0; nd < 2 * DK; nd++) {
            int c = nd * 8 + 2 * t;
            if (c < D) dst[c] = o[nd][2 * r] * inv;
            if (c + 1 < D) dst[c + 1] = o[nd][2 * r + 1] * inv;
        }
    }
}

typedef void (*fa_fn)(att_args);

/* The kernel for DK = ceil(D / 16) (with its key tile). */
static fa_fn fa_pick(int dk) {
    switch (dk) {
    case 1:
        return fa_kernel<1, 64>;
    case 2:
        return fa_kernel<2, 64>;
    case 3:
        return fa_kernel<3, 64>;
    case 4:
        return fa_kernel<4, 64>;
    case 5:
        return fa_kernel<5, 64>;
    case 6:
        return fa_kernel<6, 32>;
    case 7:
        return fa_kernel<7, 32>;
    default:
        return fa_kernel<8, 32>;
    }
}

bool cuda_flash_usable(const vlm_ctx *ctx, const cuda_dev *dev, const att_args *a) {
    if (!ctx->bf16_compute || !dev->flash || dev->cc_major < 8) return false;
    return !a->kv_len && a->sq > 4 && a->d == a->dv && a->d >= 1 && a->d <= 128 && a->hq <= 65535 &&
           (a->sq + FA_BR - 1) / FA_BR <= INT_MAX;
}

vlm_status cuda_flash_attention(vlm_ctx *ctx, const cuda_dev *dev, const att_args *a) {
    (void)dev;
    dim3 grid((unsigned)((a->sq + FA_BR - 1) / FA_BR), (unsigned)a->hq);
    fa_pick((int)((a->d + 15) / 16))<<<grid, FA_WARPS * 32, 0, cuda_stream(ctx)>>>(*a);
    return cuda_check_launch(ctx, "attention");
}
