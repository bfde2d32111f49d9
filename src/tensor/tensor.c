/* Buffers, tensor construction with bounds checks, and views (see tensor.h). */
#include "tensor/tensor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/checked.h"
#include "core/error.h"
#include "tensor/backend.h"

/* ---------------------------------------------------------------- buffers */

const char *vlm_backend_name(const vlm_backend *backend) {
    return backend ? backend->name : "(none)";
}

vlm_status vlm_buffer_alloc(const vlm_backend *backend, size_t size, vlm_buffer **out,
                            vlm_error *err) {
    if (out) *out = NULL;
    if (!backend || !out) return vlm_err(err, VLM_ERR_INVALID_ARGUMENT, "buffer_alloc: NULL");
    if (size > (size_t)INT64_MAX)
        return vlm_err(err, VLM_ERR_LIMIT, "buffer_alloc: %zu bytes is too large", size);
    vlm_buffer *b = calloc(1, sizeof *b);
    if (!b) return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "buffer_alloc: out of memory");
    vlm_status st = backend->alloc(size, &b->data, err);
    if (st != VLM_OK) {
        free(b);
        return st;
    }
    b->backend = backend;
    b->size = size;
    b->flags = VLM_BUFFER_OWNED;
    *out = b;
    return VLM_OK;
}

vlm_status vlm_buffer_wrap(const vlm_backend *backend, void *data, size_t size, unsigned flags,
                           vlm_buffer **out, vlm_error *err) {
    if (out) *out = NULL;
    if (!backend || !out || (!data && size))
        return vlm_err(err, VLM_ERR_INVALID_ARGUMENT, "buffer_wrap: NULL");
    if (!backend->host_memory)
        return vlm_err(err, VLM_ERR_UNSUPPORTED,
                       "buffer_wrap: backend %s does not address host memory", backend->name);
    if (size > (size_t)INT64_MAX)
        return vlm_err(err, VLM_ERR_LIMIT, "buffer_wrap: %zu bytes is too large", size);
    vlm_buffer *b = calloc(1, sizeof *b);
    if (!b) return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "buffer_wrap: out of memory");
    b->backend = backend;
    b->data = data;
    b->size = size;
    b->flags = flags & VLM_BUFFER_READONLY;
    *out = b;
    return VLM_OK;
}

void vlm_buffer_free(vlm_buffer *buf) {
    if (!buf) return;
    if ((buf->flags & VLM_BUFFER_OWNED) && buf->data) buf->backend->free(buf->data);
    free(buf);
}

static vlm_status check_span(const vlm_buffer *buf, size_t offset, size_t n, const char *what,
                             vlm_error *err) {
    size_t end;
    if (!buf) return vlm_err(err, VLM_ERR_INVALID_ARGUMENT, "%s: NULL buffer", what);
    if (!vlm_size_add(offset, n, &end) || end > buf->size)
        return vlm_err(err, VLM_ERR_INVALID_ARGUMENT,
                       "%s: bytes [%zu, +%zu) outside the buffer of %zu bytes", what, offset, n,
                       buf->size);
    return VLM_OK;
}

vlm_status vlm_buffer_upload(vlm_buffer *buf, size_t offset, const void *src, size_t n,
                             vlm_error *err) {
    vlm_status st = check_span(buf, offset, n, "buffer_upload", err);
    if (st != VLM_OK) return st;
    if (buf->flags & VLM_BUFFER_READONLY)
        return vlm_err(err, VLM_ERR_INVALID_ARGUMENT, "buffer_upload: buffer is read-only");
    if (n == 0) return VLM_OK;
    return buf->backend->upload((char *)buf->data + offset, src, n, err);
}

vlm_status vlm_buffer_download(const vlm_buffer *buf, size_t offset, void *dst, size_t n,
                               vlm_error *err) {
    vlm_status st = check_span(buf, offset, n, "buffer_download", err);
    if (st != VLM_OK) return st;
    if (n == 0) return VLM_OK;
    return buf->backend->download(dst, (const char *)buf->data + offset, n, err);
}

