/* CUDA 2D average pooling over a channels-last grid x [H, W, C] -> out [OH, OW, C], no
 * padding: one thread per output element, the window summed in f32 row by row, column by
 * column (the CPU backend's and torch's order), then divided by kh * kw. */
#include "tensor/cuda/cuda_internal.cuh"

typedef struct pool_args {
    const char *x;
    char *out;
    int64_t xs0, xs1, xs2, os0, os1, os2; /* bytes */
    int64_t oh, ow, c;
    int kh, kw, sh, sw;
} pool_args;

__global__ void pool_kernel(pool_args a) {
    int64_t total = a.oh * a.ow * a.c;
    float div = (float)(a.kh * a.kw);
    for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < total;
         e += (int64_t)gridDim.x * blockDim.x) {
        int64_t ch = e % a.c, cell = e / a.c, y = cell / a.ow, xx = cell % a.ow;
        float acc = 0.0f;
        for (int ky = 0; ky < a.kh; ky++)
            for (int kx = 0; kx < a.kw; kx++)
                acc += *(const float *)(a.x + (y * a.sh + ky) * a.xs0 + (xx * a.sw + kx) * a.xs1 +
                                        ch * a.xs2);
        *(float *)(a.out + y * a.os0 + xx * a.os1 + ch * a.os2) = acc / div;
    }
}

extern "C" vlm_status cuda_avg_pool2d(vlm_ctx *ctx, const vlm_tensor *x, int kh, int kw, int sh,
                                      int sw, const vlm_tensor *out) {
    cuda_dev *dev;
    vlm_status st = cuda_begin(ctx, "avg_pool2d", &dev);
    if (st != VLM_OK) return st;
    pool_args a = {cuda_ptr(x),
                   cuda_ptr(out),
                   x->stride[0],
                   x->stride[1],
                   x->stride[2],
                   out->stride[0],
                   out->stride[1],
                   out->stride[2],
                   out->shape[0],
                   out->shape[1],
                   out->shape[2],
                   kh,
                   kw,
                   sh,
                   sw};
    pool_kernel<<<cuda_blocks(a.oh * a.ow * a.c, 256, dev), 256, 0, cuda_stream(ctx)>>>(a);
    return cuda_check_launch(ctx, "avg_pool2d");
}
