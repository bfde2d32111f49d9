/* MLX-quantized Qwen2-VL / Qwen2.5-VL checkpoints against their dequantized float twins,
 * both written by tools/refgen/mlx_quant_refs.py (an independent numpy implementation of MLX's
 * affine quantization) into tests/fixtures/mlx_quant:
 *   qwen2_vl_4bit     4 bits, group 64, vision tower in float;
 *   qwen2_5_vl_mixed  8 bits, group 32 globally, vision tower quantized, per-module entries
 *                     with 2, 3, 5, 6 bits and groups 64, 128, an alias and a `false`.
 * For the text and the one-image prompts of tests/fixtures/qwen2_vl_model (input ids from the
 * transformers references), the quantized model's logits after the prefill (GEMM path) and
 * after each of 4 decode steps (GEMV path, tokens chosen greedily by the float twin) equal
 * the float twin's within 1e-4 relative (max |q - f| / max |f|): deq/ holds exactly the
 * weights a correct reading of q/ computes, so only summation order differs.
 * Also: the per-module lookup of config "quantization" (mlx-vlm's rules) and loader errors on
 * inconsistent quantized checkpoints (missing or wrong config, unsupported mode or bits),
 * each naming the module or field. */
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/json.h"
#include "models/base_config.h"
#include "models/family.h"
#include "models/model.h"
#include "models/qwen2_vl/model.h"
#include "quant_case_util.h"
#include "request_util.h"
#include "test.h"
#include "weights/safetensors.h"

static char g_fix[1024], g_src[1024];

static void compare_variant(const char *variant, const char *family) {
    char qdir[1200], ddir[1200];
    snprintf(qdir, sizeof qdir, "%s/%s/q", g_fix, variant);
    snprintf(ddir, sizeof ddir, "%s/%s/deq", g_fix, variant);
    vlm_model *mq = NULL, *md = NULL;
    vlm_error err;
    vlm_status s = vlm_model_load(qdir, NULL, &mq, &err);
    CHECK_MSG(s == VLM_OK, "%s: %s", qdir, err.message);
    s = s == VLM_OK ? vlm_model_load(ddir, NULL, &md, &err) : s;
    CHECK_MSG(s == VLM_OK, "%s: %s", ddir, err.message);
    if (s != VLM_OK) {
        vlm_model_free(mq);
        return;
    }
    const qwen2_vl_model *qq = vlm_model_impl(mq), *qd = vlm_model_impl(md);
    CHECK(qq->w.embed.bits > 0 && qq->w.lm_head.bits > 0 && qd->w.embed.bits == 0);
    int64_t V = qq->cfg.text.vocab_size;
    const char *cases[2] = {"text", "image"};
    for (int c = 0; c < 2; c++) {
        vlm_prompt pr;
        vlm_request *req = NULL;
        if (!test_case_prompt(md, g_src, family, cases[c], &pr, &req)) {
            vlm_request_free(req);
            continue;
        }
        vlm_session_params sp = vlm_session_params_default();
        sp.n_threads = 2;
        void *stq, *std_;
        float *lq = malloc((size_t)V * sizeof *lq), *ld = malloc((size_t)V * sizeof *ld);
        CHECK(qwen2_vl_ops.state_init(mq, &sp, &stq, &err) == VLM_OK);
        CHECK(qwen2_vl_ops.state_init(md, &sp, &std_, &err) == VLM_OK);
        CHECK(qwen2_vl_ops.prefill(mq, stq, &pr, lq, &err) == VLM_OK);
        CHECK(qwen2_vl_ops.prefill(md, std_, &pr, ld, &err) == VLM_OK);
        double e = test_rel_err(lq, ld, V), worst = e;
        CHECK_MSG(e <= 1e-4, "%s/%s: prefill logits relative error %g", variant, cases[c], e);
        int64_t pos = pr.next_pos;
        for (int step = 0; step < 4; step++) {
            int32_t tok = 0;
            for (int64_t i = 1; i < V; i++)
                if (ld[i] > ld[tok]) tok = (int32_t)i;
            CHECK(qwen2_vl_ops.decode(mq, stq, tok, pos, lq, &err) == VLM_OK);
            CHECK(qwen2_vl_ops.decode(md, std_, tok, pos, ld, &err) == VLM_OK);
            e = test_rel_err(lq, ld, V);
            worst = fmax(worst, e);
            CHECK_MSG(e <= 1e-4, "%s/%s: decode step %d logits relative error %g", variant,
                      cases[c], step, e);
            pos++;
        }
        fprintf(stderr, "%s/%s: %lld prompt tokens + 4 decoded, worst logits rel err %.2e\n",
                variant, cases[c], (long long)pr.n, worst);
        free(lq);
        free(ld);
        qwen2_vl_ops.state_free(stq);
        qwen2_vl_ops.state_free(std_);
        vlm_prompt_free(&pr);
        vlm_request_free(req);
    }
    vlm_model_free(mq);
    vlm_model_free(md);
}

