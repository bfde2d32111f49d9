/* The Qwen2-VL / Qwen2.5-VL parity checks against transformers' fixtures
 * (tests/fixtures/qwen2_vl_model, made by tools/refgen/qwen2_vl_model_refs.py), on one compute
 * device: shared by test_parity_qwen2_vl (CPU) and test_parity_qwen2_vl_cuda (GPU), which run
 * the same fixtures and tolerances. For each family, each checkpoint layout (Hub 4.x,
 * transformers 5, mlx-community) and each case (text only, one image, two images of
 * different sizes, a video given as frames):
 *   - input ids (the rendered chat template, tokenized, media pads expanded) identical;
 *   - M-RoPE position ids identical;
 *   - pixel values within 1e-6 absolute (host preprocessing, the same on every device);
 *   - vision embeddings and the last position's logits within 1e-4 relative
 *     (max |ours - ref| / max |ref|, f32 compute on the device);
 *   - the first 20 greedy tokens identical (through the public vlm_session_generate).
 * Multi-turn: a second turn in the same session gives the tokens of a fresh session over
 * the whole conversation, and computes only the new positions.
 * Include once, from a test's main file; call parity_qwen2_vl_run(device). */
#ifndef VLM_TESTS_PARITY_QWEN2_VL_H
#define VLM_TESTS_PARITY_QWEN2_VL_H

#include <math.h>
#include <unistd.h>

#include "core/json.h"
#include "media/image.h"
#include "models/family.h"
#include "models/model.h"
#include "models/qwen2_vl/model.h"
#include "models/qwen2_vl/vision.h"
#include "tensor/ops.h"
#include "request_util.h"
#include "test.h"
#include "weights/safetensors.h"

static char g_root[1024];
static const char *g_device;  /* vlm_model_params.device of the run */
static const char *g_compute; /* vlm_model_params.compute of the run */
static double g_tol = 1e-4;   /* relative tolerance of logits and vision embeddings */

/* A reference tensor as a host array (float32 or int64). */
static const vlm_st_tensor *ref(const vlm_st_set *set, const char *name) {
    const vlm_st_tensor *t = vlm_st_find(set, name);
    CHECK_MSG(t != NULL, "reference tensor %s missing", name);
    return t;
}

