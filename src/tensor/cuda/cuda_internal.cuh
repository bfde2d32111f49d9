/* Private helpers of the CUDA backend's .cu files: the per-device state behind the backend
 * table, error reporting into the op context, arena scratch in device memory, dtype
 * conversions on the device that are bit-identical to dtype.h (so copies and casts agree
 * with the CPU backend exactly, NaN payloads included), and the strided element iterator
 * (coalesced shape + byte strides of up to 3 operands) that the copy and elementwise
 * kernels walk. Every kernel runs on the device's one non-blocking stream, in op order;
 * transfers synchronize that stream (memory.cu). */
#ifndef VLM_TENSOR_CUDA_INTERNAL_CUH
#define VLM_TENSOR_CUDA_INTERNAL_CUH

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <math.h>
#include <stdint.h>

extern "C" {
#include "tensor/backend.h"
#include "tensor/dtype.h"
}

#define CUDA_MAX_DEVICES 16

/* One GPU. `base` comes first: a vlm_backend pointer of this backend is a cuda_dev. */
typedef struct cuda_dev {
    vlm_backend base;
    int device;
    int ready;
    cudaStream_t stream;
    cublasHandle_t blas;
    int n_sm;
    size_t smem_optin; /* dynamic shared memory a block may opt into */
    int cc_major, cc_minor;
    char name[16]; /* "cuda:N" */
    char gpu[128]; /* the device's own name */
    /* Raised by kernels recorded in a graph that met a bad id (gather.cu): host-mapped, so
     * the host reads it after a synchronization without a copy. */
    volatile int *bad_ids;
    int *bad_ids_dev;
    /* Kernels launched with cuda_launch may start before the previous kernel of the stream
     * has finished (programmatic dependent launch, sm_90+; VLM_CUDA_PDL=0 turns it off). */
    int pdl;
    /* Prefill attention with bf16 compute runs the tensor-core kernel (flash_attention.cu);
     * VLM_CUDA_FLASH=0 keeps the f32 kernel (for comparisons). */
    int flash;
    /* Measurement switches of the GEMV engine (gemv.cu): VLM_GEMV_GRID=full gives one block
     * per row group instead of as many as fit; VLM_GEMV_NORM=0 runs the norm before a fused
     * product as its own kernel. */
    int gemv_full_grid, gemv_norm_apart;
} cuda_dev;

/* The device behind an op context (every entry of the table is called with one). */
static inline cuda_dev *cuda_dev_of(vlm_ctx *ctx) {
    return (cuda_dev *)(void *)ctx->backend;
}

/* The queue the context's ops go to: the device's stream, or while a graph is being
 * captured for the context, the capture stream (graph.cu). */
static inline cudaStream_t cuda_stream(const vlm_ctx *ctx) {
    return ctx->queue ? (cudaStream_t)ctx->queue : cuda_dev_of((vlm_ctx *)ctx)->stream;
}

/* True while the context's ops are recorded into a graph rather than run: nothing may
 * wait for the stream or move pageable host memory then. */
static inline bool cuda_capturing(const vlm_ctx *ctx) {
    return ctx->queue != NULL;
}

/* Makes the context's device current (a per-thread setting of the runtime) and fails the
 * op when that is impossible. */
vlm_status cuda_begin(vlm_ctx *ctx, const char *op, cuda_dev **dev);

/* Records "op: cuda: <error string>" when e is an error (VLM_ERR_DEVICE, or
 * VLM_ERR_OUT_OF_MEMORY for allocation failures) and returns the status. */
vlm_status cuda_check(vlm_ctx *ctx, const char *op, cudaError_t e);
/* The same after a kernel launch (reads and clears the launch error). */
vlm_status cuda_check_launch(vlm_ctx *ctx, const char *op);
vlm_status cuda_check_blas(vlm_ctx *ctx, const char *op, cublasStatus_t s);

/* `bytes` of device scratch from the context's arena (64-byte aligned); the caller releases
 * it with its arena mark once the kernels that use it are queued (later ops run after them
 * on the same stream, so reuse is safe). */
vlm_status cuda_scratch(vlm_ctx *ctx, const char *op, size_t bytes, void **out);
/* Scratch holding a copy of n host bytes (queued on the stream; the host memory may be
 * reused as soon as this returns). */
vlm_status cuda_scratch_upload(vlm_ctx *ctx, const char *op, const void *host, size_t n,
                               void **out);

static inline char *cuda_ptr(const vlm_tensor *t) {
    return (char *)t->buf->data + t->offset;
}