/* ---------------------------------------------------------------- construction */

const char *vlm_tensor_describe(const vlm_tensor *t, char *buf, size_t n) {
    if (!n) return buf;
    if (!t) {
        snprintf(buf, n, "(null)");
        return buf;
    }
    size_t pos = 0;
#define PUT(...)                                                                                   \
    do {                                                                                           \
        if (pos < n) {                                                                             \
            int w_ = snprintf(buf + pos, n - pos, __VA_ARGS__);                                    \
            if (w_ > 0) pos += (size_t)w_;                                                         \
        }                                                                                          \
    } while (0)
    PUT("%s[", vlm_dtype_name(t->dtype));
    for (int i = 0; i < t->ndim && i < VLM_MAX_DIMS; i++)
        PUT(i ? ",%lld" : "%lld", (long long)t->shape[i]);
    PUT("]");
    if (!vlm_tensor_is_contiguous(t)) {
        PUT(" strides(");
        for (int i = 0; i < t->ndim && i < VLM_MAX_DIMS; i++)
            PUT(i ? ",%lld" : "%lld", (long long)t->stride[i]);
        PUT(")");
    }
#undef PUT
    return buf;
}

/* The byte extent [0, span) that the elements of a view reach relative to element 0, or
 * false on overflow. An empty tensor reaches nothing. */
static bool view_span(vlm_dtype dtype, int ndim, const int64_t *shape, const int64_t *stride,
                      int64_t *span) {
    int64_t s = (int64_t)vlm_dtype_size(dtype);
    for (int i = 0; i < ndim; i++) {
        if (shape[i] == 0) {
            *span = 0;
            return true;
        }
    }
    for (int i = 0; i < ndim; i++) {
        int64_t reach;
        if (!vlm_i64_mul(shape[i] - 1, stride[i], &reach) || !vlm_i64_add(s, reach, &s))
            return false;
    }
    *span = s;
    return true;
}

vlm_status vlm_tensor_init_strided(vlm_tensor *t, vlm_buffer *buf, int64_t offset, vlm_dtype dtype,
                                   int ndim, const int64_t *shape, const int64_t *stride,
                                   vlm_error *err) {
    if (!t || (ndim > 0 && (!shape || !stride)))
        return vlm_err(err, VLM_ERR_INVALID_ARGUMENT, "tensor_init: NULL argument");
    if (ndim < 0 || ndim > VLM_MAX_DIMS)
        return vlm_err(err, VLM_ERR_INVALID_ARGUMENT, "tensor_init: %d dimensions (max %d)", ndim,
                       VLM_MAX_DIMS);
    if (vlm_dtype_size(dtype) == 0)
        return vlm_err(err, VLM_ERR_INVALID_ARGUMENT, "tensor_init: unknown dtype %d", (int)dtype);
    if (offset < 0) return vlm_err(err, VLM_ERR_INVALID_ARGUMENT, "tensor_init: negative offset");
    int64_t numel;
    if (!vlm_i64_product(shape, ndim, &numel))
        return vlm_err(err, VLM_ERR_LIMIT, "tensor_init: shape has a negative extent or overflows");
    int64_t esize = (int64_t)vlm_dtype_size(dtype);
    if (offset % esize != 0)
        return vlm_err(err, VLM_ERR_INVALID_ARGUMENT,
                       "tensor_init: offset %lld is not a multiple of the %s size",
                       (long long)offset, vlm_dtype_name(dtype));
    for (int i = 0; i < ndim; i++) {
        if (stride[i] < 0 || stride[i] % esize != 0)
            return vlm_err(err, VLM_ERR_INVALID_ARGUMENT,
                           "tensor_init: stride %lld is negative or not a multiple of the %s size",
                           (long long)stride[i], vlm_dtype_name(dtype));
    }
    if (buf && buf->data && buf->backend && buf->backend->host_memory &&
        ((uintptr_t)buf->data + (uintptr_t)offset) % (uintptr_t)esize != 0)
        return vlm_err(err, VLM_ERR_INVALID_ARGUMENT,
                       "tensor_init: %s data at a host address not aligned to its size",
                       vlm_dtype_name(dtype));
    int64_t span, end;
    if (!view_span(dtype, ndim, shape, stride, &span) || !vlm_i64_add(offset, span, &end))
        return vlm_err(err, VLM_ERR_LIMIT, "tensor_init: byte extent overflows");
    if (buf && (uint64_t)end > (uint64_t)buf->size && span > 0)
        return vlm_err(err, VLM_ERR_INVALID_ARGUMENT,
                       "tensor_init: %s tensor of %lld bytes at offset %lld exceeds the buffer "
                       "of %zu bytes",
                       vlm_dtype_name(dtype), (long long)span, (long long)offset, buf->size);
    memset(t, 0, sizeof *t);
    t->dtype = dtype;
    t->ndim = ndim;
    for (int i = 0; i < VLM_MAX_DIMS; i++) {
        t->shape[i] = i < ndim ? shape[i] : 1;
        t->stride[i] = i < ndim ? stride[i] : 0;
    }
    t->buf = buf;
    t->offset = offset;
    return VLM_OK;
}