static int64_t numel(const vlm_st_tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

static void check_case(vlm_model *m, const char *family, const char *layout, const char *name) {
    char path[2048], media[2048];
    snprintf(media, sizeof media, "%s/media", g_root);
    snprintf(path, sizeof path, "%s/%s/cases/%s.json", g_root, family, name);
    vlm_json *meta;
    vlm_error err;
    if (vlm_json_load_file(path, 1 << 24, 0, &meta, &err) != VLM_OK) {
        CHECK_MSG(0, "%s", err.message);
        return;
    }
    snprintf(path, sizeof path, "%s/%s/cases/%s.safetensors", g_root, family, name);
    vlm_st_set *set;
    if (vlm_st_open(path, 0, &set, &err) != VLM_OK) {
        CHECK_MSG(0, "%s", err.message);
        vlm_json_free(meta);
        return;
    }
    vlm_request *req = test_request_from_messages(vlm_json_get(meta, "messages"), media);
    const qwen2_vl_model *qm = vlm_model_impl(m);

    /* the prompt: template + tokenizer + expansion + positions, through the family */
    vlm_generate_params gp = vlm_generate_params_default();
    vlm_session *sess;
    CHECK(vlm_session_init(m, NULL, &sess, &err) == VLM_OK);
    vlm_generate_result res;
    gp.max_tokens = 20;
    gp.ignore_eos = 1;
    vlm_status s = vlm_session_generate(sess, req, &gp, NULL, NULL, &res, &err);
    CHECK_MSG(s == VLM_OK, "%s/%s/%s: %s", family, layout, name, err.message);
    const vlm_st_tensor *ids = ref(set, "input_ids");
    if (s == VLM_OK && ids) {
        CHECK_MSG(res.n_prompt == numel(ids), "%s/%s/%s: %lld prompt ids, reference %lld", family,
                  layout, name, (long long)res.n_prompt, (long long)numel(ids));
        int same = res.n_prompt == numel(ids);
        for (int64_t i = 0; same && i < res.n_prompt; i++)
            same = res.prompt_ids[i] == ((const int64_t *)ids->data)[i];
        CHECK_MSG(same, "%s/%s/%s: prompt ids differ", family, layout, name);
        const vlm_st_tensor *g = ref(set, "greedy");
        int gsame = g && res.n_tokens == numel(g);
        for (int64_t i = 0; gsame && i < res.n_tokens; i++)
            gsame = res.tokens[i] == ((const int64_t *)g->data)[i];
        /* bf16 compute changes the arithmetic: tokens may part ways at a near tie, so only
         * the f32 runs require them identical (bf16 runs report the agreement). */
        int64_t agree = 0;
        while (g && agree < res.n_tokens && agree < numel(g) &&
               res.tokens[agree] == ((const int64_t *)g->data)[agree])
            agree++;
        if (g_tol <= 1e-4)
            CHECK_MSG(gsame, "%s/%s/%s: greedy tokens differ", family, layout, name);
        else
            fprintf(stderr, "%s/%s/%s: %lld of %lld greedy tokens agree before the first difference (%s)\n",
                    family, layout, name, (long long)agree, (long long)res.n_tokens, g_compute);
    }

    /* intermediate tensors through the family operations */
    vlm_prompt pr;
    int32_t *raw = NULL;
    if (s == VLM_OK) {
        /* rebuild the prompt from the reference-checked ids (media pads collapsed) */
        int64_t n = numel(ids), k = 0;
        raw = malloc((size_t)n * sizeof *raw);
        for (int64_t i = 0; i < n; i++) {
            int32_t t = (int32_t)((const int64_t *)ids->data)[i];
            if (k > 0 && (t == qm->cfg.image_token_id || t == qm->cfg.video_token_id) && raw[k - 1] == t) {
                /* consecutive pads of one block collapse; blocks are separated by
                 * vision_start/end tokens */
                continue;
            }
            raw[k++] = t;
        }
        CHECK(qwen2_vl_prompt_build(m, raw, k, req, &gp, &pr, &err) == VLM_OK);
        const vlm_st_tensor *pos = ref(set, "position_ids");
        int psame = pos && pr.n == pos->shape[1];
        for (int64_t i = 0; psame && i < 3 * pr.n; i++) psame = pr.pos[i] == ((const int64_t *)pos->data)[i];
        CHECK_MSG(psame, "%s/%s/%s: position ids differ", family, layout, name);
        const qwen2_vl_media *md = pr.media;
        const vlm_st_tensor *pv = vlm_st_find(set, "pixel_values");
        if (pv) {
            CHECK(md->rows * qm->patch_dim == numel(pv));
            double worst = 0;
            for (int64_t i = 0; md->rows * qm->patch_dim == numel(pv) && i < numel(pv); i++)
                worst = fmax(worst, fabs(md->pixels[i] - ((const float *)pv->data)[i]));
            CHECK_MSG(worst <= 1e-6, "%s/%s/%s: pixel values differ by %g", family, layout, name, worst);
        }
        const vlm_st_tensor *vv = vlm_st_find(set, "pixel_values_videos");
        if (vv) {
            CHECK(md->vrows * qm->patch_dim == numel(vv));
            double worst = 0;
            for (int64_t i = 0; md->vrows * qm->patch_dim == numel(vv) && i < numel(vv); i++)
                worst = fmax(worst, fabs(md->vpixels[i] - ((const float *)vv->data)[i]));
            /* transformers 5.17 has no Pillow path for video; frames here need no resize */
            CHECK_MSG(worst <= 1e-6, "%s/%s/%s: video pixel values differ by %g", family, layout, name, worst);
        }
        /* last logits from a fresh prefill */
        void *state;
        vlm_session_params sp = vlm_session_params_default();
        sp.n_threads = 2;
        CHECK(qwen2_vl_ops.state_init(m, &sp, &state, &err) == VLM_OK);
        int64_t V = qm->cfg.text.vocab_size;
        float *logits = malloc((size_t)V * sizeof *logits);
        CHECK(qwen2_vl_ops.prefill(m, state, &pr, logits, &err) == VLM_OK);
        const vlm_st_tensor *ll = ref(set, "logits_last");
        if (ll) {
            double e = test_rel_err(logits, (const float *)ll->data, V);
            CHECK_MSG(e <= g_tol, "%s/%s/%s: last logits relative error %g", family, layout, name, e);
            fprintf(stderr, "%s/%s/%s: %lld prompt tokens, last logits rel err %.2e (%s, %s)\n",
                    family, layout, name, (long long)pr.n, e, g_device ? g_device : "cpu",
                    g_compute ? g_compute : "default compute");
        }
        free(logits);
        qwen2_vl_ops.state_free(state);
        vlm_prompt_free(&pr);
    }
    free(raw);
    vlm_generate_result_free(&res);
    vlm_session_free(sess);
    vlm_request_free(req);
    vlm_st_close(set);
    vlm_json_free(meta);
}

/* Vision embeddings straight from the tower. */
static void check_embeddings(vlm_model *m, const char *family, const char *name,
                             const char *pv_name, const char *grid_name, const char *emb_name) {
    char path[2048];
    snprintf(path, sizeof path, "%s/%s/cases/%s.safetensors", g_root, family, name);
    vlm_st_set *set;
    vlm_error err;
    if (vlm_st_open(path, 0, &set, &err) != VLM_OK) return;
    const qwen2_vl_model *qm = vlm_model_impl(m);
    const vlm_st_tensor *pv = vlm_st_find(set, pv_name), *g = vlm_st_find(set, grid_name);
    const vlm_st_tensor *e = vlm_st_find(set, emb_name);
    CHECK_MSG(pv && g && e, "%s/%s: reference tensors missing", family, name);
    if (pv && g && e) {
        vlm_arena *arena;
        CHECK(vlm_arena_create(m->backend, 0, &arena, &err) == VLM_OK);
        vlm_ctx ctx;
        vlm_ctx_init(&ctx, arena, 2);
        ctx.bf16_compute = m->bf16_compute;
        vlm_tensor px, out;
        int64_t rows = pv->shape[0], units = e->shape[0];
        vlm_ctx_tensor(&ctx, VLM_DTYPE_F32, 2, (int64_t[]){rows, pv->shape[1]}, &px);
        vlm_tensor_upload(&px, pv->data, (size_t)pv->nbytes, &err);
        vlm_ctx_tensor(&ctx, VLM_DTYPE_F32, 2, (int64_t[]){units, e->shape[1]}, &out);
        vlm_status s = qwen2_vl_vision_forward(&ctx, &qm->cfg, &qm->w, &px, (const int64_t *)g->data,
                                               (int)g->shape[0], &out);
        CHECK_MSG(s == VLM_OK, "%s", ctx.err.message);
        float *got = malloc((size_t)e->nbytes);
        if (s == VLM_OK) {
            s = vlm_tensor_download(&out, got, (size_t)e->nbytes, &err);
            CHECK_MSG(s == VLM_OK, "%s/%s: download: %s", family, name, err.message);
        }
        if (s == VLM_OK) {
            double r = test_rel_err(got, (const float *)e->data, numel(e));
            CHECK_MSG(r <= g_tol, "%s/%s: vision embeddings relative error %g", family, name, r);
            fprintf(stderr, "%s/%s: vision embeddings rel err %.2e (%s, %s)\n", family, name, r,
                    g_device ? g_device : "cpu", g_compute ? g_compute : "default compute");
        }
        free(got);
        vlm_arena_free(arena);
    }
    vlm_st_close(set);
}

/* The second turn of a session equals a fresh run over the whole conversation, and only
 * the new positions are computed. */
static void check_multi_turn(vlm_model *m) {
    char media[1200], img[1300];
    snprintf(media, sizeof media, "%s/media", g_root);
    snprintf(img, sizeof img, "%s/img_120x90.png", media);
    vlm_error err;
    vlm_generate_params gp = vlm_generate_params_default();
    gp.max_tokens = 6;
    gp.ignore_eos = 1;
    vlm_session *a, *b;
    CHECK(vlm_session_init(m, NULL, &a, &err) == VLM_OK);
    CHECK(vlm_session_init(m, NULL, &b, &err) == VLM_OK);
    vlm_request *t1, *t2, *all;
    vlm_request_init(&t1, &err);
    vlm_request_add_image_file(t1, img, &err);
    vlm_request_add_text(t1, "What is in the picture?", &err);
    vlm_request_init(&t2, &err);
    vlm_request_add_text(t2, "And what color is it?", &err);
    vlm_generate_result r1, r2, rf;
    CHECK(vlm_session_generate(a, t1, &gp, NULL, NULL, &r1, &err) == VLM_OK);
    CHECK(vlm_session_generate(a, t2, &gp, NULL, NULL, &r2, &err) == VLM_OK);
    /* fresh: the whole conversation as one request */
    vlm_request_init(&all, &err);
    vlm_request_add_image_file(all, img, &err);
    vlm_request_add_text(all, "What is in the picture?", &err);
    vlm_request_add_message(all, "assistant", &err);
    vlm_request_add_text(all, r1.text ? r1.text : "", &err);
    vlm_request_add_message(all, "user", &err);
    vlm_request_add_text(all, "And what color is it?", &err);
    CHECK(vlm_session_generate(b, all, &gp, NULL, NULL, &rf, &err) == VLM_OK);
    CHECK_EQ_INT(r2.n_prompt, rf.n_prompt);
    int same = r2.n_tokens == rf.n_tokens;
    for (int64_t i = 0; same && i < r2.n_tokens; i++) same = r2.tokens[i] == rf.tokens[i];
    CHECK_MSG(same, "second turn differs from a fresh run over the conversation");
    CHECK_MSG(r2.n_prompt_computed < r2.n_prompt / 2,
              "second turn recomputed %lld of %lld prompt positions",
              (long long)r2.n_prompt_computed, (long long)r2.n_prompt);
    vlm_generate_result_free(&r1);
    vlm_generate_result_free(&r2);
    vlm_generate_result_free(&rf);
    vlm_request_free(t1);
    vlm_request_free(t2);
    vlm_request_free(all);
    vlm_session_free(a);
    vlm_session_free(b);
}

/* Runs every check on `device` ("cpu", "cuda", ...) with `compute` ("f32", "bf16", NULL:
 * the device's default), logits and embeddings within `tol` relative (greedy tokens
 * required identical when tol <= 1e-4), counting failures in vlm_test_failures; exits 77
 * (skip) when the fixtures are missing. */
static void parity_qwen2_vl_run(const char *device, const char *compute, double tol) {
    g_device = device;
    g_compute = compute;
    g_tol = tol;
    snprintf(g_root, sizeof g_root, "%s/tests/fixtures/qwen2_vl_model", vlm_test_source_dir());
    char probe[1100];
    snprintf(probe, sizeof probe, "%s/SUMMARY.json", g_root);
    if (access(probe, R_OK) != 0) SKIP("%s missing (tools/refgen/qwen2_vl_model_refs.py)", probe);
    const char *families[] = {"qwen2_vl", "qwen2_5_vl"};
    const char *layouts[] = {"hub", "t5", "mlx"};
    const char *cases[] = {"text", "image", "two_images", "video"};
    for (int f = 0; f < 2; f++)
        for (int l = 0; l < 3; l++) {
            char dir[1200];
            snprintf(dir, sizeof dir, "%s/%s/%s", g_root, families[f], layouts[l]);
            vlm_model *m;
            vlm_error err;
            vlm_model_params mp = vlm_model_params_default();
            mp.device = device;
            mp.compute = compute;
            vlm_status s = vlm_model_load(dir, &mp, &m, &err);
            CHECK_MSG(s == VLM_OK, "%s: %s", dir, err.message);
            if (s != VLM_OK) continue;
            for (int c = 0; c < 4; c++) check_case(m, families[f], layouts[l], cases[c]);
            if (l == 0) {
                check_embeddings(m, families[f], "image", "pixel_values", "image_grid_thw",
                                 "image_embeds");
                check_embeddings(m, families[f], "two_images", "pixel_values", "image_grid_thw",
                                 "image_embeds");
                check_embeddings(m, families[f], "video", "pixel_values_videos", "video_grid_thw",
                                 "video_embeds");
                check_multi_turn(m);
            }
            vlm_model_free(m);
        }
}

#endif
