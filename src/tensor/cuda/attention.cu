/* CUDA attention: a tiled online-softmax kernel (flash-attention style) in f32, with a
 * split-K variant for decode.
 *
 * A block computes a set of at most 32 query rows that share one kv head: 32 consecutive
 * queries of one head (prefill, 4 warps of 8 rows), or the Hq/Hkv heads of one query
 * (decode and other Sq <= 4 calls with GQA: one warp of 8 rows, so the keys are read once
 * for the whole group). It walks the keys that some of its rows can see in tiles of 32:
 * the tile of K and V goes to shared memory, each lane scores one key against the warp's
 * 8 rows (float4 reads of Q rows broadcast, K rows padded to an odd number of 16-byte
 * words so the lanes' reads hit distinct banks), the running max / sum are updated per
 * row with warp shuffles, and each lane accumulates the output columns lane, lane + 32, ...
 * of its warp's rows in registers (O += P V, P broadcast by shuffles).
 *
 * When there are fewer blocks than multiprocessors (decode, short prefill), the key axis is
 * also split across blocks (grid.y): each split writes its unnormalized output with its max
 * and sum to scratch, and a second kernel merges the splits (log-sum-exp rescaling).
 *
 * Masks follow ops.h. Without segments or spans each row's visible keys are one interval
 * computed in the kernel (causal, window, q_pos0); with them the host computes every
 * query's base and span intervals (the same rules) and uploads them. Scores: (q . k) *
 * scale, then softcap * tanh(score / softcap) when softcap > 0. A row that sees no key
 * gets zeros. Head dims up to 256. */
#include <cuda_pipeline.h>
#include <limits.h>
#include <stdlib.h>

#include "tensor/cuda/attention.cuh"

/* Queues the copy of `n` rows of `cols` floats (row r at base + r * stride bytes) into
 * shared rows of `ld` floats with cp.async, so every load of the tile is in flight at once
 * (a warp never waits for one load before issuing the next); columns cols..pad-1 become
 * zeros. The caller commits, waits and synchronizes the block. */
template <int WARPS>
__device__ __forceinline__ void load_rows(float *dst, int ld, const char *base, int64_t stride,
                                          int n, int cols, int pad, bool vec) {
    const int nt = WARPS * 32;
    int tid = threadIdx.x;
    if (vec) { /* cols % 4 == 0, 16-byte aligned rows */
        int c4 = cols / 4, total = n * c4;
        for (int e = tid; e < total; e += nt) {
            int r = e / c4, c = e - r * c4;
            __pipeline_memcpy_async(dst + r * ld + 4 * c, base + r * stride + 16 * (int64_t)c, 16);
        }
    } else {
        int total = n * cols;
        for (int e = tid; e < total; e += nt) {
            int r = e / cols, c = e - r * cols;
            __pipeline_memcpy_async(dst + r * ld + c, base + r * stride + 4 * (int64_t)c, 4);
        }
    }
    int padw = pad - cols;
    if (padw > 0)
        for (int e = tid; e < n * padw; e += nt) {
            int r = e / padw;
            dst[r * ld + cols + (e - r * padw)] = 0.0f;
        }
}

