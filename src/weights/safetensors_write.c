/* The safetensors writer (see safetensors_write.h): collects tensor descriptions, builds
 * the header text, then streams header and data to a temporary file that is renamed into
 * place. */
#include "weights/safetensors_write.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utf8proc.h>

#include "core/alloc.h"
#include "core/checked.h"
#include "core/error.h"
#include "core/strbuf.h"
#include "weights/safetensors_header.h"

typedef struct st_out_tensor {
    char *name;
    vlm_st_dtype dtype;
    int ndim;
    int64_t shape[VLM_ST_MAX_DIMS];
    uint64_t nbytes;
    const void *data; /* caller's bytes, or NULL with fill */
    vlm_st_fill_fn fill;
    void *user;
} st_out_tensor;

struct vlm_st_writer {
    char *path;
    st_out_tensor *tensors;
    size_t count, cap;
    char **meta;                 /* key, value, key, value, ... */
    size_t meta_count, meta_cap; /* in strings */
};

static bool utf8_ok(const char *s) {
    const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)s;
    utf8proc_ssize_t left = (utf8proc_ssize_t)strlen(s);
    while (left > 0) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t n = utf8proc_iterate(p, left, &cp);
        if (n <= 0) return false;
        p += n;
        left -= n;
    }
    return true;
}

vlm_status vlm_st_writer_init(vlm_st_writer **out, const char *path, vlm_error *err) {
    if (!out) return vlm_err(err, VLM_ERR_INVALID_ARGUMENT, "vlm_st_writer_init: out is NULL");
    *out = NULL;
    if (!path || !*path)
        return vlm_err(err, VLM_ERR_INVALID_ARGUMENT, "vlm_st_writer_init: no output path");
    vlm_st_writer *w = calloc(1, sizeof *w);
    if (w) w->path = vlm_strdup(path);
    if (!w || !w->path) {
        free(w);
        return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    }
    *out = w;
    return vlm_err_ok(err);
}

void vlm_st_writer_free(vlm_st_writer *w) {
    if (!w) return;
    for (size_t i = 0; i < w->count; i++)
        free(w->tensors[i].name);
    for (size_t i = 0; i < w->meta_count; i++)
        free(w->meta[i]);
    free(w->tensors);
    free(w->meta);
    free(w->path);
    free(w);
}

