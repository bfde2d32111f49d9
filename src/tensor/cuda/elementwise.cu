/* CUDA add / mul (b broadcast through stride-0 dimensions, b f32/f16/bf16), scale, the
 * activations and the fused gated activation act(gate) * up, over any strides through the
 * strided iterator: one thread per element, one f32 result per element in the same
 * formulas as the CPU backend (expf, erff, tanhf of CUDA's math library, within 2 ulp of
 * glibc's; compiled without fast-math). */
#include "tensor/cuda/cuda_internal.cuh"

enum { EW_ADD = 0, EW_MUL, EW_SCALE, EW_ACT, EW_GATED };

/* Operand 0 is the output (f32); operand 1 is a / x / gate (f32); operand 2 is b (dtype bd)
 * or up (f32). */
template <typename I, int NOPS>
__global__ void ew_kernel(cu_iter it, char *out, const char *in1, const char *in2, int kind,
                          int sub, int bd, float s) {
    I total = (I)it.total;
    for (I e = (I)(blockIdx.x * blockDim.x + threadIdx.x); e < total;
         e += (I)(gridDim.x * blockDim.x)) {
        int64_t off[NOPS];
        cu_iter_offsets<I, NOPS>(it, e, off);
        float x = *(const float *)(in1 + off[1]), r;
        switch (kind) {
        case EW_ADD:
            r = x + cu_load_f(in2 + off[NOPS - 1], bd);
            break;
        case EW_MUL:
            r = x * cu_load_f(in2 + off[NOPS - 1], bd);
            break;
        case EW_SCALE:
            r = x * s;
            break;
        case EW_ACT:
            r = cu_act_eval(sub, x);
            break;
        default:
            r = cu_act_eval(sub, x) * *(const float *)(in2 + off[NOPS - 1]);
            break;
        }
        *(float *)(out + off[0]) = r;
    }
}

static vlm_status ew_run(vlm_ctx *ctx, const char *op, int kind, int sub, float s,
                         const vlm_tensor *out, const vlm_tensor *in1, const vlm_tensor *in2) {
    cuda_dev *dev;
    vlm_status st = cuda_begin(ctx, op, &dev);
    if (st != VLM_OK) return st;
    const vlm_tensor *ts[3] = {out, in1, in2};
    int n_ops = in2 ? 3 : 2;
    cu_iter it;
    cuda_iter_init(&it, n_ops, ts);
    unsigned blocks = cuda_blocks(it.total, 256, dev);
    const char *p2 = in2 ? cuda_ptr(in2) : NULL;
    int bd = in2 ? (int)in2->dtype : (int)VLM_DTYPE_F32;
    bool small = it.total < ((int64_t)1 << 31);
    cudaStream_t sm = cuda_stream(ctx);
    if (n_ops == 3) {
        if (small)
            ew_kernel<uint32_t, 3>
                <<<blocks, 256, 0, sm>>>(it, cuda_ptr(out), cuda_ptr(in1), p2, kind, sub, bd, s);
        else
            ew_kernel<uint64_t, 3>
                <<<blocks, 256, 0, sm>>>(it, cuda_ptr(out), cuda_ptr(in1), p2, kind, sub, bd, s);
    } else {
        if (small)
            ew_kernel<uint32_t, 2>
                <<<blocks, 256, 0, sm>>>(it, cuda_ptr(out), cuda_ptr(in1), p2, kind, sub, bd, s);
        else
            ew_kernel<uint64_t, 2>
                <<<blocks, 256, 0, sm>>>(it, cuda_ptr(out), cuda_ptr(in1), p2, kind, sub, bd, s);
    }
    return cuda_check_launch(ctx, op);
}

extern "C" vlm_status cuda_binary(vlm_ctx *ctx, vlm_binary_op op, const vlm_tensor *a,
                                  const vlm_tensor *b, const vlm_tensor *out) {
    return ew_run(ctx, op == VLM_BINARY_ADD ? "add" : "mul", op == VLM_BINARY_ADD ? EW_ADD : EW_MUL,
                  0, 0.0f, out, a, b);
}

extern "C" vlm_status cuda_scale(vlm_ctx *ctx, const vlm_tensor *x, float s,
                                 const vlm_tensor *out) {
    return ew_run(ctx, "scale", EW_SCALE, 0, s, out, x, NULL);
}

extern "C" vlm_status cuda_act(vlm_ctx *ctx, vlm_act act, const vlm_tensor *x,
                               const vlm_tensor *out) {
    return ew_run(ctx, "act", EW_ACT, (int)act, 0.0f, out, x, NULL);
}

extern "C" vlm_status cuda_gated_act(vlm_ctx *ctx, vlm_act act, const vlm_tensor *gate,
                                     const vlm_tensor *up, const vlm_tensor *out) {
    return ew_run(ctx, "gated_act", EW_GATED, (int)act, 0.0f, out, gate, up);
}