/* Row-major contiguous strides; false on overflow. */
static bool contiguous_strides(vlm_dtype dtype, int ndim, const int64_t *shape, int64_t *stride) {
    int64_t s = (int64_t)vlm_dtype_size(dtype);
    for (int i = ndim - 1; i >= 0; i--) {
        stride[i] = s;
        if (shape[i] < 0 || !vlm_i64_mul(s, shape[i] ? shape[i] : 1, &s)) return false;
    }
    return true;
}

vlm_status vlm_tensor_init(vlm_tensor *t, vlm_buffer *buf, int64_t offset, vlm_dtype dtype,
                           int ndim, const int64_t *shape, vlm_error *err) {
    if (ndim < 0 || ndim > VLM_MAX_DIMS)
        return vlm_err(err, VLM_ERR_INVALID_ARGUMENT, "tensor_init: %d dimensions (max %d)", ndim,
                       VLM_MAX_DIMS);
    int64_t stride[VLM_MAX_DIMS];
    if (vlm_dtype_size(dtype) == 0)
        return vlm_err(err, VLM_ERR_INVALID_ARGUMENT, "tensor_init: unknown dtype %d", (int)dtype);
    if (ndim > 0 && !shape)
        return vlm_err(err, VLM_ERR_INVALID_ARGUMENT, "tensor_init: NULL shape");
    if (!contiguous_strides(dtype, ndim, shape, stride))
        return vlm_err(err, VLM_ERR_LIMIT, "tensor_init: shape has a negative extent or overflows");
    return vlm_tensor_init_strided(t, buf, offset, dtype, ndim, shape, stride, err);
}

int64_t vlm_tensor_numel(const vlm_tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++)
        n *= t->shape[i]; /* checked at construction */
    return n;
}

int64_t vlm_tensor_nbytes(const vlm_tensor *t) {
    return vlm_tensor_numel(t) * (int64_t)vlm_dtype_size(t->dtype);
}

bool vlm_tensor_is_contiguous(const vlm_tensor *t) {
    int64_t s = (int64_t)vlm_dtype_size(t->dtype);
    for (int i = t->ndim - 1; i >= 0; i--) {
        if (t->shape[i] == 0) return true;
        if (t->shape[i] != 1 && t->stride[i] != s) return false;
        s *= t->shape[i];
    }
    return true;
}

bool vlm_tensor_same_shape(const vlm_tensor *a, const vlm_tensor *b) {
    if (a->ndim != b->ndim) return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return false;
    return true;
}

void *vlm_tensor_data(const vlm_tensor *t) {
    if (!t->buf || !t->buf->data) return NULL;
    return (char *)t->buf->data + t->offset;
}

