/* CUDA rotary embeddings: the cos/sin tables (one thread per (position, frequency): the
 * angle is one f32 product f32(pos) * inv_freq as in HF, cos/sin evaluated in double and
 * rounded once, as the CPU backend) and their application to [S, H, D] heads (one thread
 * per rotated pair, both elements read before either is written, so in place is safe). */
#include "tensor/cuda/cuda_internal.cuh"

typedef struct table_args {
    const char *pos;
    int64_t pos_axis_stride, pos_stride; /* bytes */
    int pos_dt;
    const char *inv_freq;
    int64_t f_stride;
    char *cos, *sin;
    int64_t cs0, cs1, ss0, ss1; /* bytes */
    int64_t s_len, half;
    int n_axes, layout;
    int sections[4];
    float scaling;
} table_args;

__device__ __forceinline__ int axis_of(int64_t j, const table_args &a) {
    if (a.n_axes == 1) return 0;
    if (a.layout == VLM_ROPE_SECTIONS_INTERLEAVED) {
        for (int ax = 1; ax < a.n_axes; ax++)
            if (j % a.n_axes == ax && j < (int64_t)a.n_axes * a.sections[ax]) return ax;
        return 0;
    }
    int64_t end = 0;
    for (int ax = 0; ax < a.n_axes; ax++) {
        end += a.sections[ax];
        if (j < end) return ax;
    }
    return a.n_axes - 1;
}

__global__ void rope_table_kernel(table_args a) {
    cu_pdl_wait();
    cu_pdl_trigger();
    int64_t total = a.s_len * a.half;
    for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < total;
         e += (int64_t)gridDim.x * blockDim.x) {
        int64_t s = e / a.half, j = e % a.half;
        int ax = axis_of(j, a);
        float p = (float)cu_load_index(a.pos + ax * a.pos_axis_stride + s * a.pos_stride, a.pos_dt);
        float f = *(const float *)(a.inv_freq + j * a.f_stride);
        float angle = __fmul_rn(p, f); /* one rounded product, never fused */
        *(float *)(a.cos + s * a.cs0 + j * a.cs1) = (float)cos((double)angle) * a.scaling;
        *(float *)(a.sin + s * a.ss0 + j * a.ss1) = (float)sin((double)angle) * a.scaling;
    }
}

extern "C" vlm_status cuda_rope_table(vlm_ctx *ctx, const vlm_tensor *pos,
                                      const vlm_tensor *inv_freq, const int *sections,
                                      vlm_rope_sections layout, float attention_scaling,
                                      const vlm_tensor *cos_t, const vlm_tensor *sin_t) {
    cuda_dev *dev;
    vlm_status st = cuda_begin(ctx, "rope_table", &dev);
    if (st != VLM_OK) return st;
    table_args a;
    memset(&a, 0, sizeof a);
    a.n_axes = pos->ndim == 1 ? 1 : (int)pos->shape[0];
    a.pos = cuda_ptr(pos);
    a.pos_axis_stride = pos->ndim == 1 ? 0 : pos->stride[0];
    a.pos_stride = pos->stride[pos->ndim - 1];
    a.pos_dt = pos->dtype;
    a.inv_freq = cuda_ptr(inv_freq);
    a.f_stride = inv_freq->stride[0];
    a.cos = cuda_ptr(cos_t);
    a.sin = cuda_ptr(sin_t);
    a.cs0 = cos_t->stride[0];
    a.cs1 = cos_t->stride[1];
    a.ss0 = sin_t->stride[0];
    a.ss1 = sin_t->stride[1];
    a.s_len = cos_t->shape[0];
    a.half = cos_t->shape[1];
    a.layout = layout;
    for (int i = 0; i < a.n_axes && sections; i++)
        a.sections[i] = sections[i];
    a.scaling = attention_scaling;
    cudaError_t e = cuda_launch(ctx, rope_table_kernel,
                                dim3(cuda_blocks(a.s_len * a.half, 256, dev)), dim3(256), 0, a);
    if (e != cudaSuccess) return cuda_check(ctx, "rope_table", e);
    return cuda_check_launch(ctx, "rope_table");
}

typedef struct rope_args {
    const char *x;
    char *out;
    const char *cos, *sin;
    int64_t xs0, xs1, xs2, os0, os1, os2; /* bytes */
    int64_t cs0, cs1, ss0, ss1;
    int64_t s_len, heads, d, half;
    int interleaved, copy_tail;
} rope_args;

__global__ void rope_kernel(rope_args a) {
    cu_pdl_wait();
    cu_pdl_trigger();
    /* One item per (s, h, i) with i < D - R/2: pairs i < R/2 rotate, the rest copy dims
     * R..D-1 (only when not in place). */
    int64_t per = a.d - a.half, total = a.s_len * a.heads * per;
    for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < total;
         e += (int64_t)gridDim.x * blockDim.x) {
        int64_t i = e % per, sh = e / per, h = sh % a.heads, s = sh / a.heads;
        const char *xr = a.x + s * a.xs0 + h * a.xs1;
        char *o = a.out + s * a.os0 + h * a.os1;
        if (i < a.half) {
            int64_t i0 = a.interleaved ? 2 * i : i, i1 = a.interleaved ? 2 * i + 1 : i + a.half;
            float x0 = *(const float *)(xr + i0 * a.xs2), x1 = *(const float *)(xr + i1 * a.xs2);
            float c = *(const float *)(a.cos + s * a.cs0 + i * a.cs1);
            float sn = *(const float *)(a.sin + s * a.ss0 + i * a.ss1);
            *(float *)(o + i0 * a.os2) = __fsub_rn(__fmul_rn(x0, c), __fmul_rn(x1, sn));
            *(float *)(o + i1 * a.os2) = __fadd_rn(__fmul_rn(x1, c), __fmul_rn(x0, sn));
        } else if (a.copy_tail) {
            int64_t t = i + a.half; /* R + (i - R/2) */
            *(float *)(o + t * a.os2) = *(const float *)(xr + t * a.xs2);
        }
    }
}

extern "C" vlm_status cuda_rope(vlm_ctx *ctx, const vlm_tensor *x, const vlm_tensor *cos,
                                const vlm_tensor *sin, vlm_rope_mode mode, const vlm_tensor *out) {
    cuda_dev *dev;
    vlm_status st = cuda_begin(ctx, "rope", &dev);
    if (st != VLM_OK) return st;
    rope_args a;
    a.x = cuda_ptr(x);
    a.out = cuda_ptr(out);
    a.cos = cuda_ptr(cos);
    a.sin = cuda_ptr(sin);
    a.xs0 = x->stride[0];
    a.xs1 = x->stride[1];
    a.xs2 = x->stride[2];
    a.os0 = out->stride[0];
    a.os1 = out->stride[1];
    a.os2 = out->stride[2];
    a.cs0 = cos->stride[0];
    a.cs1 = cos->stride[1];
    a.ss0 = sin->stride[0];
    a.ss1 = sin->stride[1];
    a.s_len = x->shape[0];
    a.heads = x->shape[1];
    a.d = x->shape[2];
    a.half = cos->shape[1];
    a.interleaved = mode == VLM_ROPE_INTERLEAVED;
    a.copy_tail = a.x != a.out;
    int64_t total = a.s_len * a.heads * (a.d - a.half);
    cudaError_t e =
        cuda_launch(ctx, rope_kernel, dim3(cuda_blocks(total, 256, dev)), dim3(256), 0, a);
    if (e != cudaSuccess) return cuda_check(ctx, "rope", e);
    return cuda_check_launch(ctx, "rope");
}