/* Grid size for a grid-stride loop over n items with `threads` per block. */
static inline unsigned cuda_blocks(int64_t n, int threads, const cuda_dev *dev) {
    int64_t b = (n + threads - 1) / threads;
    int64_t cap = (int64_t)dev->n_sm * 32;
    if (b > cap) b = cap;
    return (unsigned)(b < 1 ? 1 : b);
}

/* ------------------------------------------------------------ programmatic dependent launch */

/* A kernel launched with cuda_launch may be scheduled while the kernel before it on the
 * stream still runs (its blocks then wait in cu_pdl_wait). Such a kernel must call
 * cu_pdl_wait in every thread before it reads anything an earlier kernel wrote or writes
 * anything an earlier kernel reads, and before it exits; only constant data (weights) may
 * be touched before. Completion of a kernel therefore implies completion of all kernels
 * queued before it, as without the attribute. cu_pdl_trigger lets the next kernel be
 * scheduled (call it early: its blocks only take resources this grid is not using). */
__device__ __forceinline__ void cu_pdl_wait(void) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}
__device__ __forceinline__ void cu_pdl_trigger(void) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}
/* Prefetches the 128-byte line at p into L2 (for weights read before cu_pdl_wait). */
__device__ __forceinline__ void cu_prefetch_l2(const void *p) {
    asm volatile("prefetch.global.L2 [%0];" ::"l"(p));
}

/* kernel<<<grid, block, smem, stream>>>(args...) with the programmatic-serialization
 * attribute when the device allows it (the kernel must follow cu_pdl_wait's contract). */
template <typename... P, typename... A>
static inline cudaError_t cuda_launch(const vlm_ctx *ctx, void (*kernel)(P...), dim3 grid,
                                      dim3 block, size_t smem, A &&...args) {
    cudaLaunchAttribute attr[1];
    attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attr[0].val.programmaticStreamSerializationAllowed = 1;
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = grid;
    cfg.blockDim = block;
    cfg.dynamicSmemBytes = smem;
    cfg.stream = cuda_stream(ctx);
    cfg.attrs = attr;
    cfg.numAttrs = cuda_dev_of((vlm_ctx *)ctx)->pdl ? 1 : 0;
    return cudaLaunchKernelEx(&cfg, kernel, static_cast<A &&>(args)...);
}

/* ------------------------------------------------------------ dtype conversions (device) */

__device__ __forceinline__ float cu_bf16_to_f32(uint16_t h) {
    return __uint_as_float((uint32_t)h << 16);
}

__device__ __forceinline__ uint16_t cu_f32_to_bf16(float f) {
    uint32_t u = __float_as_uint(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

__device__ __forceinline__ float cu_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu, man = h & 0x3ffu, u;
    if (exp == 0) {
        if (man == 0) {
            u = sign;
        } else { /* subnormal: shift the mantissa up to the implicit bit */
            int e = -1;
            do {
                e++;
                man <<= 1;
            } while (!(man & 0x400u));
            u = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ffu) << 13);
        }
    } else if (exp == 31) {
        u = sign | 0x7f800000u | (man << 13);
    } else {
        u = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    return __uint_as_float(u);
}

__device__ __forceinline__ uint16_t cu_f32_to_f16(float f) {
    uint32_t u = __float_as_uint(f);
    uint32_t sign = (u >> 16) & 0x8000u, au = u & 0x7fffffffu;
    if (au > 0x7f800000u) return (uint16_t)(sign | 0x7e00u);
    if (au >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u);
    if (au < 0x38800000u) {
        if (au < 0x33000000u) return (uint16_t)sign;
        uint32_t e = au >> 23, m = (au & 0x7fffffu) | 0x800000u, shift = 126 - e;
        uint32_t r = m >> shift, rem = m & ((1u << shift) - 1u), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (r & 1u))) r++;
        return (uint16_t)(sign | r);
    }
    uint32_t r = au + 0x0fffu + ((au >> 13) & 1u) - 0x38000000u;
    return (uint16_t)(sign | (r >> 13));
}

/* Element of a float dtype (f32, f16, bf16, f64) at p, as f32. */
__device__ __forceinline__ float cu_load_f(const char *p, int dt) {
    switch (dt) {
    case VLM_DTYPE_F32:
        return *(const float *)p;
    case VLM_DTYPE_BF16:
        return cu_bf16_to_f32(*(const uint16_t *)p);
    case VLM_DTYPE_F16:
        return cu_f16_to_f32(*(const uint16_t *)p);
    case VLM_DTYPE_F64:
        return (float)*(const double *)p;
    default:
        return 0.0f;
    }
}