static void test_lookup(void) {
    const char *text =
        "{\"model_type\": \"qwen2_vl\", \"quantization\": {\"group_size\": 64, \"bits\": 4, "
        "\"language_model.model.layers.0.mlp.down_proj\": {\"group_size\": 32, \"bits\": 8}, "
        "\"model.layers.1.self_attn.q_proj\": {\"bits\": 6}, "
        "\"language_model.lm_head\": false, \"vision_tower.blocks.0.attn.qkv\": {}, "
        "\"vision_tower.merger.mlp.0\": true}}";
    vlm_json *j;
    vlm_error err;
    vlm_base_config bc;
    CHECK(vlm_json_parse(text, strlen(text), "config.json", 0, &j, &err) == VLM_OK);
    CHECK(vlm_base_config_parse(j, "config.json", &bc, &err) == VLM_OK);
    struct {
        const char *module;
        int bits, group;
    } want[] = {
        {"language_model.model.layers.0.mlp.down_proj", 8, 32},    /* its entry */
        {"language_model.model.layers.1.self_attn.q_proj", 6, 64}, /* alias; group: MLX default */
        {"language_model.lm_head", 0, 0},                          /* false */
        {"vision_tower.blocks.0.attn.qkv", 0, 0},                  /* {} is falsy in mlx-vlm */
        {"vision_tower.merger.mlp.0", 4, 64},                      /* true: the global setting */
        {"language_model.model.embed_tokens", 4, 64},              /* no entry: global */
        {"model.layers.0.mlp.down_proj", 4, 64}, /* aliases strip, never add, the prefix */
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        int bits, group;
        vlm_quant_config_lookup(&bc.quant, want[i].module, &bits, &group);
        CHECK_MSG(bits == want[i].bits && group == want[i].group, "%s: %d bits, group %d",
                  want[i].module, bits, group);
    }
    vlm_base_config_free(&bc);
    vlm_json_free(j);
    vlm_base_config empty;
    CHECK(vlm_json_parse("{\"model_type\": \"x\"}", 19, "c", 0, &j, &err) == VLM_OK);
    CHECK(vlm_base_config_parse(j, "c", &empty, &err) == VLM_OK);
    int bits = -1, group = -1;
    vlm_quant_config_lookup(&empty.quant, "language_model.lm_head", &bits, &group);
    CHECK(bits == 0 && group == 0);
    vlm_base_config_free(&empty);
    vlm_json_free(j);
}