template <int WARPS, int DVC>
__global__ void __launch_bounds__(WARPS * 32, 8 / WARPS) att_kernel(att_args a) {
    const int BR = WARPS * ATT_RPW, VW = 32 * DVC;
    extern __shared__ float4 smem4[];
    float *sQ = (float *)smem4;
    float *sK = sQ + BR * a.ldq;
    float *sV = sK + ATT_BK * a.ldq;
    int64_t *sIv = (int64_t *)(sV + ATT_BK * VW);
    __shared__ int64_t sRange[2];
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    int64_t item = blockIdx.x;
    int d4 = (int)((a.d + 3) / 4) * 4;
    if (a.kv_len && (int)blockIdx.y >= dyn_splits(a)) return; /* a split past the cache */

    /* Query rows (a prefix of the item's rows is valid; rows are evenly strided) and their
     * intervals; the block's key range. */
    {
        int valid = 0;
        int64_t i0, h0, i1, h1;
        row_coords(a, item, BR, 0, &i0, &h0);
        for (int r = 0; r < BR; r++) {
            int64_t i, h;
            if (row_coords(a, item, BR, r, &i, &h)) valid = r + 1;
        }
        int64_t rstride = 0;
        if (valid > 1) {
            row_coords(a, item, BR, 1, &i1, &h1);
            rstride = (i1 - i0) * a.qs0 + (h1 - h0) * a.qs1;
        }
        load_rows<WARPS>(sQ, a.ldq, a.q + i0 * a.qs0 + h0 * a.qs1, rstride, valid, (int)a.d, a.ldq,
                         a.vq);
        for (int e = threadIdx.x; e < (BR - valid) * a.ldq; e += WARPS * 32)
            sQ[valid * a.ldq + e] = 0.0f;
        __pipeline_commit();
    }
    if (warp == 0) {
        int64_t iv[4] = {0, 0, 0, 0}, i, h;
        if (lane < BR && row_coords(a, item, BR, lane, &i, &h)) row_interval(a, i, iv);
        if (lane < BR)
            for (int c = 0; c < 4; c++)
                sIv[lane * 4 + c] = iv[c];
        int64_t lo = a.sk, hi = 0;
        if (iv[1] > iv[0]) {
            lo = iv[0];
            hi = iv[1];
        }
        if (iv[3] > iv[2]) {
            lo = min(lo, iv[2]);
            hi = max(hi, iv[3]);
        }
        for (int o = 16; o > 0; o >>= 1) {
            lo = min(lo, (int64_t)__shfl_xor_sync(0xffffffffu, (long long)lo, o));
            hi = max(hi, (int64_t)__shfl_xor_sync(0xffffffffu, (long long)hi, o));
        }
        if (lane == 0) {
            int64_t s0 = (int64_t)blockIdx.y * a.split_len, s1 = s0 + a.split_len;
            sRange[0] = max(lo, s0);
            sRange[1] = min(min(hi, s1), a.sk);
        }
    }
    __pipeline_wait_prior(0);
    __syncthreads();
    int64_t kbeg = sRange[0], kend = sRange[1];

    float o[ATT_RPW][DVC], m[ATT_RPW], l[ATT_RPW];
#pragma unroll
    for (int r = 0; r < ATT_RPW; r++) {
        m[r] = -INFINITY;
        l[r] = 0.0f;
#pragma unroll
        for (int c = 0; c < DVC; c++)
            o[r][c] = 0.0f;
    }
    int64_t g = 0;
    {
        int64_t i, h;
        row_coords(a, item, BR, 0, &i, &h); /* row 0 exists in every item */
        g = h / a.group;
    }
    const char *kbase = a.k + g * a.ks1, *vbase = a.v + g * a.vs1;
    const float *qrows = sQ + warp * ATT_RPW * a.ldq;
    const int64_t *myiv = sIv + warp * ATT_RPW * 4;

    for (int64_t kt = kbeg; kt < kend; kt += ATT_BK) {
        int n = (int)min((int64_t)ATT_BK, kend - kt);
        int hit = threadIdx.x < BR && iv_hits(sIv + threadIdx.x * 4, kt, kt + n);
        if (!__syncthreads_or(hit)) continue;
        load_rows<WARPS>(sK, a.ldq, kbase + kt * a.ks0, a.ks0, n, (int)a.d, d4, a.vk);
        load_rows<WARPS>(sV, VW, vbase + kt * a.vs0, a.vs0, n, (int)a.dv, (int)a.dv, a.vv);
        __pipeline_commit();
        __pipeline_wait_prior(0);
        __syncthreads();

        /* Scores of key kt + lane against the warp's rows. */
        float s[ATT_RPW];
#pragma unroll
        for (int r = 0; r < ATT_RPW; r++)
            s[r] = 0.0f;
        const float4 *kp = (const float4 *)(sK + lane * a.ldq);
        for (int c = 0; c < d4 / 4; c++) {
            float4 kv = kp[c];
#pragma unroll
            for (int r = 0; r < ATT_RPW; r++) {
                float4 qv = ((const float4 *)(qrows + r * a.ldq))[c];
                s[r] += qv.x * kv.x;
                s[r] += qv.y * kv.y;
                s[r] += qv.z * kv.z;
                s[r] += qv.w * kv.w;
            }
        }
        int64_t kj = kt + lane;
#pragma unroll
        for (int r = 0; r < ATT_RPW; r++) {
            float x = s[r] * a.scale;
            if (a.softcap > 0.0f) x = a.softcap * tanhf(x / a.softcap);
            if (lane >= n || !iv_has(myiv + r * 4, kj)) x = -INFINITY;
            float m_new = fmaxf(m[r], cu_warp_max(x));
            if (m_new == -INFINITY) { /* nothing visible yet */
                s[r] = 0.0f;
                continue;
            }
            float alpha = m[r] == -INFINITY ? 0.0f : expf(m[r] - m_new);
            float p = expf(x - m_new);
            l[r] = l[r] * alpha + cu_warp_sum(p);
            m[r] = m_new;
            s[r] = p;
#pragma unroll
            for (int c = 0; c < DVC; c++)
                o[r][c] *= alpha;
        }
        /* O += P V: key j's probabilities come from lane j. */
        for (int j = 0; j < n; j++) {
            float vv[DVC];
#pragma unroll
            for (int c = 0; c < DVC; c++)
                vv[c] = sV[j * VW + lane + 32 * c];
#pragma unroll
            for (int r = 0; r < ATT_RPW; r++) {
                float pj = __shfl_sync(0xffffffffu, s[r], j);
#pragma unroll
                for (int c = 0; c < DVC; c++)
                    o[r][c] += pj * vv[c];
            }
        }
        __syncthreads(); /* the next tile overwrites sK / sV */
    }

    /* Results: normalized rows, or this split's partial state. */
#pragma unroll
    for (int r = 0; r < ATT_RPW; r++) {
        int64_t i, h;
        if (!row_coords(a, item, BR, warp * ATT_RPW + r, &i, &h)) continue;
        int64_t rg = i * a.hq + h;
        if (a.n_split > 1) {
            float *po = a.part_o + ((int64_t)blockIdx.y * a.sq * a.hq + rg) * a.dv;
#pragma unroll
            for (int c = 0; c < DVC; c++)
                if (lane + 32 * c < a.dv) po[lane + 32 * c] = o[r][c];
            if (lane == 0) {
                float *pml = a.part_ml + ((int64_t)blockIdx.y * a.sq * a.hq + rg) * 2;
                pml[0] = m[r];
                pml[1] = l[r];
            }
        } else {
            float inv = l[r] > 0.0f ? 1.0f / l[r] : 0.0f;
            float *dst = (float *)(a.out + i * a.os0 + h * a.os1);
#pragma unroll
            for (int c = 0; c < DVC; c++)
                if (lane + 32 * c < a.dv) dst[lane + 32 * c] = o[r][c] * inv;
        }
    }
}

