/* vlm_image_resize against Pillow: every case of tests/fixtures/media/resize_refs.json
 * (made by tools/refgen/pillow_resize_refs.py with Debian's Pillow; the file records the
 * version) is rebuilt from its synthetic input and must match Pillow's output bytes exactly
 * (CRC-32 of all bytes plus sampled pixels; tolerance: none). Images more than 100x taller
 * than wide are checked against both Pillow orderings. Also: results do not depend on the
 * thread count, and bad arguments are refused with Pillow's reasons. */
#include "test.h"
#include "media_util.h"

#include "core/json.h"
#include "media/resample.h"

static int filter_by_name(const char *n) {
    for (int f = 0; f <= 5; f++) {
        const char *m = vlm_resample_filter_name((vlm_resample_filter)f);
        if (m && n && strcmp(m, n) == 0) return f;
    }
    return -1;
}

static void check_case(const vlm_json *c, size_t idx, int *n_checked) {
    int64_t w, h, ow, oh, seed, kind;
    const vlm_json *in = vlm_json_get(c, "in"), *outsz = vlm_json_get(c, "out");
    if (!vlm_json_int(vlm_json_array_at(in, 0), &w) ||
        !vlm_json_int(vlm_json_array_at(in, 1), &h) ||
        !vlm_json_int(vlm_json_array_at(outsz, 0), &ow) ||
        !vlm_json_int(vlm_json_array_at(outsz, 1), &oh) ||
        !vlm_json_int(vlm_json_get(c, "seed"), &seed) ||
        !vlm_json_int(vlm_json_get(c, "kind"), &kind)) {
        CHECK_MSG(0, "case %zu: malformed", idx);
        return;
    }
    int f = filter_by_name(vlm_json_string(vlm_json_get(c, "filter")));
    CHECK(f >= 0);
    vlm_image src;
    CHECK(media_synth_rgb((int)w, (int)h, (uint32_t)seed, (int)kind, &src) == VLM_OK);
    vlm_resize_params p = vlm_resize_params_default((vlm_resample_filter)f);
    const vlm_json *box = vlm_json_get(c, "box");
    for (size_t i = 0; box && i < 4; i++)
        p.box[i] = (float)vlm_json_number(vlm_json_array_at(box, i));
    const char *ref = vlm_json_string(vlm_json_get(c, "ref"));
    const char *ref_cur = vlm_json_string(vlm_json_get(c, "ref_current"));
    for (int compat = 0; compat < 2; compat++) {
        /* compat 0: current Pillow (ref_current when the case has one, else ref);
         * compat 1: Pillow < 12.2 (ref, which is what Debian's 9.4 made). */
        p.compat = compat == 0 ? VLM_PILLOW_CURRENT : VLM_PILLOW_BEFORE_12_2;
        const char *want = (compat == 0 && ref_cur) ? ref_cur : ref;
        vlm_image out;
        vlm_error err;
        /* every third case also through the portable kernels (no AVX2) */
        for (int portable = 1; portable >= 0; portable--) {
            if (portable && idx % 3 != 0) continue;
            p.portable = portable;
            vlm_status s = vlm_image_resize(&src, (int)ow, (int)oh, &p, &out, &err);
            CHECK_MSG(s == VLM_OK, "case %zu: %s", idx, err.message);
            if (s != VLM_OK || !portable) break;
            char got[9];
            media_image_crc_hex(&out, got);
            CHECK_MSG(want && strcmp(got, want) == 0, "case %zu portable: crc %s, Pillow %s", idx,
                      got, want ? want : "?");
            vlm_image_free(&out);
        }
        vlm_status s = out.data ? VLM_OK : VLM_ERR_INTERNAL;
        CHECK_MSG(s == VLM_OK, "case %zu: %s", idx, err.message);
        if (s != VLM_OK) continue;
        CHECK_EQ_INT(out.width, ow);
        CHECK_EQ_INT(out.height, oh);
        char got[9];
        media_image_crc_hex(&out, got);
        CHECK_MSG(want && strcmp(got, want) == 0,
                  "case %zu (%s %lldx%lld -> %lldx%lld, compat %d): crc %s, Pillow %s", idx,
                  vlm_json_string(vlm_json_get(c, "filter")), (long long)w, (long long)h,
                  (long long)ow, (long long)oh, compat, got, want ? want : "?");
        if (compat == 1 || !ref_cur) {
            const vlm_json *smp = vlm_json_get(c, "samples");
            for (size_t i = 0; i < vlm_json_array_size(smp); i++) {
                const vlm_json *e = vlm_json_array_at(smp, i);
                int64_t v[5];
                for (size_t j = 0; j < 5; j++)
                    vlm_json_int(vlm_json_array_at(e, j), &v[j]);
                const uint8_t *px = out.data + (size_t)v[1] * out.stride + 3 * (size_t)v[0];
                CHECK_MSG(px[0] == v[2] && px[1] == v[3] && px[2] == v[4],
                          "case %zu pixel (%lld,%lld): %d %d %d vs Pillow %lld %lld %lld", idx,
                          (long long)v[0], (long long)v[1], px[0], px[1], px[2], (long long)v[2],
                          (long long)v[3], (long long)v[4]);
            }
        }
        vlm_image_free(&out);
        ++*n_checked;
        if (!ref_cur) break; /* both orderings agree; one run is enough */
    }
    vlm_image_free(&src);
}

