/* CPU 2D average pooling over a channels-last grid x [H, W, C] -> out [OH, OW, C], no
 * padding. Each output is the f32 sum of its window (rows, then columns, as torch's loop)
 * divided by kh * kw. Output cells are split across threads; channels are the inner loop. */
#include "tensor/cpu/cpu.h"

vlm_status cpu_avg_pool2d(vlm_ctx *ctx, const vlm_tensor *x, int kh, int kw, int sh, int sw,
                          const vlm_tensor *out) {
    int64_t oh = out->shape[0], ow = out->shape[1], c = out->shape[2];
    int64_t xc = x->stride[2] / 4, oc = out->stride[2] / 4;
    float div = (float)(kh * kw);
    const char *xb = cpu_ptr(x);
    char *ob = cpu_ptr(out);
    int nt = oh * ow * c * kh * kw >= CPU_PAR_MIN ? ctx->n_threads : 1;
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t cell = 0; cell < oh * ow; cell++) {
        int64_t y = cell / ow, xx = cell % ow;
        float *o = (float *)(void *)(ob + y * out->stride[0] + xx * out->stride[1]);
        for (int64_t ch = 0; ch < c; ch++)
            o[ch * oc] = 0.0f;
        for (int ky = 0; ky < kh; ky++) {
            for (int kx = 0; kx < kw; kx++) {
                const float *in = (const float *)(const void *)(xb + (y * sh + ky) * x->stride[0] +
                                                                (xx * sw + kx) * x->stride[1]);
                for (int64_t ch = 0; ch < c; ch++)
                    o[ch * oc] += in[ch * xc];
            }
        }
        for (int64_t ch = 0; ch < c; ch++)
            o[ch * oc] /= div;
    }
    return VLM_OK;
}
