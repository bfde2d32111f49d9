/* CUDA argmax and top-k along the last dimension, in the CPU backend's order: NaN above every
 * number, then larger values, then smaller indices (-0 and +0 are equal). Each element
 * becomes a 64-bit key that sorts in exactly that order (order-preserving bits of the
 * value above the complemented index), so every key of a row is distinct:
 * - argmax is the block-wide maximum key of the row;
 * - top-k finds the k-th largest key by radix selection (8 passes of 8 bits over the row,
 *   block-wide histograms), gathers the k keys at or above it, sorts them with a bitonic
 *   network (shared memory up to 4096 entries, else device scratch) and writes values and
 *   indices. One block per row. */
#include "tensor/cuda/cuda_internal.cuh"

#define SEL_THREADS 512
#define TOPK_SHARED_MAX 4096

__device__ __forceinline__ uint64_t sel_key(float v, int64_t i) {
    uint32_t u;
    if (isnan(v)) {
        u = 0xffffffffu;
    } else {
        if (v == 0.0f) v = 0.0f; /* -0 ranks as +0 */
        u = __float_as_uint(v);
        u = (u & 0x80000000u) ? ~u : (u | 0x80000000u);
    }
    return ((uint64_t)u << 32) | (uint64_t)(0xffffffffu - (uint32_t)i);
}

__device__ __forceinline__ int64_t sel_index(uint64_t key) {
    return (int64_t)(0xffffffffu - (uint32_t)(key & 0xffffffffu));
}

typedef struct sel_args {
    const char *x;
    cu_rows xr;
    int64_t rows, n, xs; /* xs: element stride of the last dimension */
    char *out;           /* argmax: out element r; top-k: values rows */
    cu_rows outr;
    int out_dt;
    char *idx; /* top-k indices rows (or NULL) */
    cu_rows idxr;
    int64_t vcs, ics;  /* byte strides of the last dim of values / indices */
    int64_t k, p2;     /* k and the bitonic size (power of 2 >= k) */
    uint64_t *scratch; /* [rows][p2] when p2 > TOPK_SHARED_MAX */
} sel_args;

__device__ __forceinline__ uint64_t warp_max_u64(uint64_t v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        uint64_t w = __shfl_xor_sync(0xffffffffu, (unsigned long long)v, o);
        v = w > v ? w : v;
    }
    return v;
}

__global__ void argmax_kernel(sel_args a) {
    __shared__ uint64_t sh[32];
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    for (int64_t r = blockIdx.x; r < a.rows; r += gridDim.x) {
        const float *row = (const float *)(a.x + cu_row_offset(a.xr, r));
        uint64_t best = 0;
        for (int64_t i = threadIdx.x; i < a.n; i += blockDim.x) {
            uint64_t key = sel_key(row[i * a.xs], i);
            best = key > best ? key : best;
        }
        best = warp_max_u64(best);
        __syncthreads();
        if (lane == 0) sh[warp] = best;
        __syncthreads();
        if (warp == 0) {
            best = lane < (int)(blockDim.x >> 5) ? sh[lane] : 0;
            best = warp_max_u64(best);
            if (lane == 0)
                cu_store_index(a.out + cu_row_offset(a.outr, r), a.out_dt, sel_index(best));
        }
    }
}

/* Walker over all dims of t (argmax's out: row r is element r). */
static cu_rows elems_of(const vlm_tensor *t, bool use) {
    cu_rows w;
    w.nd = use ? t->ndim : 0;
    for (int i = 0; i < VLM_MAX_DIMS; i++) {
        w.shape[i] = i < w.nd ? t->shape[i] : 1;
        w.stride[i] = i < w.nd ? t->stride[i] : 0;
    }
    return w;
}

extern "C" vlm_status cuda_argmax(vlm_ctx *ctx, const vlm_tensor *x, const vlm_tensor *out) {
    cuda_dev *dev;
    vlm_status st = cuda_begin(ctx, "argmax", &dev);
    if (st != VLM_OK) return st;
    sel_args a;
    memset(&a, 0, sizeof a);
    a.x = cuda_ptr(x);
    a.xr = cuda_rows_of(x);
    a.rows = cuda_nrows(x);
    a.n = cuda_ncols(x);
    a.xs = cuda_col_stride(x);
    if (a.n > (int64_t)0xffffffffu)
        return vlm_ctx_fail(ctx, VLM_ERR_UNSUPPORTED, "argmax: rows of %lld elements on cuda",
                            (long long)a.n);
    a.out = cuda_ptr(out);
    a.outr = elems_of(out, x->ndim > 1);
    a.out_dt = out->dtype;
    unsigned blocks = (unsigned)(a.rows < 65535 * 16 ? a.rows : 65535 * 16);
    argmax_kernel<<<blocks, 256, 0, cuda_stream(ctx)>>>(a);
    return cuda_check_launch(ctx, "argmax");
}