__device__ __forceinline__ void cu_store_f(char *p, int dt, float v) {
    switch (dt) {
    case VLM_DTYPE_F32:
        *(float *)p = v;
        break;
    case VLM_DTYPE_BF16:
        *(uint16_t *)p = cu_f32_to_bf16(v);
        break;
    case VLM_DTYPE_F16:
        *(uint16_t *)p = cu_f32_to_f16(v);
        break;
    case VLM_DTYPE_F64:
        *(double *)p = (double)v;
        break;
    default:
        break;
    }
}

__device__ __forceinline__ int64_t cu_load_index(const char *p, int dt) {
    return dt == VLM_DTYPE_I32 ? (int64_t) * (const int32_t *)p : *(const int64_t *)p;
}

__device__ __forceinline__ void cu_store_index(char *p, int dt, int64_t v) {
    if (dt == VLM_DTYPE_I32)
        *(int32_t *)p = (int32_t)v;
    else
        *(int64_t *)p = v;
}

/* One element from s (dtype sd) to d (dtype dd): a raw copy for equal dtypes, else a
 * conversion among f32/f16/bf16/f64 (f64 -> f16/bf16 rounds via f32, as the CPU does). */
__device__ __forceinline__ void cu_convert(char *d, int dd, const char *s, int sd, int esz) {
    if (dd == sd) {
        switch (esz) {
        case 1:
            *d = *s;
            break;
        case 2:
            *(uint16_t *)d = *(const uint16_t *)s;
            break;
        case 4:
            *(uint32_t *)d = *(const uint32_t *)s;
            break;
        default:
            *(uint64_t *)d = *(const uint64_t *)s;
            break;
        }
    } else if (sd == VLM_DTYPE_F64 || dd == VLM_DTYPE_F64) {
        double v = sd == VLM_DTYPE_F64 ? *(const double *)s : (double)cu_load_f(s, sd);
        if (dd == VLM_DTYPE_F64)
            *(double *)d = v;
        else
            cu_store_f(d, dd, (float)v);
    } else {
        cu_store_f(d, dd, cu_load_f(s, sd));
    }
}

/* ------------------------------------------------------------ strided iteration */

/* Up to 3 operands of one shape, size-1 dimensions dropped and neighbours merged where every
 * operand is contiguous across them (so contiguous tensors become one dimension). */
typedef struct cu_iter {
    int ndim;
    int n_ops;
    int64_t shape[VLM_MAX_DIMS];
    int64_t stride[3][VLM_MAX_DIMS]; /* bytes */
    int64_t total;
} cu_iter;

void cuda_iter_init(cu_iter *it, int n_ops, const vlm_tensor *const *ts);

/* Byte offsets of linear element e (row-major over it->shape) in every operand. I is the
 * index type: 32-bit when the element count allows (divisions are much cheaper). */
template <typename I, int NOPS>
__device__ __forceinline__ void cu_iter_offsets(const cu_iter &it, I e, int64_t *off) {
#pragma unroll
    for (int o = 0; o < NOPS; o++)
        off[o] = 0;
    if (it.ndim == 1) {
#pragma unroll
        for (int o = 0; o < NOPS; o++)
            off[o] = (int64_t)e * it.stride[o][0];
        return;
    }
    for (int d = it.ndim - 1; d >= 0; d--) {
        I n = (I)it.shape[d];
        I i = e % n;
        e /= n;
#pragma unroll
        for (int o = 0; o < NOPS; o++)
            off[o] += (int64_t)i * it.stride[o][d];
    }
}

/* Byte offset of row r of t seen as [rows, last] (row-major over all but the last dim). */
typedef struct cu_rows {
    int nd; /* leading dimensions */
    int64_t shape[VLM_MAX_DIMS];
    int64_t stride[VLM_MAX_DIMS];
} cu_rows;

static inline cu_rows cuda_rows_of(const vlm_tensor *t) {
    cu_rows r;
    r.nd = t->ndim > 0 ? t->ndim - 1 : 0;
    for (int i = 0; i < VLM_MAX_DIMS; i++) {
        r.shape[i] = i < r.nd ? t->shape[i] : 1;
        r.stride[i] = i < r.nd ? t->stride[i] : 0;
    }
    return r;
}

