/* CPU activations and the fused gated activation act(gate) * up, through the strided
 * iterator. Formulas are torch's / HF's, evaluated in f32: exp through cpu_expf (simd.h,
 * vectorized), erf through libm. */
#include <math.h>

#include "tensor/cpu/cpu.h"
#include "tensor/cpu/simd.h"

static inline float act_eval(vlm_act act, float x) {
    switch (act) {
    case VLM_ACT_SILU:
        return x / (1.0f + cpu_expf(-x));
    case VLM_ACT_GELU:
        return 0.5f * x * (1.0f + erff(x * 0.70710678118654752440f));
    case VLM_ACT_GELU_TANH: {
        /* 0.5 x (1 + tanh(u)) = x * sigmoid(2u): the same function, through the vectorized
         * exp (torch's form loses the tiny values of large negative x to cancellation; the
         * two differ by less than 1e-6 absolute). */
        const float beta = 0.79788456080286535588f; /* sqrt(2 / pi) */
        float inner = beta * (x + 0.044715f * x * x * x);
        return x / (1.0f + cpu_expf(-2.0f * inner));
    }
    case VLM_ACT_QUICK_GELU:
        return x * (1.0f / (1.0f + cpu_expf(-1.702f * x)));
    case VLM_ACT_RELU:
        return x < 0.0f ? 0.0f : x;
    default:
        return x;
    }
}

/* One loop per activation so each inlines and vectorizes where libm allows. */
#define ACT_LOOP(ACT)                                                                              \
    do {                                                                                           \
        if (contiguous) {                                                                          \
            float *o = (float *)(void *)ptr[0];                                                    \
            const float *x = (const float *)(const void *)ptr[1];                                  \
            if (gated) {                                                                           \
                const float *u = (const float *)(const void *)ptr[2];                              \
                for (int64_t i = 0; i < n; i++)                                                    \
                    o[i] = act_eval(ACT, x[i]) * u[i];                                             \
            } else {                                                                               \
                for (int64_t i = 0; i < n; i++)                                                    \
                    o[i] = act_eval(ACT, x[i]);                                                    \
            }                                                                                      \
        } else {                                                                                   \
            for (int64_t i = 0; i < n; i++) {                                                      \
                float v, u = 1.0f;                                                                 \
                memcpy(&v, ptr[1] + i * stride[1], 4);                                             \
                if (gated) memcpy(&u, ptr[2] + i * stride[2], 4);                                  \
                v = gated ? act_eval(ACT, v) * u : act_eval(ACT, v);                               \
                memcpy(ptr[0] + i * stride[0], &v, 4);                                             \
            }                                                                                      \
        }                                                                                          \
    } while (0)

typedef struct act_arg {
    vlm_act act;
    int gated;
} act_arg;

/* Contiguous SiLU / quick GELU (exp-based: vectorized through cpu_expf), times u when
 * u != NULL. */
#define CONTIG_LOOP(ACT)                                                                           \
    do {                                                                                           \
        if (u) {                                                                                   \
            _Pragma("omp simd") for (int64_t i = 0; i < n; i++) o[i] = act_eval(ACT, x[i]) * u[i]; \
        } else {                                                                                   \
            _Pragma("omp simd") for (int64_t i = 0; i < n; i++) o[i] = act_eval(ACT, x[i]);        \
        }                                                                                          \
    } while (0)

/* Contiguous rows of the activations that vectorize (all but erf GELU), times u when
 * u != NULL. */
CPU_CLONES static void act_contig(vlm_act act, float *o, const float *x, const float *u,
                                  int64_t n) {
    switch (act) {
    case VLM_ACT_SILU:
        CONTIG_LOOP(VLM_ACT_SILU);
        break;
    case VLM_ACT_GELU_TANH:
        CONTIG_LOOP(VLM_ACT_GELU_TANH);
        break;
    case VLM_ACT_QUICK_GELU:
        CONTIG_LOOP(VLM_ACT_QUICK_GELU);
        break;
    default:
        CONTIG_LOOP(VLM_ACT_RELU);
        break;
    }
}

/* ptr[0] = out, ptr[1] = x (gate), ptr[2] = up when gated. */
static void act_run(int64_t n, char *const *ptr, const int64_t *stride, const void *varg) {
    const act_arg *a = varg;
    int gated = a->gated;
    bool contiguous = stride[0] == 4 && stride[1] == 4 && (!gated || stride[2] == 4);
    if (contiguous && a->act != VLM_ACT_GELU) {
        act_contig(a->act, (float *)(void *)ptr[0], (const float *)(const void *)ptr[1],
                   gated ? (const float *)(const void *)ptr[2] : NULL, n);
        return;
    }
    switch (a->act) {
    case VLM_ACT_SILU:
        ACT_LOOP(VLM_ACT_SILU);
        break;
    case VLM_ACT_GELU:
        ACT_LOOP(VLM_ACT_GELU);
        break;
    case VLM_ACT_GELU_TANH:
        ACT_LOOP(VLM_ACT_GELU_TANH);
        break;
    case VLM_ACT_QUICK_GELU:
        ACT_LOOP(VLM_ACT_QUICK_GELU);
        break;
    default:
        ACT_LOOP(VLM_ACT_RELU);
        break;
    }
}

vlm_status cpu_act(vlm_ctx *ctx, vlm_act act, const vlm_tensor *x, const vlm_tensor *out) {
    act_arg a = {act, 0};
    const vlm_tensor *ts[2] = {out, x};
    cpu_iter it;
    cpu_iter_init(&it, 2, ts);
    cpu_iter_run(&it, act_run, &a, ctx->n_threads);
    return VLM_OK;
}

vlm_status cpu_gated_act(vlm_ctx *ctx, vlm_act act, const vlm_tensor *gate, const vlm_tensor *up,
                         const vlm_tensor *out) {
    act_arg a = {act, 1};
    const vlm_tensor *ts[3] = {out, gate, up};
    cpu_iter it;
    cpu_iter_init(&it, 3, ts);
    cpu_iter_run(&it, act_run, &a, ctx->n_threads);
    return VLM_OK;
}
