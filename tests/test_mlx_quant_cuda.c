/* MLX-quantized checkpoints on GPU 0 against the same checkpoints on the CPU: the fixtures
 * of tests/fixtures/mlx_quant (written by tools/refgen/mlx_quant_refs.py, an independent
 * numpy implementation of MLX's affine quantization):
 *   qwen2_vl_4bit     Qwen2-VL, 4 bits, group 64, vision tower in float;
 *   qwen2_5_vl_mixed  Qwen2.5-VL, 8 bits, group 32, vision tower quantized, per-module
 *                     2, 3, 5, 6 bits and groups 64, 128.
 * For the text and one-image cases of tests/fixtures/qwen2_vl_model:
 *   - compute "f32": the logits after the prefill (dequantize + cuBLAS on the GPU) and after
 *     each of 8 greedy decode steps (the quantized GEMV, decode steps replayed as CUDA graphs)
 *     within 1e-4 relative of the CPU's (max |g - c| / max |c|: both widen each weight as
 *     fmaf(scale, code, bias), only summation order differs), and the greedy token of every
 *     step (argmax of the logits) the same on both;
 *   - compute "bf16" (the CUDA default: prefill products on the tensor cores over bf16-rounded
 *     activations and dequantized weights): logits within 3e-2 relative, tokens reported;
 *   - end to end, vlm_session_generate's first 16 greedy tokens identical on the CPU and on
 *     the GPU (f32).
 * Skips (77) where no GPU can be used or the fixtures are missing. */
#include <math.h>
#include <unistd.h>

#include "models/family.h"
#include "models/model.h"
#include "models/qwen2_vl/model.h"
#include "quant_case_util.h"
#include "request_util.h"
#include "tensor/device.h"
#include "test.h"

#define STEPS 8

static char g_fix[1024], g_src[1024];

static int32_t argmax(const float *v, int64_t n) {
    int32_t t = 0;
    for (int64_t i = 1; i < n; i++)
        if (v[i] > v[t]) t = (int32_t)i;
    return t;
}

static vlm_model *load(const char *dir, const char *device, const char *compute) {
    vlm_model_params mp = vlm_model_params_default();
    mp.device = device;
    mp.compute = compute;
    vlm_model *m = NULL;
    vlm_error err;
    vlm_status s = vlm_model_load(dir, &mp, &m, &err);
    CHECK_MSG(s == VLM_OK, "%s on %s (%s): %s", dir, device ? device : "cpu",
              compute ? compute : "default", err.message);
    return s == VLM_OK ? m : NULL;
}

/* Prefill + STEPS greedy steps of one case on the CPU model and on a GPU model. */
static void compare_case(vlm_model *mc, vlm_model *mg, const char *variant, const char *family,
                         const char *name, const char *compute, double tol) {
    vlm_prompt pr;
    vlm_request *req = NULL;
    if (!test_case_prompt(mc, g_src, family, name, &pr, &req)) {
        vlm_request_free(req);
        return;
    }
    const qwen2_vl_model *qm = vlm_model_impl(mc);
    int64_t V = qm->cfg.text.vocab_size;
    vlm_session_params sp = vlm_session_params_default();
    sp.n_threads = 2;
    void *sc = NULL, *sg = NULL;
    vlm_error err;
    float *lc = malloc((size_t)V * sizeof *lc), *lg = malloc((size_t)V * sizeof *lg);
    int ok = qwen2_vl_ops.state_init(mc, &sp, &sc, &err) == VLM_OK;
    CHECK_MSG(ok, "%s", err.message);
    ok = ok && qwen2_vl_ops.state_init(mg, &sp, &sg, &err) == VLM_OK;
    CHECK_MSG(ok, "%s", err.message);
    ok = ok && qwen2_vl_ops.prefill(mc, sc, &pr, lc, &err) == VLM_OK;
    CHECK_MSG(ok, "%s", err.message);
    ok = ok && qwen2_vl_ops.prefill(mg, sg, &pr, lg, &err) == VLM_OK;
    CHECK_MSG(ok, "%s/%s (%s): %s", variant, name, compute, err.message);
    double worst = 0;
    int agree = 0, same = 1;
    int64_t pos = pr.next_pos;
    for (int step = 0; ok && step <= STEPS; step++) {
        double e = test_rel_err(lg, lc, V);
        worst = fmax(worst, e);
        CHECK_MSG(e <= tol, "%s/%s (%s): %s logits relative error %.3g > %.3g", variant, name,
                  compute, step ? "decode" : "prefill", e, tol);
        int32_t tc = argmax(lc, V), tg = argmax(lg, V);
        if (tc == tg && same) agree++;
        if (tc != tg) same = 0;
        if (step == STEPS) break;
        /* both continue with the CPU's token, so later steps stay comparable */
        ok = qwen2_vl_ops.decode(mc, sc, tc, pos, lc, &err) == VLM_OK;
        CHECK_MSG(ok, "%s", err.message);
        ok = ok && qwen2_vl_ops.decode(mg, sg, tc, pos, lg, &err) == VLM_OK;
        CHECK_MSG(ok, "%s/%s (%s): decode: %s", variant, name, compute, err.message);
        pos++;
    }
    if (tol <= 1e-4)
        CHECK_MSG(same, "%s/%s (%s): greedy tokens differ after %d steps", variant, name, compute,
                  agree);
    fprintf(stderr,
            "%s/%s (%s): %lld prompt tokens + %d steps, worst logits rel err %.2e, greedy tokens "
            "agree on %d of %d\n",
            variant, name, compute, (long long)pr.n, STEPS, worst, agree, STEPS + 1);
    if (sc) qwen2_vl_ops.state_free(sc);
    if (sg) qwen2_vl_ops.state_free(sg);
    free(lc);
    free(lg);
    vlm_prompt_free(&pr);
    vlm_request_free(req);
}

