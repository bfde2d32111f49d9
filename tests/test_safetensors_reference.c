/* The safetensors reader and writer against files made by other software: the Python
 * `safetensors` library (tests/fixtures/safetensors/reference.safetensors, one tensor per
 * dtype torch can save, with __metadata__) and transformers' save_pretrained
 * (tests/fixtures/safetensors/sharded/, an index and its shards), both written by
 * tools/refgen/safetensors_refs.py with a reference.json beside them that lists every
 * tensor's dtype, shape and first values (as float64, printed by torch).
 * - Every tensor of the json is found with its dtype and shape, and no other tensor is there
 *   (header-only opens give the same table without data).
 * - Values are compared exactly (bit-exact decoding of each dtype to double: f16/bf16
 *   through tensor/dtype.h, the float8 formats decoded here; tolerance 0).
 * - Shards: each tensor lies in the file the index names.
 * - The writer, fed the tensors in the reference file's order with its metadata, produces
 *   the reference library's bytes exactly.
 * Skips (77) while the fixture folder does not exist. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <unistd.h>

#include "core/file.h"
#include "core/json.h"
#include "fs_util.h"
#include "tensor/dtype.h"
#include "test.h"
#include "weights/safetensors.h"
#include "weights/safetensors_write.h"

/* ---------------------------------------------------------------- element decoding */

/* OCP/"fn" float8 with e exponent bits and m mantissa bits; `fnuz` variants have bias + 1,
 * NaN only at 0x80 and no negative zero. Exact through ldexp. */
static double f8_decode(uint8_t b, int ebits, int mbits, bool fnuz) {
    int bias = (1 << (ebits - 1)) - 1 + (fnuz ? 1 : 0);
    if (fnuz && b == 0x80) return NAN;
    int s = b >> 7, e = (b >> mbits) & ((1 << ebits) - 1), m = b & ((1 << mbits) - 1);
    if (!fnuz) {
        if (ebits == 4 && e == 15 && m == 7) return NAN; /* E4M3FN: no inf, one NaN */
        if (ebits == 5 && e == 31) return m ? NAN : (s ? -INFINITY : INFINITY);
    }
    double v = e == 0 ? ldexp(m, 1 - bias - mbits) : ldexp(m + (1 << mbits), e - bias - mbits);
    return s ? -v : v;
}

/* Element i of a tensor as double; false for dtypes without a decoder here. */
static bool element(const vlm_st_tensor *t, size_t i, double *out) {
    const uint8_t *p = t->data;
    switch (t->dtype) {
    case VLM_ST_BOOL:
        *out = p[i] ? 1.0 : 0.0;
        return true;
    case VLM_ST_U8:
        *out = p[i];
        return true;
    case VLM_ST_I8:
        *out = (int8_t)p[i];
        return true;
    case VLM_ST_F8_E4M3:
        *out = f8_decode(p[i], 4, 3, false);
        return true;
    case VLM_ST_F8_E5M2:
        *out = f8_decode(p[i], 5, 2, false);
        return true;
    case VLM_ST_F8_E4M3FNUZ:
        *out = f8_decode(p[i], 4, 3, true);
        return true;
    case VLM_ST_F8_E5M2FNUZ:
        *out = f8_decode(p[i], 5, 2, true);
        return true;
    case VLM_ST_F8_E8M0:
        *out = p[i] == 0xff ? NAN : ldexp(1.0, (int)p[i] - 127);
        return true;
    default:
        break;
    }
    size_t w = (size_t)vlm_st_dtype_bits(t->dtype) / 8;
    uint8_t b[8];
    memcpy(b, p + i * w, w); /* unaligned-safe; the data is little-endian, as is the host */
    switch (t->dtype) {
    case VLM_ST_I16: {
        int16_t v;
        memcpy(&v, b, 2);
        *out = v;
        return true;
    }
    case VLM_ST_U16: {
        uint16_t v;
        memcpy(&v, b, 2);
        *out = v;
        return true;
    }
    case VLM_ST_F16: {
        uint16_t v;
        memcpy(&v, b, 2);
        *out = vlm_f16_to_f32(v);
        return true;
    }
    case VLM_ST_BF16: {
        uint16_t v;
        memcpy(&v, b, 2);
        *out = vlm_bf16_to_f32(v);
        return true;
    }
    case VLM_ST_I32: {
        int32_t v;
        memcpy(&v, b, 4);
        *out = v;
        return true;
    }
    case VLM_ST_U32: {
        uint32_t v;
        memcpy(&v, b, 4);
        *out = v;
        return true;
    }
    case VLM_ST_F32: {
        float v;
        memcpy(&v, b, 4);
        *out = v;
        return true;
    }
    case VLM_ST_I64: {
        int64_t v;
        memcpy(&v, b, 8);
        *out = (double)v;
        return true;
    }
    case VLM_ST_U64: {
        uint64_t v;
        memcpy(&v, b, 8);
        *out = (double)v;
        return true;
    }
    case VLM_ST_F64: {
        memcpy(out, b, 8);
        return true;
    }
    default:
        return false;
    }
}

