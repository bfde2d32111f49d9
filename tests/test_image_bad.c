/* Hostile and broken image input: every case must end in a clear error (status and a
 * message naming the input) or, for damaged data Pillow also decodes, in an image -- never
 * a crash, hang or leak (run under ASan). Covers: headers claiming 100000x100000 (or the
 * format's 16-bit maximum) refused by the pixel limit before anything is allocated, small
 * limits applied to every format, zero-size headers, every fixture cut at each of its first
 * 64 lengths and with random byte flips, FIFO / directory / missing / empty paths, unknown
 * formats, oversized files, raw RGB arguments, and malformed EXIF blocks. */
#include "test.h"
#include "media_util.h"

#include <sys/stat.h>
#include <unistd.h>

#include "core/file.h"
#include "core/json.h"
#include "media/decode_internal.h"

static void put_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8),
    p[3] = (uint8_t)v;
}
static void put_le32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)(v >> 16),
    p[3] = (uint8_t)(v >> 24);
}

/* A PNG signature + IHDR (+ a tiny IDAT) claiming w x h. */
static size_t craft_png(uint8_t *b, uint32_t w, uint32_t h) {
    memcpy(b, "\x89PNG\r\n\x1a\n", 8);
    put_be32(b + 8, 13);
    memcpy(b + 12, "IHDR", 4);
    put_be32(b + 16, w);
    put_be32(b + 20, h);
    b[24] = 8, b[25] = 2, b[26] = 0, b[27] = 0, b[28] = 0;
    put_be32(b + 29, media_crc32_update(0, b + 12, 17));
    static const uint8_t idat[] = {0, 0, 0, 2, 'I', 'D', 'A', 'T', 0x78, 0x9c, 0, 0, 0, 0};
    memcpy(b + 33, idat, sizeof idat);
    return 33 + sizeof idat;
}

/* A BMP file header + BITMAPINFOHEADER claiming w x h, 24-bit, no pixels. */
static size_t craft_bmp(uint8_t *b, int32_t w, int32_t h) {
    memset(b, 0, 54);
    b[0] = 'B', b[1] = 'M';
    put_le32(b + 2, 54);
    put_le32(b + 10, 54);
    put_le32(b + 14, 40);
    put_le32(b + 18, (uint32_t)w);
    put_le32(b + 22, (uint32_t)h);
    b[26] = 1, b[28] = 24;
    return 54;
}

/* GIF89a logical screen w x h, no palette, then an image descriptor of the same size. */
static size_t craft_gif(uint8_t *b, uint16_t w, uint16_t h) {
    memcpy(b, "GIF89a", 6);
    b[6] = (uint8_t)w, b[7] = (uint8_t)(w >> 8), b[8] = (uint8_t)h, b[9] = (uint8_t)(h >> 8);
    b[10] = 0, b[11] = 0, b[12] = 0;
    b[13] = ',';
    memset(b + 14, 0, 4);
    b[18] = (uint8_t)w, b[19] = (uint8_t)(w >> 8), b[20] = (uint8_t)h, b[21] = (uint8_t)(h >> 8);
    b[22] = 0;
    b[23] = 2; /* LZW minimum code size */
    b[24] = 0; /* no data */
    b[25] = ';';
    return 26;
}

static char *read_fixture(const char *name, size_t *len) {
    char rel[512];
    snprintf(rel, sizeof rel, "media/decode/%s", name);
    char *data = NULL;
    vlm_error err;
    if (vlm_file_read(media_fixture(rel), 1u << 24, &data, len, &err) != VLM_OK) {
        fprintf(stderr, "%s\n", err.message);
        return NULL;
    }
    return data;
}

static void expect_error(const void *data, size_t n, const char *label, vlm_status want,
                         const char *needle, const vlm_image_decode_params *p) {
    vlm_image img;
    vlm_error err;
    vlm_status s = vlm_image_decode_memory(data, n, label, p, &img, NULL, &err);
    CHECK_MSG(s == want, "%s: status %s (%s), want %s", label, vlm_status_str(s),
              s ? err.message : "", vlm_status_str(want));
    if (s != VLM_OK) {
        CHECK_CONTAINS(err.message, label);
        if (needle) CHECK_CONTAINS(err.message, needle);
        CHECK(img.data == NULL && img.width == 0);
    }
    vlm_image_free(&img);
}

