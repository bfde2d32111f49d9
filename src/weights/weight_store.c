/* Weights as tensors over a safetensors set (see weight_store.h). */
#include "weights/weight_store.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/checked.h"
#include "core/error.h"
#include "tensor/backend_info.h"

struct vlm_weight_store {
    const vlm_st_set *set;
    const vlm_backend *backend;
    vlm_buffer **bufs;
    size_t n_bufs, cap_bufs;
};

vlm_status vlm_weight_store_create(const vlm_st_set *set, const vlm_backend *backend,
                                   vlm_weight_store **out, vlm_error *err) {
    *out = calloc(1, sizeof **out);
    if (!*out) return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "weight store: out of memory");
    (*out)->set = set;
    (*out)->backend = backend;
    return VLM_OK;
}

void vlm_weight_store_free(vlm_weight_store *ws) {
    if (!ws) return;
    for (size_t i = 0; i < ws->n_bufs; i++) vlm_buffer_free(ws->bufs[i]);
    free(ws->bufs);
    free(ws);
}

static vlm_status keep(vlm_weight_store *ws, vlm_buffer *b, vlm_error *err) {
    if (ws->n_bufs == ws->cap_bufs) {
        size_t cap = ws->cap_bufs ? ws->cap_bufs * 2 : 256;
        vlm_buffer **nb = vlm_realloc_array(ws->bufs, cap, sizeof *nb);
        if (!nb) {
            vlm_buffer_free(b);
            return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "weight store: out of memory");
        }
        ws->bufs = nb;
        ws->cap_bufs = cap;
    }
    ws->bufs[ws->n_bufs++] = b;
    return VLM_OK;
}

bool vlm_weight_store_has(const vlm_weight_store *ws, const char *name) {
    return vlm_st_find(ws->set, name) != NULL;
}

static const char *file_of(const vlm_weight_store *ws, const vlm_st_tensor *t) {
    const char *p = vlm_st_file_path(ws->set, (size_t)t->file_index);
    const char *slash = p ? strrchr(p, '/') : NULL;
    return slash ? slash + 1 : (p ? p : "?");
}

static void shape_str(char *buf, size_t n, int ndim, const int64_t *shape) {
    size_t o = 0;
    o += (size_t)snprintf(buf + o, n - o, "[");
    for (int i = 0; i < ndim && o < n; i++)
        o += (size_t)snprintf(buf + o, n - o, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (o < n) snprintf(buf + o, n - o, "]");
}

static vlm_status float_dtype(const vlm_st_tensor *t, vlm_dtype *dt) {
    switch (t->dtype) {
    case VLM_ST_F32: *dt = VLM_DTYPE_F32; return VLM_OK;
    case VLM_ST_F16: *dt = VLM_DTYPE_F16; return VLM_OK;
    case VLM_ST_BF16: *dt = VLM_DTYPE_BF16; return VLM_OK;
    default: return VLM_ERR_FORMAT;
    }
}

/* The tensor `name`, of dtype U32 when want_u32, else any float dtype, with the shape. */
static vlm_status get_tensor(vlm_weight_store *ws, const char *name, bool want_u32, int ndim,
                             const int64_t *shape, vlm_tensor *out, vlm_error *err) {
    const vlm_st_tensor *t = vlm_st_find(ws->set, name);
    if (!t) return vlm_err(err, VLM_ERR_NOT_FOUND, "weights: tensor '%s' is missing", name);
    vlm_dtype dt = VLM_DTYPE_U32;
    if (want_u32 ? t->dtype != VLM_ST_U32 : float_dtype(t, &dt) != VLM_OK)
        return vlm_err(err, VLM_ERR_FORMAT, "%s: tensor '%s' has dtype %s, expected %s",
                       file_of(ws, t), name, vlm_st_dtype_name(t->dtype),
                       want_u32 ? "U32 (packed quantized weights)" : "F32, F16 or BF16");
    bool ok = t->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++)
        ok = shape[i] < 0 || shape[i] == t->shape[i];
    if (!ok) {
        char got[128], want[128];
        shape_str(got, sizeof got, t->ndim, t->shape);
        shape_str(want, sizeof want, ndim, shape);
        return vlm_err(err, VLM_ERR_FORMAT, "%s: tensor '%s' has shape %s, expected %s",
                       file_of(ws, t), name, got, want);
    }
    if (!t->data)
        return vlm_err(err, VLM_ERR_INVALID_ARGUMENT,
                       "%s: tensor '%s': weights opened headers-only", file_of(ws, t), name);
    vlm_buffer *b = NULL;
    vlm_status s;
    if (vlm_backend_host_memory(ws->backend)) {
        s = vlm_buffer_wrap(ws->backend, (void *)t->data, (size_t)t->nbytes, VLM_BUFFER_READONLY,
                            &b, err);
    } else {
        s = vlm_buffer_alloc(ws->backend, (size_t)t->nbytes, &b, err);
        if (s == VLM_OK) s = vlm_buffer_upload(b, 0, t->data, (size_t)t->nbytes, err);
        if (s != VLM_OK) vlm_buffer_free(b);
    }
    if (s != VLM_OK) return s;
    if ((s = keep(ws, b, err)) != VLM_OK) return s;
    return vlm_tensor_init(out, b, 0, dt, t->ndim, t->shape, err);
}

vlm_status vlm_weight_store_get(vlm_weight_store *ws, const char *name, int ndim,
                                const int64_t *shape, vlm_tensor *out, vlm_error *err) {
    return get_tensor(ws, name, false, ndim, shape, out, err);
}