/* Merges the splits of every (query, head) row: one block per row. Warp 0 turns the
 * splits' maxima and sums into weights exp(m_s - max) in shared memory; then each thread
 * sums one output column over the splits (independent loads, several in flight: a decode
 * step's 16 rows finish in one round of loads instead of a chain per column). */
__global__ void att_combine_kernel(att_args a) {
    extern __shared__ float w[]; /* [n_split] */
    __shared__ float s_inv;
    cu_pdl_wait();
    cu_pdl_trigger();
    const int64_t rows = a.sq * a.hq, rg = blockIdx.x;
    const int ns = dyn_splits(a); /* with kv_len: only the splits that held keys wrote */
    if (threadIdx.x < 32) {
        int lane = threadIdx.x;
        const float *ml = a.part_ml + rg * 2;
        float mx = -INFINITY;
        for (int s = lane; s < ns; s += 32)
            mx = fmaxf(mx, ml[s * rows * 2]);
        mx = cu_warp_max(mx);
        float lsum = 0.0f;
        for (int s = lane; s < ns; s += 32) {
            float ms = ml[s * rows * 2];
            float ws = (ms == -INFINITY || mx == -INFINITY) ? 0.0f : expf(ms - mx);
            w[s] = ws;
            lsum += ml[s * rows * 2 + 1] * ws;
        }
        lsum = cu_warp_sum(lsum);
        if (lane == 0) s_inv = lsum > 0.0f ? 1.0f / lsum : 0.0f;
    }
    __syncthreads();
    int64_t i = rg / a.hq, h = rg % a.hq;
    float *dst = (float *)(a.out + i * a.os0 + h * a.os1);
    const float *po = a.part_o + rg * a.dv;
    for (int64_t c = threadIdx.x; c < a.dv; c += blockDim.x) {
        float acc = 0.0f;
#pragma unroll 8
        for (int s = 0; s < ns; s++)
            acc += po[s * rows * a.dv + c] * w[s];
        dst[c] = acc * s_inv;
    }
}