/* ---------------------------------------------------------------- checks */

static bool same_double(double a, double b) {
    return (isnan(a) && isnan(b)) || a == b;
}

/* Every record of refs (name, dtype, shape, values[, file]) against the set. */
static void check_tensors(const vlm_st_set *set, const vlm_st_set *hdr_only, const vlm_json *refs,
                          const char *what) {
    size_t n = vlm_json_array_size(refs);
    CHECK_MSG(n > 0, "%s: reference.json lists no tensors", what);
    CHECK_MSG(vlm_st_count(set) == n, "%s: %zu tensors, reference.json lists %zu", what,
              vlm_st_count(set), n);
    CHECK(vlm_st_count(hdr_only) == n);
    size_t values_checked = 0;
    for (size_t r = 0; r < n; r++) {
        const vlm_json *rec = vlm_json_array_at(refs, r);
        const char *name = vlm_json_string(vlm_json_get(rec, "name"));
        const char *dtype = vlm_json_string(vlm_json_get(rec, "dtype"));
        const vlm_json *shape = vlm_json_get(rec, "shape"), *values = vlm_json_get(rec, "values");
        CHECK_MSG(name && dtype && vlm_json_is_array(shape) && vlm_json_is_array(values),
                  "%s: reference.json record %zu is malformed", what, r);
        if (!name || !dtype || !shape || !values) continue;
        const vlm_st_tensor *t = vlm_st_find(set, name), *h = vlm_st_find(hdr_only, name);
        CHECK_MSG(t && h, "%s: tensor '%s' not found", what, name);
        if (!t || !h) continue;
        CHECK_MSG(!strcmp(vlm_st_dtype_name(t->dtype), dtype), "%s: '%s' is %s, reference %s", what,
                  name, vlm_st_dtype_name(t->dtype), dtype);
        CHECK_EQ_INT(t->ndim, vlm_json_array_size(shape));
        int64_t numel = 1;
        for (size_t d = 0; d < vlm_json_array_size(shape) && d < VLM_ST_MAX_DIMS; d++) {
            int64_t want = -1;
            vlm_json_int(vlm_json_array_at(shape, d), &want);
            CHECK_MSG(t->shape[d] == want, "%s: '%s' shape[%zu] %lld, reference %lld", what, name,
                      d, (long long)t->shape[d], (long long)want);
            numel *= want;
        }
        /* header-only: same table, no data */
        CHECK(h->dtype == t->dtype && h->nbytes == t->nbytes && h->offset == t->offset &&
              h->file_index == t->file_index && h->data == NULL && t->data != NULL);
        /* the shard the index names */
        const char *file = vlm_json_string(vlm_json_get(rec, "file"));
        if (file) {
            const char *path = vlm_st_file_path(set, (size_t)t->file_index);
            size_t pl = path ? strlen(path) : 0, fl = strlen(file);
            CHECK_MSG(path && pl > fl && path[pl - fl - 1] == '/' && !strcmp(path + pl - fl, file),
                      "%s: '%s' is in %s, reference %s", what, name, path ? path : "?", file);
        }
        size_t nv = vlm_json_array_size(values);
        CHECK_MSG(nv == (size_t)(numel < 8 ? numel : 8), "%s: '%s' has %zu reference values", what,
                  name, nv);
        for (size_t i = 0; i < nv && (int64_t)i < numel; i++) {
            double got, want = vlm_json_number(vlm_json_array_at(values, i));
            if (!element(t, i, &got)) {
                CHECK_MSG(false, "%s: '%s': no decoder for %s", what, name, dtype);
                break;
            }
            CHECK_MSG(same_double(got, want), "%s: '%s'[%zu] = %.17g, reference %.17g", what, name,
                      i, got, want);
            values_checked++;
        }
    }
    fprintf(stderr, "%s: %zu tensors, %zu values compared exactly\n", what, n, values_checked);
}

/* The writer, given file i's tensors in its header order and its metadata in file order,
 * must reproduce the reference library's bytes. */
