/* Image decoding against Pillow: every file of tests/fixtures/media/decode/ (made by
 * tools/refgen/make_media_fixtures.py) is decoded with vlm_image_decode_file and must equal
 * ImageOps.exif_transpose(Image.open(f)).convert("RGB") from Debian's Pillow byte for byte
 * (size, CRC-32 of the RGB bytes, sampled pixels; tolerance: none). Where Pillow fails on a
 * file we must fail too. Each file is also cut at 30%, 60% and 90% of its length: we must
 * fail exactly where Pillow fails, and decode the same pixels where it does not. */
#include "test.h"
#include "media_util.h"

#include "core/file.h"
#include "core/json.h"

static int n_files, n_cuts;

static void check_pixels(const char *what, const vlm_image *img, const vlm_json *e) {
    int64_t w, h;
    vlm_json_int(vlm_json_array_at(vlm_json_get(e, "size"), 0), &w);
    vlm_json_int(vlm_json_array_at(vlm_json_get(e, "size"), 1), &h);
    CHECK_MSG(img->width == w && img->height == h, "%s: %dx%d, Pillow %lldx%lld", what, img->width,
              img->height, (long long)w, (long long)h);
    if (img->width != w || img->height != h) return;
    char crc[9];
    media_image_crc_hex(img, crc);
    const char *want = vlm_json_string(vlm_json_get(e, "crc"));
    CHECK_MSG(want && strcmp(crc, want) == 0, "%s: pixel crc %s, Pillow %s", what, crc, want);
    const vlm_json *smp = vlm_json_get(e, "samples");
    for (size_t i = 0; i < vlm_json_array_size(smp); i++) {
        int64_t v[5];
        for (size_t j = 0; j < 5; j++)
            vlm_json_int(vlm_json_array_at(vlm_json_array_at(smp, i), j), &v[j]);
        const uint8_t *px = img->data + (size_t)v[1] * img->stride + 3 * (size_t)v[0];
        CHECK_MSG(px[0] == v[2] && px[1] == v[3] && px[2] == v[4],
                  "%s pixel (%lld,%lld): %d %d %d, Pillow %lld %lld %lld", what, (long long)v[0],
                  (long long)v[1], px[0], px[1], px[2], (long long)v[2], (long long)v[3],
                  (long long)v[4]);
    }
}

static void check_file(const vlm_json *e) {
    const char *name = vlm_json_string(vlm_json_get(e, "file"));
    char rel[512];
    snprintf(rel, sizeof rel, "media/decode/%s", name);
    char path[4096];
    snprintf(path, sizeof path, "%s", media_fixture(rel));
    vlm_image img;
    vlm_image_info info;
    vlm_error err;
    vlm_status s = vlm_image_decode_file(path, NULL, &img, &info, &err);
    const vlm_json *perr = vlm_json_get(e, "error");
    if (perr) {
        CHECK_MSG(s != VLM_OK, "%s: decoded, but Pillow fails (%s)", name, vlm_json_string(perr));
        if (s != VLM_OK) CHECK_CONTAINS(err.message, name);
        vlm_image_free(&img);
        n_files++;
        return;
    }
    CHECK_MSG(s == VLM_OK, "%s: %s", name, err.message);
    if (s == VLM_OK) check_pixels(name, &img, e);
    vlm_image_free(&img);
    n_files++;

    /* truncated copies */
    char *data;
    size_t len;
    if (vlm_file_read(path, 1u << 24, &data, &len, &err) != VLM_OK) {
        CHECK_MSG(0, "%s", err.message);
        return;
    }
    const vlm_json *cuts = vlm_json_get(e, "truncated");
    for (size_t i = 0; i < vlm_json_array_size(cuts); i++) {
        const vlm_json *c = vlm_json_array_at(cuts, i);
        int64_t n;
        vlm_json_int(vlm_json_get(c, "len"), &n);
        char what[600];
        snprintf(what, sizeof what, "%s cut to %lld of %zu bytes", name, (long long)n, len);
        /* a private copy of exactly n bytes, so ASan sees any read past the end */
        uint8_t *cut = malloc((size_t)n);
        memcpy(cut, data, (size_t)n);
        s = vlm_image_decode_memory(cut, (size_t)n, what, NULL, &img, NULL, &err);
        if (vlm_json_get(c, "error")) {
            CHECK_MSG(s != VLM_OK, "%s: decoded, but Pillow fails", what);
            if (s != VLM_OK) {
                CHECK(img.data == NULL);
                CHECK_CONTAINS(err.message, name);
            }
        } else {
            CHECK_MSG(s == VLM_OK, "%s: %s (Pillow decodes it)", what, err.message);
            if (s == VLM_OK) check_pixels(what, &img, c);
        }
        vlm_image_free(&img);
        free(cut);
        n_cuts++;
    }
    free(data);
}

int main(void) {
    vlm_json *doc = NULL;
    vlm_error err;
    if (vlm_json_load_file(media_fixture("media/decode_refs.json"), 16u << 20, 0, &doc, &err) !=
        VLM_OK) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    const vlm_json *files = vlm_json_get(doc, "files");
    for (size_t i = 0; i < vlm_json_array_size(files); i++)
        check_file(vlm_json_array_at(files, i));
    fprintf(stderr, "decode: %d files and %d truncated copies checked against Pillow %s\n", n_files,
            n_cuts, vlm_json_string(vlm_json_get(doc, "pillow")));
    CHECK(n_files >= 60);
    vlm_json_free(doc);
    TEST_DONE();
}
