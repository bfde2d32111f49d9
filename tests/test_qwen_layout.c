/* Qwen2-VL preprocessing against references made outside this code:
 * - smart_resize on 308 (size, min, max) cases from transformers' formula run in Python
 *   (tools/refgen/qwen_numpy_refs.py): sizes must be equal, aspect errors must be errors;
 * - pixel_values of 7 synthetic inputs (1 to 3 frames, each smart_resize branch) from the
 *   same operations transformers' PIL backend performs, done with Pillow + numpy: the
 *   float32 bytes must be identical (CRC-32; tolerance: none) and sampled values equal;
 * - the fused path (vlm_qwen_preprocess) equals resize -> vlm_image_to_chw ->
 *   vlm_qwen_patchify_f32 on the same frames.
 * The transformers-made fixtures are checked by test_qwen_pixels.c. */
#include "test.h"
#include "media_util.h"

#include "core/json.h"
#include "media/qwen_vision.h"

static void test_smart_resize(const vlm_json *list) {
    size_t n = vlm_json_array_size(list);
    for (size_t i = 0; i < n; i++) {
        const vlm_json *c = vlm_json_array_at(list, i);
        int64_t h, w, mn, mx;
        vlm_json_int(vlm_json_get(c, "h"), &h);
        vlm_json_int(vlm_json_get(c, "w"), &w);
        vlm_json_int(vlm_json_get(c, "min"), &mn);
        vlm_json_int(vlm_json_get(c, "max"), &mx);
        int rh, rw;
        vlm_error err;
        vlm_status s = vlm_qwen_smart_resize(h, w, 28, mn, mx, &rh, &rw, &err);
        const vlm_json *out = vlm_json_get(c, "out");
        if (out) {
            int64_t eh, ew;
            vlm_json_int(vlm_json_array_at(out, 0), &eh);
            vlm_json_int(vlm_json_array_at(out, 1), &ew);
            CHECK_MSG(s == VLM_OK && rh == eh && rw == ew,
                      "smart_resize(%lld, %lld, min %lld, max %lld) = %dx%d (%s), python %lldx%lld",
                      (long long)h, (long long)w, (long long)mn, (long long)mx, rh, rw,
                      s == VLM_OK ? "ok" : err.message, (long long)eh, (long long)ew);
        } else {
            CHECK_MSG(s == VLM_ERR_LIMIT, "smart_resize(%lld, %lld) should fail", (long long)h,
                      (long long)w);
            if (s != VLM_OK) CHECK_CONTAINS(err.message, "aspect ratio");
        }
    }
    fprintf(stderr, "smart_resize: %zu cases\n", n);
}

/* The unfused path: resize, float planes, layout. */
static float *unfused(const vlm_image *frames, int nf, const vlm_qwen_vision_params *p, int rh,
                      int rw, int64_t rows) {
    float *planes = malloc(sizeof(float) * 3 * rh * rw * (size_t)nf);
    const float **ptrs = malloc(sizeof(float *) * nf);
    for (int i = 0; i < nf; i++) {
        vlm_image r;
        vlm_resize_params rp = vlm_resize_params_default(p->resample);
        CHECK(vlm_image_resize(&frames[i], rw, rh, &rp, &r, NULL) == VLM_OK);
        vlm_image_to_chw(&r, &p->norm, planes + (size_t)i * 3 * rh * rw);
        ptrs[i] = planes + (size_t)i * 3 * rh * rw;
        vlm_image_free(&r);
    }
    float *out = malloc(sizeof(float) * rows * 3 * 2 * 14 * 14);
    CHECK(vlm_qwen_patchify_f32(ptrs, nf, rh, rw, p, out, NULL) == VLM_OK);
    free(ptrs);
    free(planes);
    return out;
}

