/* CUDA prefill attention on the tensor cores (FlashAttention-2 style), used when the context
 * allows bf16 compute (vlm_ctx.bf16_compute) for calls with more than 4 queries.
 *
 * A block of 4 warps takes 64 consecutive queries of one head; each warp owns 16 of them and
 * keeps everything about them in registers: Q as bf16 mma A fragments [D/16][4], the scores
 * of one key tile S [BK/8][4] (f32 accumulators of mma m16n8k16), the running row max and sum,
 * and O [D/8][4] (f32). The block walks the keys that some of its rows see in tiles of BK:
 * K and V rows are copied f32 into shared memory with cp.async, two tiles in flight (the next
 * tile loads while this one is used). Per tile and warp: S = Q K^T (K fragments read as f32
 * pairs from shared memory and rounded to bf16), scale / softcap / mask on the accumulators,
 * online softmax with the row max and sum reduced over the 4 lanes of a row (quad shuffles),
 * then P rounded to bf16 in registers is the A operand of O += P V: the C fragment of two
 * adjacent 8-key score tiles is exactly the A fragment of one 16-key step (mma.cuh layouts).
 * Masks are the f32 kernel's (attention.cuh): each row's base and span intervals, computed
 * in the kernel (causal, window, q_pos0) or read from the host's upload (segments, spans);
 * a warp skips a tile none of its rows sees and masks only tiles its rows see in part.
 *
 * Shared-memory rows are padded so the fragment reads hit distinct banks: K rows hold D16 + 8
 * floats (a lane reads the pair (key g, dims 2t..2t+1): 4 rows of 8 words per half warp),
 * V rows D16 + 4 (a lane reads keys 2t, 2t+1 of dim g). Head dims D == Dv <= 128 (zero
 * padded to D16 = 16 * ceil(D / 16)); BK = 64 keys for D <= 80 (two 88 KB-budget blocks per
 * SM), 32 above. Precision: q, k, v and P rounded to bf16 (8 significant bits), products and
 * sums in f32. */
#include <limits.h>

#include "tensor/cuda/attention.cuh"
#include "tensor/cuda/mma.cuh"

#define FA_WARPS 4
#define FA_BR (FA_WARPS * 16) /* query rows per block */
#define FA_LOG2E 1.4426950408889634f

template <int DK, int BK> __global__ void __launch_bounds__(FA_WARPS * 32) fa_kernel(att_args a) {
    constexpr int D16 = DK * 16, LDK = D16 + 8, LDV = D16 + 4, NT = BK / 8;
    extern __shared__ float4 fa_smem[];
    float *sK = (float *)fa_smem;  /* [2][BK][LDK] */
    float *sV = sK + 2 * BK * LDK; /* [2][BK][LDV] */
    __shared__ int64_t sRange[FA_WARPS][2];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, g = lane >> 2, t = lane & 3;
    const int64_t h = blockIdx.y;
    const int64_t qb = (int64_t)gridDim.x - 1 - blockIdx.x; /* late (causal: longest) first */
    const int64_t r0 = qb * FA_BR + warp * 16;              /* the warp's first query */
    const int D = (int)a.d;

    /* This thread's rows g and g + 8 of the warp: validity and visible intervals. */
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

    /* Q fragments: a[kk] covers dims 16kk .. 16kk + 15 of rows g (a[0], a[2]) and g + 8. */
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

    /* Queues tile j into buffer j % 2; rows past the keys become zeros (P is 0 there, and
     * 0 * garbage could be NaN). */
    auto load = [&](int j) {
        int64_t kt = kbeg + (int64_t)j * BK;
        int n = (int)min((int64_t)BK, kend - kt);
        float *k = sK + (j & 1) * BK * LDK, *v = sV + (j & 1) * BK * LDV;
        load_rows<FA_WARPS>(k, LDK, kbase + kt * a.ks0, a.ks0, n, D, D16, a.vk);
        load_rows<FA_WARPS>(v, LDV, vbase + kt * a.vs0, a.vs0, n, D, D16, a.vv);
        for (int e = threadIdx.x; e < (BK - n) * D16; e += FA_WARPS * 32) {
            int rr = n + e / D16, c = e % D16;
            k[rr * LDK + c] = 0.0f;
            v[rr * LDV + c] = 0.0f;
        }
        __pipeline_commit();
    };

    float o[2 * DK][4], m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};
#pragma unroll
    for (int nd = 0; nd < 2 * DK; nd++)