/* Queues the merge of a's splits for its `rows` (query, head) rows. */
static void att_combine(vlm_ctx *ctx, const att_args *a, int64_t rows) {
    int threads = (int)((a->dv + 31) / 32 * 32);
    if (threads > 256) threads = 256;
    cudaError_t e = cuda_launch(ctx, att_combine_kernel, dim3((unsigned)rows), dim3(threads),
                                (size_t)a->n_split * sizeof(float), *a);
    if (e != cudaSuccess) cuda_check(ctx, "attention", e);
}

/* ------------------------------------------------------------ decode */

#define DEC_WARPS 4
#define DEC_MAX_D 128
#define DEC_KB 4 /* keys per warp per round of loads */

/* One query (decode) whose GQA group of G <= GM heads shares a kv head, head dims <= 128
 * and multiples of 4, no segments or spans. Block (kv head, split), 4 warps; warp w takes
 * keys s0 + 4w .. s0 + 4w + 3, then the next 16: each lane holds 4 consecutive dims of a key and
 * value row (one coalesced 16-byte load each, so a row is read once for all G heads), the G dot
 * products are summed across the warp, and each warp keeps an online softmax and O for
 * the G heads in registers (keys come DEC_KB at a time per warp). The warps merge through shared
 * memory (log-sum-exp), then the block writes its split's partial state (the combine kernel merges
 * splits) or, unsplit, the normalized rows. The general kernel scores one key per lane for 8 rows:
 * for one query it leaves most lanes' work idle and runs one warp per block. */