__device__ __forceinline__ int64_t cu_row_offset(const cu_rows &rw, int64_t r) {
    int64_t off = 0;
    for (int i = rw.nd - 1; i >= 0; i--) {
        int64_t n = rw.shape[i];
        off += (r % n) * rw.stride[i];
        r /= n;
    }
    return off;
}

static inline int64_t cuda_nrows(const vlm_tensor *t) {
    int64_t r = 1;
    for (int i = 0; i < t->ndim - 1; i++)
        r *= t->shape[i];
    return r;
}

static inline int64_t cuda_ncols(const vlm_tensor *t) {
    return t->ndim ? t->shape[t->ndim - 1] : 1;
}

/* Element stride of the last dimension. */
static inline int64_t cuda_col_stride(const vlm_tensor *t) {
    return t->ndim ? t->stride[t->ndim - 1] / (int64_t)vlm_dtype_size(t->dtype) : 1;
}

/* ------------------------------------------------------------ warp / block reductions */

__device__ __forceinline__ float cu_warp_sum(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ double cu_warp_sum_d(double v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ float cu_warp_max(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1)
        v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

/* Sum over the block (blockDim.x a multiple of 32, <= 1024); every thread gets the result.
 * `sh` holds 32 doubles; the call contains barriers, so all threads must reach it. */
__device__ __forceinline__ double cu_block_sum_d(double v, double *sh) {
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
    v = cu_warp_sum_d(v);
    __syncthreads(); /* sh may still be read from a previous call */
    if (lane == 0) sh[warp] = v;
    __syncthreads();
    v = lane < nw ? sh[lane] : 0.0;
    return cu_warp_sum_d(v);
}

__device__ __forceinline__ float cu_block_max(float v, float *sh) {
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
    v = cu_warp_max(v);
    __syncthreads();
    if (lane == 0) sh[warp] = v;
    __syncthreads();
    v = lane < nw ? sh[lane] : -INFINITY;
    return cu_warp_max(v);
}

/* The activations in the CPU backend's formulas (CUDA's expf / erff / tanhf). */
__device__ __forceinline__ float cu_act_eval(int act, float x) {
    switch (act) {
    case VLM_ACT_SILU:
        return x / (1.0f + expf(-x));
    case VLM_ACT_GELU:
        return 0.5f * x * (1.0f + erff(x * 0.70710678118654752440f));
    case VLM_ACT_GELU_TANH: {
        const float beta = 0.79788456080286535588f; /* sqrt(2 / pi) */
        float inner = beta * (x + 0.044715f * x * x * x);
        return 0.5f * x * (1.0f + tanhf(inner));
    }
    case VLM_ACT_QUICK_GELU:
        return x * (1.0f / (1.0f + expf(-1.702f * x)));
    case VLM_ACT_RELU:
        return x < 0.0f ? 0.0f : x;
    default:
        return x;
    }
}

/* ------------------------------------------------------------ kernels shared across files */

/* dst = src elementwise over any strides with dtype conversion (copy.cu). */
vlm_status cuda_copy_tensor(vlm_ctx *ctx, const char *op, const vlm_tensor *src,
                            const vlm_tensor *dst);

/* *out = a contiguous copy of t in dtype dt, in arena scratch (copy.cu); the caller releases
 * it with its arena mark. */
vlm_status cuda_contiguous_scratch(vlm_ctx *ctx, const char *op, const vlm_tensor *t, vlm_dtype dt,
                                   vlm_tensor *out);

/* dst[r, c] = bf16(x[r * ldx + c]) (round to nearest even) for an [m, k] block into rows of
 * ldd >= k elements, columns k .. ldd - 1 zeros; `flat4`: x contiguous, 16-byte aligned,
 * ldd == k, k % 4 == 0 (matmul.cu; launched by the bf16 products of matmul.cu and qgemm.cu). */
__global__ void to_bf16_kernel(const float *x, int64_t ldx, int64_t m, int64_t k, uint16_t *dst,
                               int64_t ldd, int flat4);

/* 16-byte loads and stores are allowed at p. */
__host__ __device__ static inline bool cuda_aligned16(const void *p) {
    return ((uintptr_t)p & 15u) == 0;
}

/* The entries of the table (one per op; see backend.h). */
extern "C" {
vlm_status cuda_copy(vlm_ctx *ctx, const vlm_tensor *src, const vlm_tensor *dst);
vlm_status cuda_fill(vlm_ctx *ctx, const vlm_tensor *dst, float value);
vlm_status cuda_binary(vlm_ctx *ctx, vlm_binary_op op, const vlm_tensor *a, const vlm_tensor *b,
                       const vlm_tensor *out);
vlm_status cuda_scale(vlm_ctx *ctx, const vlm_tensor *x, float s, const vlm_tensor *out);
vlm_status cuda_act(vlm_ctx *ctx, vlm_act act, const vlm_tensor *x, const vlm_tensor *out);
vlm_status cuda_gated_act(vlm_ctx *ctx, vlm_act act, const vlm_tensor *gate, const vlm_tensor *up,
                          const vlm_tensor *out);
vlm_status cuda_rms_norm(vlm_ctx *ctx, const vlm_tensor *x, const vlm_tensor *w, float eps,
                         float w_offset, const vlm_tensor *out);
vlm_status cuda_layer_norm(vlm_ctx *ctx, const vlm_tensor *x, const vlm_tensor *w,
                           const vlm_tensor *b, float eps, const vlm_tensor *out);
vlm_status cuda_softmax(vlm_ctx *ctx, const vlm_tensor *x, const vlm_tensor *out);
vlm_status cuda_matmul(vlm_ctx *ctx, const vlm_tensor *x, const vlm_tensor *w,
                       const vlm_tensor *bias, const vlm_tensor *out);
vlm_status cuda_matmul_many(vlm_ctx *ctx, const vlm_tensor *x, const vlm_prenorm *norm, int n,
                            const vlm_qweight *const *w, const vlm_tensor *const *bias,
                            const vlm_tensor *const *out);
vlm_status cuda_matmul_add(vlm_ctx *ctx, const vlm_tensor *x, const vlm_qweight *w,
                           const vlm_tensor *bias, const vlm_tensor *out);
vlm_status cuda_matmul_gated(vlm_ctx *ctx, const vlm_tensor *x, const vlm_prenorm *norm,
                             vlm_act act, const vlm_qweight *wg, const vlm_tensor *bg,
                             const vlm_qweight *wu, const vlm_tensor *bu, const vlm_tensor *out);
vlm_status cuda_bmm(vlm_ctx *ctx, const vlm_tensor *a, const vlm_tensor *b, const vlm_tensor *out);
vlm_status cuda_matmul_q(vlm_ctx *ctx, const vlm_tensor *x, const vlm_qweight *w,
                         const vlm_tensor *bias, const vlm_tensor *out);
vlm_status cuda_gather_rows_q(vlm_ctx *ctx, const vlm_qweight *table, const vlm_tensor *ids,
                              const vlm_tensor *out);
vlm_status cuda_rope_table(vlm_ctx *ctx, const vlm_tensor *pos, const vlm_tensor *inv_freq,
                           const int *sections, vlm_rope_sections layout, float attention_scaling,
                           const vlm_tensor *cos, const vlm_tensor *sin);
vlm_status cuda_rope(vlm_ctx *ctx, const vlm_tensor *x, const vlm_tensor *cos,
                     const vlm_tensor *sin, vlm_rope_mode mode, const vlm_tensor *out);
vlm_status cuda_attention(vlm_ctx *ctx, const vlm_tensor *q, const vlm_tensor *k,
                          const vlm_tensor *v, const vlm_attn_params *p, const vlm_tensor *out);
vlm_status cuda_gather_rows(vlm_ctx *ctx, const vlm_tensor *table, const vlm_tensor *ids,
                            const vlm_tensor *out);
vlm_status cuda_scatter_rows(vlm_ctx *ctx, const vlm_tensor *src, const vlm_tensor *ids,
                             const vlm_tensor *out);
vlm_status cuda_avg_pool2d(vlm_ctx *ctx, const vlm_tensor *x, int kh, int kw, int sh, int sw,
                           const vlm_tensor *out);
vlm_status cuda_interpolate(vlm_ctx *ctx, const vlm_tensor *x, vlm_interp_mode mode,
                            int align_corners, int antialias, const vlm_tensor *out);
vlm_status cuda_argmax(vlm_ctx *ctx, const vlm_tensor *x, const vlm_tensor *out);
vlm_status cuda_topk(vlm_ctx *ctx, const vlm_tensor *x, int64_t k, const vlm_tensor *values,
                     const vlm_tensor *indices);
vlm_status cuda_graph_begin(vlm_ctx *ctx);
vlm_status cuda_graph_end(vlm_ctx *ctx, vlm_graph **g);
vlm_status cuda_graph_launch(vlm_ctx *ctx, vlm_graph *g);
void cuda_graph_free(vlm_graph *g);
}

#endif
