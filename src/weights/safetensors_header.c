/* Validation of one safetensors header (see safetensors_header.h). The rules follow the
 * reference reader (huggingface/safetensors, tensor.rs: read_metadata and
 * Metadata::validate), plus: unknown fields in an entry are errors, and spans are checked
 * for overlap instead of for exact contiguity. */
#include "weights/safetensors_header.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/checked.h"
#include "core/error.h"
#include "core/json.h"

void vlm_st_shape_format(const int64_t *shape, int ndim, char *buf, size_t size) {
    if (size == 0) return;
    size_t at = 0;
    buf[0] = '\0';
    for (int i = -1; i <= ndim && at < size; i++) {
        int w;
        if (i < 0)
            w = snprintf(buf + at, size - at, "[");
        else if (i == ndim)
            w = snprintf(buf + at, size - at, "]");
        else
            w = snprintf(buf + at, size - at, "%s%lld", i ? ", " : "", (long long)shape[i]);
        if (w < 0) return;
        at += (size_t)w;
    }
}

void vlm_st_header_free(vlm_st_header *h) {
    if (!h) return;
    for (size_t i = 0; i < h->count; i++)
        free((char *)h->tensors[i].name);
    free(h->tensors);
    if (h->metadata) {
        for (char **p = h->metadata; *p; p++)
            free(*p);
        free(h->metadata);
    }
    memset(h, 0, sizeof *h);
}

/* True when the member key holds no NUL byte (C strings elsewhere would cut it short). */
static bool key_is_clean(void *it) {
    return strlen(vlm_json_iter_key(it)) == vlm_json_iter_key_len(it);
}

static vlm_status parse_metadata(const char *path, const vlm_json *v, char ***out, vlm_error *err) {
    *out = NULL;
    if (vlm_json_is_null(v)) return VLM_OK;
    if (!vlm_json_is_object(v))
        return vlm_err(err, VLM_ERR_FORMAT,
                       "%s: field '__metadata__' is a JSON %s, not an object of strings", path,
                       vlm_json_type_name(v));
    size_t n = vlm_json_object_size(v), slots;
    if (!vlm_size_mul(n, 2, &slots) || !vlm_size_add(slots, 1, &slots))
        return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "%s: __metadata__ too large", path);
    char **kv = vlm_calloc_array(slots, sizeof *kv);
    if (!kv) return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    size_t at = 0;
    vlm_status s = VLM_OK;
    for (void *it = vlm_json_iter(v); it; it = vlm_json_iter_next(v, it)) {
        const char *key = vlm_json_iter_key(it);
        const vlm_json *val = vlm_json_iter_value(it);
        if (!key_is_clean(it)) {
            s = vlm_err(err, VLM_ERR_FORMAT, "%s: field '__metadata__': a key holds a NUL byte",
                        path);
            break;
        }
        const char *str = vlm_json_string(val);
        if (!str) {
            s = vlm_err(err, VLM_ERR_FORMAT,
                        "%s: field '__metadata__': key '%.100s' is a JSON %s, not a string", path,
                        key, vlm_json_type_name(val));
            break;
        }
        if (strlen(str) != vlm_json_string_len(val)) {
            s = vlm_err(err, VLM_ERR_FORMAT,
                        "%s: field '__metadata__': the value of key '%.100s' holds a NUL byte",
                        path, key);
            break;
        }
        kv[at] = vlm_strdup(key);
        kv[at + 1] = vlm_strdup(str);
        if (!kv[at] || !kv[at + 1]) {
            s = vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
            at += 2; /* free both slots below */
            break;
        }
        at += 2;
    }
    if (s != VLM_OK) {
        for (size_t i = 0; i < at; i++)
            free(kv[i]);
        free(kv);
        return s;
    }
    *out = kv;
    return VLM_OK;
}

static bool key_is(void *it, const char *want) {
    size_t n = strlen(want);
    return vlm_json_iter_key_len(it) == n && memcmp(vlm_json_iter_key(it), want, n) == 0;
}

/* One non-negative JSON integer (a shape entry or an offset) into *out. */
static vlm_status get_count(const char *path, const char *name, const char *field, size_t i,
                            const vlm_json *v, int64_t *out, vlm_error *err) {
    if (!vlm_json_int(v, out))
        return vlm_err(err, VLM_ERR_FORMAT,
                       "%s: tensor '" VLM_ST_NAME_IN_ERR "': %s[%zu] is a JSON %s, not an integer",
                       path, name, field, i, vlm_json_type_name(v));
    if (*out < 0)
        return vlm_err(err, VLM_ERR_FORMAT,
                       "%s: tensor '" VLM_ST_NAME_IN_ERR "': %s[%zu] is %lld, negative", path, name,
                       field, i, (long long)*out);
    return VLM_OK;
}