template <int GM> __global__ void __launch_bounds__(DEC_WARPS * 32) att_decode_kernel(att_args a) {
    __shared__ float4 sq[GM][DEC_MAX_D / 4];
    __shared__ float sm[DEC_WARPS][GM], sl[DEC_WARPS][GM];
    __shared__ float4 so[DEC_WARPS][GM][DEC_MAX_D / 4];
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int64_t h = blockIdx.x;
    const int G = (int)a.group, d4 = (int)(a.d / 4), dv4 = (int)(a.dv / 4);
    const int ns = dyn_splits(a); /* kv_len comes from the host, not from a kernel */
    int64_t iv[4];
    row_interval(a, 0, iv);
    int64_t s0 = (int64_t)blockIdx.y * a.split_len, s1 = s0 + a.split_len;
    if (s0 < iv[0]) s0 = iv[0];
    if (s1 > iv[1]) s1 = iv[1];
    if (s1 > a.sk) s1 = a.sk;
    /* Rows before the newest were stored by earlier steps: into L2 while the previous kernel
     * (which writes q and the newest row) finishes. */
    for (int64_t j = s0 + (threadIdx.x >> 1); j < s1 - 1; j += DEC_WARPS * 16) {
        const char *row =
            (threadIdx.x & 1) ? a.v + j * a.vs0 + h * a.vs1 : a.k + j * a.ks0 + h * a.ks1;
        for (int c = 0; c < a.d * 4; c += 128)
            cu_prefetch_l2(row + c);
    }
    cu_pdl_wait();
    cu_pdl_trigger();
    if ((int)blockIdx.y >= ns) return;
    for (int e = threadIdx.x; e < GM * (DEC_MAX_D / 4); e += DEC_WARPS * 32) {
        int g = e / (DEC_MAX_D / 4), c = e % (DEC_MAX_D / 4);
        float4 v = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
        if (g < G && c < d4) v = ((const float4 *)(a.q + (h * G + g) * a.qs1))[c];
        sq[g][c] = v;
    }
    __syncthreads();
    float m[GM], l[GM];
    float4 o[GM];
#pragma unroll
    for (int g = 0; g < GM; g++) {
        m[g] = -INFINITY;
        l[g] = 0.0f;
        o[g] = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    }
    const float4 zero = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    /* DEC_KB keys per warp per round: their K and V rows are all requested before the
     * first is used, so a round costs one memory latency, not DEC_KB. */
    for (int64_t j0 = s0 + warp * DEC_KB; j0 < s1; j0 += DEC_WARPS * DEC_KB) {
        float4 kk[DEC_KB], vv[DEC_KB];
#pragma unroll
        for (int t = 0; t < DEC_KB; t++) {
            int64_t j = j0 + t;
            bool ok = j < s1;
            kk[t] = ok && lane < d4 ? ((const float4 *)(a.k + j * a.ks0 + h * a.ks1))[lane] : zero;
            vv[t] = ok && lane < dv4 ? ((const float4 *)(a.v + j * a.vs0 + h * a.vs1))[lane] : zero;
        }
#pragma unroll
        for (int t = 0; t < DEC_KB; t++) {
            if (j0 + t >= s1) break;
#pragma unroll
            for (int g = 0; g < GM; g++) {
                if (g < G) {
                    float4 q = sq[g][lane];
                    float sc = q.x * kk[t].x + q.y * kk[t].y + q.z * kk[t].z + q.w * kk[t].w;
                    sc = cu_warp_sum(sc) * a.scale;
                    if (a.softcap > 0.0f) sc = a.softcap * tanhf(sc / a.softcap);
                    float mn = fmaxf(m[g], sc), c = expf(m[g] - mn), p = expf(sc - mn);
                    l[g] = l[g] * c + p;
                    o[g].x = o[g].x * c + p * vv[t].x;
                    o[g].y = o[g].y * c + p * vv[t].y;
                    o[g].z = o[g].z * c + p * vv[t].z;
                    o[g].w = o[g].w * c + p * vv[t].w;
                    m[g] = mn;
                }
            }
        }
    }
#pragma unroll
    for (int g = 0; g < GM; g++) {
        if (lane == 0) {
            sm[warp][g] = m[g];
            sl[warp][g] = l[g];
        }
        so[warp][g][lane] = o[g];
    }
    __syncthreads();
    for (int e = threadIdx.x; e < G * 32; e += DEC_WARPS * 32) {
        int g = e / 32, c = e % 32;
        float M = -INFINITY;
        for (int w = 0; w < DEC_WARPS; w++)
            M = fmaxf(M, sm[w][g]);
        float L = 0.0f;
        float4 O = zero;
        for (int w = 0; w < DEC_WARPS; w++) {
            float wt = sm[w][g] == -INFINITY ? 0.0f : expf(sm[w][g] - M);
            float4 ow = so[w][g][c];
            L += sl[w][g] * wt;
            O.x += ow.x * wt;
            O.y += ow.y * wt;
            O.z += ow.z * wt;
            O.w += ow.w * wt;
        }
        int64_t row = h * G + g; /* query 0, head row */
        if (a.n_split > 1) {
            if (c < dv4) ((float4 *)(a.part_o + ((int64_t)blockIdx.y * a.hq + row) * a.dv))[c] = O;
            if (c == 0) {
                float *pml = a.part_ml + ((int64_t)blockIdx.y * a.hq + row) * 2;
                pml[0] = M;
                pml[1] = L;
            }
        } else if (c < dv4) {
            float inv = L > 0.0f ? 1.0f / L : 0.0f;
            ((float4 *)(a.out + row * a.os1))[c] =
                make_float4(O.x * inv, O.y * inv, O.z * inv, O.w * inv);
        }
    }
}

