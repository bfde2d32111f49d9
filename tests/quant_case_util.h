/* The prompt of one case of tests/fixtures/qwen2_vl_model (its reference input ids, media
 * pads collapsed, expanded again by the family) and its request, for the model tests that
 * replay those cases through the family operations (test_mlx_quant_model,
 * test_mlx_quant_cuda). Header-only test code; include after test.h and request_util.h. */
#ifndef VLM_TEST_QUANT_CASE_UTIL_H
#define VLM_TEST_QUANT_CASE_UTIL_H

#include "core/json.h"
#include "models/model.h"
#include "models/qwen2_vl/model.h"
#include "request_util.h"
#include "test.h"
#include "weights/safetensors.h"

/* root: tests/fixtures/qwen2_vl_model; family: its folder (qwen2_vl, qwen2_5_vl); name: the
 * case. Returns 1 with *pr and *req_out set (caller frees both), else 0 (checks failed). */
static inline int test_case_prompt(vlm_model *m, const char *root, const char *family,
                                   const char *name, vlm_prompt *pr, vlm_request **req_out) {
    char path[2048], media[2048];
    vlm_error err;
    snprintf(media, sizeof media, "%s/media", root);
    snprintf(path, sizeof path, "%s/%s/cases/%s.json", root, family, name);
    vlm_json *meta;
    if (vlm_json_load_file(path, 1 << 24, 0, &meta, &err) != VLM_OK) {
        CHECK_MSG(0, "%s", err.message);
        return 0;
    }
    snprintf(path, sizeof path, "%s/%s/cases/%s.safetensors", root, family, name);
    vlm_st_set *set;
    if (vlm_st_open(path, 0, &set, &err) != VLM_OK) {
        CHECK_MSG(0, "%s", err.message);
        vlm_json_free(meta);
        return 0;
    }
    const vlm_st_tensor *ids = vlm_st_find(set, "input_ids");
    const qwen2_vl_model *qm = vlm_model_impl(m);
    int ok = ids != NULL;
    if (ok) {
        int64_t n = ids->shape[0], k = 0;
        int32_t *raw = malloc((size_t)n * sizeof *raw);
        for (int64_t i = 0; i < n; i++) {
            int32_t t = (int32_t)((const int64_t *)ids->data)[i];
            if (k > 0 && (t == qm->cfg.image_token_id || t == qm->cfg.video_token_id) &&
                raw[k - 1] == t)
                continue;
            raw[k++] = t;
        }
        *req_out = test_request_from_messages(vlm_json_get(meta, "messages"), media);
        vlm_generate_params gp = vlm_generate_params_default();
        ok = qwen2_vl_prompt_build(m, raw, k, *req_out, &gp, pr, &err) == VLM_OK;
        CHECK_MSG(ok, "%s/%s: %s", family, name, err.message);
        ok = ok && pr->n == n;
        free(raw);
    }
    vlm_st_close(set);
    vlm_json_free(meta);
    return ok;
}

#endif