static void test_huge_headers(void) {
    uint8_t b[128];
    size_t n = craft_png(b, 100000, 100000);
    expect_error(b, n, "huge.png", VLM_ERR_LIMIT, "100000x100000", NULL);
    n = craft_bmp(b, 100000, 100000);
    expect_error(b, n, "huge.bmp", VLM_ERR_LIMIT, "100000x100000", NULL);
    n = craft_bmp(b, 100000, -100000); /* top-down */
    expect_error(b, n, "huge-topdown.bmp", VLM_ERR_LIMIT, "100000x100000", NULL);
    n = craft_gif(b, 65535, 65535);
    expect_error(b, n, "huge.gif", VLM_ERR_LIMIT, "65535x65535", NULL);
    n = craft_png(b, 300000, 2); /* small area, one side past max_dimension */
    expect_error(b, n, "wide.png", VLM_ERR_LIMIT, "262144", NULL);
    /* JPEG: a real file with its SOF patched to 65500 x 65500 (libjpeg's own maximum) */
    size_t len;
    uint8_t *j = (uint8_t *)read_fixture("jpeg_baseline_420.jpg", &len);
    if (j) {
        for (size_t i = 0; i + 9 < len; i++)
            if (j[i] == 0xFF && j[i + 1] == 0xC0) {
                j[i + 5] = j[i + 7] = 0xFF;
                j[i + 6] = j[i + 8] = 0xDC;
                break;
            }
        expect_error(j, len, "huge.jpg", VLM_ERR_LIMIT, "65500x65500", NULL);
        free(j);
    }
    /* WebP: VP8X canvas fields patched to 100000 x 100000 */
    uint8_t *w = (uint8_t *)read_fixture("webp_lossy_alpha.webp", &len);
    if (w && len > 30 && memcmp(w + 12, "VP8X", 4) == 0) {
        uint32_t v = 100000 - 1;
        w[24] = (uint8_t)v, w[25] = (uint8_t)(v >> 8), w[26] = (uint8_t)(v >> 16);
        w[27] = (uint8_t)v, w[28] = (uint8_t)(v >> 8), w[29] = (uint8_t)(v >> 16);
        vlm_image img;
        vlm_error err;
        vlm_status s = vlm_image_decode_memory(w, len, "huge.webp", NULL, &img, NULL, &err);
        CHECK_MSG(s != VLM_OK, "huge.webp decoded");
        CHECK_CONTAINS(err.message, "huge.webp");
        vlm_image_free(&img);
    } else {
        CHECK_MSG(0, "webp_lossy_alpha.webp should be VP8X");
    }
    free(w);
}

/* Every format honours caller limits (97x67 = 6499 pixels > 5000). */
static void test_small_limits(void) {
    static const char *files[] = {
        "jpeg_baseline_420.jpg",    "png_rgb.png",      "webp_lossy.webp",
        "gif_palette.gif",          "bmp_24.bmp",       "jpeg_progressive.jpg",
        "webp_lossless_alpha.webp", "bmp_8_palette.bmp"};
    vlm_image_decode_params p = vlm_image_decode_params_default();
    p.max_pixels = 5000;
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        size_t len;
        char *d = read_fixture(files[i], &len);
        if (!d) continue;
        expect_error(d, len, files[i], VLM_ERR_LIMIT, "5000", &p);
        vlm_image_decode_params q = vlm_image_decode_params_default();
        q.max_dimension = 96;
        expect_error(d, len, files[i], VLM_ERR_LIMIT, "96-pixel limit", &q);
        free(d);
    }
}

static void test_zero_size(void) {
    uint8_t b[128];
    size_t n = craft_png(b, 0, 10);
    expect_error(b, n, "zero.png", VLM_ERR_FORMAT, "zero-size", NULL);
    n = craft_bmp(b, 7, 0);
    expect_error(b, n, "zero.bmp", VLM_ERR_FORMAT, "zero-size", NULL);
    n = craft_gif(b, 0, 0);
    expect_error(b, n, "zero.gif", VLM_ERR_FORMAT, NULL, NULL);
    size_t len;
    uint8_t *j = (uint8_t *)read_fixture("jpeg_gray.jpg", &len);
    if (j) {
        for (size_t i = 0; i + 9 < len; i++)
            if (j[i] == 0xFF && j[i + 1] == 0xC0) {
                j[i + 5] = j[i + 6] = 0; /* height 0 */
                break;
            }
        expect_error(j, len, "zero.jpg", VLM_ERR_FORMAT, NULL, NULL);
        free(j);
    }
    expect_error("", 0, "empty", VLM_ERR_FORMAT, "empty", NULL);
}

/* Each fixture cut at each of its first 64 lengths, and with bytes flipped: errors or
 * images, no crash (ASan checks the memory). */