/* The public generate path: 16 greedy tokens of the image case on both models. */
static void compare_generate(vlm_model *mc, vlm_model *mg, const char *variant,
                             const char *family) {
    char path[2048], media[2048];
    vlm_error err;
    snprintf(media, sizeof media, "%s/media", g_src);
    snprintf(path, sizeof path, "%s/%s/cases/image.json", g_src, family);
    vlm_json *meta;
    if (vlm_json_load_file(path, 1 << 24, 0, &meta, &err) != VLM_OK) {
        CHECK_MSG(0, "%s", err.message);
        return;
    }
    vlm_request *req = test_request_from_messages(vlm_json_get(meta, "messages"), media);
    vlm_generate_params gp = vlm_generate_params_default();
    gp.max_tokens = 16;
    gp.ignore_eos = 1;
    vlm_generate_result r[2];
    memset(r, 0, sizeof r);
    vlm_model *ms[2] = {mc, mg};
    int ok = 1;
    for (int i = 0; i < 2 && ok; i++) {
        vlm_session *sess = NULL;
        ok = vlm_session_init(ms[i], NULL, &sess, &err) == VLM_OK &&
             vlm_session_generate(sess, req, &gp, NULL, NULL, &r[i], &err) == VLM_OK;
        CHECK_MSG(ok, "%s: generate: %s", variant, err.message);
        vlm_session_free(sess);
    }
    if (ok) {
        int same = r[0].n_tokens == r[1].n_tokens && r[0].n_tokens == 16;
        for (int64_t i = 0; same && i < r[0].n_tokens; i++)
            same = r[0].tokens[i] == r[1].tokens[i];
        CHECK_MSG(same, "%s: generated tokens differ between CPU and GPU", variant);
        fprintf(stderr, "%s: vlm_session_generate, 16 greedy tokens %s on CPU and GPU\n", variant,
                same ? "identical" : "DIFFERENT");
    }
    vlm_generate_result_free(&r[0]);
    vlm_generate_result_free(&r[1]);
    vlm_request_free(req);
    vlm_json_free(meta);
}

static void run_variant(const char *variant, const char *family) {
    char dir[1200];
    snprintf(dir, sizeof dir, "%s/%s/q", g_fix, variant);
    vlm_model *mc = load(dir, NULL, NULL);
    if (!mc) return;
    static const char *computes[2] = {"f32", "bf16"};
    static const double tols[2] = {1e-4, 3e-2};
    for (int c = 0; c < 2; c++) {
        vlm_model *mg = load(dir, "cuda", computes[c]);
        if (!mg) continue;
        const qwen2_vl_model *qg = vlm_model_impl(mg);
        CHECK(qg->w.embed.bits > 0 && qg->w.lm_head.bits > 0);
        compare_case(mc, mg, variant, family, "text", computes[c], tols[c]);
        compare_case(mc, mg, variant, family, "image", computes[c], tols[c]);
        if (c == 0) compare_generate(mc, mg, variant, family);
        vlm_model_free(mg);
    }
    vlm_model_free(mc);
}

int main(void) {
    const vlm_backend *be;
    vlm_error err;
    if (vlm_device_backend("cuda", &be, &err) != VLM_OK) SKIP("no GPU: %s", err.message);
    snprintf(g_fix, sizeof g_fix, "%s/tests/fixtures/mlx_quant", vlm_test_source_dir());
    snprintf(g_src, sizeof g_src, "%s/tests/fixtures/qwen2_vl_model", vlm_test_source_dir());
    char probe[1100];
    snprintf(probe, sizeof probe, "%s/SUMMARY.json", g_fix);
    if (access(probe, R_OK) != 0) SKIP("%s missing (tools/refgen/mlx_quant_refs.py)", probe);
    run_variant("qwen2_vl_4bit", "qwen2_vl");
    run_variant("qwen2_5_vl_mixed", "qwen2_5_vl");
    TEST_DONE();
}
