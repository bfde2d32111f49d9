/* CPU add, mul (b broadcast by stride-0 dimensions, b f32/f16/bf16) and scale, through the
 * strided iterator. Each result is one f32 operation, as torch computes it. */
#include "tensor/cpu/cpu.h"

typedef struct bin_arg {
    vlm_binary_op op;
    vlm_dtype bd;
} bin_arg;

/* ptr[0] = out, ptr[1] = a, ptr[2] = b. */
static void bin_run(int64_t n, char *const *ptr, const int64_t *stride, const void *varg) {
    const bin_arg *g = varg;
    char *o = ptr[0];
    const char *a = ptr[1], *b = ptr[2];
    int64_t so = stride[0], sa = stride[1], sb = stride[2];
    if (g->bd == VLM_DTYPE_F32 && so == 4 && sa == 4 && (sb == 4 || sb == 0)) {
        float *of = (float *)(void *)o;
        const float *af = (const float *)(const void *)a, *bf = (const float *)(const void *)b;
        if (sb == 4) {
            if (g->op == VLM_BINARY_ADD)
                for (int64_t i = 0; i < n; i++)
                    of[i] = af[i] + bf[i];
            else
                for (int64_t i = 0; i < n; i++)
                    of[i] = af[i] * bf[i];
        } else {
            float bv = bf[0];
            if (g->op == VLM_BINARY_ADD)
                for (int64_t i = 0; i < n; i++)
                    of[i] = af[i] + bv;
            else
                for (int64_t i = 0; i < n; i++)
                    of[i] = af[i] * bv;
        }
        return;
    }
    for (int64_t i = 0; i < n; i++) {
        float av, bv = cpu_load(b + i * sb, g->bd), r;
        memcpy(&av, a + i * sa, 4);
        r = g->op == VLM_BINARY_ADD ? av + bv : av * bv;
        memcpy(o + i * so, &r, 4);
    }
}

vlm_status cpu_binary(vlm_ctx *ctx, vlm_binary_op op, const vlm_tensor *a, const vlm_tensor *b,
                      const vlm_tensor *out) {
    bin_arg g = {op, b->dtype};
    const vlm_tensor *ts[3] = {out, a, b};
    cpu_iter it;
    cpu_iter_init(&it, 3, ts);
    cpu_iter_run(&it, bin_run, &g, ctx->n_threads);
    return VLM_OK;
}

static void scale_run(int64_t n, char *const *ptr, const int64_t *stride, const void *varg) {
    float s = *(const float *)varg;
    if (stride[0] == 4 && stride[1] == 4) {
        float *o = (float *)(void *)ptr[0];
        const float *x = (const float *)(const void *)ptr[1];
        for (int64_t i = 0; i < n; i++)
            o[i] = x[i] * s;
        return;
    }
    for (int64_t i = 0; i < n; i++) {
        float v;
        memcpy(&v, ptr[1] + i * stride[1], 4);
        v *= s;
        memcpy(ptr[0] + i * stride[0], &v, 4);
    }
}

vlm_status cpu_scale(vlm_ctx *ctx, const vlm_tensor *x, float s, const vlm_tensor *out) {
    const vlm_tensor *ts[2] = {out, x};
    cpu_iter it;
    cpu_iter_init(&it, 2, ts);
    cpu_iter_run(&it, scale_run, &s, ctx->n_threads);
    return VLM_OK;
}