static vlm_status add_tensor(vlm_st_writer *w, const char *name, vlm_st_dtype dtype, int ndim,
                             const int64_t *shape, const void *data, uint64_t nbytes,
                             bool check_nbytes, vlm_st_fill_fn fill, void *user, vlm_error *err) {
    if (!w) return vlm_err(err, VLM_ERR_INVALID_ARGUMENT, "safetensors writer is NULL");
    const char *path = w->path;
    if (!name) return vlm_err(err, VLM_ERR_INVALID_ARGUMENT, "%s: tensor name is NULL", path);
    if (!utf8_ok(name))
        return vlm_err(err, VLM_ERR_INVALID_ARGUMENT, "%s: tensor name is not valid UTF-8", path);
    if (strcmp(name, "__metadata__") == 0)
        return vlm_err(err, VLM_ERR_INVALID_ARGUMENT,
                       "%s: '__metadata__' is reserved, not a tensor name", path);
    if ((unsigned)dtype >= VLM_ST_DTYPE_COUNT)
        return vlm_err(err, VLM_ERR_INVALID_ARGUMENT,
                       "%s: tensor '" VLM_ST_NAME_IN_ERR "': unknown dtype %d", path, name,
                       (int)dtype);
    if (ndim < 0 || ndim > VLM_ST_MAX_DIMS || (ndim > 0 && !shape))
        return vlm_err(err, VLM_ERR_INVALID_ARGUMENT,
                       "%s: tensor '" VLM_ST_NAME_IN_ERR "': %d dimensions (0 to %d allowed)", path,
                       name, ndim, VLM_ST_MAX_DIMS);
    char shape_text[200];
    vlm_st_shape_format(shape, ndim, shape_text, sizeof shape_text);
    uint64_t bits;
    if (!vlm_st_tensor_bits(dtype, ndim, shape, &bits) || bits % 8 != 0)
        return vlm_err(err, VLM_ERR_INVALID_ARGUMENT,
                       "%s: tensor '" VLM_ST_NAME_IN_ERR
                       "': shape %s of %s is negative, overflows, or is not whole bytes",
                       path, name, shape_text, vlm_st_dtype_name(dtype));
    if (check_nbytes && nbytes != bits / 8)
        return vlm_err(err, VLM_ERR_INVALID_ARGUMENT,
                       "%s: tensor '" VLM_ST_NAME_IN_ERR
                       "': %llu bytes given but shape %s of %s needs %llu",
                       path, name, (unsigned long long)nbytes, shape_text, vlm_st_dtype_name(dtype),
                       (unsigned long long)(bits / 8));
    nbytes = bits / 8;
    if (!fill && nbytes > 0 && !data)
        return vlm_err(err, VLM_ERR_INVALID_ARGUMENT,
                       "%s: tensor '" VLM_ST_NAME_IN_ERR "': data is NULL", path, name);
    if (w->count == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 16;
        st_out_tensor *t = vlm_realloc_array(w->tensors, cap, sizeof *t);
        if (!t) return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
        w->tensors = t;
        w->cap = cap;
    }
    st_out_tensor *t = &w->tensors[w->count];
    memset(t, 0, sizeof *t);
    t->name = vlm_strdup(name);
    if (!t->name) return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    t->dtype = dtype;
    t->ndim = ndim;
    if (ndim > 0) memcpy(t->shape, shape, (size_t)ndim * sizeof *shape);
    t->nbytes = nbytes;
    t->data = data;
    t->fill = fill;
    t->user = user;
    w->count++;
    return vlm_err_ok(err);
}

vlm_status vlm_st_writer_add(vlm_st_writer *w, const char *name, vlm_st_dtype dtype, int ndim,
                             const int64_t *shape, const void *data, uint64_t nbytes,
                             vlm_error *err) {
    return add_tensor(w, name, dtype, ndim, shape, data, nbytes, true, NULL, NULL, err);
}

vlm_status vlm_st_writer_add_fill(vlm_st_writer *w, const char *name, vlm_st_dtype dtype, int ndim,
                                  const int64_t *shape, vlm_st_fill_fn fill, void *user,
                                  vlm_error *err) {
    if (w && !fill)
        return vlm_err(err, VLM_ERR_INVALID_ARGUMENT, "%s: fill function is NULL", w->path);
    return add_tensor(w, name, dtype, ndim, shape, NULL, 0, false, fill, user, err);
}

vlm_status vlm_st_writer_set_metadata(vlm_st_writer *w, const char *key, const char *value,
                                      vlm_error *err) {
    if (!w) return vlm_err(err, VLM_ERR_INVALID_ARGUMENT, "safetensors writer is NULL");
    if (!key || !value || !utf8_ok(key) || !utf8_ok(value))
        return vlm_err(err, VLM_ERR_INVALID_ARGUMENT,
                       "%s: __metadata__ key and value must be non-NULL UTF-8 strings", w->path);
    for (size_t i = 0; i < w->meta_count; i += 2)
        if (strcmp(w->meta[i], key) == 0)
            return vlm_err(err, VLM_ERR_INVALID_ARGUMENT, "%s: __metadata__ key '%.100s' set twice",
                           w->path, key);
    if (w->meta_count + 2 > w->meta_cap) {
        size_t cap = w->meta_cap ? w->meta_cap * 2 : 8;
        char **m = vlm_realloc_array(w->meta, cap, sizeof *m);
        if (!m) return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "%s: out of memory", w->path);
        w->meta = m;
        w->meta_cap = cap;
    }
    char *k = vlm_strdup(key), *v = vlm_strdup(value);
    if (!k || !v) {
        free(k);
        free(v);
        return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "%s: out of memory", w->path);
    }
    w->meta[w->meta_count++] = k;
    w->meta[w->meta_count++] = v;
    return vlm_err_ok(err);
}