static void test_pixels(const vlm_json *cases) {
    for (size_t i = 0; i < vlm_json_array_size(cases); i++) {
        const vlm_json *c = vlm_json_array_at(cases, i);
        int64_t w, h, kind, mn, mx;
        vlm_json_int(vlm_json_array_at(vlm_json_get(c, "in"), 0), &w);
        vlm_json_int(vlm_json_array_at(vlm_json_get(c, "in"), 1), &h);
        vlm_json_int(vlm_json_get(c, "kind"), &kind);
        vlm_json_int(vlm_json_get(c, "min_pixels"), &mn);
        vlm_json_int(vlm_json_get(c, "max_pixels"), &mx);
        const vlm_json *seeds = vlm_json_get(c, "seeds");
        int nf = (int)vlm_json_array_size(seeds);
        vlm_image frames[4];
        for (int f = 0; f < nf; f++) {
            int64_t seed;
            vlm_json_int(vlm_json_array_at(seeds, f), &seed);
            CHECK(media_synth_rgb((int)w, (int)h, (uint32_t)seed, (int)kind, &frames[f]) == VLM_OK);
        }
        vlm_qwen_vision_params p = vlm_qwen_vision_params_default();
        p.min_pixels = mn;
        p.max_pixels = mx;
        float *pv = NULL;
        int64_t rows, grid[3];
        vlm_error err;
        vlm_status s = vlm_qwen_preprocess(frames, nf, &p, &pv, &rows, grid, &err);
        CHECK_MSG(s == VLM_OK, "case %zu: %s", i, err.message);
        if (s == VLM_OK) {
            int64_t eg[3], er, ec;
            for (int k = 0; k < 3; k++)
                vlm_json_int(vlm_json_array_at(vlm_json_get(c, "grid_thw"), k), &eg[k]);
            vlm_json_int(vlm_json_array_at(vlm_json_get(c, "shape"), 0), &er);
            vlm_json_int(vlm_json_array_at(vlm_json_get(c, "shape"), 1), &ec);
            CHECK(grid[0] == eg[0] && grid[1] == eg[1] && grid[2] == eg[2]);
            CHECK_EQ_INT(rows, er);
            CHECK_EQ_INT(ec, 1176);
            char crc[9];
            snprintf(crc, 9, "%08x",
                     media_crc32_update(0, (const uint8_t *)pv, (size_t)rows * 1176 * 4));
            CHECK_MSG(strcmp(crc, vlm_json_string(vlm_json_get(c, "crc"))) == 0,
                      "case %zu: pixel_values crc %s, numpy %s", i, crc,
                      vlm_json_string(vlm_json_get(c, "crc")));
            const vlm_json *smp = vlm_json_get(c, "samples");
            for (size_t k = 0; k < vlm_json_array_size(smp); k++) {
                const vlm_json *e = vlm_json_array_at(smp, k);
                int64_t r, col;
                vlm_json_int(vlm_json_array_at(e, 0), &r);
                vlm_json_int(vlm_json_array_at(e, 1), &col);
                float want = (float)vlm_json_number(vlm_json_array_at(e, 2));
                CHECK_MSG(pv[r * 1176 + col] == want, "case %zu [%lld,%lld]: %.9g vs %.9g", i,
                          (long long)r, (long long)col, pv[r * 1176 + col], want);
            }
            int rh = (int)(grid[1] * 14), rw = (int)(grid[2] * 14);
            float *u = unfused(frames, nf, &p, rh, rw, rows);
            CHECK_MSG(memcmp(u, pv, sizeof(float) * rows * 1176) == 0, "case %zu: fused != unfused",
                      i);
            free(u);
        }
        free(pv);
        for (int f = 0; f < nf; f++)
            vlm_image_free(&frames[f]);
    }
}

static void test_errors(void) {
    vlm_qwen_vision_params p = vlm_qwen_vision_params_default();
    vlm_image a, b;
    CHECK(media_synth_rgb(30, 30, 1, 0, &a) == VLM_OK);
    CHECK(media_synth_rgb(31, 30, 1, 0, &b) == VLM_OK);
    vlm_image fr[2] = {a, b};
    float *pv;
    int64_t rows, grid[3];
    vlm_error err;
    CHECK(vlm_qwen_preprocess(fr, 2, &p, &pv, &rows, grid, &err) == VLM_ERR_INVALID_ARGUMENT);
    CHECK_CONTAINS(err.message, "frame 1 is 31x30");
    p.do_resize = 0;
    CHECK(vlm_qwen_preprocess(&a, 1, &p, &pv, &rows, grid, &err) == VLM_ERR_INVALID_ARGUMENT);
    CHECK_CONTAINS(err.message, "multiple of patch_size * merge_size");
    CHECK(pv == NULL);
    vlm_image_free(&a);
    vlm_image_free(&b);
}

int main(void) {
    vlm_json *doc = NULL;
    vlm_error err;
    if (vlm_json_load_file(media_fixture("media/qwen_numpy_refs.json"), 16u << 20, 0, &doc, &err) !=
        VLM_OK) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    test_smart_resize(vlm_json_get(doc, "smart_resize"));
    test_pixels(vlm_json_get(doc, "cases"));
    test_errors();
    vlm_json_free(doc);
    TEST_DONE();
}
