/* CPU copy (with f32/f16/bf16/f64 conversion) and fill, over any strides, through the
 * strided iterator. Contiguous runs of the same dtype are memcpy; conversions round to
 * nearest even (dtype.h). */
#include "tensor/cpu/cpu.h"

typedef struct copy_arg {
    vlm_dtype sd, dd;
    size_t ss, ds; /* element sizes */
} copy_arg;

static inline void store_f(char *p, vlm_dtype dt, float v) {
    switch (dt) {
    case VLM_DTYPE_F32:
        memcpy(p, &v, 4);
        break;
    case VLM_DTYPE_BF16: {
        uint16_t h = vlm_f32_to_bf16(v);
        memcpy(p, &h, 2);
        break;
    }
    case VLM_DTYPE_F16: {
        uint16_t h = vlm_f32_to_f16(v);
        memcpy(p, &h, 2);
        break;
    }
    case VLM_DTYPE_F64: {
        double d = v;
        memcpy(p, &d, 8);
        break;
    }
    default:
        break;
    }
}

/* ptr[0] = dst, ptr[1] = src. */
static void copy_run(int64_t n, char *const *ptr, const int64_t *stride, const void *varg) {
    const copy_arg *a = varg;
    char *d = ptr[0];
    const char *s = ptr[1];
    int64_t ds = stride[0], ss = stride[1];
    if (a->sd == a->dd) {
        if (ds == (int64_t)a->ds && ss == (int64_t)a->ss) {
            memcpy(d, s, (size_t)n * a->ds);
        } else {
            for (int64_t i = 0; i < n; i++)
                memcpy(d + i * ds, s + i * ss, a->ss);
        }
        return;
    }
    if (a->sd == VLM_DTYPE_F32 && a->dd == VLM_DTYPE_BF16 && ds == 2 && ss == 4) {
        const float *sf = (const float *)(const void *)s;
        uint16_t *dh = (uint16_t *)(void *)d;
        for (int64_t i = 0; i < n; i++)
            dh[i] = vlm_f32_to_bf16(sf[i]);
        return;
    }
    if (a->sd == VLM_DTYPE_BF16 && a->dd == VLM_DTYPE_F32 && ds == 4 && ss == 2) {
        const uint16_t *sh = (const uint16_t *)(const void *)s;
        float *df = (float *)(void *)d;
        for (int64_t i = 0; i < n; i++)
            df[i] = vlm_bf16_to_f32(sh[i]);
        return;
    }
    if (a->sd == VLM_DTYPE_F64 || a->dd == VLM_DTYPE_F64) {
        /* f64 <-> f32 both exact through double; f64 -> f16/bf16 rounds via f32. */
        for (int64_t i = 0; i < n; i++) {
            double v;
            if (a->sd == VLM_DTYPE_F64)
                memcpy(&v, s + i * ss, 8);
            else
                v = cpu_load(s + i * ss, a->sd);
            if (a->dd == VLM_DTYPE_F64)
                memcpy(d + i * ds, &v, 8);
            else
                store_f(d + i * ds, a->dd, (float)v);
        }
        return;
    }
    for (int64_t i = 0; i < n; i++)
        store_f(d + i * ds, a->dd, cpu_load(s + i * ss, a->sd));
}

vlm_status cpu_copy(vlm_ctx *ctx, const vlm_tensor *src, const vlm_tensor *dst) {
    copy_arg a = {src->dtype, dst->dtype, vlm_dtype_size(src->dtype), vlm_dtype_size(dst->dtype)};
    const vlm_tensor *ts[2] = {dst, src};
    cpu_iter it;
    cpu_iter_init(&it, 2, ts);
    cpu_iter_run(&it, copy_run, &a, ctx->n_threads);
    return VLM_OK;
}

typedef struct fill_arg {
    char value[8]; /* one element of the destination dtype */
    size_t size;
} fill_arg;

static void fill_run(int64_t n, char *const *ptr, const int64_t *stride, const void *varg) {
    const fill_arg *a = varg;
    for (int64_t i = 0; i < n; i++)
        memcpy(ptr[0] + i * stride[0], a->value, a->size);
}

vlm_status cpu_fill(vlm_ctx *ctx, const vlm_tensor *dst, float value) {
    fill_arg a;
    a.size = vlm_dtype_size(dst->dtype);
    store_f(a.value, dst->dtype, value);
    const vlm_tensor *ts[1] = {dst};
    cpu_iter it;
    cpu_iter_init(&it, 1, ts);
    cpu_iter_run(&it, fill_run, &a, ctx->n_threads);
    return VLM_OK;
}