/* A copy of variant q/ whose config.json is `config` (other files linked), loaded. */
static void expect_load_error(const char *config, vlm_status status, const char *needle) {
    char dir[] = "/tmp/vlm_quant_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    const char *files[] = {"model.safetensors",     "model.safetensors.index.json",
                           "tokenizer.json",        "tokenizer_config.json",
                           "chat_template.json",    "preprocessor_config.json",
                           "generation_config.json"};
    char src[2048], dst[2048];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(src, sizeof src, "%s/qwen2_vl_4bit/q/%s", g_fix, files[i]);
        snprintf(dst, sizeof dst, "%s/%s", dir, files[i]);
        char *abs = realpath(src, NULL);
        CHECK(abs && symlink(abs, dst) == 0);
        free(abs);
    }
    snprintf(dst, sizeof dst, "%s/config.json", dir);
    FILE *f = fopen(dst, "w");
    fputs(config, f);
    fclose(f);
    vlm_model *m = NULL;
    vlm_error err = {0};
    vlm_status s = vlm_model_load(dir, NULL, &m, &err);
    CHECK_MSG(s == status, "expected status %d, got %d (%s)", status, s, err.message);
    CHECK_CONTAINS(err.message, needle);
    vlm_model_free(m);
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(dst, sizeof dst, "%s/%s", dir, files[i]);
        unlink(dst);
    }
    snprintf(dst, sizeof dst, "%s/config.json", dir);
    unlink(dst);
    rmdir(dir);
}

/* The variant's config.json text with its "quantization" replaced by `q` ("" drops it). */
static char *config_with(const char *q) {
    char path[2048];
    snprintf(path, sizeof path, "%s/qwen2_vl_4bit/deq/config.json", g_fix); /* no quantization */
    FILE *f = fopen(path, "rb");
    static char buf[1 << 16];
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f) fclose(f);
    buf[n] = '\0';
    char *end = strrchr(buf, '}');
    char *out = malloc(n + strlen(q) + 64);
    if (!end || !out) return out;
    *end = '\0';
    sprintf(out, "%s%s}", buf, q);
    return out;
}

static void test_load_errors(void) {
    char *c = config_with("");
    expect_load_error(c, VLM_ERR_FORMAT,
                      "does not quantize module 'language_model.model.embed_tokens'");
    free(c);
    c = config_with(", \"quantization\": {\"group_size\": 64, \"bits\": 8}");
    expect_load_error(c, VLM_ERR_FORMAT, "(8-bit, group size 64)");
    free(c);
    c = config_with(", \"quantization\": {\"group_size\": 32, \"bits\": 4}");
    expect_load_error(c, VLM_ERR_FORMAT, "language_model.model.embed_tokens.scales' has shape");
    free(c);
    c = config_with(", \"quantization\": {\"group_size\": 64, \"bits\": 7}");
    expect_load_error(c, VLM_ERR_UNSUPPORTED, "quantized with 7 bits and group size 64");
    free(c);
    c = config_with(", \"quantization\": {\"group_size\": 32, \"bits\": 4, \"mode\": \"mxfp4\"}");
    expect_load_error(c, VLM_ERR_UNSUPPORTED, "quantization mode 'mxfp4'");
    free(c);
    /* a per-module `false` for a module whose weights are quantized */
    c = config_with(", \"quantization\": {\"group_size\": 64, \"bits\": 4, "
                    "\"language_model.lm_head\": false}");
    expect_load_error(c, VLM_ERR_FORMAT, "does not quantize module 'language_model.lm_head'");
    free(c);
}

int main(void) {
    snprintf(g_fix, sizeof g_fix, "%s/tests/fixtures/mlx_quant", vlm_test_source_dir());
    snprintf(g_src, sizeof g_src, "%s/tests/fixtures/qwen2_vl_model", vlm_test_source_dir());
    char probe[1100];
    snprintf(probe, sizeof probe, "%s/SUMMARY.json", g_fix);
    if (access(probe, R_OK) != 0) SKIP("%s missing (tools/refgen/mlx_quant_refs.py)", probe);
    test_lookup();
    compare_variant("qwen2_vl_4bit", "qwen2_vl");
    compare_variant("qwen2_5_vl_mixed", "qwen2_5_vl");
    test_load_errors();
    TEST_DONE();
}