static vlm_status parse_entry(const char *path, const char *name, const vlm_json *v,
                              uint64_t data_start, uint64_t data_size, vlm_st_tensor *t,
                              vlm_error *err) {
    if (!vlm_json_is_object(v))
        return vlm_err(err, VLM_ERR_FORMAT,
                       "%s: tensor '" VLM_ST_NAME_IN_ERR "': entry is a JSON %s, not an object",
                       path, name, vlm_json_type_name(v));
    const vlm_json *jdtype = NULL, *jshape = NULL, *joffsets = NULL;
    for (void *it = vlm_json_iter(v); it; it = vlm_json_iter_next(v, it)) {
        if (key_is(it, "dtype"))
            jdtype = vlm_json_iter_value(it);
        else if (key_is(it, "shape"))
            jshape = vlm_json_iter_value(it);
        else if (key_is(it, "data_offsets"))
            joffsets = vlm_json_iter_value(it);
        else
            return vlm_err(err, VLM_ERR_FORMAT,
                           "%s: tensor '" VLM_ST_NAME_IN_ERR "': unknown field '%.100s'", path,
                           name, vlm_json_iter_key(it));
    }
    const char *missing = !jdtype ? "dtype" : !jshape ? "shape" : !joffsets ? "data_offsets" : NULL;
    if (missing)
        return vlm_err(err, VLM_ERR_FORMAT,
                       "%s: tensor '" VLM_ST_NAME_IN_ERR "': missing field '%s'", path, name,
                       missing);

    /* dtype */
    const char *ds = vlm_json_string(jdtype);
    if (!ds)
        return vlm_err(err, VLM_ERR_FORMAT,
                       "%s: tensor '" VLM_ST_NAME_IN_ERR
                       "': field 'dtype' is a JSON %s, not a string",
                       path, name, vlm_json_type_name(jdtype));
    if (!vlm_st_dtype_parse(ds, vlm_json_string_len(jdtype), &t->dtype))
        return vlm_err(err, VLM_ERR_UNSUPPORTED,
                       "%s: tensor '" VLM_ST_NAME_IN_ERR "': unknown dtype '%.40s'", path, name,
                       ds);

    /* shape */
    if (!vlm_json_is_array(jshape))
        return vlm_err(err, VLM_ERR_FORMAT,
                       "%s: tensor '" VLM_ST_NAME_IN_ERR
                       "': field 'shape' is a JSON %s, not an array",
                       path, name, vlm_json_type_name(jshape));
    size_t ndim = vlm_json_array_size(jshape);
    if (ndim > VLM_ST_MAX_DIMS)
        return vlm_err(err, VLM_ERR_LIMIT,
                       "%s: tensor '" VLM_ST_NAME_IN_ERR
                       "': shape has %zu dimensions, more than %d",
                       path, name, ndim, VLM_ST_MAX_DIMS);
    t->ndim = (int)ndim;
    for (size_t i = 0; i < ndim; i++) {
        vlm_status s =
            get_count(path, name, "shape", i, vlm_json_array_at(jshape, i), &t->shape[i], err);
        if (s != VLM_OK) return s;
    }

    /* data_offsets */
    if (!vlm_json_is_array(joffsets) || vlm_json_array_size(joffsets) != 2)
        return vlm_err(err, VLM_ERR_FORMAT,
                       "%s: tensor '" VLM_ST_NAME_IN_ERR
                       "': field 'data_offsets' is not a [begin, end] pair (a JSON %s of %zu)",
                       path, name, vlm_json_type_name(joffsets), vlm_json_array_size(joffsets));
    int64_t off[2];
    for (size_t i = 0; i < 2; i++) {
        vlm_status s =
            get_count(path, name, "data_offsets", i, vlm_json_array_at(joffsets, i), &off[i], err);
        if (s != VLM_OK) return s;
    }
    uint64_t begin = (uint64_t)off[0], end = (uint64_t)off[1];
    if (begin > end)
        return vlm_err(err, VLM_ERR_FORMAT,
                       "%s: tensor '" VLM_ST_NAME_IN_ERR
                       "': data_offsets [%llu, %llu] end before they begin",
                       path, name, (unsigned long long)begin, (unsigned long long)end);
    if (end > data_size)
        return vlm_err(err, VLM_ERR_FORMAT,
                       "%s: tensor '" VLM_ST_NAME_IN_ERR
                       "': data_offsets [%llu, %llu] go past the end of the data area (%llu bytes)",
                       path, name, (unsigned long long)begin, (unsigned long long)end,
                       (unsigned long long)data_size);

    /* size: product(shape) * bits must be whole bytes and fill the span exactly */
    char shape_text[200];
    uint64_t bits;
    if (!vlm_st_tensor_bits(t->dtype, t->ndim, t->shape, &bits)) {
        vlm_st_shape_format(t->shape, t->ndim, shape_text, sizeof shape_text);
        return vlm_err(err, VLM_ERR_FORMAT,
                       "%s: tensor '" VLM_ST_NAME_IN_ERR "': shape %s of %s overflows 64 bits",
                       path, name, shape_text, vlm_st_dtype_name(t->dtype));
    }
    if (bits % 8 != 0) {
        vlm_st_shape_format(t->shape, t->ndim, shape_text, sizeof shape_text);
        return vlm_err(err, VLM_ERR_FORMAT,
                       "%s: tensor '" VLM_ST_NAME_IN_ERR
                       "': shape %s of %s is %llu bits, not a whole number of bytes",
                       path, name, shape_text, vlm_st_dtype_name(t->dtype),
                       (unsigned long long)bits);
    }
    t->nbytes = bits / 8;
    if (t->nbytes != end - begin) {
        vlm_st_shape_format(t->shape, t->ndim, shape_text, sizeof shape_text);
        return vlm_err(err, VLM_ERR_FORMAT,
                       "%s: tensor '" VLM_ST_NAME_IN_ERR
                       "': data_offsets [%llu, %llu] hold %llu bytes but shape %s of %s needs %llu",
                       path, name, (unsigned long long)begin, (unsigned long long)end,
                       (unsigned long long)(end - begin), shape_text, vlm_st_dtype_name(t->dtype),
                       (unsigned long long)t->nbytes);
    }
    if (!vlm_u64_add(data_start, begin, &t->offset))
        return vlm_err(err, VLM_ERR_FORMAT, "%s: tensor '" VLM_ST_NAME_IN_ERR "': offset overflows",
                       path, name);
    t->data = NULL;
    t->file_index = 0;
    return VLM_OK;
}

