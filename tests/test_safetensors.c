/* safetensors reader and writer on files built byte by byte here: 8-byte little-endian
 * lengths, headers written out as string literals, data from C arrays whose values and bit
 * patterns are known independently of the code under test (1.5f, bf16 0x3FC0, ...). Every
 * bad input the format can throw (truncation at every cut point, lengths past the end or
 * huge, bad JSON, duplicate names, spans out of range or overlapping, size mismatches,
 * unknown dtypes, bad shapes, bad metadata, bad shard indexes, FIFOs, directories, empty
 * files) must give the right status and a message naming the file. The writer is checked
 * against a hand-written expected byte string (the layout the reference writer produces
 * for the same tensors) before any round trip. Values are compared bit-exactly. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "core/error.h"
#include "fs_util.h"
#include "tensor/dtype.h"
#include "test.h"
#include "weights/safetensors.h"
#include "weights/safetensors_write.h"

/* ---------------------------------------------------------------- building files */

static void put_le64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* Writes dir/name: the 8-byte length n, hlen header bytes, then dlen data bytes. Returns
 * the path (malloc'd). */
static char *put_raw(const char *dir, const char *name, uint64_t n, const char *hdr, size_t hlen,
                     const void *data, size_t dlen) {
    size_t total = 8 + hlen + dlen;
    uint8_t *buf = malloc(total ? total : 1);
    put_le64(buf, n);
    if (hlen) memcpy(buf + 8, hdr, hlen);
    if (dlen) memcpy(buf + 8 + hlen, data, dlen);
    CHECK(tu_write(dir, name, buf, total) == 0);
    free(buf);
    return tu_join(dir, name);
}

/* A well-formed prefix: n == strlen(hdr). */
static char *put_st(const char *dir, const char *name, const char *hdr, const void *data,
                    size_t dlen) {
    return put_raw(dir, name, strlen(hdr), hdr, strlen(hdr), data, dlen);
}

static uint8_t *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(n > 0 ? (size_t)n : 1);
    *len = fread(b, 1, (size_t)n, f);
    fclose(f);
    return b;
}