vlm_status vlm_tensor_upload(const vlm_tensor *t, const void *src, size_t nbytes, vlm_error *err) {
    if (!vlm_tensor_is_contiguous(t) || (int64_t)nbytes != vlm_tensor_nbytes(t))
        return vlm_err(err, VLM_ERR_INVALID_ARGUMENT,
                       "tensor_upload: needs a contiguous tensor of exactly %zu bytes", nbytes);
    return vlm_buffer_upload(t->buf, (size_t)t->offset, src, nbytes, err);
}

vlm_status vlm_tensor_download(const vlm_tensor *t, void *dst, size_t nbytes, vlm_error *err) {
    if (!vlm_tensor_is_contiguous(t) || (int64_t)nbytes != vlm_tensor_nbytes(t))
        return vlm_err(err, VLM_ERR_INVALID_ARGUMENT,
                       "tensor_download: needs a contiguous tensor of exactly %zu bytes", nbytes);
    return vlm_buffer_download(t->buf, (size_t)t->offset, dst, nbytes, err);
}

/* ---------------------------------------------------------------- views */

static vlm_status norm_dim(const vlm_tensor *x, int *dim, int extra, const char *op,
                           vlm_error *err) {
    int d = *dim, n = x->ndim + extra;
    if (d < 0) d += n;
    if (d < 0 || d >= n)
        return vlm_err(err, VLM_ERR_INVALID_ARGUMENT, "%s: dimension %d out of range for %d dims",
                       op, *dim, x->ndim);
    *dim = d;
    return VLM_OK;
}

vlm_status vlm_tensor_slice(const vlm_tensor *x, int dim, int64_t start, int64_t stop, int64_t step,
                            vlm_tensor *out, vlm_error *err) {
    vlm_status st = norm_dim(x, &dim, 0, "tensor_slice", err);
    if (st != VLM_OK) return st;
    int64_t size = x->shape[dim];
    if (start < 0 || stop < start || stop > size || step < 1)
        return vlm_err(err, VLM_ERR_INVALID_ARGUMENT,
                       "tensor_slice: [%lld:%lld:%lld] out of range for extent %lld on dim %d",
                       (long long)start, (long long)stop, (long long)step, (long long)size, dim);
    vlm_tensor t = *x;
    int64_t len = (stop - start + step - 1) / step;
    if (len > 0) t.offset += start * x->stride[dim]; /* inside the view: cannot overflow */
    t.shape[dim] = len;
    if (!vlm_i64_mul(x->stride[dim], len > 1 ? step : 1, &t.stride[dim]))
        return vlm_err(err, VLM_ERR_LIMIT, "tensor_slice: stride overflows");
    *out = t;
    return VLM_OK;
}

vlm_status vlm_tensor_narrow(const vlm_tensor *x, int dim, int64_t start, int64_t len,
                             vlm_tensor *out, vlm_error *err) {
    int64_t stop;
    if (start < 0 || len < 0 || !vlm_i64_add(start, len, &stop))
        return vlm_err(err, VLM_ERR_INVALID_ARGUMENT, "tensor_narrow: start %lld length %lld",
                       (long long)start, (long long)len);
    return vlm_tensor_slice(x, dim, start, stop, 1, out, err);
}

vlm_status vlm_tensor_select(const vlm_tensor *x, int dim, int64_t index, vlm_tensor *out,
                             vlm_error *err) {
    vlm_status st = norm_dim(x, &dim, 0, "tensor_select", err);
    if (st != VLM_OK) return st;
    if (index < 0 || index >= x->shape[dim])
        return vlm_err(err, VLM_ERR_INVALID_ARGUMENT,
                       "tensor_select: index %lld out of range for extent %lld on dim %d",
                       (long long)index, (long long)x->shape[dim], dim);
    vlm_tensor t = *x;
    t.offset += index * x->stride[dim];
    for (int i = dim; i < x->ndim - 1; i++) {
        t.shape[i] = x->shape[i + 1];
        t.stride[i] = x->stride[i + 1];
    }
    t.ndim = x->ndim - 1;
    t.shape[t.ndim] = 1;
    t.stride[t.ndim] = 0;
    *out = t;
    return VLM_OK;
}

