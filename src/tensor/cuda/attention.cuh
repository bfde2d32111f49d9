/* The CUDA attention kernels' argument block and the visibility rules of vlm_attn_params
 * (causal, window, q_pos0, segments and spans as precomputed intervals, kv_len) evaluated on
 * the device (attention.cu: tiled f32 kernel, decode kernel, split merge; flash_attention.cu:
 * bf16 tensor-core prefill kernel). */
#ifndef VLM_TENSOR_CUDA_ATTENTION_CUH
#define VLM_TENSOR_CUDA_ATTENTION_CUH

#include "tensor/cuda/cuda_internal.cuh"

#define ATT_BK 32 /* keys per tile (one per lane) */
#define ATT_RPW 8 /* query rows per warp */
#define ATT_MAX_D 256

typedef struct att_args {
    const char *q, *k, *v;
    char *out;
    int64_t qs0, qs1, ks0, ks1, vs0, vs1, os0, os1; /* bytes; the last dims are contiguous */
    int64_t sq, hq, sk, d, dv, group;
    float scale, softcap;
    int causal;
    int64_t q_pos0, window;
    const int64_t *iv;     /* [sq][4] {lo, hi, span lo, span hi} or NULL */
    const int64_t *kv_len; /* device: keys in use (vlm_attn_params.kv_len) or NULL */
    int by_head;           /* rows are the heads of one group for one query */
    int64_t n_qb;          /* query blocks per head (rows by query) */
    int64_t n_rg;          /* row groups per kv group (rows by head) */
    int64_t split_len;     /* keys per split */
    int split_gran;        /* split lengths are multiples of this (keys per tile or per round) */
    int n_split;
    float *part_o;  /* [n_split][sq * hq][dv] when n_split > 1 */
    float *part_ml; /* [n_split][sq * hq][2] */
    int ldq;        /* shared-memory row stride of Q and K tiles (floats) */
    int vq, vk, vv; /* 16-byte loads allowed for q, k, v rows */
} att_args;

/* Query index and head of row r of work item `item`; false for padding rows. */
__device__ __forceinline__ bool row_coords(const att_args &a, int64_t item, int br, int r,
                                           int64_t *i, int64_t *h) {
    if (!a.by_head) {
        *h = item / a.n_qb;
        *i = (item % a.n_qb) * br + r;
        return *i < a.sq;
    }
    int64_t rg = item % a.n_rg, t = item / a.n_rg;
    int64_t in_group = rg * br + r;
    *i = t % a.sq;
    *h = (t / a.sq) * a.group + in_group;
    return in_group < a.group;
}

/* With kv_len (a cache whose length is read on the device): the length now, the keys per
 * split (the recorded number of splits shares them, at least one tile each so that short caches
 * use few splits) and how many splits hold keys; the others do nothing. Without kv_len, the
 * host's values. */
__device__ __forceinline__ int dyn_splits(att_args &a) {
    if (!a.kv_len) return a.n_split;
    int64_t n = *a.kv_len;
    n = n < 0 ? 0 : n > a.sk ? a.sk : n;
    a.sk = n;
    a.q_pos0 = n - a.sq;
    if (a.n_split == 1) {
        a.split_len = n;
        return 1;
    }
    int64_t gran = a.split_gran;
    int64_t len = ((n + a.n_split - 1) / a.n_split + gran - 1) / gran * gran;
    if (len < gran) len = gran;
    a.split_len = len;
    return (int)((n + len - 1) / len);
}

/* The visible intervals of query i (see vlm_attn_params): iv[0..1] base, iv[2..3] span. */
__device__ __forceinline__ void row_interval(const att_args &a, int64_t i, int64_t *iv) {
    if (a.iv) {
        for (int c = 0; c < 4; c++)
            iv[c] = a.iv[i * 4 + c];
        return;
    }
    int64_t pos = a.q_pos0 + i, lo = 0, hi = a.sk;
    if (a.causal && hi > pos + 1) hi = pos + 1;
    if (a.window > 0) {
        if (lo < pos - a.window + 1) lo = pos - a.window + 1;
        if (!a.causal && a.window < hi - pos) hi = pos + a.window;
    }
    if (hi < lo) hi = lo;
    iv[0] = lo;
    iv[1] = hi;
    iv[2] = iv[3] = 0;
}

__device__ __forceinline__ bool iv_has(const int64_t *iv, int64_t j) {
    return (iv[0] <= j && j < iv[1]) || (iv[2] <= j && j < iv[3]);
}

__device__ __forceinline__ bool iv_hits(const int64_t *iv, int64_t j0, int64_t j1) {
    return (iv[0] < j1 && j0 < iv[1] && iv[0] < iv[1]) ||
           (iv[2] < j1 && j0 < iv[3] && iv[2] < iv[3]);
}

/* The bf16 tensor-core prefill kernel (flash_attention.cu). cuda_flash_usable: whether it
 * takes the call described by `a` (bf16 compute allowed, enabled on the device, Sq > 4, no
 * kv_len, D == Dv <= 128). cuda_flash_attention queues it; a.iv must already hold the
 * intervals when the call has segments or spans; no split scratch is used. */
bool cuda_flash_usable(const vlm_ctx *ctx, const cuda_dev *dev, const att_args *a);
vlm_status cuda_flash_attention(vlm_ctx *ctx, const cuda_dev *dev, const att_args *a);

#endif