static int name_ptr_cmp(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Repeated names would make the header's keys collide: found by sorting a copy. */
static vlm_status check_unique_names(const vlm_st_writer *w, vlm_error *err) {
    char **names = vlm_malloc_array(w->count, sizeof *names);
    if (!names) return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "%s: out of memory", w->path);
    for (size_t i = 0; i < w->count; i++)
        names[i] = w->tensors[i].name;
    qsort(names, w->count, sizeof *names, name_ptr_cmp);
    vlm_status s = VLM_OK;
    for (size_t i = 1; i < w->count; i++)
        if (strcmp(names[i - 1], names[i]) == 0) {
            s = vlm_err(err, VLM_ERR_INVALID_ARGUMENT,
                        "%s: tensor '" VLM_ST_NAME_IN_ERR "' added twice", w->path, names[i]);
            break;
        }
    free(names);
    return s;
}

/* The header text, padded with spaces to a multiple of 8 (the reference's alignment). The
 * bytes match the reference writer's (serde_json, compact) for the same order of tensors
 * and metadata, except that a name holding \b or \f comes out as \u0008 / \u000c: the same
 * JSON, other bytes. */
static vlm_status build_header(const vlm_st_writer *w, vlm_strbuf *b, vlm_error *err) {
    vlm_strbuf_putc(b, '{');
    if (w->meta_count) {
        vlm_strbuf_puts(b, "\"__metadata__\":{");
        for (size_t i = 0; i < w->meta_count; i += 2) {
            if (i) vlm_strbuf_putc(b, ',');
            vlm_strbuf_json_string(b, w->meta[i], strlen(w->meta[i]));
            vlm_strbuf_putc(b, ':');
            vlm_strbuf_json_string(b, w->meta[i + 1], strlen(w->meta[i + 1]));
        }
        vlm_strbuf_putc(b, '}');
    }
    uint64_t offset = 0;
    for (size_t i = 0; i < w->count; i++) {
        const st_out_tensor *t = &w->tensors[i];
        uint64_t end;
        if (!vlm_u64_add(offset, t->nbytes, &end))
            return vlm_err(err, VLM_ERR_LIMIT, "%s: tensors total more than 2^64 bytes", w->path);
        if (i || w->meta_count) vlm_strbuf_putc(b, ',');
        vlm_strbuf_json_string(b, t->name, strlen(t->name));
        vlm_strbuf_printf(b, ":{\"dtype\":\"%s\",\"shape\":[", vlm_st_dtype_name(t->dtype));
        for (int d = 0; d < t->ndim; d++)
            vlm_strbuf_printf(b, "%s%lld", d ? "," : "", (long long)t->shape[d]);
        vlm_strbuf_printf(b, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)offset,
                          (unsigned long long)end);
        offset = end;
    }
    vlm_strbuf_putc(b, '}');
    while (!b->failed && b->len % 8 != 0)
        vlm_strbuf_putc(b, ' ');
    if (b->failed) return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "%s: out of memory", w->path);
    if (b->len > VLM_ST_MAX_HEADER_BYTES)
        return vlm_err(err, VLM_ERR_LIMIT,
                       "%s: header would be %zu bytes, more than the %u allowed", w->path, b->len,
                       VLM_ST_MAX_HEADER_BYTES);
    return VLM_OK;
}

static vlm_status write_all(const char *path, int fd, const void *data, uint64_t n,
                            vlm_error *err) {
    const uint8_t *p = data;
    while (n > 0) {
        size_t chunk = n > (1u << 30) ? (1u << 30) : (size_t)n; /* write() caps near 2 GiB */
        ssize_t r = write(fd, p, chunk);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0)
            return vlm_err(err, VLM_ERR_IO, "%s: write failed: %s", path,
                           r < 0 ? strerror(errno) : "no progress");
        p += r;
        n -= (uint64_t)r;
    }
    return VLM_OK;
}