vlm_status vlm_tensor_permute(const vlm_tensor *x, const int *perm, vlm_tensor *out,
                              vlm_error *err) {
    int seen[VLM_MAX_DIMS] = {0};
    vlm_tensor t = *x;
    for (int i = 0; i < x->ndim; i++) {
        int p = perm[i];
        if (p < 0) p += x->ndim;
        if (p < 0 || p >= x->ndim || seen[p])
            return vlm_err(err, VLM_ERR_INVALID_ARGUMENT,
                           "tensor_permute: not a permutation of %d dims", x->ndim);
        seen[p] = 1;
        t.shape[i] = x->shape[p];
        t.stride[i] = x->stride[p];
    }
    *out = t;
    return VLM_OK;
}

vlm_status vlm_tensor_transpose(const vlm_tensor *x, int d0, int d1, vlm_tensor *out,
                                vlm_error *err) {
    vlm_status st = norm_dim(x, &d0, 0, "tensor_transpose", err);
    if (st == VLM_OK) st = norm_dim(x, &d1, 0, "tensor_transpose", err);
    if (st != VLM_OK) return st;
    vlm_tensor t = *x;
    t.shape[d0] = x->shape[d1];
    t.stride[d0] = x->stride[d1];
    t.shape[d1] = x->shape[d0];
    t.stride[d1] = x->stride[d0];
    *out = t;
    return VLM_OK;
}

/* Strides for viewing (shape, stride) as new_shape without moving data, as torch's view:
 * walk the old dimensions from the last, grouping runs that are contiguous with each other
 * into chunks; each chunk must be covered exactly by a run of new dimensions, which then
 * get the chunk's strides. Returns false when the view is impossible. numel > 0. */
static bool view_strides(int ndim, const int64_t *shape, const int64_t *stride, int new_ndim,
                         const int64_t *new_shape, int64_t *new_stride) {
    if (ndim == 0) { /* a scalar: every new extent is 1 */
        for (int i = 0; i < new_ndim; i++)
            new_stride[i] = 0;
        return true;
    }
    int vd = new_ndim - 1;
    int64_t chunk_stride = stride[ndim - 1];
    int64_t chunk_numel = 1, view_numel = 1;
    for (int d = ndim - 1; d >= 0; d--) {
        chunk_numel *= shape[d];
        bool chunk_ends =
            d == 0 || (shape[d - 1] != 1 && stride[d - 1] != chunk_numel * chunk_stride);
        if (!chunk_ends) continue;
        while (vd >= 0 && (view_numel < chunk_numel || new_shape[vd] == 1)) {
            new_stride[vd] = view_numel * chunk_stride;
            view_numel *= new_shape[vd];
            vd--;
        }
        if (view_numel != chunk_numel) return false;
        if (d > 0) {
            chunk_stride = stride[d - 1];
            chunk_numel = 1;
            view_numel = 1;
        }
    }
    return vd == -1;
}