static void check_rewrite(const vlm_st_set *set, size_t file, const char *tmpdir) {
    const char *src = vlm_st_file_path(set, file);
    char *out = tu_join(tmpdir, "rewrite.safetensors");
    vlm_st_writer *w = NULL;
    vlm_error err;
    CHECK(vlm_st_writer_init(&w, out, &err) == VLM_OK);
    for (const char *const *md = vlm_st_metadata(set, file); md && *md; md += 2)
        CHECK(vlm_st_writer_set_metadata(w, md[0], md[1], &err) == VLM_OK);
    for (size_t i = 0; i < vlm_st_count(set); i++) {
        const vlm_st_tensor *t = vlm_st_at(set, i);
        if ((size_t)t->file_index != file) continue;
        CHECK_MSG(vlm_st_writer_add(w, t->name, t->dtype, t->ndim, t->shape, t->data, t->nbytes,
                                    &err) == VLM_OK,
                  "%s", err.message);
    }
    CHECK_MSG(vlm_st_writer_write(w, &err) == VLM_OK, "%s", err.message);
    vlm_st_writer_free(w);
    char *a = NULL, *b = NULL;
    size_t al = 0, bl = 0;
    CHECK(vlm_file_read(src, (size_t)1 << 30, &a, &al, &err) == VLM_OK);
    CHECK(vlm_file_read(out, (size_t)1 << 30, &b, &bl, &err) == VLM_OK);
    CHECK_MSG(a && b && al == bl && memcmp(a, b, al) == 0,
              "writer output differs from %s (%zu vs %zu bytes)", src, bl, al);
    free(a);
    free(b);
    unlink(out);
    free(out);
}

static void check_metadata(const vlm_st_set *set, const vlm_json *want) {
    if (!vlm_json_is_object(want)) return;
    const char *const *md = vlm_st_metadata(set, 0);
    size_t n = 0;
    for (const char *const *p = md; p && *p; p += 2) {
        const char *v = vlm_json_string(vlm_json_get(want, p[0]));
        CHECK_MSG(v && !strcmp(v, p[1]), "metadata '%s' = '%s', reference '%s'", p[0], p[1],
                  v ? v : "(absent)");
        n++;
    }
    CHECK_EQ_INT(n, vlm_json_object_size(want));
}

static void run_case(const char *what, const char *open_path, bool is_dir, const char *ref_json,
                     const char *tmpdir) {
    vlm_json *ref = NULL;
    vlm_error err;
    vlm_status s = vlm_json_load_file(ref_json, (size_t)64 << 20, 0, &ref, &err);
    CHECK_MSG(s == VLM_OK, "%s", err.message);
    if (s != VLM_OK) return;
    vlm_st_set *set = NULL, *hdr = NULL;
    s = is_dir ? vlm_st_open_dir(open_path, 0, &set, &err) : vlm_st_open(open_path, 0, &set, &err);
    CHECK_MSG(s == VLM_OK, "%s", err.message);
    s = is_dir ? vlm_st_open_dir(open_path, VLM_ST_HEADER_ONLY, &hdr, &err)
               : vlm_st_open(open_path, VLM_ST_HEADER_ONLY, &hdr, &err);
    CHECK_MSG(s == VLM_OK, "%s", err.message);
    if (set && hdr) {
        check_tensors(set, hdr, vlm_json_get(ref, "tensors"), what);
        if (!is_dir) check_metadata(set, vlm_json_get(ref, "metadata"));
        for (size_t f = 0; f < vlm_st_file_count(set); f++)
            check_rewrite(set, f, tmpdir);
    }
    vlm_st_close(set);
    vlm_st_close(hdr);
    vlm_json_free(ref);
}

int main(void) {
    char *root = tu_join(vlm_test_source_dir(), "tests/fixtures/safetensors");
    if (vlm_path_kind_of(root) != VLM_PATH_DIR) {
        free(root);
        SKIP("tests/fixtures/safetensors/ does not exist yet (tools/refgen/safetensors_refs.py "
             "makes it with the Python safetensors library)");
    }
    char *tmp = tu_mkdtemp();
    CHECK(tmp != NULL);
    char *file = tu_join(root, "reference.safetensors");
    char *json = tu_join(root, "reference.json");
    char *sdir = tu_join(root, "sharded");
    char *sjson = tu_join(sdir, "reference.json");
    CHECK_MSG(vlm_path_kind_of(file) == VLM_PATH_FILE, "%s is missing", file);
    CHECK_MSG(vlm_path_kind_of(sdir) == VLM_PATH_DIR, "%s is missing", sdir);
    if (tmp && vlm_path_kind_of(file) == VLM_PATH_FILE)
        run_case("reference.safetensors", file, false, json, tmp);
    if (tmp && vlm_path_kind_of(sdir) == VLM_PATH_DIR) run_case("sharded", sdir, true, sjson, tmp);
    if (tmp) tu_rm_rf(tmp);
    free(tmp);
    free(file);
    free(json);
    free(sdir);
    free(sjson);
    free(root);
    TEST_DONE();
}
