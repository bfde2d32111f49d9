/* Qwen2-VL pixel_values against transformers itself: the refgen fixtures
 * tests/fixtures/qwen2_vl_processor/index.json + <case>.safetensors (pixel_values f32
 * [rows, 1176], image_grid_thw i64 [n, 3]) made by tools/refgen/qwen_processor_refs.py with
 * Qwen2VLImageProcessor(backend="pil") on the images of tests/fixtures/media/. Each image
 * case is decoded (Image.open + convert("RGB"); the reference does not exif_transpose) and
 * run through vlm_qwen_preprocess with the processor's effective settings; every value must
 * be within 1e-6 of transformers' (absolute), grids exact. Video cases (torchvision path in
 * transformers 5) are left to the video tests. Skips while the fixtures are absent. */
#include "test.h"
#include "media_util.h"

#include <math.h>

#include "core/json.h"
#include "media/qwen_vision.h"
#include "weights/safetensors.h"

#define TOL 1e-6

static int64_t get_int(const vlm_json *o, const char *k, int64_t dflt) {
    int64_t v;
    return vlm_json_int(vlm_json_get(o, k), &v) ? v : dflt;
}

/* Settings as the fixture records them (effective_settings; size.{shortest,longest}_edge). */
static vlm_qwen_vision_params params_from(const vlm_json *st) {
    vlm_qwen_vision_params p = vlm_qwen_vision_params_default();
    const vlm_json *size = vlm_json_get(st, "size");
    p.min_pixels = get_int(size, "shortest_edge", get_int(st, "min_pixels", p.min_pixels));
    p.max_pixels = get_int(size, "longest_edge", get_int(st, "max_pixels", p.max_pixels));
    p.patch_size = (int)get_int(st, "patch_size", p.patch_size);
    p.temporal_patch_size = (int)get_int(st, "temporal_patch_size", p.temporal_patch_size);
    p.merge_size = (int)get_int(st, "merge_size", p.merge_size);
    p.resample = (vlm_resample_filter)get_int(st, "resample", p.resample);
    if (vlm_json_get(st, "do_resize")) p.do_resize = vlm_json_true(vlm_json_get(st, "do_resize"));
    if (vlm_json_get(st, "do_rescale"))
        p.norm.do_rescale = vlm_json_true(vlm_json_get(st, "do_rescale"));
    if (vlm_json_get(st, "do_normalize"))
        p.norm.do_normalize = vlm_json_true(vlm_json_get(st, "do_normalize"));
    if (vlm_json_is_number(vlm_json_get(st, "rescale_factor")))
        p.norm.rescale_factor = vlm_json_number(vlm_json_get(st, "rescale_factor"));
    for (int c = 0; c < 3; c++) {
        const vlm_json *m = vlm_json_array_at(vlm_json_get(st, "image_mean"), c);
        const vlm_json *s = vlm_json_array_at(vlm_json_get(st, "image_std"), c);
        if (vlm_json_is_number(m)) p.norm.mean[c] = vlm_json_number(m);
        if (vlm_json_is_number(s)) p.norm.std[c] = vlm_json_number(s);
    }
    return p;
}

static int n_cases, n_values;