static const char *base_name(const char *path) {
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* ---------------------------------------------------------------- expectations */

#define MODE_MAP 1
#define MODE_HDR 2
#define MODE_BOTH 3

/* vlm_st_open(path) fails with `want`, leaves *out NULL and names the file (its base
 * name) and `needle`, in each mode of `modes`. */
static void expect_open_fail(int line, const char *path, int modes, vlm_status want,
                             const char *needle) {
    for (int m = 0; m < 2; m++) {
        if (!(modes & (1 << m))) continue;
        vlm_st_set *set = (vlm_st_set *)&set; /* must be reset to NULL */
        vlm_error err = {0};
        vlm_status s = vlm_st_open(path, m ? VLM_ST_HEADER_ONLY : 0, &set, &err);
        int before = vlm_test_failures;
        CHECK_EQ_INT(s, want);
        CHECK_EQ_INT(err.status, want);
        CHECK(set == NULL);
        CHECK_CONTAINS(err.message, base_name(path));
        CHECK_CONTAINS(err.message, needle);
        if (vlm_test_failures != before)
            fprintf(stderr, "  ^ from line %d, %s, %s: \"%s\"\n", line, path,
                    m ? "header-only" : "mapped", err.message);
        else if (getenv("VLM_TEST_VERBOSE"))
            fprintf(stderr, "line %d %s: %s\n", line, m ? "hdr" : "map", err.message);
        if (s == VLM_OK && set) vlm_st_close(set);
    }
}
#define EXPECT_OPEN_FAIL(path, modes, want, needle)                                                \
    expect_open_fail(__LINE__, path, modes, want, needle)

/* A one-file header with `hdr` and `dlen` zero data bytes must fail. */
static void expect_header_fail(int line, const char *dir, const char *hdr, size_t dlen,
                               vlm_status want, const char *needle) {
    uint8_t *zeros = calloc(1, dlen ? dlen : 1);
    char *p = put_st(dir, "bad.safetensors", hdr, zeros, dlen);
    expect_open_fail(line, p, MODE_BOTH, want, needle);
    free(p);
    free(zeros);
}
#define EXPECT_HEADER_FAIL(dir, hdr, dlen, want, needle)                                           \
    expect_header_fail(__LINE__, dir, hdr, dlen, want, needle)

static void expect_dir_fail(int line, const char *dir, vlm_status want, const char *needle1,
                            const char *needle2) {
    for (int m = 0; m < 2; m++) {
        vlm_st_set *set = (vlm_st_set *)&set;
        vlm_error err = {0};
        vlm_status s = vlm_st_open_dir(dir, m ? VLM_ST_HEADER_ONLY : 0, &set, &err);
        int before = vlm_test_failures;
        CHECK_EQ_INT(s, want);
        CHECK(set == NULL);
        CHECK_CONTAINS(err.message, needle1);
        if (needle2) CHECK_CONTAINS(err.message, needle2);
        if (vlm_test_failures != before)
            fprintf(stderr, "  ^ from line %d, dir %s: \"%s\"\n", line, dir, err.message);
        else if (getenv("VLM_TEST_VERBOSE"))
            fprintf(stderr, "line %d dir: %s\n", line, err.message);
        if (s == VLM_OK && set) vlm_st_close(set);
    }
}
#define EXPECT_DIR_FAIL(dir, want, n1, n2) expect_dir_fail(__LINE__, dir, want, n1, n2)

/* ---------------------------------------------------------------- a valid file */

/* Data of the hand-written valid file, little-endian (x86/arm64 hosts are). */
typedef struct good_data {
    uint16_t b[2]; /* BF16 [2]: 1.5, -2 */
    float a[4];    /* F32 [2, 2] */
    int64_t s;     /* I64 [] (0-d) */
    uint8_t f4[3]; /* F4 [3, 2]: 6 x 4 bits = 3 bytes */
    uint8_t f6[3]; /* F6_E2M3 [4]: 4 x 6 bits = 3 bytes */
    float c[2];    /* C64 [1]: one complex = two F32 */
} good_data;

/* Offsets in the data area, by hand: b 0..4, a 4..20, e (empty) 20..20, s 20..28, f4 28..31,
 * f6 31..34, c 34..42. __metadata__ sits between tensors on purpose (any position is valid);
 * the trailing spaces are the padding writers add. */
static const char GOOD_HDR[] =
    "{\"b\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[0,4]},"
    "\"a\":{\"shape\":[2,2],\"dtype\":\"F32\",\"data_offsets\":[4,20]},"
    "\"__metadata__\":{\"format\":\"pt\",\"note\":\"caf\\u00e9 \\\"q\\\"\"},"
    "\"e\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[20,20]},"
    "\"s\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[20,28]},"
    "\"f4\":{\"dtype\":\"F4\",\"shape\":[3,2],\"data_offsets\":[28,31]},"
    "\"f6\":{\"dtype\":\"F6_E2M3\",\"shape\":[4],\"data_offsets\":[31,34]},"
    "\"c\":{\"dtype\":\"C64\",\"shape\":[1],\"data_offsets\":[34,42]}}     ";

static uint8_t *good_bytes(size_t *len) {
    static const uint8_t f4[3] = {0x12, 0x34, 0x56}, f6[3] = {0xab, 0xcd, 0xef};
    uint8_t *d = calloc(1, 42);
    uint16_t b[2] = {0x3FC0, 0xC000}; /* bf16 1.5, -2 */
    float a[4] = {1.5f, -2.0f, 3.25f, 0.001f};
    int64_t s = -1234567890123LL;
    float c[2] = {0.5f, -0.25f};
    memcpy(d + 0, b, 4);
    memcpy(d + 4, a, 16);
    memcpy(d + 20, &s, 8);
    memcpy(d + 28, f4, 3);
    memcpy(d + 31, f6, 3);
    memcpy(d + 34, c, 8);
    *len = 42;
    return d;
}

static void test_good_file(const char *dir) {
    size_t dlen;
    uint8_t *data = good_bytes(&dlen);
    char *path = put_st(dir, "good.safetensors", GOOD_HDR, data, dlen);
    const uint64_t start = 8 + strlen(GOOD_HDR);
    static const char *const order[] = {"b", "a", "e", "s", "f4", "f6", "c"};
    static const vlm_st_dtype dts[] = {VLM_ST_BF16, VLM_ST_F32,     VLM_ST_F32, VLM_ST_I64,
                                       VLM_ST_F4,   VLM_ST_F6_E2M3, VLM_ST_C64};
    static const int ndims[] = {1, 2, 2, 0, 2, 1, 1};
    static const int64_t shapes[][2] = {{2}, {2, 2}, {0, 3}, {0}, {3, 2}, {4}, {1}};
    static const uint64_t begins[] = {0, 4, 20, 20, 28, 31, 34},
                          ends[] = {4, 20, 20, 28, 31, 34, 42};

    for (int m = 0; m < 2; m++) {
        vlm_st_set *set = NULL;
        vlm_error err;
        vlm_status s = vlm_st_open(path, m ? VLM_ST_HEADER_ONLY : 0, &set, &err);
        CHECK_MSG(s == VLM_OK, "%s", err.message);
        if (s != VLM_OK) continue;
        CHECK_EQ_INT(vlm_st_count(set), 7);
        CHECK_EQ_INT(vlm_st_file_count(set), 1);
        CHECK_STR(vlm_st_file_path(set, 0), path);
        CHECK(vlm_st_file_path(set, 1) == NULL);
        CHECK(vlm_st_at(set, 7) == NULL);
        for (int i = 0; i < 7; i++) {
            const vlm_st_tensor *t = vlm_st_at(set, (size_t)i);
            CHECK(t && t == vlm_st_find(set, order[i]));
            if (!t) continue;
            CHECK_STR(t->name, order[i]);
            CHECK_EQ_INT(t->dtype, dts[i]);
            CHECK_EQ_INT(t->ndim, ndims[i]);
            for (int d = 0; d < ndims[i]; d++)
                CHECK_EQ_INT(t->shape[d], shapes[i][d]);
            CHECK_EQ_INT(t->nbytes, ends[i] - begins[i]);
            CHECK_EQ_INT(t->offset, start + begins[i]);
            CHECK_EQ_INT(t->file_index, 0);
            if (m) {
                CHECK(t->data == NULL);
            } else {
                CHECK(t->data != NULL);
                if (t->data) CHECK(memcmp(t->data, data + begins[i], t->nbytes) == 0);
            }
        }
        CHECK(vlm_st_find(set, "missing") == NULL);
        CHECK(vlm_st_find(set, "") == NULL);
        CHECK(vlm_st_find(set, "__metadata__") == NULL);
        CHECK(vlm_st_find(NULL, "a") == NULL);
        if (!m) {
            /* values through the bit patterns written above */
            const vlm_st_tensor *b = vlm_st_find(set, "b"), *a = vlm_st_find(set, "a");
            uint16_t h[2];
            float f[4];
            memcpy(h, b->data, 4);
            memcpy(f, a->data, 16);
            CHECK(vlm_bf16_to_f32(h[0]) == 1.5f && vlm_bf16_to_f32(h[1]) == -2.0f);
            CHECK(f[0] == 1.5f && f[1] == -2.0f && f[2] == 3.25f && f[3] == 0.001f);
            int64_t sv;
            memcpy(&sv, vlm_st_find(set, "s")->data, 8);
            CHECK(sv == -1234567890123LL);
        }
        const char *const *md = vlm_st_metadata(set, 0);
        CHECK(md != NULL);
        if (md) {
            CHECK_STR(md[0], "format");
            CHECK_STR(md[1], "pt");
            CHECK_STR(md[2], "note");
            CHECK_STR(md[3], "caf\xc3\xa9 \"q\"");
            CHECK(md[4] == NULL);
        }
        CHECK(vlm_st_metadata(set, 1) == NULL);
        vlm_st_close(set);
    }
    vlm_st_close(NULL);

    /* every cut point of this file is an error naming it: before the length, inside the
     * header, inside the data (the last tensor ends at the last byte) */
    size_t full;
    uint8_t *bytes = slurp(path, &full);
    CHECK(full == 8 + strlen(GOOD_HDR) + 42);
    char *cut = tu_join(dir, "cut.safetensors");
    for (size_t n = 0; n < full; n++) {
        CHECK(tu_write(dir, "cut.safetensors", bytes, n) == 0);
        const char *needle = n < 8       ? "too short"
                             : n < start ? "past the end of the file"
                                         : "past the end of the data area";
        expect_open_fail(__LINE__, cut, MODE_BOTH, VLM_ERR_FORMAT, needle);
    }
    free(cut);
    free(bytes);
    free(data);
    free(path);
}

/* One tensor of each dtype the format defines, shape [8] so the byte count equals the
 * element width in bits; names and widths from the safetensors spec (tensor.rs). */
static void test_all_dtypes(const char *dir) {
    static const struct {
        const char *name;
        int bits;
        vlm_st_dtype dt;
    } spec[] = {
        {"BOOL", 8, VLM_ST_BOOL},
        {"U8", 8, VLM_ST_U8},
        {"I8", 8, VLM_ST_I8},
        {"F8_E5M2", 8, VLM_ST_F8_E5M2},
        {"F8_E4M3", 8, VLM_ST_F8_E4M3},
        {"F8_E8M0", 8, VLM_ST_F8_E8M0},
        {"F4", 4, VLM_ST_F4},
        {"F6_E2M3", 6, VLM_ST_F6_E2M3},
        {"F6_E3M2", 6, VLM_ST_F6_E3M2},
        {"I16", 16, VLM_ST_I16},
        {"U16", 16, VLM_ST_U16},
        {"F16", 16, VLM_ST_F16},
        {"BF16", 16, VLM_ST_BF16},
        {"I32", 32, VLM_ST_I32},
        {"U32", 32, VLM_ST_U32},
        {"F32", 32, VLM_ST_F32},
        {"I64", 64, VLM_ST_I64},
        {"U64", 64, VLM_ST_U64},
        {"F64", 64, VLM_ST_F64},
        {"C64", 64, VLM_ST_C64},
        {"F8_E4M3FNUZ", 8, VLM_ST_F8_E4M3FNUZ},
        {"F8_E5M2FNUZ", 8, VLM_ST_F8_E5M2FNUZ},
    };
    const int n = (int)(sizeof spec / sizeof spec[0]);
    CHECK_EQ_INT(n, VLM_ST_DTYPE_COUNT);
    char hdr[4096];
    size_t at = 0;
    uint64_t off = 0;
    at += (size_t)snprintf(hdr + at, sizeof hdr - at, "{");
    for (int i = 0; i < n; i++) {
        CHECK_STR(vlm_st_dtype_name(spec[i].dt), spec[i].name);
        CHECK_EQ_INT(vlm_st_dtype_bits(spec[i].dt), spec[i].bits);
        vlm_st_dtype parsed;
        CHECK(vlm_st_dtype_parse(spec[i].name, strlen(spec[i].name), &parsed) &&
              parsed == spec[i].dt);
        at += (size_t)snprintf(
            hdr + at, sizeof hdr - at,
            "%s\"t_%s\":{\"dtype\":\"%s\",\"shape\":[8],\"data_offsets\":[%llu,%llu]}",
            i ? "," : "", spec[i].name, spec[i].name, (unsigned long long)off,
            (unsigned long long)(off + (uint64_t)spec[i].bits));
        off += (uint64_t)spec[i].bits;
    }
    snprintf(hdr + at, sizeof hdr - at, "}");
    vlm_st_dtype dummy;
    CHECK(!vlm_st_dtype_parse("f32", 3, &dummy));
    CHECK(!vlm_st_dtype_parse("F32 ", 4, &dummy));
    CHECK(!vlm_st_dtype_parse("F3", 2, &dummy));
    uint8_t *zeros = calloc(1, (size_t)off);
    char *p = put_st(dir, "dtypes.safetensors", hdr, zeros, (size_t)off);
    vlm_st_set *set = NULL;
    vlm_error err;
    CHECK_MSG(vlm_st_open(p, 0, &set, &err) == VLM_OK, "%s", err.message);
    CHECK_EQ_INT(vlm_st_count(set), n);
    for (int i = 0; set && i < n; i++) {
        char name[64];
        snprintf(name, sizeof name, "t_%s", spec[i].name);
        const vlm_st_tensor *t = vlm_st_find(set, name);
        CHECK(t && t->dtype == spec[i].dt && t->nbytes == (uint64_t)spec[i].bits);
    }
    vlm_st_close(set);
    free(p);
    free(zeros);
}

/* ---------------------------------------------------------------- bad files */

static void test_bad_prefix(const char *dir) {
    /* empty, shorter than the length field */
    CHECK(tu_write(dir, "empty.safetensors", "", 0) == 0);
    char *p = tu_join(dir, "empty.safetensors");
    EXPECT_OPEN_FAIL(p, MODE_BOTH, VLM_ERR_FORMAT, "0 bytes");
    free(p);
    CHECK(tu_write(dir, "five.safetensors", "\x02\0\0\0\0", 5) == 0);
    p = tu_join(dir, "five.safetensors");
    EXPECT_OPEN_FAIL(p, MODE_BOTH, VLM_ERR_FORMAT, "too short");
    free(p);

    /* header length past the end of the file, by one byte and by far */
    const char *hdr = "{}";
    p = put_raw(dir, "past.safetensors", 3, hdr, 2, NULL, 0);
    EXPECT_OPEN_FAIL(p, MODE_BOTH, VLM_ERR_FORMAT,
                     "header length 3 goes past the end of the file (10 bytes)");
    free(p);
    p = put_raw(dir, "past.safetensors", 1000, hdr, 2, NULL, 0);
    EXPECT_OPEN_FAIL(p, MODE_BOTH, VLM_ERR_FORMAT, "header length 1000");
    free(p);
    p = put_raw(dir, "huge.safetensors", (uint64_t)1 << 63, hdr, 2, NULL, 0);
    EXPECT_OPEN_FAIL(p, MODE_BOTH, VLM_ERR_FORMAT, "9223372036854775808");
    free(p);
    p = put_raw(dir, "huge.safetensors", UINT64_MAX, hdr, 2, NULL, 0);
    EXPECT_OPEN_FAIL(p, MODE_BOTH, VLM_ERR_FORMAT, "18446744073709551615");
    free(p);
    /* header length 0: nothing to parse */
    p = put_raw(dir, "zero.safetensors", 0, "", 0, NULL, 0);
    EXPECT_OPEN_FAIL(p, MODE_BOTH, VLM_ERR_FORMAT, "invalid JSON");
    free(p);
    /* a minimal valid file: "{}" and no tensors */
    p = put_st(dir, "min.safetensors", "{}", NULL, 0);
    vlm_st_set *set = NULL;
    vlm_error err;
    CHECK(vlm_st_open(p, 0, &set, &err) == VLM_OK && vlm_st_count(set) == 0);
    CHECK(vlm_st_find(set, "x") == NULL && vlm_st_metadata(set, 0) == NULL);
    vlm_st_close(set);
    free(p);

    /* the cap, on sparse files whose header length is within the file: cap + 1 is a limit
     * error; exactly the cap passes the cap and fails as JSON (the bytes are zeros) */
    char *big = tu_join(dir, "bighdr.safetensors");
    for (int k = 0; k < 2; k++) {
        uint64_t n = (uint64_t)VLM_ST_MAX_HEADER_BYTES + (k ? 1 : 0);
        int fd = open(big, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        uint8_t pre[8];
        put_le64(pre, n);
        CHECK(fd >= 0 && write(fd, pre, 8) == 8 && ftruncate(fd, (off_t)(8 + n + 64)) == 0);
        close(fd);
        if (k)
            EXPECT_OPEN_FAIL(big, MODE_BOTH, VLM_ERR_LIMIT, "100000001 is more than the 100000000");
        else
            EXPECT_OPEN_FAIL(big, MODE_MAP, VLM_ERR_FORMAT, "invalid JSON");
    }
    unlink(big);
    free(big);
}

static void test_bad_headers(const char *dir) {
    /* not JSON, not an object, not UTF-8 */
    EXPECT_HEADER_FAIL(dir, "{\"a\":{\"dtype\":\"F32\",", 0, VLM_ERR_FORMAT, "invalid JSON");
    EXPECT_HEADER_FAIL(dir, "[1,2]", 0, VLM_ERR_FORMAT, "header is a JSON array, not an object");
    EXPECT_HEADER_FAIL(dir, "{\"\xff\":1}", 0, VLM_ERR_FORMAT, "invalid JSON");
    EXPECT_HEADER_FAIL(dir, "{} x", 0, VLM_ERR_FORMAT, "invalid JSON");
    char *p = put_raw(dir, "nul.safetensors", 4, "{}\0\0", 4, NULL, 0); /* NUL padding */
    EXPECT_OPEN_FAIL(p, MODE_BOTH, VLM_ERR_FORMAT, "invalid JSON");
    free(p);
    /* duplicate names (the JSON object repeats a key) */
    EXPECT_HEADER_FAIL(dir,
                       "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
                       "\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}",
                       2, VLM_ERR_FORMAT, "duplicate");
    /* spans out of range, reversed, overlapping */
    EXPECT_HEADER_FAIL(
        dir, "{\"x\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8, VLM_ERR_FORMAT,
        "tensor 'x': data_offsets [0, 16] go past the end of the data area (8 bytes)");
    EXPECT_HEADER_FAIL(dir, "{\"x\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[9,9]}}", 8,
                       VLM_ERR_FORMAT, "past the end of the data area");
    EXPECT_HEADER_FAIL(dir, "{\"x\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[4,2]}}", 8,
                       VLM_ERR_FORMAT, "tensor 'x': data_offsets [4, 2] end before they begin");
    EXPECT_HEADER_FAIL(dir,
                       "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                       "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
                       12, VLM_ERR_FORMAT, "overlap");
    EXPECT_HEADER_FAIL(dir, /* listed out of order, same span */
                       "{\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[4,8]},"
                       "\"a\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]}}",
                       8, VLM_ERR_FORMAT, "overlap");
    EXPECT_HEADER_FAIL(dir,
                       "{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[2,4]},"
                       "\"b\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[2,4]}}",
                       4, VLM_ERR_FORMAT, "overlap");
    /* shape / size mismatch, overflow, sub-byte spans */
    EXPECT_HEADER_FAIL(
        dir, "{\"x.weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,12]}}", 24,
        VLM_ERR_FORMAT,
        "tensor 'x.weight': data_offsets [0, 12] hold 12 bytes but shape [2, 3] of F32 needs 24");
    EXPECT_HEADER_FAIL(dir, "{\"s\":{\"dtype\":\"F64\",\"shape\":[],\"data_offsets\":[0,4]}}", 8,
                       VLM_ERR_FORMAT, "hold 4 bytes but shape [] of F64 needs 8");
    EXPECT_HEADER_FAIL(
        dir, "{\"x\":{\"dtype\":\"U8\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,0]}}",
        0, VLM_ERR_FORMAT, "overflows 64 bits");
    EXPECT_HEADER_FAIL(
        dir, "{\"x\":{\"dtype\":\"F64\",\"shape\":[4611686018427387904],\"data_offsets\":[0,0]}}",
        0, VLM_ERR_FORMAT, "overflows 64 bits");
    EXPECT_HEADER_FAIL(dir, "{\"x\":{\"dtype\":\"F4\",\"shape\":[3],\"data_offsets\":[0,2]}}", 2,
                       VLM_ERR_FORMAT, "shape [3] of F4 is 12 bits, not a whole number of bytes");
    EXPECT_HEADER_FAIL(dir, "{\"x\":{\"dtype\":\"F6_E3M2\",\"shape\":[2],\"data_offsets\":[0,2]}}",
                       2, VLM_ERR_FORMAT, "12 bits");
    /* unknown dtypes (names are case-sensitive, as in the reference) */
    EXPECT_HEADER_FAIL(dir, "{\"x\":{\"dtype\":\"F7\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1,
                       VLM_ERR_UNSUPPORTED, "tensor 'x': unknown dtype 'F7'");
    EXPECT_HEADER_FAIL(dir, "{\"x\":{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
                       VLM_ERR_UNSUPPORTED, "unknown dtype 'f32'");
    EXPECT_HEADER_FAIL(dir, "{\"x\":{\"dtype\":7,\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
                       VLM_ERR_FORMAT, "field 'dtype' is a JSON integer, not a string");
    /* shape entries: negative, real, string, null; shape not an array; too many dims */
    EXPECT_HEADER_FAIL(dir, "{\"x\":{\"dtype\":\"U8\",\"shape\":[2,-1],\"data_offsets\":[0,0]}}", 0,
                       VLM_ERR_FORMAT, "tensor 'x': shape[1] is -1, negative");
    EXPECT_HEADER_FAIL(dir, "{\"x\":{\"dtype\":\"U8\",\"shape\":[1.5],\"data_offsets\":[0,1]}}", 1,
                       VLM_ERR_FORMAT, "shape[0] is a JSON real, not an integer");
    EXPECT_HEADER_FAIL(dir, "{\"x\":{\"dtype\":\"U8\",\"shape\":[2.0],\"data_offsets\":[0,2]}}", 2,
                       VLM_ERR_FORMAT, "shape[0] is a JSON real");
    EXPECT_HEADER_FAIL(dir, "{\"x\":{\"dtype\":\"U8\",\"shape\":[\"2\"],\"data_offsets\":[0,2]}}",
                       2, VLM_ERR_FORMAT, "shape[0] is a JSON string");
    EXPECT_HEADER_FAIL(dir, "{\"x\":{\"dtype\":\"U8\",\"shape\":[null],\"data_offsets\":[0,2]}}", 2,
                       VLM_ERR_FORMAT, "shape[0] is a JSON null");
    EXPECT_HEADER_FAIL(dir, "{\"x\":{\"dtype\":\"U8\",\"shape\":2,\"data_offsets\":[0,2]}}", 2,
                       VLM_ERR_FORMAT, "field 'shape' is a JSON integer, not an array");
    EXPECT_HEADER_FAIL(
        dir, "{\"x\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}", 1,
        VLM_ERR_LIMIT, "shape has 9 dimensions, more than 8");
    EXPECT_HEADER_FAIL(
        dir, "{\"x\":{\"dtype\":\"U8\",\"shape\":[99999999999999999999],\"data_offsets\":[0,1]}}",
        1, VLM_ERR_FORMAT, "invalid JSON"); /* beyond int64: the parser refuses */
    /* data_offsets: wrong arity, type, negative */
    EXPECT_HEADER_FAIL(dir, "{\"x\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1,2]}}", 2,
                       VLM_ERR_FORMAT, "field 'data_offsets' is not a [begin, end] pair");
    EXPECT_HEADER_FAIL(dir, "{\"x\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":{}}}", 2,
                       VLM_ERR_FORMAT, "'data_offsets' is not a [begin, end] pair");
    EXPECT_HEADER_FAIL(dir, "{\"x\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[-1,0]}}", 2,
                       VLM_ERR_FORMAT, "data_offsets[0] is -1, negative");
    EXPECT_HEADER_FAIL(dir, "{\"x\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,\"1\"]}}",
                       2, VLM_ERR_FORMAT, "data_offsets[1] is a JSON string");
    /* entries: not an object, missing and unknown fields */
    EXPECT_HEADER_FAIL(dir, "{\"x\":5}", 0, VLM_ERR_FORMAT, "tensor 'x': entry is a JSON integer");
    EXPECT_HEADER_FAIL(dir, "{\"x\":{\"dtype\":\"U8\",\"data_offsets\":[0,1]}}", 1, VLM_ERR_FORMAT,
                       "tensor 'x': missing field 'shape'");
    EXPECT_HEADER_FAIL(dir, "{\"x\":{\"shape\":[1],\"data_offsets\":[0,1]}}", 1, VLM_ERR_FORMAT,
                       "missing field 'dtype'");
    EXPECT_HEADER_FAIL(dir, "{\"x\":{\"dtype\":\"U8\",\"shape\":[1]}}", 1, VLM_ERR_FORMAT,
                       "missing field 'data_offsets'");
    EXPECT_HEADER_FAIL(
        dir, "{\"x\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1],\"extra\":1}}", 1,
        VLM_ERR_FORMAT, "tensor 'x': unknown field 'extra'");
    /* names holding NUL */
    EXPECT_HEADER_FAIL(dir,
                       "{\"a\\u0000b\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1,
                       VLM_ERR_FORMAT, "NUL");
    /* __metadata__ that is not string -> string */
    EXPECT_HEADER_FAIL(dir, "{\"__metadata__\":{\"format\":1}}", 0, VLM_ERR_FORMAT,
                       "field '__metadata__': key 'format' is a JSON integer, not a string");
    EXPECT_HEADER_FAIL(dir, "{\"__metadata__\":{\"a\":\"b\",\"n\":{\"x\":\"y\"}}}", 0,
                       VLM_ERR_FORMAT, "key 'n' is a JSON object, not a string");
    EXPECT_HEADER_FAIL(dir, "{\"__metadata__\":[\"a\",\"b\"]}", 0, VLM_ERR_FORMAT,
                       "field '__metadata__' is a JSON array, not an object of strings");
    EXPECT_HEADER_FAIL(dir, "{\"__metadata__\":\"pt\"}", 0, VLM_ERR_FORMAT,
                       "'__metadata__' is a JSON string");
    EXPECT_HEADER_FAIL(dir, "{\"__metadata__\":{\"a\":\"x\\u0000y\"}}", 0, VLM_ERR_FORMAT, "NUL");
    EXPECT_HEADER_FAIL(dir, "{\"__metadata__\":{},\"__metadata__\":{}}", 0, VLM_ERR_FORMAT,
                       "duplicate");

    /* accepted: null metadata, empty tensors sharing offsets and sitting inside another's
     * span, gaps and trailing bytes */
    uint8_t zeros[16] = {0};
    p = put_st(dir, "ok.safetensors",
               "{\"__metadata__\":null,"
               "\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
               "\"e1\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[2,2]},"
               "\"e2\":{\"dtype\":\"F32\",\"shape\":[3,0],\"data_offsets\":[2,2]},"
               "\"e3\":{\"dtype\":\"F4\",\"shape\":[0],\"data_offsets\":[16,16]},"
               "\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[8,12]}}",
               zeros, 16);
    vlm_st_set *set = NULL;
    vlm_error err;
    CHECK_MSG(vlm_st_open(p, 0, &set, &err) == VLM_OK, "%s", err.message);
    CHECK_EQ_INT(vlm_st_count(set), 5);
    CHECK(vlm_st_metadata(set, 0) == NULL);
    vlm_st_close(set);
    free(p);
}

