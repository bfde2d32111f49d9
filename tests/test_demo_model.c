/* The demo model end to end (models/demo, trained by tools/train_demo/train.py) on its
 * held-out pictures (tests/fixtures/demo: PNGs made by the training script with a seed of their
 * own, never trained on, one question each). For every picture, through the public API with
 * one loaded model: our greedy token ids equal transformers' greedy ids (model.generate on the
 * same checkpoint, f32 compute, eos included), and our answer text equals transformers' decoded
 * text. Over all pictures, our answers match the expected (templated, from the scene) answer
 * exactly for at least 95% of them. No tolerances: ids and strings compare exactly. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/json.h"
#include "test.h"
#include "vlm.h"

int main(void) {
    char dir[1024], path[1400], model_dir[1200];
    snprintf(dir, sizeof dir, "%s/tests/fixtures/demo", vlm_test_source_dir());
    snprintf(model_dir, sizeof model_dir, "%s/models/demo", vlm_test_source_dir());
    snprintf(path, sizeof path, "%s/cases.json", dir);
    if (access(path, R_OK) != 0) SKIP("%s missing (tools/train_demo/train.py)", path);

    vlm_error err;
    vlm_json *meta;
    if (vlm_json_load_file(path, 1 << 24, 0, &meta, &err) != VLM_OK) {
        CHECK_MSG(0, "%s", err.message);
        TEST_DONE();
    }
    vlm_model *m = NULL;
    vlm_session *sess = NULL;
    vlm_model_params mp = vlm_model_params_default();
    vlm_status s = vlm_model_load(model_dir, &mp, &m, &err);
    CHECK_MSG(s == VLM_OK, "%s: %s", model_dir, err.message);
    vlm_session_params sp = vlm_session_params_default();
    sp.n_threads = 2;
    if (s == VLM_OK) {
        s = vlm_session_init(m, &sp, &sess, &err);
        CHECK_MSG(s == VLM_OK, "session: %s", err.message);
    }
    const vlm_json *cases = vlm_json_get(meta, "cases");
    size_t n = vlm_json_array_size(cases);
    CHECK_MSG(n >= 100, "%zu held-out cases, want at least 100", n);
    vlm_generate_params gp = vlm_generate_params_default();
    int64_t max_new = 0;
    CHECK(vlm_json_int(vlm_json_get(meta, "max_new_tokens"), &max_new) && max_new > 0);
    gp.max_tokens = max_new > 0 && max_new < 4096 ? (int)max_new : 96;
    size_t exact = 0, same_ids = 0, same_text = 0;
    for (size_t i = 0; s == VLM_OK && i < n; i++) {
        const vlm_json *c = vlm_json_array_at(cases, i);
        const char *image = vlm_json_string(vlm_json_get(c, "image"));
        const char *question = vlm_json_string(vlm_json_get(c, "question"));
        const char *expected = vlm_json_string(vlm_json_get(c, "expected"));
        const char *hf_text = vlm_json_string(vlm_json_get(c, "hf_text"));
        const vlm_json *hf_ids = vlm_json_get(c, "hf_ids");
        if (!image || !question || !expected || !hf_text || !vlm_json_is_array(hf_ids)) {
            CHECK_MSG(0, "case %zu: fields missing", i);
            continue;
        }
        vlm_session_clear(sess);
        vlm_request *req;
        CHECK(vlm_request_init(&req, &err) == VLM_OK);
        snprintf(path, sizeof path, "%s/%s", dir, image);
        CHECK_MSG(vlm_request_add_image_file(req, path, &err) == VLM_OK, "%s", err.message);
        CHECK(vlm_request_add_text(req, question, &err) == VLM_OK);
        vlm_generate_result res;
        vlm_status g = vlm_session_generate(sess, req, &gp, NULL, NULL, &res, &err);
        CHECK_MSG(g == VLM_OK, "%s: %s", image, err.message);
        if (g == VLM_OK) {
            size_t nh = vlm_json_array_size(hf_ids);
            int ids_ok = (size_t)res.n_tokens == nh;
            for (size_t k = 0; ids_ok && k < nh; k++) {
                int64_t id = -1;
                ids_ok = vlm_json_int(vlm_json_array_at(hf_ids, k), &id) && res.tokens[k] == id;
            }
            CHECK_MSG(ids_ok,
                      "%s \"%s\": greedy ids differ from transformers' (%lld vs %zu ids): "
                      "ours \"%s\", transformers \"%s\"",
                      image, question, (long long)res.n_tokens, nh, res.text ? res.text : "",
                      hf_text);
            same_ids += ids_ok;
            int text_ok = res.text && strcmp(res.text, hf_text) == 0;
            CHECK_MSG(text_ok, "%s: text \"%s\", transformers \"%s\"", image,
                      res.text ? res.text : "(null)", hf_text);
            same_text += text_ok;
            int ok = res.text && strcmp(res.text, expected) == 0;
            if (!ok)
                fprintf(stderr, "%s \"%s\": \"%s\" (expected \"%s\")\n", image, question,
                        res.text ? res.text : "(null)", expected);
            exact += ok;
            vlm_generate_result_free(&res);
        }
        vlm_request_free(req);
    }
    fprintf(stderr,
            "demo model: %zu/%zu answers exact (%.1f%%), greedy ids equal transformers' "
            "on %zu/%zu, text on %zu/%zu\n",
            exact, n, n ? 100.0 * exact / n : 0.0, same_ids, n, same_text, n);
    CHECK_MSG(n > 0 && exact * 100 >= n * 95, "exact-match %zu/%zu below 95%%", exact, n);
    vlm_session_free(sess);
    vlm_model_free(m);
    vlm_json_free(meta);
    TEST_DONE();
}