static void check_case(const vlm_json *c, const char *dir) {
    const char *name = vlm_json_string(vlm_json_get(c, "case"));
    const char *file = vlm_json_string(vlm_json_get(c, "file"));
    if (!name || !file) {
        CHECK_MSG(0, "index.json: a case without 'case' or 'file'");
        return;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    vlm_st_set *st = NULL;
    vlm_error err;
    if (vlm_st_open(path, 0, &st, &err) != VLM_OK) {
        CHECK_MSG(0, "%s", err.message);
        return;
    }
    const vlm_st_tensor *pv = vlm_st_find(st, "pixel_values");
    const vlm_st_tensor *gr = vlm_st_find(st, "image_grid_thw");
    CHECK_MSG(pv && gr && pv->dtype == VLM_ST_F32 && gr->dtype == VLM_ST_I64 && pv->ndim == 2 &&
                  gr->ndim == 2 && gr->shape[1] == 3,
              "%s: unexpected tensors", name);
    if (!(pv && gr && pv->dtype == VLM_ST_F32 && gr->dtype == VLM_ST_I64 && pv->ndim == 2)) {
        vlm_st_close(st);
        return;
    }
    vlm_qwen_vision_params p = params_from(vlm_json_get(c, "effective_settings"));
    const vlm_json *inputs = vlm_json_get(c, "inputs");
    CHECK_EQ_INT((int64_t)vlm_json_array_size(inputs), gr->shape[0]);
    int64_t row0 = 0;
    double maxdiff = 0;
    vlm_image_decode_params dp = vlm_image_decode_params_default();
    dp.apply_exif_orientation = 0; /* the reference opens images without exif_transpose */
    for (size_t i = 0; i < vlm_json_array_size(inputs) && (int64_t)i < gr->shape[0]; i++) {
        char rel[1024];
        snprintf(rel, sizeof rel, "media/%s", vlm_json_string(vlm_json_array_at(inputs, i)));
        vlm_image img;
        if (vlm_image_decode_file(media_fixture(rel), &dp, &img, NULL, &err) != VLM_OK) {
            CHECK_MSG(0, "%s: %s", name, err.message);
            break;
        }
        float *out = NULL;
        int64_t rows, grid[3];
        vlm_status s = vlm_qwen_preprocess(&img, 1, &p, &out, &rows, grid, &err);
        vlm_image_free(&img);
        CHECK_MSG(s == VLM_OK, "%s: %s", name, err.message);
        if (s != VLM_OK) break;
        int64_t ref_grid[3];
        memcpy(ref_grid, gr->data + i * 3 * sizeof(int64_t), sizeof ref_grid);
        CHECK_MSG(grid[0] == ref_grid[0] && grid[1] == ref_grid[1] && grid[2] == ref_grid[2],
                  "%s image %zu: grid %lld %lld %lld, transformers %lld %lld %lld", name, i,
                  (long long)grid[0], (long long)grid[1], (long long)grid[2],
                  (long long)ref_grid[0], (long long)ref_grid[1], (long long)ref_grid[2]);
        if (row0 + rows > pv->shape[0] ||
            pv->shape[1] != 3 * p.temporal_patch_size * p.patch_size * p.patch_size) {
            CHECK_MSG(0, "%s: pixel_values shape does not fit", name);
            free(out);
            break;
        }
        const size_t cols = (size_t)pv->shape[1];
        for (int64_t r = 0; r < rows; r++)
            for (size_t k = 0; k < cols; k++) {
                float ref;
                memcpy(&ref, pv->data + ((size_t)(row0 + r) * cols + k) * 4, 4);
                double d = fabs((double)out[r * cols + k] - (double)ref);
                if (!(d <= maxdiff)) maxdiff = d; /* NaN sticks */
                n_values++;
            }
        row0 += rows;
        free(out);
    }
    CHECK_MSG(row0 == pv->shape[0], "%s: %lld rows, transformers %lld", name, (long long)row0,
              (long long)pv->shape[0]);
    CHECK_MSG(maxdiff <= TOL, "%s: max |diff| %.3g > %g", name, maxdiff, TOL);
    fprintf(stderr, "%s: %lld rows, max |diff| %.3g\n", name, (long long)row0, maxdiff);
    n_cases++;
    vlm_st_close(st);
}

int main(void) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", media_fixture("qwen2_vl_processor"));
    char index[4200];
    snprintf(index, sizeof index, "%s/index.json", dir);
    vlm_json *doc = NULL;
    vlm_error err;
    vlm_status s = vlm_json_load_file(index, 16u << 20, 0, &doc, &err);
    if (s == VLM_ERR_NOT_FOUND)
        SKIP("%s not present (made by tools/refgen/qwen_processor_refs.py)", index);
    if (s != VLM_OK) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    const vlm_json *cases = vlm_json_get(doc, "cases");
    for (size_t i = 0; i < vlm_json_array_size(cases); i++) {
        const vlm_json *c = vlm_json_array_at(cases, i);
        const char *kind = vlm_json_string(vlm_json_get(c, "kind"));
        if (kind && strcmp(kind, "image") != 0) continue;
        check_case(c, dir);
    }
    vlm_json_free(doc);
    fprintf(stderr, "qwen pixels: %d image cases, %d values compared with transformers\n", n_cases,
            n_values);
    if (n_cases == 0) SKIP("no image cases in %s", index);
    TEST_DONE();
}
