/* Frame sampling against transformers itself: tests/fixtures/video/sampling_refs.json holds
 * what Qwen2VLVideoProcessor.sample_frames (transformers 5.17, torch on the CPU) returned —
 * or which exception it raised — for ~2750 cases of total frames x video fps x target fps /
 * frame count x min/max frames x temporal patch size (tools/refgen/video_sampling_refs.py).
 * Every case must match exactly: same count, same indices (compared in full up to 64
 * indices, else by count, sum, position-weighted sum and the first and last four), and an
 * error exactly where transformers raises. SKIPs while the file is absent. */
#include <stdbool.h>

#include "core/json.h"
#include "media/video.h"
#include "test.h"

static int64_t get_int(const vlm_json *o, const char *k, int64_t dflt) {
    int64_t v;
    return vlm_json_int(vlm_json_get(o, k), &v) ? v : dflt;
}

static bool same_list(const vlm_json *arr, const int64_t *idx, int64_t n, int64_t from) {
    size_t m = vlm_json_array_size(arr);
    for (size_t i = 0; i < m; i++) {
        int64_t v;
        int64_t at = from + (int64_t)i;
        if (at < 0 || at >= n || !vlm_json_int(vlm_json_array_at(arr, i), &v) || v != idx[at])
            return false;
    }
    return true;
}

int main(void) {
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/fixtures/video/sampling_refs.json",
             vlm_test_source_dir());
    FILE *f = fopen(path, "rb");
    if (!f) SKIP("%s is absent (make it with tools/refgen/video_sampling_refs.py)", path);
    fclose(f);
    vlm_json *root = NULL;
    vlm_error err = {0};
    CHECK_MSG(vlm_json_load_file(path, 64u << 20, 0, &root, &err) == VLM_OK, "%s", err.message);
    if (!root) TEST_DONE();
    const vlm_json *cases = vlm_json_get(root, "cases");
    size_t n_cases = vlm_json_array_size(cases);
    CHECK(n_cases > 1000);
    size_t n_ok = 0, n_err = 0, failures = 0;
    for (size_t c = 0; c < n_cases; c++) {
        const vlm_json *k = vlm_json_array_at(cases, c);
        const char *mode = vlm_json_string(vlm_json_get(k, "mode"));
        vlm_video_sampling s = vlm_video_sampling_default();
        s.temporal_patch_size = (int)get_int(k, "temporal_patch_size", 2);
        if (mode && !strcmp(mode, "fps")) {
            s.mode = VLM_VIDEO_SAMPLE_FPS;
            s.fps = vlm_json_number(vlm_json_get(k, "fps"));
            s.min_frames = get_int(k, "min_frames", 4);
            s.max_frames = get_int(k, "max_frames", 768);
        } else {
            s.mode = VLM_VIDEO_SAMPLE_COUNT;
            s.num_frames = get_int(k, "num_frames", -1);
        }
        int64_t total = get_int(k, "total", -1);
        double vfps = vlm_json_number(vlm_json_get(k, "video_fps"));
        int64_t *idx = NULL, n = 0;
        vlm_status st = vlm_video_sample_indices(&s, total, vfps, &idx, &n, &err);
        bool want_error = vlm_json_get(k, "error") != NULL;
        bool ok;
        if (want_error) {
            ok = st != VLM_OK;
            n_err++;
        } else {
            n_ok++;
            int64_t rn = get_int(k, "n", -1);
            ok = st == VLM_OK && n == rn;
            if (ok) {
                const vlm_json *full = vlm_json_get(k, "indices");
                if (full) {
                    ok = (int64_t)vlm_json_array_size(full) == n && same_list(full, idx, n, 0);
                } else {
                    int64_t sum = 0;
                    uint64_t wsum = 0;
                    const uint64_t m = ((uint64_t)1 << 61) - 1;
                    for (int64_t i = 0; i < n; i++) {
                        sum += idx[i];
                        wsum = (wsum + (uint64_t)(i + 1) * (uint64_t)idx[i]) % m;
                    }
                    const vlm_json *tail = vlm_json_get(k, "tail");
                    ok = sum == get_int(k, "sum", -1) && (int64_t)wsum == get_int(k, "wsum", -1) &&
                         same_list(vlm_json_get(k, "head"), idx, n, 0) &&
                         same_list(tail, idx, n, n - (int64_t)vlm_json_array_size(tail));
                }
            }
        }
        if (!ok && failures++ < 20)
            fprintf(stderr,
                    "case %zu: mode %s total %lld video_fps %.17g fps %g num_frames %lld "
                    "min %lld max %lld tps %d: transformers %s n=%lld, ours status %d n=%lld "
                    "first %lld last %lld (%s)\n",
                    c, mode, (long long)total, vfps, s.fps, (long long)s.num_frames,
                    (long long)s.min_frames, (long long)s.max_frames, s.temporal_patch_size,
                    want_error ? vlm_json_string(vlm_json_get(k, "error")) : "ok",
                    (long long)get_int(k, "n", -1), (int)st, (long long)n,
                    (long long)(n ? idx[0] : -1), (long long)(n ? idx[n - 1] : -1),
                    st ? err.message : "");
        free(idx);
    }
    CHECK_MSG(failures == 0, "%zu of %zu cases differ from transformers", failures, n_cases);
    fprintf(stderr, "%zu cases: %zu sampled, %zu refused, as transformers does\n", n_cases, n_ok,
            n_err);
    vlm_json_free(root);
    TEST_DONE();
}
