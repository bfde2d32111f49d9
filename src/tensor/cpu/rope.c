/* CPU rotary embeddings: the cos/sin tables (1-D positions, M-RoPE sections, 2D vision
 * positions) and their application to [S, H, D] heads in rotate-half or interleaved form.
 * Angles are one f32 product f32(pos) * inv_freq as in HF's f32 matmul of inv_freq and
 * positions; cos/sin are evaluated in double and rounded once. */
#include <math.h>

#include "tensor/cpu/cpu.h"

/* Which position axis frequency j reads (see vlm_rope_sections). */
static int axis_of(int64_t j, int n_axes, const int *sections, vlm_rope_sections layout) {
    if (n_axes == 1) return 0;
    if (layout == VLM_ROPE_SECTIONS_INTERLEAVED) {
        for (int a = 1; a < n_axes; a++)
            if (j % n_axes == a && j < (int64_t)n_axes * sections[a]) return a;
        return 0;
    }
    int64_t end = 0;
    for (int a = 0; a < n_axes; a++) {
        end += sections[a];
        if (j < end) return a;
    }
    return n_axes - 1;
}

vlm_status cpu_rope_table(vlm_ctx *ctx, const vlm_tensor *pos, const vlm_tensor *inv_freq,
                          const int *sections, vlm_rope_sections layout, float attention_scaling,
                          const vlm_tensor *cos_t, const vlm_tensor *sin_t) {
    int n_axes = pos->ndim == 1 ? 1 : (int)pos->shape[0];
    int64_t s_len = cos_t->shape[0], half = cos_t->shape[1];
    int64_t ps_axis = pos->ndim == 1 ? 0 : pos->stride[0], ps = pos->stride[pos->ndim - 1];
    const char *pbase = cpu_ptr(pos), *fbase = cpu_ptr(inv_freq);
    int nt = s_len * half >= CPU_PAR_MIN / 8 ? ctx->n_threads : 1;
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t s = 0; s < s_len; s++) {
        float *cr = (float *)(void *)(cpu_ptr(cos_t) + s * cos_t->stride[0]);
        float *sr = (float *)(void *)(cpu_ptr(sin_t) + s * sin_t->stride[0]);
        int64_t cstep = cos_t->stride[1] / 4, sstep = sin_t->stride[1] / 4;
        for (int64_t j = 0; j < half; j++) {
            int a = axis_of(j, n_axes, sections, layout);
            float p = (float)cpu_load_index(pbase + a * ps_axis + s * ps, pos->dtype);
            float f;
            memcpy(&f, fbase + j * inv_freq->stride[0], 4);
            float angle = p * f;
            cr[j * cstep] = (float)cos((double)angle) * attention_scaling;
            sr[j * sstep] = (float)sin((double)angle) * attention_scaling;
        }
    }
    return VLM_OK;
}

vlm_status cpu_rope(vlm_ctx *ctx, const vlm_tensor *x, const vlm_tensor *cos, const vlm_tensor *sin,
                    vlm_rope_mode mode, const vlm_tensor *out) {
    int64_t s_len = x->shape[0], heads = x->shape[1], d = x->shape[2], half = cos->shape[1];
    int64_t xs = x->stride[2] / 4, os = out->stride[2] / 4;
    int64_t cs = cos->stride[1] / 4, ss = sin->stride[1] / 4;
    bool in_place = cpu_ptr(x) == cpu_ptr(out);
    int64_t work = s_len * heads;
    int nt = work * d >= CPU_PAR_MIN ? ctx->n_threads : 1;
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t w = 0; w < work; w++) {
        int64_t s = w / heads, h = w % heads;
        const float *xr =
            (const float *)(const void *)(cpu_ptr(x) + s * x->stride[0] + h * x->stride[1]);
        float *o = (float *)(void *)(cpu_ptr(out) + s * out->stride[0] + h * out->stride[1]);
        const float *c = (const float *)(const void *)(cpu_ptr(cos) + s * cos->stride[0]);
        const float *sn = (const float *)(const void *)(cpu_ptr(sin) + s * sin->stride[0]);
        for (int64_t i = 0; i < half; i++) {
            int64_t i0 = mode == VLM_ROPE_ROTATE_HALF ? i : 2 * i;
            int64_t i1 = mode == VLM_ROPE_ROTATE_HALF ? i + half : 2 * i + 1;
            float a = xr[i0 * xs], b = xr[i1 * xs]; /* both read before either is written */
            float ci = c[i * cs], si = sn[i * ss];
            o[i0 * os] = a * ci - b * si;
            o[i1 * os] = b * ci + a * si;
        }
        if (!in_place)
            for (int64_t i = 2 * half; i < d; i++)
                o[i * os] = xr[i * xs];
    }
    return VLM_OK;
}