/* Not regular files: must fail at once (alarm guards against a hang). */
static void test_not_files(const char *dir) {
    char *fifo = tu_join(dir, "fifo.safetensors");
    CHECK(mkfifo(fifo, 0600) == 0);
    alarm(10); /* a hang becomes SIGALRM: the test fails instead of blocking ctest */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    EXPECT_OPEN_FAIL(fifo, MODE_BOTH, VLM_ERR_IO, "FIFO");
    clock_gettime(CLOCK_MONOTONIC, &t1);
    alarm(0);
    CHECK((t1.tv_sec - t0.tv_sec) < 2);

    char *sub = tu_join(dir, "sub.safetensors");
    CHECK(mkdir(sub, 0755) == 0);
    EXPECT_OPEN_FAIL(sub, MODE_BOTH, VLM_ERR_IO, "directory");
    char *missing = tu_join(dir, "missing.safetensors");
    EXPECT_OPEN_FAIL(missing, MODE_BOTH, VLM_ERR_NOT_FOUND, "no such file");

    /* arguments */
    vlm_st_set *set = NULL;
    vlm_error err;
    CHECK_EQ_INT(vlm_st_open(NULL, 0, &set, &err), VLM_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(vlm_st_open(missing, 0, NULL, &err), VLM_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(vlm_st_open(missing, 8, &set, &err), VLM_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(vlm_st_open(missing, 0, &set, NULL), VLM_ERR_NOT_FOUND); /* NULL err is fine */
    unlink(fifo);
    rmdir(sub);
    free(fifo);
    free(sub);
    free(missing);
}

/* Header-only reads no data: a sparse file with an 8 GiB data area opens at once and the
 * tensor has no data pointer. */
static void test_header_only_huge(const char *dir) {
    const char *hdr =
        "{\"big\":{\"dtype\":\"F32\",\"shape\":[1024,1024,2048],\"data_offsets\":[0,8589934592]},"
        "\"tail\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[8589934592,8589934596]}}";
    char *p = tu_join(dir, "huge.safetensors");
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    uint8_t pre[8];
    size_t hl = strlen(hdr);
    put_le64(pre, hl);
    CHECK(fd >= 0 && write(fd, pre, 8) == 8 && write(fd, hdr, hl) == (ssize_t)hl);
    CHECK(ftruncate(fd, (off_t)(8 + hl + 8589934596ull)) == 0);
    close(fd);
    vlm_st_set *set = NULL;
    vlm_error err;
    CHECK_MSG(vlm_st_open(p, VLM_ST_HEADER_ONLY, &set, &err) == VLM_OK, "%s", err.message);
    const vlm_st_tensor *t = vlm_st_find(set, "big");
    CHECK(t && t->data == NULL && t->nbytes == 8589934592ull && t->offset == 8 + hl);
    t = vlm_st_find(set, "tail");
    CHECK(t && t->data == NULL && t->offset == 8 + hl + 8589934592ull);
    vlm_st_close(set);
    /* a byte short: the last span no longer fits */
    CHECK(truncate(p, (off_t)(8 + hl + 8589934595ull)) == 0);
    EXPECT_OPEN_FAIL(p, MODE_HDR, VLM_ERR_FORMAT, "tensor 'tail'");
    unlink(p);
    free(p);
}

/* ---------------------------------------------------------------- shards and directories */

static const char SHARD1_HDR[] =
    "{\"__metadata__\":{\"format\":\"pt\"},"
    "\"model.embed.weight\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
    "\"model.norm.weight\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[8,12]}}";
static const char SHARD2_HDR[] =
    "{\"lm_head.weight\":{\"dtype\":\"F16\",\"shape\":[1,2],\"data_offsets\":[0,4]}}";

static void write_shards(const char *dir) {
    float e[2] = {0.25f, -8.0f};
    uint16_t nb[2] = {0x3F80, 0x4040}; /* bf16 1, 3 */
    uint8_t d1[12];
    memcpy(d1, e, 8);
    memcpy(d1 + 8, nb, 4);
    uint16_t lm[2] = {0x3C00, 0xC500}; /* f16 1, -5 */
    free(put_st(dir, "model-00001-of-00002.safetensors", SHARD1_HDR, d1, 12));
    free(put_st(dir, "model-00002-of-00002.safetensors", SHARD2_HDR, lm, 4));
}

/* The map lists shard 2 first: files still come in name order. */
static const char GOOD_INDEX[] =
    "{\"metadata\":{\"total_size\":16,\"anything\":[1]},\"weight_map\":{"
    "\"lm_head.weight\":\"model-00002-of-00002.safetensors\","
    "\"model.embed.weight\":\"model-00001-of-00002.safetensors\","
    "\"model.norm.weight\":\"model-00001-of-00002.safetensors\"}}";

static void check_sharded_set(const vlm_st_set *set, bool mapped) {
    CHECK_EQ_INT(vlm_st_count(set), 3);
    CHECK_EQ_INT(vlm_st_file_count(set), 2);
    CHECK_CONTAINS(vlm_st_file_path(set, 0), "model-00001-of-00002.safetensors");
    CHECK_CONTAINS(vlm_st_file_path(set, 1), "model-00002-of-00002.safetensors");
    const vlm_st_tensor *a = vlm_st_at(set, 0), *b = vlm_st_at(set, 1), *c = vlm_st_at(set, 2);
    CHECK(a && b && c);
    if (!a || !b || !c) return;
    CHECK_STR(a->name, "model.embed.weight");
    CHECK_STR(b->name, "model.norm.weight");
    CHECK_STR(c->name, "lm_head.weight");
    CHECK(a->file_index == 0 && b->file_index == 0 && c->file_index == 1);
    CHECK(vlm_st_find(set, "lm_head.weight") == c && vlm_st_find(set, "model.norm.weight") == b);
    CHECK(c->offset == 8 + strlen(SHARD2_HDR) && c->dtype == VLM_ST_F16 && c->ndim == 2);
    const char *const *md = vlm_st_metadata(set, 0);
    CHECK(md && md[0] && !strcmp(md[0], "format") && !strcmp(md[1], "pt") && !md[2]);
    CHECK(vlm_st_metadata(set, 1) == NULL);
    if (mapped) {
        float e[2];
        uint16_t nb[2], lm[2];
        memcpy(e, a->data, 8);
        memcpy(nb, b->data, 4);
        memcpy(lm, c->data, 4);
        CHECK(e[0] == 0.25f && e[1] == -8.0f);
        CHECK(vlm_bf16_to_f32(nb[0]) == 1.0f && vlm_bf16_to_f32(nb[1]) == 3.0f);
        CHECK(vlm_f16_to_f32(lm[0]) == 1.0f && vlm_f16_to_f32(lm[1]) == -5.0f);
    } else {
        CHECK(!a->data && !b->data && !c->data);
    }
}

static void test_sharded(const char *root) {
    char *dir = tu_join(root, "sharded");
    mkdir(dir, 0755);
    write_shards(dir);
    tu_write_str(dir, "model.safetensors.index.json", GOOD_INDEX);
    char *index = tu_join(dir, "model.safetensors.index.json");
    for (int m = 0; m < 2; m++) {
        vlm_st_set *set = NULL;
        vlm_error err;
        vlm_status s = vlm_st_open(index, m ? VLM_ST_HEADER_ONLY : 0, &set, &err);
        CHECK_MSG(s == VLM_OK, "%s", err.message);
        if (set) check_sharded_set(set, !m);
        vlm_st_close(set);
        set = NULL;
        s = vlm_st_open_dir(dir, m ? VLM_ST_HEADER_ONLY : 0, &set, &err);
        CHECK_MSG(s == VLM_OK, "%s", err.message);
        if (set) check_sharded_set(set, !m);
        vlm_st_close(set);
    }

    /* a shard the map names is missing: named, with the index */
    tu_write_str(dir, "model.safetensors.index.json",
                 "{\"weight_map\":{\"model.embed.weight\":\"model-00001-of-00002.safetensors\","
                 "\"model.norm.weight\":\"model-00001-of-00002.safetensors\","
                 "\"lm_head.weight\":\"model-00003-of-00003.safetensors\"}}");
    EXPECT_OPEN_FAIL(index, MODE_BOTH, VLM_ERR_NOT_FOUND, "model-00003-of-00003.safetensors");
    EXPECT_DIR_FAIL(dir, VLM_ERR_NOT_FOUND, "model.safetensors.index.json",
                    "model-00003-of-00003.safetensors");
    /* a tensor the map puts in the wrong shard */
    tu_write_str(dir, "model.safetensors.index.json",
                 "{\"weight_map\":{\"model.embed.weight\":\"model-00001-of-00002.safetensors\","
                 "\"model.norm.weight\":\"model-00002-of-00002.safetensors\","
                 "\"lm_head.weight\":\"model-00002-of-00002.safetensors\"}}");
    EXPECT_OPEN_FAIL(
        index, MODE_BOTH, VLM_ERR_FORMAT,
        "weight_map puts tensor 'model.norm.weight' in 'model-00002-of-00002.safetensors', "
        "but it is in 'model-00001-of-00002.safetensors'");
    /* a shard tensor the map lacks */
    tu_write_str(dir, "model.safetensors.index.json",
                 "{\"weight_map\":{\"model.embed.weight\":\"model-00001-of-00002.safetensors\","
                 "\"lm_head.weight\":\"model-00002-of-00002.safetensors\"}}");
    EXPECT_OPEN_FAIL(index, MODE_BOTH, VLM_ERR_FORMAT,
                     "tensor 'model.norm.weight' is not in the weight_map of");
    /* the map names a tensor its shard lacks */
    tu_write_str(dir, "model.safetensors.index.json",
                 "{\"weight_map\":{\"model.embed.weight\":\"model-00001-of-00002.safetensors\","
                 "\"model.norm.weight\":\"model-00001-of-00002.safetensors\","
                 "\"model.ghost\":\"model-00002-of-00002.safetensors\","
                 "\"lm_head.weight\":\"model-00002-of-00002.safetensors\"}}");
    EXPECT_OPEN_FAIL(index, MODE_BOTH, VLM_ERR_FORMAT,
                     "weight_map puts tensor 'model.ghost' in 'model-00002-of-00002.safetensors', "
                     "which does not hold it");
    /* malformed indexes */
    static const struct {
        const char *json, *needle;
    } bad_index[] = {
        {"{\"weight_map\":", "invalid JSON"},
        {"[]", "index is a JSON array"},
        {"{\"metadata\":{}}", "missing field 'weight_map'"},
        {"{\"weight_map\":[]}", "field 'weight_map' is a JSON array, not an object"},
        {"{\"weight_map\":{}}", "field 'weight_map' is empty"},
        {"{\"weight_map\":{\"a\":1}}", "weight_map['a'] is a JSON integer, not a file name"},
        {"{\"weight_map\":{\"a\":\"/etc/passwd\"}}",
         "not a file name inside the index's directory"},
        {"{\"weight_map\":{\"a\":\"../x.safetensors\"}}", "not a file name inside"},
        {"{\"weight_map\":{\"a\":\"sub/../../x.safetensors\"}}", "not a file name inside"},
        {"{\"weight_map\":{\"a\":\"\"}}", "not a file name inside"},
        {"{\"weight_map\":{\"a\":\"x\\u0000y\"}}", "not a file name inside"},
        {"{\"weight_map\":{\"a\":\"m.safetensors\",\"a\":\"m.safetensors\"}}", "duplicate"},
    };
    for (size_t i = 0; i < sizeof bad_index / sizeof bad_index[0]; i++) {
        tu_write_str(dir, "model.safetensors.index.json", bad_index[i].json);
        EXPECT_OPEN_FAIL(index, MODE_BOTH, VLM_ERR_FORMAT, bad_index[i].needle);
    }
    /* the same tensor in two shards (the map can give it only one) */
    free(put_st(dir, "dup.safetensors", SHARD2_HDR, "\0\0\0\0", 4));
    tu_write_str(dir, "model.safetensors.index.json",
                 "{\"weight_map\":{\"lm_head.weight\":\"model-00002-of-00002.safetensors\","
                 "\"x\":\"dup.safetensors\"}}");
    EXPECT_OPEN_FAIL(index, MODE_BOTH, VLM_ERR_FORMAT, "tensor 'lm_head.weight' is also in");
    /* a broken shard is named itself */
    free(put_st(dir, "model-00002-of-00002.safetensors",
                "{\"lm_head.weight\":{\"dtype\":\"F16\",\"shape\":[1,2],\"data_offsets\":[0,8]}}",
                "\0\0\0\0", 4));
    tu_write_str(dir, "model.safetensors.index.json", GOOD_INDEX);
    EXPECT_OPEN_FAIL(index, MODE_BOTH, VLM_ERR_FORMAT,
                     "model-00002-of-00002.safetensors: tensor 'lm_head.weight'");
    /* the index itself is a FIFO */
    unlink(index);
    CHECK(mkfifo(index, 0600) == 0);
    alarm(10);
    EXPECT_OPEN_FAIL(index, MODE_BOTH, VLM_ERR_IO, "FIFO");
    EXPECT_DIR_FAIL(dir, VLM_ERR_IO, "model.safetensors.index.json", "FIFO");
    alarm(0);
    free(index);
    tu_rm_rf(dir);
    free(dir);
}

static void test_dirs(const char *root) {
    char *dir = tu_join(root, "dirs");
    mkdir(dir, 0755);
    /* nothing there (config.json does not count) */
    EXPECT_DIR_FAIL(dir, VLM_ERR_NOT_FOUND, dir, "no weights");
    tu_write_str(dir, "config.json", "{}");
    EXPECT_DIR_FAIL(dir, VLM_ERR_NOT_FOUND, dir, "no weights");
    /* several *.safetensors without an index: name order; hidden files skipped */
    uint8_t d[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    free(put_st(dir, "b.safetensors",
                "{\"y\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]}}", d, 2));
    free(put_st(dir, "a.safetensors",
                "{\"x\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]}}", d, 4));
    tu_write_str(dir, ".hidden.safetensors", "garbage");
    tu_write_str(dir, "notes.safetensors.txt", "garbage");
    vlm_st_set *set = NULL;
    vlm_error err;
    CHECK_MSG(vlm_st_open_dir(dir, 0, &set, &err) == VLM_OK, "%s", err.message);
    CHECK_EQ_INT(vlm_st_file_count(set), 2);
    CHECK_EQ_INT(vlm_st_count(set), 2);
    if (vlm_st_count(set) == 2) {
        CHECK_STR(vlm_st_at(set, 0)->name, "x");
        CHECK_STR(vlm_st_at(set, 1)->name, "y");
        CHECK_EQ_INT(vlm_st_at(set, 1)->file_index, 1);
        CHECK(vlm_st_find(set, "y")->data[1] == 2);
    }
    CHECK_CONTAINS(vlm_st_file_path(set, 0), "a.safetensors");
    vlm_st_close(set);
    /* the same name in two of them */
    free(put_st(dir, "c.safetensors",
                "{\"x\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", d, 1));
    EXPECT_DIR_FAIL(dir, VLM_ERR_FORMAT, "c.safetensors: tensor 'x' is also in", "a.safetensors");
    /* one broken file among them */
    tu_write_str(dir, "c.safetensors", "garbage");
    EXPECT_DIR_FAIL(dir, VLM_ERR_FORMAT, "c.safetensors", "too short");
    /* model.safetensors wins over the others */
    free(put_st(dir, "model.safetensors",
                "{\"m\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", d, 1));
    set = NULL;
    CHECK_MSG(vlm_st_open_dir(dir, VLM_ST_HEADER_ONLY, &set, &err) == VLM_OK, "%s", err.message);
    CHECK(vlm_st_count(set) == 1 && vlm_st_find(set, "m") != NULL);
    vlm_st_close(set);
    /* a dangling model.safetensors link is reported, not skipped */
    char *model = tu_join(dir, "model.safetensors");
    unlink(model);
    CHECK(symlink("nowhere.safetensors", model) == 0);
    EXPECT_DIR_FAIL(dir, VLM_ERR_NOT_FOUND, "model.safetensors", "no such file");
    unlink(model);
    free(model);
    /* not a directory, missing */
    char *file = tu_join(dir, "a.safetensors");
    EXPECT_DIR_FAIL(file, VLM_ERR_IO, "a.safetensors", "not a directory");
    char *missing = tu_join(dir, "nope");
    EXPECT_DIR_FAIL(missing, VLM_ERR_NOT_FOUND, "nope", "no such directory");
    CHECK_EQ_INT(vlm_st_open_dir(NULL, 0, &set, &err), VLM_ERR_INVALID_ARGUMENT);
    free(file);
    free(missing);
    tu_rm_rf(dir);
    free(dir);
}

/* ---------------------------------------------------------------- writer */

static size_t dir_entries(const char *dir) {
    DIR *d = opendir(dir);
    size_t n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    if (d) closedir(d);
    return n;
}

typedef struct fill_ctx {
    int calls;
    bool fail;
} fill_ctx;

static vlm_status fill_ramp(void *user, uint8_t *buf, uint64_t nbytes, vlm_error *err) {
    fill_ctx *c = user;
    c->calls++;
    if (c->fail) return vlm_err(err, VLM_ERR_CANCELLED, "fill refused");
    for (uint64_t i = 0; i < nbytes; i++)
        buf[i] = (uint8_t)(i * 3);
    return VLM_OK;
}

static void test_writer(const char *root) {
    char *dir = tu_join(root, "writer");
    mkdir(dir, 0755);
    char *out = tu_join(dir, "out.safetensors");
    vlm_error err;

    /* 1. exact bytes. For these tensors the reference writer (sorting by dtype alignment,
     *    then name: F32 "a" before BF16 "b") produces this header text, padded with spaces
     *    to a multiple of 8, then the data in header order. */
    float a[4] = {1.5f, -2.0f, 3.25f, 0.001f};
    uint16_t b[2] = {0x3FC0, 0xC000};
    vlm_st_writer *w = NULL;
    CHECK(vlm_st_writer_init(&w, out, &err) == VLM_OK);
    CHECK(vlm_st_writer_set_metadata(w, "format", "pt", &err) == VLM_OK);
    CHECK(vlm_st_writer_add(w, "a", VLM_ST_F32, 2, (int64_t[]){2, 2}, a, 16, &err) == VLM_OK);
    CHECK(vlm_st_writer_add(w, "b", VLM_ST_BF16, 1, (int64_t[]){2}, b, 4, &err) == VLM_OK);
    CHECK_MSG(vlm_st_writer_write(w, &err) == VLM_OK, "%s", err.message);
    vlm_st_writer_free(w);
    const char *want_hdr = "{\"__metadata__\":{\"format\":\"pt\"},"
                           "\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]},"
                           "\"b\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[16,20]}}";
    size_t hl = strlen(want_hdr), padded = (hl + 7) / 8 * 8;
    uint8_t want[512];
    put_le64(want, padded);
    memcpy(want + 8, want_hdr, hl);
    memset(want + 8 + hl, ' ', padded - hl);
    memcpy(want + 8 + padded, a, 16);
    memcpy(want + 8 + padded + 16, b, 4);
    size_t got_len;
    uint8_t *got = slurp(out, &got_len);
    CHECK_EQ_INT(got_len, 8 + padded + 20);
    CHECK(got && got_len == 8 + padded + 20 && memcmp(got, want, got_len) == 0);
    free(got);
    struct stat st;
    CHECK(stat(out, &st) == 0 && (st.st_mode & 0777) == 0644);
    CHECK_EQ_INT(dir_entries(dir), 1); /* no temporary left */

    /* 2. no tensors, no metadata: "{}" and six spaces */
    CHECK(vlm_st_writer_init(&w, out, &err) == VLM_OK);
    CHECK(vlm_st_writer_write(w, &err) == VLM_OK);
    vlm_st_writer_free(w);
    got = slurp(out, &got_len);
    CHECK(got_len == 16 && got && memcmp(got, "\x08\0\0\0\0\0\0\0{}      ", 16) == 0);
    free(got);

    /* 3. round trip: every dtype, a scalar, empty tensors, a fill callback, awkward names and
     *    metadata; the reader must give back what went in */
    static const char *const names[] = {"t.\xc3\xa9\"q\\/\n", "scalar", "empty", "filled", "sub"};
    uint8_t bytes[64];
    for (int i = 0; i < 64; i++)
        bytes[i] = (uint8_t)(255 - i);
    fill_ctx fc = {0};
    CHECK(vlm_st_writer_init(&w, out, &err) == VLM_OK);
    CHECK(vlm_st_writer_set_metadata(w, "k\tey", "v\"al\xe2\x82\xac", &err) == VLM_OK);
    CHECK(vlm_st_writer_set_metadata(w, "format", "mlx", &err) == VLM_OK);
    CHECK(vlm_st_writer_add(w, names[0], VLM_ST_I16, 2, (int64_t[]){2, 3}, bytes, 12, &err) ==
          VLM_OK);
    CHECK(vlm_st_writer_add(w, names[1], VLM_ST_F64, 0, NULL, bytes, 8, &err) == VLM_OK);
    CHECK(vlm_st_writer_add(w, names[2], VLM_ST_F32, 2, (int64_t[]){0, 5}, NULL, 0, &err) ==
          VLM_OK);
    CHECK(vlm_st_writer_add_fill(w, names[3], VLM_ST_U32, 1, (int64_t[]){5}, fill_ramp, &fc,
                                 &err) == VLM_OK);
    CHECK(vlm_st_writer_add(w, names[4], VLM_ST_F4, 1, (int64_t[]){6}, bytes + 1, 3, &err) ==
          VLM_OK);
    for (int d = 0; d < VLM_ST_DTYPE_COUNT; d++) {
        char nm[32];
        snprintf(nm, sizeof nm, "dt%d", d);
        uint64_t nb = (uint64_t)vlm_st_dtype_bits((vlm_st_dtype)d); /* shape [8] */
        CHECK(vlm_st_writer_add(w, nm, (vlm_st_dtype)d, 1, (int64_t[]){8}, bytes, nb, &err) ==
              VLM_OK);
    }
    CHECK_MSG(vlm_st_writer_write(w, &err) == VLM_OK, "%s", err.message);
    CHECK_EQ_INT(fc.calls, 1);
    vlm_st_writer_free(w);
    size_t flen;
    uint8_t *file = slurp(out, &flen);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = (n << 8) | file[i];
    CHECK(n % 8 == 0 && file[8 + n - 1] != '\0');
    free(file);
    vlm_st_set *set = NULL;
    CHECK_MSG(vlm_st_open(out, 0, &set, &err) == VLM_OK, "%s", err.message);
    CHECK_EQ_INT(vlm_st_count(set), 5 + VLM_ST_DTYPE_COUNT);
    for (int i = 0; set && i < 5; i++)
        CHECK(vlm_st_at(set, (size_t)i) && !strcmp(vlm_st_at(set, (size_t)i)->name, names[i]));
    const vlm_st_tensor *t = vlm_st_find(set, names[0]);
    CHECK(t && t->dtype == VLM_ST_I16 && t->ndim == 2 && t->shape[1] == 3 &&
          !memcmp(t->data, bytes, 12));
    t = vlm_st_find(set, "scalar");
    CHECK(t && t->ndim == 0 && t->nbytes == 8 && !memcmp(t->data, bytes, 8));
    t = vlm_st_find(set, "empty");
    CHECK(t && t->nbytes == 0 && t->shape[0] == 0 && t->shape[1] == 5);
    t = vlm_st_find(set, "filled");
    CHECK(t && t->nbytes == 20);
    for (int i = 0; t && i < 20; i++)
        CHECK(t->data[i] == (uint8_t)(i * 3));
    t = vlm_st_find(set, "sub");
    CHECK(t && t->dtype == VLM_ST_F4 && t->nbytes == 3 && !memcmp(t->data, bytes + 1, 3));
    for (int d = 0; set && d < VLM_ST_DTYPE_COUNT; d++) {
        char nm[32];
        snprintf(nm, sizeof nm, "dt%d", d);
        t = vlm_st_find(set, nm);
        CHECK(t && t->dtype == (vlm_st_dtype)d && !memcmp(t->data, bytes, t->nbytes));
    }
    const char *const *md = vlm_st_metadata(set, 0);
    CHECK(md && !strcmp(md[0], "k\tey") && !strcmp(md[1], "v\"al\xe2\x82\xac") &&
          !strcmp(md[2], "format") && !strcmp(md[3], "mlx") && !md[4]);
    vlm_st_close(set);

    /* 4. bad arguments, each naming the output file */
    CHECK(vlm_st_writer_init(&w, out, &err) == VLM_OK);
    CHECK_EQ_INT(vlm_st_writer_add(w, "x", VLM_ST_F32, 2, (int64_t[]){2, 3}, a, 12, &err),
                 VLM_ERR_INVALID_ARGUMENT);
    CHECK_CONTAINS(err.message,
                   "out.safetensors: tensor 'x': 12 bytes given but shape [2, 3] of F32 needs 24");
    CHECK_EQ_INT(vlm_st_writer_add(w, "x", VLM_ST_F4, 1, (int64_t[]){3}, a, 1, &err),
                 VLM_ERR_INVALID_ARGUMENT);
    CHECK_CONTAINS(err.message, "out.safetensors");
    CHECK_EQ_INT(vlm_st_writer_add(w, "x", VLM_ST_U8, 1, (int64_t[]){-1}, a, 0, &err),
                 VLM_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(
        vlm_st_writer_add(w, "x", VLM_ST_U8, 9, (int64_t[]){1, 1, 1, 1, 1, 1, 1, 1, 1}, a, 1, &err),
        VLM_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(vlm_st_writer_add(w, "x", VLM_ST_DTYPE_COUNT, 1, (int64_t[]){1}, a, 1, &err),
                 VLM_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(vlm_st_writer_add(w, "x", VLM_ST_U8, 1, (int64_t[]){4}, NULL, 4, &err),
                 VLM_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(vlm_st_writer_add(w, "__metadata__", VLM_ST_U8, 1, (int64_t[]){1}, a, 1, &err),
                 VLM_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(vlm_st_writer_add(w, "bad\xff", VLM_ST_U8, 1, (int64_t[]){1}, a, 1, &err),
                 VLM_ERR_INVALID_ARGUMENT);
    CHECK_CONTAINS(err.message, "UTF-8");
    CHECK_EQ_INT(
        vlm_st_writer_add(w, "surrogate\xed\xa0\x80", VLM_ST_U8, 1, (int64_t[]){1}, a, 1, &err),
        VLM_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(vlm_st_writer_add(w, NULL, VLM_ST_U8, 1, (int64_t[]){1}, a, 1, &err),
                 VLM_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(vlm_st_writer_add_fill(w, "f", VLM_ST_U8, 1, (int64_t[]){1}, NULL, NULL, &err),
                 VLM_ERR_INVALID_ARGUMENT);
    CHECK(vlm_st_writer_set_metadata(w, "k", "v", &err) == VLM_OK);
    CHECK_EQ_INT(vlm_st_writer_set_metadata(w, "k", "w", &err), VLM_ERR_INVALID_ARGUMENT);
    CHECK_CONTAINS(err.message, "out.safetensors: __metadata__ key 'k' set twice");
    CHECK_EQ_INT(vlm_st_writer_set_metadata(w, "k2", NULL, &err), VLM_ERR_INVALID_ARGUMENT);
    /* a repeated name is caught at write, and the file already there stays as it was */
    CHECK(vlm_st_writer_add(w, "x", VLM_ST_U8, 1, (int64_t[]){1}, a, 1, &err) == VLM_OK);
    CHECK(vlm_st_writer_add(w, "y", VLM_ST_U8, 1, (int64_t[]){1}, a, 1, &err) == VLM_OK);
    CHECK(vlm_st_writer_add(w, "x", VLM_ST_U8, 1, (int64_t[]){1}, a, 1, &err) == VLM_OK);
    CHECK_EQ_INT(vlm_st_writer_write(w, &err), VLM_ERR_INVALID_ARGUMENT);
    CHECK_CONTAINS(err.message, "out.safetensors: tensor 'x' added twice");
    vlm_st_writer_free(w);
    set = NULL;
    CHECK(vlm_st_open(out, 0, &set, &err) == VLM_OK && vlm_st_count(set) == 5 + VLM_ST_DTYPE_COUNT);
    vlm_st_close(set);
    /* a failing fill: error passed on with the file named, no file, no temporary */
    unlink(out);
    fc = (fill_ctx){0, true};
    CHECK(vlm_st_writer_init(&w, out, &err) == VLM_OK);
    CHECK(vlm_st_writer_add_fill(w, "f", VLM_ST_U8, 1, (int64_t[]){10}, fill_ramp, &fc, &err) ==
          VLM_OK);
    CHECK_EQ_INT(vlm_st_writer_write(w, &err), VLM_ERR_CANCELLED);
    CHECK_CONTAINS(err.message, "out.safetensors");
    CHECK_CONTAINS(err.message, "fill refused");
    vlm_st_writer_free(w);
    CHECK_EQ_INT(dir_entries(dir), 0);
    /* unwritable places: a missing directory, a directory in the way */
    char *nodir = tu_join(dir, "no/such/dir/x.safetensors");
    CHECK(vlm_st_writer_init(&w, nodir, &err) == VLM_OK);
    CHECK_EQ_INT(vlm_st_writer_write(w, &err), VLM_ERR_IO);
    CHECK_CONTAINS(err.message, "no/such/dir/x.safetensors");
    vlm_st_writer_free(w);
    CHECK(mkdir(out, 0755) == 0);
    CHECK(vlm_st_writer_init(&w, out, &err) == VLM_OK);
    CHECK_EQ_INT(vlm_st_writer_write(w, &err), VLM_ERR_IO);
    CHECK_CONTAINS(err.message, "out.safetensors");
    vlm_st_writer_free(w);
    CHECK_EQ_INT(dir_entries(dir), 1); /* only the directory: the temporary is gone */
    rmdir(out);
    CHECK_EQ_INT(vlm_st_writer_init(&w, NULL, &err), VLM_ERR_INVALID_ARGUMENT);
    CHECK(w == NULL);
    vlm_st_writer_free(NULL);
    free(nodir);
    free(out);
    tu_rm_rf(dir);
    free(dir);
}

/* ---------------------------------------------------------------- lookup at scale */

/* 20000 tensors in two files of one directory: every name found, in well under a second. */
static void test_many(const char *root) {
    char *dir = tu_join(root, "many");
    mkdir(dir, 0755);
    const int per = 10000;
    uint8_t zero = 0;
    for (int f = 0; f < 2; f++) {
        char path[64];
        snprintf(path, sizeof path, "part%d.safetensors", f);
        char *p = tu_join(dir, path);
        vlm_st_writer *w;
        vlm_error err;
        vlm_st_writer_init(&w, p, &err);
        for (int i = 0; i < per; i++) {
            char nm[64];
            snprintf(nm, sizeof nm, "model.layers.%d.w%d", i, f);
            vlm_st_writer_add(w, nm, VLM_ST_U8, 1, (int64_t[]){1}, &zero, 1, &err);
        }
        CHECK(vlm_st_writer_write(w, &err) == VLM_OK);
        vlm_st_writer_free(w);
        free(p);
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    vlm_st_set *set = NULL;
    vlm_error err;
    CHECK_MSG(vlm_st_open_dir(dir, VLM_ST_HEADER_ONLY, &set, &err) == VLM_OK, "%s", err.message);
    int found = 0;
    for (int f = 0; set && f < 2; f++)
        for (int i = 0; i < per; i++) {
            char nm[64];
            snprintf(nm, sizeof nm, "model.layers.%d.w%d", i, f);
            const vlm_st_tensor *t = vlm_st_find(set, nm);
            found += t && t->file_index == f && !strcmp(t->name, nm);
        }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    CHECK_EQ_INT(found, 2 * per);
    CHECK_MSG(ms < 5000, "open + 20000 lookups took %.0f ms", ms);
    fprintf(stderr, "open + %d lookups: %.1f ms\n", 2 * per, ms);
    vlm_st_close(set);
    tu_rm_rf(dir);
    free(dir);
}

int main(void) {
    char *dir = tu_mkdtemp();
    CHECK(dir != NULL);
    if (!dir) TEST_DONE();
    test_good_file(dir);
    test_all_dtypes(dir);
    test_bad_prefix(dir);
    test_bad_headers(dir);
    test_not_files(dir);
    test_header_only_huge(dir);
    test_sharded(dir);
    test_dirs(dir);
    test_writer(dir);
    test_many(dir);
    tu_rm_rf(dir);
    free(dir);
    TEST_DONE();
}