#pragma unroll
        for (int e = 0; e < 4; e++)
            o[nd][e] = 0.0f;
    const float sl2 = a.scale * FA_LOG2E;

    if (ntiles > 0) load(0);
    for (int j = 0; j < ntiles; j++) {
        if (j + 1 < ntiles) {
            load(j + 1);
            __pipeline_wait_prior(1);
        } else {
            __pipeline_wait_prior(0);
        }
        __syncthreads();
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
            const float *K = sK + (j & 1) * BK * LDK, *V = sV + (j & 1) * BK * LDV;
            float s[NT][4];
#pragma unroll
            for (int nt = 0; nt < NT; nt++)
#pragma unroll
                for (int e = 0; e < 4; e++)
                    s[nt][e] = 0.0f;
                    /* S = Q K^T: B fragment of key tile nt = K rows nt*8 + g, dims 2t.. / 2t+8.. */
#pragma unroll
            for (int kk = 0; kk < DK; kk++)
#pragma unroll
                for (int nt = 0; nt < NT; nt++) {
                    const float *kr = K + (nt * 8 + g) * LDK + kk * 16 + 2 * t;
                    float2 x = *(const float2 *)kr, y = *(const float2 *)(kr + 8);
                    uint32_t b[2] = {pack_bf16x2(x.x, x.y), pack_bf16x2(y.x, y.y)};
                    mma_bf16_16816(s[nt], qa[kk], b);
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
                /* Online softmax per row (the 4 lanes of a row hold its 2 * NT columns each). */
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
                l[r] =
                    l[r] * alpha + sum; /* this lane's columns; summed over the quad at the end */
                m[r] = mn;
#pragma unroll
                for (int nd = 0; nd < 2 * DK; nd++) {
                    o[nd][2 * r] *= alpha;
                    o[nd][2 * r + 1] *= alpha;
                }
            }
            /* O += P V, 16 keys per step: A = score tiles 2kk, 2kk + 1 as bf16; B of dim tile
             * nd = V rows 16kk + 2t, +1 / +8, +9 of dim nd*8 + g. */
#pragma unroll
            for (int kk = 0; kk < BK / 16; kk++) {
                uint32_t pa[4] = {pack_bf16x2(s[2 * kk][0], s[2 * kk][1]),
                                  pack_bf16x2(s[2 * kk][2], s[2 * kk][3]),
                                  pack_bf16x2(s[2 * kk + 1][0], s[2 * kk + 1][1]),
                                  pack_bf16x2(s[2 * kk + 1][2], s[2 * kk + 1][3])};
#pragma unroll
                for (int nd = 0; nd < 2 * DK; nd++) {
                    const float *vr = V + (kk * 16 + 2 * t) * LDV + nd * 8 + g;
                    uint32_t b[2] = {pack_bf16x2(vr[0], vr[LDV]),
                                     pack_bf16x2(vr[8 * LDV], vr[9 * LDV])};
                    mma_bf16_16816(o[nd], pa, b);
                }
            }
        }
        __syncthreads(); /* the next iteration's load overwrites this buffer */
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

/* The same computation with K and V rounded to bf16 once per tile, by the whole block, into
 * shared rows of D16 + 8 bf16 (an odd number of 16-byte words: ldmatrix conflict-free), and
 * read as fragments with ldmatrix (K) and ldmatrix.trans (V): per mma half an ldmatrix instead
 * of 2-4 shared loads and 2 roundings in every warp. The f32 rows of the next tile are
 * fetched into registers (16-byte loads, the chunk index arithmetic compile-time) before this
 * tile is used, so their latency hides behind the products. */
template <int DK, int BK, bool PF>
__global__ void __launch_bounds__(FA_WARPS * 32, PF ? 1 : 3) fb_kernel(att_args a) {
    constexpr int D16 = DK * 16, LD = D16 + 8, NT = BK / 8, C4 = D16 / 4;
    constexpr int PER = BK * C4 / (FA_WARPS * 32); /* float4 chunks per thread per matrix */
    __shared__ __align__(16) uint16_t sK[BK * LD], sV[BK * LD];
    __shared__ int64_t sRange[FA_WARPS][2];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, g = lane >> 2, t = lane & 3;
    const int64_t h = blockIdx.y;
    const int64_t qb = (int64_t)gridDim.x - 1 - blockIdx.x;
    const int64_t r0 = qb * FA_BR + warp * 16;
    const int D = (int)a.d;

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
                if (a.vk) {
                    kr[p] = __ldg((const float4 *)kp);
                } else {
                    kr[p].x = kp[0];
                    if (c + 1 < D) kr[p].y = kp[1];
                    if (c + 2 < D) kr[p].z = kp[2];
                    if (c + 3 < D) kr[p].w = kp[3];
                }
                if (a.vv) {
                    vr[p] = __ldg((const float4 *)vp);
                } else {
                    vr[p].x = vp[0];
                    if (c + 1 < D) vr[p].y = vp[1];
                    if (c + 2 < D) vr[p].z = vp[2];
                    if (c + 3 < D) vr[p].w = vp[3];
                }
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

    if (PF && ntiles > 0) fetch(0);
    for (int j = 0; j < ntiles; j++) {
        if (!PF) fetch(j);
        store();
        __syncthreads();
        if (PF && j + 1 < ntiles) fetch(j + 1);
        const int64_t kt = kbeg + (int64_t)j * BK;
        const int n = (int)min((int64_t)BK, kend - kt);
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
                    uint32_t b[4];
                    ldmatrix_x4(b, kl + nt * 8 * LD + kk * 16);
                    mma_bf16_16816(s[nt], qa[kk], b);
                    mma_bf16_16816(s[nt + 1], qa[kk], b + 2);
                }
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
                float mu = mn == -INFINITY ? 0.0f : mn;
                float alpha = exp2f(m[r] - mu), sum = 0.0f;
#pragma unroll
                for (int nt = 0; nt < NT; nt++)
#pragma unroll
                    for (int e = 2 * r; e < 2 * r + 2; e++) {
                        float p = exp2f(s[nt][e] - mu);
                        s[nt][e] = p;
                        sum += p;
                    }
                l[r] = l[r] * alpha + sum;
                m[r] = mn;
#pragma unroll
                for (int nd = 0; nd < 2 * DK; nd++) {
                    o[nd][2 * r] *= alpha;
                    o[nd][2 * r + 1] *= alpha;
                }
            }