static void test_threads_agree(void) {
    vlm_image src, a, b;
    CHECK(media_synth_rgb(301, 173, 99, 0, &src) == VLM_OK);
    vlm_resize_params p = vlm_resize_params_default(VLM_RESAMPLE_LANCZOS);
    p.n_threads = 1;
    CHECK(vlm_image_resize(&src, 517, 95, &p, &a, NULL) == VLM_OK);
    p.n_threads = 4;
    CHECK(vlm_image_resize(&src, 517, 95, &p, &b, NULL) == VLM_OK);
    CHECK(a.height == b.height && memcmp(a.data, b.data, a.stride * a.height) == 0);
    vlm_image_free(&a);
    vlm_image_free(&b);
    vlm_image_free(&src);
}

static void test_bad_arguments(void) {
    vlm_image src, out;
    vlm_error err;
    CHECK(media_synth_rgb(10, 10, 1, 0, &src) == VLM_OK);
    CHECK(vlm_image_resize(&src, 0, 5, NULL, &out, &err) == VLM_ERR_INVALID_ARGUMENT);
    CHECK_CONTAINS(err.message, "must be > 0");
    CHECK(out.data == NULL);
    vlm_resize_params p = vlm_resize_params_default((vlm_resample_filter)9);
    CHECK(vlm_image_resize(&src, 5, 5, &p, &out, &err) == VLM_ERR_INVALID_ARGUMENT);
    CHECK_CONTAINS(err.message, "unknown filter");
    p = vlm_resize_params_default(VLM_RESAMPLE_BILINEAR);
    p.box[0] = 1, p.box[1] = 1, p.box[2] = 11, p.box[3] = 5;
    CHECK(vlm_image_resize(&src, 5, 5, &p, &out, &err) == VLM_ERR_INVALID_ARGUMENT);
    CHECK_CONTAINS(err.message, "exceed");
    vlm_resample_filter f;
    CHECK(vlm_resample_filter_from_pil(3, &f, &err) == VLM_OK && f == VLM_RESAMPLE_BICUBIC);
    CHECK(vlm_resample_filter_from_pil(6, &f, &err) == VLM_ERR_UNSUPPORTED);
    CHECK_CONTAINS(err.message, "resample 6");
    vlm_image_free(&src);
}

int main(void) {
    vlm_json *doc = NULL;
    vlm_error err;
    if (vlm_json_load_file(media_fixture("media/resize_refs.json"), 16u << 20, 0, &doc, &err) !=
        VLM_OK) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    const vlm_json *cases = vlm_json_get(doc, "cases");
    int n = 0;
    for (size_t i = 0; i < vlm_json_array_size(cases); i++)
        check_case(vlm_json_array_at(cases, i), i, &n);
    fprintf(stderr, "resample: %d resizes checked against Pillow %s\n", n,
            vlm_json_string(vlm_json_get(doc, "pillow")));
    CHECK(n >= 200);
    vlm_json_free(doc);
    test_threads_agree();
    test_bad_arguments();
    TEST_DONE();
}