vlm_status vlm_weight_store_get_linear(vlm_weight_store *ws, const char *module, int bits,
                                       int group_size, int64_t n, int64_t k, vlm_qweight *out,
                                       vlm_error *err) {
    char wname[512], sname[512], bname[512];
    memset(out, 0, sizeof *out);
    snprintf(wname, sizeof wname, "%s.weight", module);
    snprintf(sname, sizeof sname, "%s.scales", module);
    snprintf(bname, sizeof bname, "%s.biases", module);
    const vlm_st_tensor *st = vlm_st_find(ws->set, sname);
    if (!st) return get_tensor(ws, wname, false, 2, (const int64_t[]){n, k}, &out->w, err);
    if (bits == 0)
        return vlm_err(err, VLM_ERR_FORMAT,
                       "%s: '%s' exists but config.json's \"quantization\" does not quantize "
                       "module '%s'",
                       file_of(ws, st), sname, module);
    bool ok_bits = bits == 2 || bits == 3 || bits == 4 || bits == 5 || bits == 6 || bits == 8;
    bool ok_group = group_size == 32 || group_size == 64 || group_size == 128;
    if (!ok_bits || !ok_group)
        return vlm_err(err, VLM_ERR_UNSUPPORTED,
                       "%s: module '%s' is quantized with %d bits and group size %d; supported: "
                       "bits 2, 3, 4, 5, 6, 8 and group sizes 32, 64, 128",
                       file_of(ws, st), module, bits, group_size);
    if (k % group_size != 0)
        return vlm_err(err, VLM_ERR_FORMAT,
                       "%s: module '%s' has %lld input features, not a multiple of the group "
                       "size %d",
                       file_of(ws, st), module, (long long)k, group_size);
    const int64_t wshape[2] = {n, k * bits / 32}, sshape[2] = {n, k / group_size};
    vlm_status s = get_tensor(ws, wname, true, 2, wshape, &out->w, err);
    if (s == VLM_OK) s = get_tensor(ws, sname, false, 2, sshape, &out->scales, err);
    if (s == VLM_OK) s = get_tensor(ws, bname, false, 2, sshape, &out->biases, err);
    if (s != VLM_OK && err) {
        /* name the quantization: a shape mismatch usually means other bits / group size */
        size_t len = strlen(err->message);
        snprintf(err->message + len, sizeof err->message - len, " (%d-bit, group size %d)", bits,
                 group_size);
    }
    if (s != VLM_OK) return s;
    if (out->biases.dtype != out->scales.dtype)
        return vlm_err(err, VLM_ERR_FORMAT, "%s: '%s' is %s but '%s' is %s", file_of(ws, st), sname,
                       vlm_dtype_name(out->scales.dtype), bname, vlm_dtype_name(out->biases.dtype));
    out->bits = bits;
    out->group_size = group_size;
    return VLM_OK;
}

vlm_status vlm_weight_store_getf(vlm_weight_store *ws, vlm_tensor *out, vlm_error *err, int ndim,
                                 const int64_t *shape, const char *fmt, ...) {
    char name[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    return vlm_weight_store_get(ws, name, ndim, shape, out, err);
}

vlm_status vlm_weight_store_new(vlm_weight_store *ws, const char *what, int ndim,
                                const int64_t *shape, const float *src, vlm_tensor *out,
                                vlm_error *err) {
    int64_t n;
    size_t bytes;
    if (!vlm_i64_product(shape, ndim, &n) || !vlm_size_mul((size_t)n, sizeof(float), &bytes))
        return vlm_err(err, VLM_ERR_LIMIT, "weights: %s: size overflows", what);
    vlm_buffer *b = NULL;
    vlm_status s = vlm_buffer_alloc(ws->backend, bytes, &b, err);
    if (s == VLM_OK) s = vlm_buffer_upload(b, 0, src, bytes, err);
    if (s != VLM_OK) {
        vlm_buffer_free(b);
        return s;
    }
    if ((s = keep(ws, b, err)) != VLM_OK) return s;
    return vlm_tensor_init(out, b, 0, VLM_DTYPE_F32, ndim, shape, err);
}

vlm_status vlm_weight_store_read_f32(const vlm_weight_store *ws, const char *name, float **out,
                                     vlm_error *err) {
    *out = NULL;
    const vlm_st_tensor *t = vlm_st_find(ws->set, name);
    if (!t) return vlm_err(err, VLM_ERR_NOT_FOUND, "weights: tensor '%s' is missing", name);
    vlm_dtype dt;
    if (float_dtype(t, &dt) != VLM_OK || !t->data)
        return vlm_err(err, VLM_ERR_FORMAT, "%s: tensor '%s' is not a readable float tensor",
                       file_of(ws, t), name);
    size_t esz = vlm_dtype_size(dt), n = (size_t)t->nbytes / esz;
    float *f = vlm_malloc_array(n, sizeof *f);
    if (!f) return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "weights: '%s': out of memory", name);
    for (size_t i = 0; i < n; i++) {
        uint16_t h;
        switch (dt) {
        case VLM_DTYPE_F32: memcpy(&f[i], t->data + 4 * i, 4); break;
        case VLM_DTYPE_F16: memcpy(&h, t->data + 2 * i, 2); f[i] = vlm_f16_to_f32(h); break;
        default: memcpy(&h, t->data + 2 * i, 2); f[i] = vlm_bf16_to_f32(h); break;
        }
    }
    *out = f;
    return VLM_OK;
}