vlm_status vlm_tensor_reshape(const vlm_tensor *x, int ndim, const int64_t *shape, vlm_tensor *out,
                              vlm_error *err) {
    if (ndim < 0 || ndim > VLM_MAX_DIMS || (ndim > 0 && !shape))
        return vlm_err(err, VLM_ERR_INVALID_ARGUMENT, "tensor_reshape: %d dimensions", ndim);
    int64_t numel = vlm_tensor_numel(x);
    int64_t ns[VLM_MAX_DIMS], known = 1;
    int infer = -1;
    for (int i = 0; i < ndim; i++) {
        ns[i] = shape[i];
        if (shape[i] == -1 && infer < 0) {
            infer = i;
            continue;
        }
        if (shape[i] < 0 || !vlm_i64_mul(known, shape[i], &known))
            return vlm_err(err, VLM_ERR_INVALID_ARGUMENT, "tensor_reshape: bad extent %lld",
                           (long long)shape[i]);
    }
    if (infer >= 0) {
        if (known == 0 || numel % known != 0)
            return vlm_err(err, VLM_ERR_INVALID_ARGUMENT,
                           "tensor_reshape: cannot infer an extent for %lld elements",
                           (long long)numel);
        ns[infer] = numel / known;
        known = numel;
    }
    char d[128];
    if (known != numel)
        return vlm_err(err, VLM_ERR_INVALID_ARGUMENT,
                       "tensor_reshape: %s has %lld elements, the new shape %lld",
                       vlm_tensor_describe(x, d, sizeof d), (long long)numel, (long long)known);
    vlm_tensor t = *x;
    int64_t nst[VLM_MAX_DIMS];
    if (numel == 0) {
        contiguous_strides(x->dtype, ndim, ns, nst);
    } else if (!view_strides(x->ndim, x->shape, x->stride, ndim, ns, nst)) {
        return vlm_err(err, VLM_ERR_UNSUPPORTED,
                       "tensor_reshape: %s cannot be viewed with the new shape; copy it first",
                       vlm_tensor_describe(x, d, sizeof d));
    }
    t.ndim = ndim;
    for (int i = 0; i < VLM_MAX_DIMS; i++) {
        t.shape[i] = i < ndim ? ns[i] : 1;
        t.stride[i] = i < ndim ? nst[i] : 0;
    }
    *out = t;
    return VLM_OK;
}

vlm_status vlm_tensor_unsqueeze(const vlm_tensor *x, int dim, vlm_tensor *out, vlm_error *err) {
    if (x->ndim >= VLM_MAX_DIMS)
        return vlm_err(err, VLM_ERR_LIMIT, "tensor_unsqueeze: already %d dims", x->ndim);
    vlm_status st = norm_dim(x, &dim, 1, "tensor_unsqueeze", err);
    if (st != VLM_OK) return st;
    vlm_tensor t = *x;
    for (int i = x->ndim; i > dim; i--) {
        t.shape[i] = x->shape[i - 1];
        t.stride[i] = x->stride[i - 1];
    }
    t.shape[dim] = 1;
    t.stride[dim] =
        dim < x->ndim ? x->stride[dim] * x->shape[dim] : (int64_t)vlm_dtype_size(x->dtype);
    t.ndim = x->ndim + 1;
    *out = t;
    return VLM_OK;
}

vlm_status vlm_tensor_expand(const vlm_tensor *x, int ndim, const int64_t *shape, vlm_tensor *out,
                             vlm_error *err) {
    char d[128];
    if (ndim < x->ndim || ndim > VLM_MAX_DIMS)
        return vlm_err(err, VLM_ERR_INVALID_ARGUMENT, "tensor_expand: %s to %d dims",
                       vlm_tensor_describe(x, d, sizeof d), ndim);
    vlm_tensor t = *x;
    int lead = ndim - x->ndim;
    for (int i = 0; i < ndim; i++) {
        int64_t xs = i >= lead ? x->shape[i - lead] : 1;
        int64_t xst = i >= lead ? x->stride[i - lead] : 0;
        if (shape[i] < 0 || (xs != shape[i] && xs != 1))
            return vlm_err(err, VLM_ERR_INVALID_ARGUMENT,
                           "tensor_expand: %s does not broadcast to extent %lld on dim %d",
                           vlm_tensor_describe(x, d, sizeof d), (long long)shape[i], i);
        t.shape[i] = shape[i];
        t.stride[i] = (xs == shape[i]) ? xst : 0;
    }
    for (int i = ndim; i < VLM_MAX_DIMS; i++) {
        t.shape[i] = 1;
        t.stride[i] = 0;
    }
    t.ndim = ndim;
    int64_t numel;
    if (!vlm_i64_product(t.shape, ndim, &numel))
        return vlm_err(err, VLM_ERR_LIMIT, "tensor_expand: shape overflows");
    *out = t;
    return VLM_OK;
}
