/* CUDA RMSNorm, LayerNorm and softmax over the last dimension: one block per row (any
 * leading strides, any column stride), row statistics reduced in double as the CPU backend
 * does, the per-element arithmetic in f32 in HF's order:
 *   rms:     (x * (1 / sqrtf(f32(mean(x^2)) + eps))) * (w + w_offset)
 *   layer:   (x - mean) * f32(1 / sqrt(var + eps)) * w + b
 *   softmax: expf(x - max) * f32(1 / sum). */
#include "tensor/cuda/cuda_internal.cuh"

typedef struct row_args {
    cu_rows xr, orow;
    const char *x;
    char *out;
    int64_t rows, d, xs, os; /* xs, os: element strides of the last dimension */
} row_args;

static row_args row_args_of(const vlm_tensor *x, const vlm_tensor *out) {
    row_args a;
    a.xr = cuda_rows_of(x);
    a.orow = cuda_rows_of(out);
    a.x = cuda_ptr(x);
    a.out = cuda_ptr(out);
    a.rows = cuda_nrows(x);
    a.d = cuda_ncols(x);
    a.xs = cuda_col_stride(x);
    a.os = cuda_col_stride(out);
    return a;
}

/* A 1-D parameter (weight, bias) on the device: base, byte stride, dtype; NULL when absent. */
typedef struct param {
    const char *p;
    int64_t stride;
    int dt;
} param;

static param param_of(const vlm_tensor *t) {
    param p = {NULL, 0, VLM_DTYPE_F32};
    if (t) {
        p.p = cuda_ptr(t);
        p.stride = t->stride[0];
        p.dt = t->dtype;
    }
    return p;
}

__device__ __forceinline__ float param_at(const param &p, int64_t i) {
    return cu_load_f(p.p + i * p.stride, p.dt);
}

/* Threads of a row's block: 256 when there are rows for every multiprocessor; with few rows
 * (a decode step's one), enough that each thread has at most two elements, so the row's
 * loads are in flight at once instead of one latency per loop turn. */
static int row_threads(int64_t d, int64_t rows, const cuda_dev *dev) {
    int64_t cap = rows < dev->n_sm ? 1024 : 256;
    int64_t t = rows < dev->n_sm ? ((d + 1) / 2 + 31) / 32 * 32 : (d + 31) / 32 * 32;
    if (t < 32) t = 32;
    return (int)(t > cap ? cap : t);
}

static unsigned row_blocks(int64_t rows) {
    return (unsigned)(rows < 65535 * 32 ? rows : 65535 * 32);
}

__global__ void rms_kernel(row_args a, param w, float eps, float w_offset) {
    __shared__ double sh[32];
    for (int64_t r = blockIdx.x; r < a.rows; r += gridDim.x) {
        const float *x = (const float *)(a.x + cu_row_offset(a.xr, r));
        float *o = (float *)(a.out + cu_row_offset(a.orow, r));
        double ss = 0.0;
        for (int64_t i = threadIdx.x; i < a.d; i += blockDim.x) {
            double v = x[i * a.xs];
            ss += v * v;
        }
        ss = cu_block_sum_d(ss, sh);
        float var = (float)(ss / (double)a.d);
        float rr = 1.0f / sqrtf(var + eps);
        for (int64_t i = threadIdx.x; i < a.d; i += blockDim.x) {
            float y = x[i * a.xs] * rr;
            if (w.p) {
                float f = param_at(w, i);
                if (w_offset != 0.0f) f += w_offset;
                y = y * f;
            }
            o[i * a.os] = y;
        }
    }
}

/* RMSNorm of a few rows (a decode step's one) with contiguous, 16-byte aligned rows of
 * d <= 4096 (d % 4 == 0): 256 threads, each with up to 4 float4 of the row in registers, so
 * the row is read once with every load in flight, then one block reduction (in double, as
 * rms_kernel) and the outputs from the registers. Same arithmetic as rms_kernel per element;
 * the sum of squares in another order (double). */
#define RMS_SMALL_T 256
__global__ void __launch_bounds__(RMS_SMALL_T)
    rms_small_kernel(row_args a, param w, float eps, float w_offset) {
    __shared__ double sh[32];
    const int64_t r = blockIdx.x;
    const float4 *x = (const float4 *)(a.x + cu_row_offset(a.xr, r));
    float4 *o = (float4 *)(a.out + cu_row_offset(a.orow, r));
    const int n4 = (int)(a.d / 4);
    float4 v[4];
    double ss = 0.0;
#pragma unroll
    for (int t = 0; t < 4; t++) {
        int c = threadIdx.x + t * RMS_SMALL_T;
        v[t] = c < n4 ? x[c] : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    }
#pragma unroll
    for (int t = 0; t < 4; t++)
        ss += (double)v[t].x * v[t].x + (double)v[t].y * v[t].y + (double)v[t].z * v[t].z +
              (double)v[t].w * v[t].w;
    ss = cu_block_sum_d(ss, sh);
    float var = (float)(ss / (double)a.d);
    float rr = 1.0f / sqrtf(var + eps);
#pragma unroll
    for (int t = 0; t < 4; t++) {
        int c = threadIdx.x + t * RMS_SMALL_T;
        if (c >= n4) break;
        float y[4] = {v[t].x * rr, v[t].y * rr, v[t].z * rr, v[t].w * rr};
        if (w.p)
#pragma unroll
            for (int q = 0; q < 4; q++) {
                float f = param_at(w, 4 * c + q);
                if (w_offset != 0.0f) f += w_offset;
                y[q] = y[q] * f;
            }
        o[c] = make_float4(y[0], y[1], y[2], y[3]);
    }
}