static void test_damage(void) {
    vlm_json *doc = NULL;
    vlm_error err;
    if (vlm_json_load_file(media_fixture("media/decode_refs.json"), 16u << 20, 0, &doc, &err) !=
        VLM_OK) {
        CHECK_MSG(0, "%s", err.message);
        return;
    }
    const vlm_json *files = vlm_json_get(doc, "files");
    uint32_t rng = 12345;
    int decoded = 0, failed = 0;
    for (size_t f = 0; f < vlm_json_array_size(files); f++) {
        const char *name = vlm_json_string(vlm_json_get(vlm_json_array_at(files, f), "file"));
        size_t len;
        char *data = read_fixture(name, &len);
        if (!data) continue;
        for (size_t n = 1; n <= 64 && n < len; n++) {
            uint8_t *cut = malloc(n);
            memcpy(cut, data, n);
            vlm_image img;
            vlm_status s = vlm_image_decode_memory(cut, n, name, NULL, &img, NULL, &err);
            if (s == VLM_OK)
                decoded++;
            else {
                failed++;
                CHECK_CONTAINS(err.message, name);
            }
            vlm_image_free(&img);
            free(cut);
        }
        uint8_t *bad = malloc(len);
        for (int k = 0; k < 24; k++) {
            memcpy(bad, data, len);
            for (int j = 0; j < 1 + k % 4; j++) {
                rng = media_mix32(rng + 0x9E3779B9u);
                bad[rng % len] ^= (uint8_t)(1u << (rng >> 29));
            }
            vlm_image img;
            vlm_status s = vlm_image_decode_memory(bad, len, name, NULL, &img, NULL, &err);
            if (s == VLM_OK) {
                decoded++;
                CHECK(img.width >= 1 && img.height >= 1 && img.data);
            } else {
                failed++;
                CHECK_CONTAINS(err.message, name);
            }
            vlm_image_free(&img);
        }
        free(bad);
        free(data);
    }
    fprintf(stderr, "damaged inputs: %d decoded, %d refused\n", decoded, failed);
    vlm_json_free(doc);
}

/* A progressive JPEG whose first scan is repeated 1100 times (libjpeg only warns about the
 * bogus progression): refused by the scan limit instead of decoding for a long time. */
static void test_scan_bomb(void) {
    size_t len;
    uint8_t *j = (uint8_t *)read_fixture("jpeg_progressive.jpg", &len);
    if (!j) return;
    size_t sos = 0, end = 0;
    for (size_t i = 2; i + 1 < len; i++)
        if (j[i] == 0xFF && j[i + 1] == 0xDA) {
            sos = i;
            break;
        }
    for (size_t i = sos + 2; sos && i + 1 < len; i++)
        if (j[i] == 0xFF && j[i + 1] != 0 && !(j[i + 1] >= 0xD0 && j[i + 1] <= 0xD7)) {
            end = i;
            break;
        }
    CHECK(sos && end > sos);
    if (!(sos && end > sos)) {
        free(j);
        return;
    }
    const size_t scan = end - sos, copies = 1100;
    size_t n = len + scan * copies;
    uint8_t *bomb = malloc(n);
    memcpy(bomb, j, end);
    for (size_t c = 0; c < copies; c++)
        memcpy(bomb + end + c * scan, j + sos, scan);
    memcpy(bomb + end + copies * scan, j + end, len - end);
    expect_error(bomb, n, "scans.jpg", VLM_ERR_FORMAT, "progressive scans", NULL);
    free(bomb);
    free(j);
}

static void test_paths(void) {
    vlm_image img;
    vlm_error err;
    char dir[] = "/tmp/vlm_image_bad_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char fifo[600], empty[600], big[600], junk[600];
    snprintf(fifo, sizeof fifo, "%s/pipe.jpg", dir);
    snprintf(empty, sizeof empty, "%s/empty.png", dir);
    snprintf(big, sizeof big, "%s/big.jpg", dir);
    snprintf(junk, sizeof junk, "%s/text.png", dir);
    CHECK(mkfifo(fifo, 0600) == 0);
    CHECK(vlm_image_decode_file(fifo, NULL, &img, NULL, &err) == VLM_ERR_IO);
    CHECK_CONTAINS(err.message, "FIFO");
    CHECK_CONTAINS(err.message, "pipe.jpg");
    CHECK(vlm_image_decode_file(dir, NULL, &img, NULL, &err) == VLM_ERR_IO);
    CHECK_CONTAINS(err.message, "directory");
    CHECK(vlm_image_decode_file("/nonexistent/x.png", NULL, &img, NULL, &err) == VLM_ERR_NOT_FOUND);
    CHECK_CONTAINS(err.message, "/nonexistent/x.png");
    FILE *fp = fopen(empty, "wb");
    fclose(fp);
    CHECK(vlm_image_decode_file(empty, NULL, &img, NULL, &err) == VLM_ERR_FORMAT);
    CHECK_CONTAINS(err.message, "empty.png");
    fp = fopen(junk, "wb");
    fputs("this is not an image, whatever the name says", fp);
    fclose(fp);
    CHECK(vlm_image_decode_file(junk, NULL, &img, NULL, &err) == VLM_ERR_UNSUPPORTED);
    CHECK_CONTAINS(err.message, "text.png");
    /* a real JPEG larger than max_file_bytes */
    size_t len;
    char *d = read_fixture("jpeg_444.jpg", &len);
    fp = fopen(big, "wb");
    fwrite(d, 1, len, fp);
    fclose(fp);
    free(d);
    vlm_image_decode_params p = vlm_image_decode_params_default();
    p.max_file_bytes = 1000;
    CHECK(vlm_image_decode_file(big, &p, &img, NULL, &err) == VLM_ERR_LIMIT);
    CHECK_CONTAINS(err.message, "big.jpg");
    /* by content, not by name: the JPEG named .png still decodes as JPEG */
    vlm_image_info info;
    CHECK(rename(big, junk) == 0);
    CHECK(vlm_image_decode_file(junk, NULL, &img, &info, &err) == VLM_OK);
    CHECK(info.format == VLM_IMAGE_FORMAT_JPEG);
    vlm_image_free(&img);
    unlink(fifo);
    unlink(empty);
    unlink(junk);
    rmdir(dir);
}