static vlm_status write_tensor(const vlm_st_writer *w, const st_out_tensor *t, int fd,
                               vlm_error *err) {
    if (!t->fill) return write_all(w->path, fd, t->data, t->nbytes, err);
    if (t->nbytes > SIZE_MAX)
        return vlm_err(err, VLM_ERR_LIMIT, "%s: tensor '" VLM_ST_NAME_IN_ERR "' is too large",
                       w->path, t->name);
    uint8_t *buf = malloc(t->nbytes ? (size_t)t->nbytes : 1);
    if (!buf)
        return vlm_err(err, VLM_ERR_OUT_OF_MEMORY,
                       "%s: tensor '" VLM_ST_NAME_IN_ERR "': cannot allocate %llu bytes", w->path,
                       t->name, (unsigned long long)t->nbytes);
    vlm_status s = t->fill(t->user, buf, t->nbytes, err);
    if (s != VLM_OK)
        vlm_err_prefix(err, "%.200s: tensor '%.40s'", w->path, t->name);
    else
        s = write_all(w->path, fd, buf, t->nbytes, err);
    free(buf);
    return s;
}

vlm_status vlm_st_writer_write(vlm_st_writer *w, vlm_error *err) {
    if (!w) return vlm_err(err, VLM_ERR_INVALID_ARGUMENT, "safetensors writer is NULL");
    vlm_status s = check_unique_names(w, err);
    if (s != VLM_OK) return s;
    vlm_strbuf header;
    vlm_strbuf_init(&header);
    s = build_header(w, &header, err);
    if (s != VLM_OK) {
        vlm_strbuf_free(&header);
        return s;
    }

    size_t plen = strlen(w->path);
    char *tmp = malloc(plen + 16);
    if (!tmp) {
        vlm_strbuf_free(&header);
        return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "%s: out of memory", w->path);
    }
    snprintf(tmp, plen + 16, "%s.tmp-XXXXXX", w->path);
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        s = vlm_err(err, VLM_ERR_IO, "%s: cannot create a temporary file beside it: %s", w->path,
                    strerror(errno));
        free(tmp);
        vlm_strbuf_free(&header);
        return s;
    }
    /* mkostemp makes the file 0600; the result is an ordinary readable file. */
    if (fchmod(fd, 0644) != 0)
        s = vlm_err(err, VLM_ERR_IO, "%s: chmod failed: %s", w->path, strerror(errno));

    uint8_t prefix[8];
    uint64_t n = header.len;
    for (int i = 0; i < 8; i++)
        prefix[i] = (uint8_t)(n >> (8 * i));
    if (s == VLM_OK) s = write_all(w->path, fd, prefix, 8, err);
    if (s == VLM_OK) s = write_all(w->path, fd, header.data, header.len, err);
    vlm_strbuf_free(&header);
    for (size_t i = 0; s == VLM_OK && i < w->count; i++)
        s = write_tensor(w, &w->tensors[i], fd, err);
    if (s == VLM_OK && fsync(fd) != 0)
        s = vlm_err(err, VLM_ERR_IO, "%s: fsync failed: %s", w->path, strerror(errno));
    if (close(fd) != 0 && s == VLM_OK)
        s = vlm_err(err, VLM_ERR_IO, "%s: close failed: %s", w->path, strerror(errno));
    if (s == VLM_OK && rename(tmp, w->path) != 0)
        s = vlm_err(err, VLM_ERR_IO, "%s: cannot rename %s into place: %s", w->path, tmp,
                    strerror(errno));
    if (s != VLM_OK) unlink(tmp);
    free(tmp);
    return s == VLM_OK ? vlm_err_ok(err) : s;
}