__global__ void topk_kernel(sel_args a) {
    extern __shared__ uint64_t sbuf[];
    __shared__ unsigned hist[256];
    __shared__ uint64_t s_prefix, s_mask;
    __shared__ int64_t s_need;
    __shared__ unsigned long long s_count;
    for (int64_t r = blockIdx.x; r < a.rows; r += gridDim.x) {
        const float *row = (const float *)(a.x + cu_row_offset(a.xr, r));
        if (threadIdx.x == 0) {
            s_prefix = 0;
            s_mask = 0;
            s_need = a.k;
            s_count = 0;
        }
        __syncthreads();
        /* The k-th largest key, 8 bits at a time from the top. */
        for (int shift = 56; shift >= 0; shift -= 8) {
            for (int b = threadIdx.x; b < 256; b += blockDim.x)
                hist[b] = 0;
            __syncthreads();
            uint64_t prefix = s_prefix, mask = s_mask;
            for (int64_t i = threadIdx.x; i < a.n; i += blockDim.x) {
                uint64_t key = sel_key(row[i * a.xs], i);
                if ((key & mask) == prefix) atomicAdd(&hist[(key >> shift) & 255u], 1u);
            }
            __syncthreads();
            if (threadIdx.x == 0) {
                int64_t need = s_need, above = 0;
                int b = 255;
                for (; b > 0; b--) {
                    if (above + (int64_t)hist[b] >= need) break;
                    above += hist[b];
                }
                s_need = need - above;
                s_prefix = prefix | ((uint64_t)b << shift);
                s_mask = mask | ((uint64_t)255 << shift);
            }
            __syncthreads();
        }
        uint64_t t = s_prefix; /* exactly k keys are >= t (keys are distinct) */
        uint64_t *buf = a.p2 > TOPK_SHARED_MAX ? a.scratch + r * a.p2 : sbuf;
        for (int64_t i = threadIdx.x; i < a.n; i += blockDim.x) {
            uint64_t key = sel_key(row[i * a.xs], i);
            if (key >= t) buf[atomicAdd(&s_count, 1ull)] = key;
        }
        for (int64_t i = a.k + threadIdx.x; i < a.p2; i += blockDim.x)
            buf[i] = 0; /* ranks last */
        __syncthreads();
        /* Bitonic sort, descending. */
        for (int64_t size = 2; size <= a.p2; size <<= 1) {
            for (int64_t stride = size >> 1; stride > 0; stride >>= 1) {
                for (int64_t i = threadIdx.x; i < a.p2; i += blockDim.x) {
                    int64_t j = i ^ stride;
                    if (j > i) {
                        uint64_t u = buf[i], v = buf[j];
                        bool desc = (i & size) == 0;
                        if (desc ? u < v : u > v) {
                            buf[i] = v;
                            buf[j] = u;
                        }
                    }
                }
                __syncthreads();
            }
        }
        char *vrow = a.out ? a.out + cu_row_offset(a.outr, r) : NULL;
        char *irow = a.idx ? a.idx + cu_row_offset(a.idxr, r) : NULL;
        for (int64_t s = threadIdx.x; s < a.k; s += blockDim.x) {
            int64_t i = sel_index(buf[s]);
            if (vrow) *(float *)(vrow + s * a.vcs) = row[i * a.xs]; /* the element itself */
            if (irow) cu_store_index(irow + s * a.ics, a.out_dt, i);
        }
        __syncthreads(); /* buf and the shared state are reused by the next row */
    }
}

extern "C" vlm_status cuda_topk(vlm_ctx *ctx, const vlm_tensor *x, int64_t k,
                                const vlm_tensor *values, const vlm_tensor *indices) {
    const char *op = "topk";
    cuda_dev *dev;
    vlm_status st = cuda_begin(ctx, op, &dev);
    if (st != VLM_OK) return st;
    sel_args a;
    memset(&a, 0, sizeof a);
    a.x = cuda_ptr(x);
    a.xr = cuda_rows_of(x);
    a.rows = cuda_nrows(x);
    a.n = cuda_ncols(x);
    a.xs = cuda_col_stride(x);
    if (a.n > (int64_t)0xffffffffu)
        return vlm_ctx_fail(ctx, VLM_ERR_UNSUPPORTED, "%s: rows of %lld elements on cuda", op,
                            (long long)a.n);
    a.k = k;
    a.p2 = 1;
    while (a.p2 < k)
        a.p2 <<= 1;
    if (values) {
        a.out = cuda_ptr(values);
        a.outr = cuda_rows_of(values);
        a.vcs = values->stride[values->ndim - 1];
    }
    if (indices) {
        a.idx = cuda_ptr(indices);
        a.idxr = cuda_rows_of(indices);
        a.ics = indices->stride[indices->ndim - 1];
        a.out_dt = indices->dtype;
    }
    unsigned blocks = (unsigned)(a.rows < 65535 * 16 ? a.rows : 65535 * 16);
    vlm_arena_mark mark = vlm_arena_get_mark(ctx->arena);
    size_t smem = 0;
    if (a.p2 > TOPK_SHARED_MAX) {
        void *p;
        if ((st = cuda_scratch(ctx, op, (size_t)(a.rows * a.p2) * 8, &p)) != VLM_OK) goto done;
        a.scratch = (uint64_t *)p;
    } else {
        smem = (size_t)a.p2 * 8;
    }
    topk_kernel<<<blocks, SEL_THREADS, smem, cuda_stream(ctx)>>>(a);
    st = cuda_check_launch(ctx, op);
done:
    vlm_arena_release(ctx->arena, mark);
    return st;
}