static void test_raw_rgb(void) {
    uint8_t px[2 * 4 * 3];
    for (size_t i = 0; i < sizeof px; i++)
        px[i] = (uint8_t)i;
    vlm_image img;
    vlm_error err;
    CHECK(vlm_image_from_rgb(px, 3, 2, 12, NULL, &img, &err) == VLM_OK);
    CHECK(img.width == 3 && img.height == 2 && img.data[9] == 12 && img.data[8] == 8);
    vlm_image_free(&img);
    CHECK(vlm_image_from_rgb(px, 4, 2, 8, NULL, &img, &err) == VLM_ERR_INVALID_ARGUMENT);
    CHECK_CONTAINS(err.message, "stride");
    CHECK(vlm_image_from_rgb(px, 0, 2, 0, NULL, &img, &err) == VLM_ERR_FORMAT);
    CHECK(vlm_image_from_rgb(NULL, 2, 2, 0, NULL, &img, &err) == VLM_ERR_INVALID_ARGUMENT);
    vlm_image_decode_params p = vlm_image_decode_params_default();
    p.max_pixels = 7;
    CHECK(vlm_image_from_rgb(px, 4, 2, 0, &p, &img, &err) == VLM_ERR_LIMIT);
    CHECK(img.data == NULL);
}

static void test_exif_parser(void) {
    /* A valid little-endian block: orientation 6 */
    uint8_t b[64] = {'I', 'I', 42, 0, 8, 0, 0, 0, 1, 0, 0x12, 0x01, 3, 0, 1, 0, 0, 0, 6, 0, 0, 0};
    CHECK_EQ_INT(vlm_exif_orientation(b, 26), 6);
    uint8_t e[70] = "Exif\0\0";
    memcpy(e + 6, b, 26);
    CHECK_EQ_INT(vlm_exif_orientation(e, 32), 6);
    CHECK_EQ_INT(vlm_exif_orientation(b, 20), 0); /* entry cut short */
    b[4] = 200;                                   /* IFD offset past the end */
    CHECK_EQ_INT(vlm_exif_orientation(b, 26), 0);
    b[4] = 8;
    b[8] = 0xFF, b[9] = 0xFF;                     /* 65535 entries claimed */
    CHECK_EQ_INT(vlm_exif_orientation(b, 26), 6); /* what fits is read */
    b[8] = 1, b[9] = 0;
    b[12] = 2; /* ASCII type: ignored */
    CHECK_EQ_INT(vlm_exif_orientation(b, 26), 0);
    b[12] = 3, b[14] = 0xFF, b[15] = 0xFF, b[16] = 0xFF, b[17] = 0x0F; /* huge count, offset out */
    CHECK_EQ_INT(vlm_exif_orientation(b, 26), 0);
    CHECK_EQ_INT(vlm_exif_orientation((const uint8_t *)"MM\0*", 4), 0);
    CHECK_EQ_INT(vlm_exif_orientation(NULL, 0), 0);
    const char *x1 = "<x tiff:Orientation=\"7\"/>", *x2 = "<tiff:Orientation>3</tiff:Orientation>";
    CHECK_EQ_INT(vlm_xmp_orientation((const uint8_t *)x1, strlen(x1)), 7);
    CHECK_EQ_INT(vlm_xmp_orientation((const uint8_t *)x2, strlen(x2)), 3);
    CHECK_EQ_INT(vlm_xmp_orientation((const uint8_t *)x1, 20), 0);
    CHECK_EQ_INT(vlm_xmp_orientation((const uint8_t *)"tiff:Orientation=", 17), 0);
}

int main(void) {
    test_huge_headers();
    test_small_limits();
    test_zero_size();
    test_damage();
    test_scan_bomb();
    test_paths();
    test_raw_rgb();
    test_exif_parser();
    TEST_DONE();
}
