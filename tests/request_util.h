/* Helpers shared by the model tests that replay the cases of tests/fixtures/qwen2_vl_model
 * (test_parity_qwen2_vl*, test_mlx_quant_model): the request of a case built from its
 * transformers-style "messages" JSON, and the relative error the tolerances are stated in.
 * Header-only, test code; include after test.h. */
#ifndef VLM_TEST_REQUEST_UTIL_H
#define VLM_TEST_REQUEST_UTIL_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "media/image.h"
#include "test.h"
#include "vlm.h"

/* max |a - b| / max |b| over n values (max |a - b| when b is all zeros). */
static inline double test_rel_err(const float *a, const float *b, int64_t n) {
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        num = fmax(num, fabs((double)a[i] - (double)b[i]));
        den = fmax(den, fabs((double)b[i]));
    }
    return den > 0 ? num / den : num;
}

/* Builds the request of a case from its messages (images: files in `media`; a video:
 * PNG frames in `media` decoded here and given as raw RGB frames at 2 fps). */
static inline vlm_request *test_request_from_messages(const vlm_json *messages, const char *media) {
    vlm_request *req;
    vlm_error err;
    if (vlm_request_init(&req, &err) != VLM_OK) return NULL;
    for (size_t i = 0; i < vlm_json_array_size(messages); i++) {
        const vlm_json *m = vlm_json_array_at(messages, i);
        vlm_request_add_message(req, vlm_json_string(vlm_json_get(m, "role")), &err);
        const vlm_json *c = vlm_json_get(m, "content");
        if (vlm_json_is_string(c)) {
            vlm_request_add_text(req, vlm_json_string(c), &err);
            continue;
        }
        for (size_t j = 0; j < vlm_json_array_size(c); j++) {
            const vlm_json *p = vlm_json_array_at(c, j);
            const char *type = vlm_json_string(vlm_json_get(p, "type"));
            char path[2048];
            if (!strcmp(type, "text")) {
                vlm_request_add_text(req, vlm_json_string(vlm_json_get(p, "text")), &err);
            } else if (!strcmp(type, "image")) {
                snprintf(path, sizeof path, "%s/%s", media,
                         vlm_json_string(vlm_json_get(p, "image")));
                CHECK(vlm_request_add_image_file(req, path, &err) == VLM_OK);
            } else if (!strcmp(type, "video")) {
                const vlm_json *fr = vlm_json_get(p, "video");
                size_t n = vlm_json_array_size(fr);
                vlm_image *imgs = calloc(n, sizeof *imgs);
                const uint8_t **rows = calloc(n, sizeof *rows);
                vlm_image_decode_params dp = vlm_image_decode_params_default();
                for (size_t k = 0; k < n; k++) {
                    snprintf(path, sizeof path, "%s/%s", media,
                             vlm_json_string(vlm_json_array_at(fr, k)));
                    CHECK(vlm_image_decode_file(path, &dp, &imgs[k], NULL, &err) == VLM_OK);
                    rows[k] = imgs[k].data;
                }
                CHECK(vlm_request_add_video_frames(req, rows, (int)n, imgs[0].width, imgs[0].height,
                                                   imgs[0].stride, 2.0, &err) == VLM_OK);
                for (size_t k = 0; k < n; k++)
                    vlm_image_free(&imgs[k]);
                free(imgs);
                free(rows);
            }
        }
    }
    return req;
}

#endif