typedef struct st_span {
    uint64_t begin, end;
    size_t index;
} st_span;

static int span_cmp(const void *a, const void *b) {
    const st_span *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

/* Sorted by start, non-empty spans overlap iff one starts before its predecessor ends. */
static vlm_status check_overlaps(const char *path, const vlm_st_header *h, uint64_t data_start,
                                 vlm_error *err) {
    st_span *spans = vlm_malloc_array(h->count, sizeof *spans);
    if (!spans) return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    size_t n = 0;
    for (size_t i = 0; i < h->count; i++) {
        const vlm_st_tensor *t = &h->tensors[i];
        if (t->nbytes == 0) continue;
        uint64_t b = t->offset - data_start;
        spans[n++] = (st_span){b, b + t->nbytes, i};
    }
    qsort(spans, n, sizeof *spans, span_cmp);
    vlm_status s = VLM_OK;
    for (size_t i = 1; i < n; i++) {
        if (spans[i].begin < spans[i - 1].end) {
            const st_span *a = &spans[i - 1], *b = &spans[i];
            s = vlm_err(err, VLM_ERR_FORMAT,
                        "%s: tensor '%.120s': data_offsets [%llu, %llu] overlap those of tensor "
                        "'%.120s' [%llu, %llu]",
                        path, h->tensors[b->index].name, (unsigned long long)b->begin,
                        (unsigned long long)b->end, h->tensors[a->index].name,
                        (unsigned long long)a->begin, (unsigned long long)a->end);
            break;
        }
    }
    free(spans);
    return s;
}

vlm_status vlm_st_header_parse(const char *path, const char *text, size_t len, uint64_t data_start,
                               uint64_t data_size, vlm_st_header *out, vlm_error *err) {
    memset(out, 0, sizeof *out);
    vlm_json *root = NULL;
    vlm_status s = vlm_json_parse(text, len, path, VLM_JSON_REJECT_DUPLICATES, &root, err);
    if (s != VLM_OK) return s; /* "PATH: invalid JSON at line L column C: ..." */
    if (!vlm_json_is_object(root)) {
        s = vlm_err(err, VLM_ERR_FORMAT, "%s: header is a JSON %s, not an object", path,
                    vlm_json_type_name(root));
        goto done;
    }
    out->tensors = vlm_calloc_array(vlm_json_object_size(root), sizeof *out->tensors);
    if (!out->tensors) {
        s = vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
        goto done;
    }
    for (void *it = vlm_json_iter(root); it; it = vlm_json_iter_next(root, it)) {
        const char *key = vlm_json_iter_key(it);
        const vlm_json *v = vlm_json_iter_value(it);
        if (!key_is_clean(it)) {
            s = vlm_err(err, VLM_ERR_FORMAT, "%s: tensor '%.200s...': name holds a NUL byte", path,
                        key);
            goto done;
        }
        if (strcmp(key, "__metadata__") == 0) {
            s = parse_metadata(path, v, &out->metadata, err);
            if (s != VLM_OK) goto done;
            continue;
        }
        vlm_st_tensor *t = &out->tensors[out->count];
        t->name = vlm_strdup(key);
        if (!t->name) {
            s = vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
            goto done;
        }
        out->count++;
        s = parse_entry(path, key, v, data_start, data_size, t, err);
        if (s != VLM_OK) goto done;
    }
    s = check_overlaps(path, out, data_start, err);
done:
    vlm_json_free(root);
    if (s != VLM_OK) vlm_st_header_free(out);
    return s;
}
