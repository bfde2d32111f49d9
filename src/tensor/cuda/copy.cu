/* CUDA copy (any strides, f32/f16/bf16/f64 conversions bit-identical to the CPU's) and fill,
 * plus the host side of the strided iterator. Same-dtype copies whose coalesced shape is one
 * contiguous run, or rows of one contiguous run each, go to the copy engine
 * (cudaMemcpyAsync / cudaMemcpy2DAsync); everything else is one thread per element. */
#include "tensor/cuda/cuda_internal.cuh"
#include "tensor/strided.h"

void cuda_iter_init(cu_iter *it, int n_ops, const vlm_tensor *const *ts) {
    it->n_ops = n_ops;
    it->ndim = vlm_strided_coalesce(n_ops, ts, it->shape, it->stride);
    it->total = 1;
    for (int d = 0; d < it->ndim; d++)
        it->total *= it->shape[d];
}

template <typename I>
__global__ void copy_kernel(cu_iter it, char *dst, const char *src, int dd, int sd, int esz) {
    I total = (I)it.total;
    for (I e = (I)(blockIdx.x * blockDim.x + threadIdx.x); e < total;
         e += (I)(gridDim.x * blockDim.x)) {
        int64_t off[2];
        cu_iter_offsets<I, 2>(it, e, off);
        cu_convert(dst + off[0], dd, src + off[1], sd, esz);
    }
}

vlm_status cuda_copy_tensor(vlm_ctx *ctx, const char *op, const vlm_tensor *src,
                            const vlm_tensor *dst) {
    cuda_dev *dev;
    vlm_status st = cuda_begin(ctx, op, &dev);
    if (st != VLM_OK) return st;
    const vlm_tensor *ts[2] = {dst, src};
    cu_iter it;
    cuda_iter_init(&it, 2, ts);
    if (it.total == 0) return VLM_OK;
    int64_t esz = (int64_t)vlm_dtype_size(src->dtype);
    char *d = cuda_ptr(dst);
    const char *s = cuda_ptr(src);
    if (src->dtype == dst->dtype) {
        int nd = it.ndim;
        if (nd == 1 && it.stride[0][0] == esz && it.stride[1][0] == esz)
            return cuda_check(ctx, op,
                              cudaMemcpyAsync(d, s, (size_t)(it.total * esz),
                                              cudaMemcpyDeviceToDevice, cuda_stream(ctx)));
        int64_t width = it.shape[1] * esz;
        if (nd == 2 && it.stride[0][1] == esz && it.stride[1][1] == esz &&
            it.stride[0][0] >= width && it.stride[1][0] >= width)
            return cuda_check(ctx, op,
                              cudaMemcpy2DAsync(d, (size_t)it.stride[0][0], s,
                                                (size_t)it.stride[1][0], (size_t)width,
                                                (size_t)it.shape[0], cudaMemcpyDeviceToDevice,
                                                cuda_stream(ctx)));
    }
    unsigned blocks = cuda_blocks(it.total, 256, dev);
    if (it.total < ((int64_t)1 << 31))
        copy_kernel<uint32_t>
            <<<blocks, 256, 0, cuda_stream(ctx)>>>(it, d, s, dst->dtype, src->dtype, (int)esz);
    else
        copy_kernel<uint64_t>
            <<<blocks, 256, 0, cuda_stream(ctx)>>>(it, d, s, dst->dtype, src->dtype, (int)esz);
    return cuda_check_launch(ctx, op);
}

extern "C" vlm_status cuda_copy(vlm_ctx *ctx, const vlm_tensor *src, const vlm_tensor *dst) {
    return cuda_copy_tensor(ctx, "copy", src, dst);
}

template <typename I> __global__ void fill_kernel(cu_iter it, char *dst, uint64_t bits, int esz) {
    I total = (I)it.total;
    for (I e = (I)(blockIdx.x * blockDim.x + threadIdx.x); e < total;
         e += (I)(gridDim.x * blockDim.x)) {
        int64_t off[1];
        cu_iter_offsets<I, 1>(it, e, off);
        char *d = dst + off[0];
        switch (esz) {
        case 2:
            *(uint16_t *)d = (uint16_t)bits;
            break;
        case 4:
            *(uint32_t *)d = (uint32_t)bits;
            break;
        default:
            *(uint64_t *)d = bits;
            break;
        }
    }
}

extern "C" vlm_status cuda_fill(vlm_ctx *ctx, const vlm_tensor *dst, float value) {
    cuda_dev *dev;
    vlm_status st = cuda_begin(ctx, "fill", &dev);
    if (st != VLM_OK) return st;
    /* The element's bit pattern, converted on the host exactly as the CPU backend does. */
    uint64_t bits = 0;
    switch (dst->dtype) {
    case VLM_DTYPE_F32:
        memcpy(&bits, &value, 4);
        break;
    case VLM_DTYPE_BF16:
        bits = vlm_f32_to_bf16(value);
        break;
    case VLM_DTYPE_F16:
        bits = vlm_f32_to_f16(value);
        break;
    default: {
        double dv = value;
        memcpy(&bits, &dv, 8);
        break;
    }
    }
    const vlm_tensor *ts[1] = {dst};
    cu_iter it;
    cuda_iter_init(&it, 1, ts);
    unsigned blocks = cuda_blocks(it.total, 256, dev);
    int esz = (int)vlm_dtype_size(dst->dtype);
    if (it.total < ((int64_t)1 << 31))
        fill_kernel<uint32_t><<<blocks, 256, 0, cuda_stream(ctx)>>>(it, cuda_ptr(dst), bits, esz);
    else
        fill_kernel<uint64_t><<<blocks, 256, 0, cuda_stream(ctx)>>>(it, cuda_ptr(dst), bits, esz);
    return cuda_check_launch(ctx, "fill");
}

vlm_status cuda_contiguous_scratch(vlm_ctx *ctx, const char *op, const vlm_tensor *t, vlm_dtype dt,
                                   vlm_tensor *out) {
    vlm_tensor c;
    vlm_error e;
    vlm_status st = vlm_arena_tensor(ctx->arena, dt, t->ndim, t->shape, &c, &e);
    if (st != VLM_OK) return vlm_ctx_fail(ctx, st, "%s: scratch: %s", op, e.message);
    if ((st = cuda_copy_tensor(ctx, op, t, &c)) != VLM_OK) return st;
    *out = c;
    return VLM_OK;
}