#pragma unroll
            for (int kk = 0; kk < BK / 16; kk++) {
                uint32_t pa[4] = {pack_bf16x2(s[2 * kk][0], s[2 * kk][1]),
                                  pack_bf16x2(s[2 * kk][2], s[2 * kk][3]),
                                  pack_bf16x2(s[2 * kk + 1][0], s[2 * kk + 1][1]),
                                  pack_bf16x2(s[2 * kk + 1][2], s[2 * kk + 1][3])};
#pragma unroll
                for (int nd = 0; nd < 2 * DK; nd += 2) {
                    uint32_t b[4];
                    ldmatrix_x4_trans(b, vl + kk * 16 * LD + nd * 8);
                    mma_bf16_16816(o[nd], pa, b);
                    mma_bf16_16816(o[nd + 1], pa, b + 2);
                }
            }
        }
        __syncthreads(); /* the next store overwrites the tile */
    }

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

/* The kernel for DK = ceil(D / 16) and its key tile. */
static fa_fn fa_pick(int dk, int *bk) {
    *bk = dk <= 5 ? 64 : 32;
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

/* The same for the bf16-tile kernel (static shared memory only). */
template <bool PF> static fa_fn fb_pick(int dk) {
    switch (dk) {
    case 1:
        return fb_kernel<1, 64, PF>;
    case 2:
        return fb_kernel<2, 64, PF>;
    case 3:
        return fb_kernel<3, 64, PF>;
    case 4:
        return fb_kernel<4, 64, PF>;
    case 5:
        return fb_kernel<5, 64, PF>;
    case 6:
        return fb_kernel<6, 32, PF>;
    case 7:
        return fb_kernel<7, 32, PF>;
    default:
        return fb_kernel<8, 32, PF>;
    }
}

static size_t fa_smem_bytes(int dk, int bk) {
    return (size_t)2 * bk * (size_t)(2 * dk * 16 + 12) * sizeof(float);
}

bool cuda_flash_usable(const vlm_ctx *ctx, const cuda_dev *dev, const att_args *a) {
    if (!ctx->bf16_compute || !dev->flash || dev->cc_major < 8) return false;
    if (a->kv_len || a->sq <= 4 || a->d != a->dv || a->d < 1 || a->d > 128 || a->hq > 65535)
        return false;
    int bk, dk = (int)((a->d + 15) / 16);
    fa_pick(dk, &bk);
    return fa_smem_bytes(dk, bk) <= dev->smem_optin && (a->sq + FA_BR - 1) / FA_BR <= INT_MAX;
}

vlm_status cuda_flash_attention(vlm_ctx *ctx, const cuda_dev *dev, const att_args *a) {
    const char *op = "attention";
    int bk, dk = (int)((a->d + 15) / 16);
    fa_fn fn = fa_pick(dk, &bk);
    size_t smem = fa_smem_bytes(dk, bk);
    vlm_status st;
    dim3 grid((unsigned)((a->sq + FA_BR - 1) / FA_BR), (unsigned)a->hq);
    if (dev->flash == 2) {
        if (smem > 48 * 1024 &&
            (st = cuda_check(ctx, op,
                             cudaFuncSetAttribute((const void *)fn,
                                                  cudaFuncAttributeMaxDynamicSharedMemorySize,
                                                  (int)smem))) != VLM_OK)
            return st;
        fn<<<grid, FA_WARPS * 32, smem, cuda_stream(ctx)>>>(*a);
    } else {
        fa_fn f = dev->flash == 3 ? fb_pick<false>(dk) : fb_pick<true>(dk);
        f<<<grid, FA_WARPS * 32, 0, cuda_stream(ctx)>>>(*a);
    }
    return cuda_check_launch(ctx, op);
}