extern "C" vlm_status cuda_rms_norm(vlm_ctx *ctx, const vlm_tensor *x, const vlm_tensor *w,
                                    float eps, float w_offset, const vlm_tensor *out) {
    cuda_dev *dev;
    vlm_status st = cuda_begin(ctx, "rms_norm", &dev);
    if (st != VLM_OK) return st;
    row_args a = row_args_of(x, out);
    bool rows_ok = a.xs == 1 && a.os == 1 && a.d % 4 == 0 && a.d <= 16 * RMS_SMALL_T &&
                   cuda_aligned16(a.x) && cuda_aligned16(a.out);
    for (int i = 0; rows_ok && i < a.xr.nd; i++)
        rows_ok = (a.xr.shape[i] <= 1 || a.xr.stride[i] % 16 == 0) &&
                  (a.orow.shape[i] <= 1 || a.orow.stride[i] % 16 == 0);
    if (rows_ok && a.rows < dev->n_sm && a.rows > 0) {
        rms_small_kernel<<<(unsigned)a.rows, RMS_SMALL_T, 0, cuda_stream(ctx)>>>(a, param_of(w),
                                                                                 eps, w_offset);
        return cuda_check_launch(ctx, "rms_norm");
    }
    rms_kernel<<<row_blocks(a.rows), row_threads(a.d, a.rows, dev), 0, cuda_stream(ctx)>>>(
        a, param_of(w), eps, w_offset);
    return cuda_check_launch(ctx, "rms_norm");
}

__global__ void ln_kernel(row_args a, param w, param b, float eps) {
    __shared__ double sh[32];
    for (int64_t r = blockIdx.x; r < a.rows; r += gridDim.x) {
        const float *x = (const float *)(a.x + cu_row_offset(a.xr, r));
        float *o = (float *)(a.out + cu_row_offset(a.orow, r));
        double s = 0.0;
        for (int64_t i = threadIdx.x; i < a.d; i += blockDim.x)
            s += x[i * a.xs];
        double mean = cu_block_sum_d(s, sh) / (double)a.d, ss = 0.0;
        for (int64_t i = threadIdx.x; i < a.d; i += blockDim.x) {
            double c = x[i * a.xs] - mean;
            ss += c * c;
        }
        ss = cu_block_sum_d(ss, sh);
        float rstd = (float)(1.0 / sqrt(ss / (double)a.d + (double)eps));
        float m = (float)mean;
        for (int64_t i = threadIdx.x; i < a.d; i += blockDim.x) {
            float y = (x[i * a.xs] - m) * rstd;
            if (w.p) y *= param_at(w, i);
            if (b.p) y += param_at(b, i);
            o[i * a.os] = y;
        }
    }
}

extern "C" vlm_status cuda_layer_norm(vlm_ctx *ctx, const vlm_tensor *x, const vlm_tensor *w,
                                      const vlm_tensor *b, float eps, const vlm_tensor *out) {
    cuda_dev *dev;
    vlm_status st = cuda_begin(ctx, "layer_norm", &dev);
    if (st != VLM_OK) return st;
    row_args a = row_args_of(x, out);
    ln_kernel<<<row_blocks(a.rows), row_threads(a.d, a.rows, dev), 0, cuda_stream(ctx)>>>(
        a, param_of(w), param_of(b), eps);
    return cuda_check_launch(ctx, "layer_norm");
}

__global__ void softmax_kernel(row_args a) {
    __shared__ double sh[32];
    __shared__ float shf[32];
    for (int64_t r = blockIdx.x; r < a.rows; r += gridDim.x) {
        const float *x = (const float *)(a.x + cu_row_offset(a.xr, r));
        float *o = (float *)(a.out + cu_row_offset(a.orow, r));
        float m = -INFINITY;
        for (int64_t i = threadIdx.x; i < a.d; i += blockDim.x)
            m = fmaxf(m, x[i * a.xs]);
        m = cu_block_max(m, shf);
        double sum = 0.0;
        for (int64_t i = threadIdx.x; i < a.d; i += blockDim.x)
            sum += expf(x[i * a.xs] - m);
        sum = cu_block_sum_d(sum, sh);
        float inv = (float)(1.0 / sum);
        /* x and out may be the same row (in place): each element is read, then written, by
         * the same thread, and every read of the row is above this loop's barrier. */
        for (int64_t i = threadIdx.x; i < a.d; i += blockDim.x)
            o[i * a.os] = expf(x[i * a.xs] - m) * inv;
        __syncthreads(); /* the next row's reads must not pass this row's writes */
    }
}

extern "C" vlm_status cuda_softmax(vlm_ctx *ctx, const vlm_tensor *x, const vlm_tensor *out) {
    cuda_dev *dev;
    vlm_status st = cuda_begin(ctx, "softmax", &dev);
    if (st != VLM_OK) return st;
    row_args a = row_args_of(x, out);
    softmax_kernel<<<row_blocks(a.rows), row_threads(a.d, a.rows, dev), 0, cuda_stream(ctx)>>>(a);
    return cuda_check_launch(ctx, "softmax");
}