/* ------------------------------------------------------------ host side */

/* Index of the segment holding position p: the last s with b[s] <= p. */
static int64_t find_segment(const int64_t *b, int64_t n, int64_t p) {
    int64_t lo = 0, hi = n;
    while (hi - lo > 1) {
        int64_t mid = lo + (hi - lo) / 2;
        if (b[mid] <= p)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

/* The visible intervals of the query at position pos (ops.h rules), as row_interval. */
static void host_interval(const vlm_attn_params *p, int64_t sk, int64_t pos, int64_t *iv) {
    int64_t lo = 0, hi = sk;
    if (p->causal && hi > pos + 1) hi = pos + 1;
    if (p->window > 0) {
        if (lo < pos - p->window + 1) lo = pos - p->window + 1;
        if (!p->causal && p->window < hi - pos) hi = pos + p->window;
    }
    if (p->segments && p->n_segments > 0) {
        int64_t s = find_segment(p->segments, p->n_segments, pos);
        if (lo < p->segments[s]) lo = p->segments[s];
        if (hi > p->segments[s + 1]) hi = p->segments[s + 1];
    }
    if (hi < lo) hi = lo;
    iv[0] = lo;
    iv[1] = hi;
    iv[2] = iv[3] = 0;
    if (p->spans && p->n_spans > 0) {
        int64_t a = 0, b = p->n_spans; /* last span starting at or before pos */
        while (b - a > 1) {
            int64_t mid = a + (b - a) / 2;
            if (p->spans[2 * mid] <= pos)
                a = mid;
            else
                b = mid;
        }
        if (p->spans[2 * a] <= pos && pos < p->spans[2 * a + 1]) {
            iv[2] = p->spans[2 * a];
            iv[3] = p->spans[2 * a + 1];
        }
    }
}

typedef void (*att_fn)(att_args);

static att_fn pick_kernel(int warps, int dvc) {
    if (warps == 1) {
        switch (dvc) {
        case 1:
            return att_kernel<1, 1>;
        case 2:
            return att_kernel<1, 2>;
        case 3:
            return att_kernel<1, 3>;
        case 4:
            return att_kernel<1, 4>;
        default:
            return att_kernel<1, 8>;
        }
    }
    switch (dvc) {
    case 1:
        return att_kernel<4, 1>;
    case 2:
        return att_kernel<4, 2>;
    case 3:
        return att_kernel<4, 3>;
    case 4:
        return att_kernel<4, 4>;
    default:
        return att_kernel<4, 8>;
    }
}

static bool rows_vec(const vlm_tensor *t) {
    return t->shape[2] % 4 == 0 && cuda_aligned16(cuda_ptr(t)) &&
           (t->shape[0] <= 1 || t->stride[0] % 16 == 0) &&
           (t->shape[1] <= 1 || t->stride[1] % 16 == 0);
}

extern "C" vlm_status cuda_attention(vlm_ctx *ctx, const vlm_tensor *q, const vlm_tensor *k,
                                     const vlm_tensor *v, const vlm_attn_params *p,
                                     const vlm_tensor *out) {
    const char *op = "attention";
    cuda_dev *dev;
    vlm_status st = cuda_begin(ctx, op, &dev);
    if (st != VLM_OK) return st;
    int64_t sq = q->shape[0], hq = q->shape[1], d = q->shape[2];
    int64_t sk = k->shape[0], hkv = k->shape[1], dv = v->shape[2];
    if (d > ATT_MAX_D || dv > ATT_MAX_D)
        return vlm_ctx_fail(ctx, VLM_ERR_UNSUPPORTED, "%s: head dims %lld / %lld exceed %d on cuda",
                            op, (long long)d, (long long)dv, ATT_MAX_D);
    att_args a;
    memset(&a, 0, sizeof a);
    a.q = cuda_ptr(q);
    a.k = cuda_ptr(k);
    a.v = cuda_ptr(v);
    a.out = cuda_ptr(out);
    a.qs0 = q->stride[0];
    a.qs1 = q->stride[1];
    a.ks0 = k->stride[0];
    a.ks1 = k->stride[1];
    a.vs0 = v->stride[0];
    a.vs1 = v->stride[1];
    a.os0 = out->stride[0];
    a.os1 = out->stride[1];
    a.sq = sq;
    a.hq = hq;
    a.sk = sk;
    a.d = d;
    a.dv = dv;
    a.group = hq / hkv;
    a.scale = p->scale;
    a.softcap = p->softcap;
    a.causal = p->causal;
    a.q_pos0 = p->q_pos0;
    a.window = p->window;
    a.kv_len = p->kv_len ? (const int64_t *)cuda_ptr(p->kv_len) : NULL;
    a.vq = rows_vec(q);
    a.vk = rows_vec(k);
    a.vv = rows_vec(v);
    /* Q/K rows padded to an odd number of float4 words (conflict-free lane reads). */
    int d4 = (int)((d + 3) / 4) * 4;
    a.ldq = d4 + ((d4 / 4) % 2 == 0 ? 4 : 8);

    /* one query per kv-head group, rows readable as float4: the decode kernel */
    bool decode = sq == 1 && a.group <= 16 && d <= DEC_MAX_D && dv <= DEC_MAX_D && d % 4 == 0 &&
                  dv % 4 == 0 && a.vq && a.vk && a.vv && !p->segments && !p->spans &&
                  (out->stride[1] % 16 == 0) && cuda_aligned16(cuda_ptr(out));
    a.by_head = a.group > 1 && sq <= 4;
    int warps = a.by_head ? 1 : 4, br = warps * ATT_RPW;
    int dvc = dv <= 32 ? 1 : dv <= 64 ? 2 : dv <= 96 ? 3 : dv <= 128 ? 4 : 8;
    int64_t items;
    if (decode) {
        items = hkv;
    } else if (a.by_head) {
        a.n_rg = (a.group + br - 1) / br;
        items = hkv * sq * a.n_rg;
    } else {
        a.n_qb = (sq + br - 1) / br;
        items = hq * a.n_qb;
    }
    if (items > INT_MAX)
        return vlm_ctx_fail(ctx, VLM_ERR_LIMIT, "%s: %lld work items", op, (long long)items);

    vlm_arena_mark mark = vlm_arena_get_mark(ctx->arena);
    if (p->segments || p->spans) {
        if (cuda_capturing(ctx))
            return vlm_ctx_fail(ctx, VLM_ERR_UNSUPPORTED,
                                "%s: segments or spans cannot be recorded in a graph", op);
        size_t bytes = (size_t)sq * 4 * sizeof(int64_t);
        int64_t *iv = (int64_t *)malloc(bytes ? bytes : 1);
        if (!iv) return vlm_ctx_fail(ctx, VLM_ERR_OUT_OF_MEMORY, "%s: out of memory", op);
        for (int64_t i = 0; i < sq; i++)
            host_interval(p, sk, p->q_pos0 + i, iv + 4 * i);
        void *dptr;
        st = cuda_scratch_upload(ctx, op, iv, bytes, &dptr);
        free(iv);
        if (st != VLM_OK) goto done;
        a.iv = (const int64_t *)dptr;
    }
    if (cuda_flash_usable(ctx, dev, &a)) { /* bf16 tensor cores (flash_attention.cu) */
        st = cuda_flash_attention(ctx, dev, &a);
        goto done;
    }

    /* Split the keys when the items alone leave multiprocessors idle. With kv_len the
     * length is known only on the device: the split count is made for the whole cache
     * (each split's length is then computed in the kernel). */
    a.n_split = 1;
    a.split_len = sk;
    /* the decode kernel's warps take DEC_WARPS * DEC_KB keys per round: shorter splits keep
     * its per-warp chain to one round */
    a.split_gran = decode ? DEC_WARPS * DEC_KB : ATT_BK;
    if (items < dev->n_sm && (sk > a.split_gran || a.kv_len)) {
        int64_t g = a.split_gran;
        int64_t want = (2 * dev->n_sm + items - 1) / items, most = (sk + g - 1) / g;
        int64_t ns = want < most ? want : most;
        int64_t len = ((sk + ns - 1) / ns + g - 1) / g * g;
        a.split_len = len;
        a.n_split = (int)((sk + len - 1) / len);
    }
    if (a.n_split > 1) {
        size_t rows = (size_t)(sq * hq) * (size_t)a.n_split;
        void *po, *pml;
        if ((st = cuda_scratch(ctx, op, rows * (size_t)dv * 4, &po)) != VLM_OK ||
            (st = cuda_scratch(ctx, op, rows * 2 * 4, &pml)) != VLM_OK)
            goto done;
        a.part_o = (float *)po;
        a.part_ml = (float *)pml;
    }
    if (decode) {
        dim3 grid((unsigned)hkv, (unsigned)a.n_split);
        cudaError_t e = cuda_launch(ctx,
                                    a.group <= 4   ? att_decode_kernel<4>
                                    : a.group <= 8 ? att_decode_kernel<8>
                                                   : att_decode_kernel<16>,
                                    grid, dim3(DEC_WARPS * 32), 0, a);
        if ((st = cuda_check(ctx, op, e)) != VLM_OK) goto done;
        if ((st = cuda_check_launch(ctx, op)) != VLM_OK) goto done;
        if (a.n_split > 1) {
            att_combine(ctx, &a, hq);
            st = cuda_check_launch(ctx, op);
        }
    } else {
        size_t smem = ((size_t)(br + ATT_BK) * a.ldq + (size_t)ATT_BK * 32 * dvc) * 4 +
                      (size_t)br * 4 * sizeof(int64_t);
        if (smem > dev->smem_optin) {
            st = vlm_ctx_fail(ctx, VLM_ERR_UNSUPPORTED, "%s: %zu bytes of shared memory needed", op,
                              smem);
            goto done;
        }
        att_fn fn = pick_kernel(warps, dvc);
        if (smem > 48 * 1024 &&
            (st = cuda_check(ctx, op,
                             cudaFuncSetAttribute((const void *)fn,
                                                  cudaFuncAttributeMaxDynamicSharedMemorySize,
                                                  (int)smem))) != VLM_OK)
            goto done;
        dim3 grid((unsigned)items, (unsigned)a.n_split);
        fn<<<grid, warps * 32, smem, cuda_stream(ctx)>>>(a);
        if ((st = cuda_check_launch(ctx, op)) != VLM_OK) goto done;
        if (a.n_split > 1) {
            att_combine(ctx, &a, sq * hq);
            st = cuda_check_launch(ctx, op);
        }
    }
done:
    vlm_arena_release(ctx->arena, mark);
    return st;
}
