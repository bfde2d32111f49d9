/* The load factory, rule by rule, on small crafted checkpoint directories: base config
 * (model_type, eos as int or list, quantization), generation_config.json replacement, eos
 * promotion with Python truthiness, model_type remapping, the three processor-config
 * cases and the class override, registries (run-time registration, ordering, failure
 * before weight/tokenizer I/O), tokenizer directory override, and bad input (FIFO,
 * oversized, invalid JSON, wrong types) with errors that name the file and field.
 *
 * Expected values are the rules of DESIGN.md "The load factory" applied by hand to each
 * crafted directory. */
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fs_util.h"
#include "models/checkpoint.h"
#include "models/model.h"
#include "test.h"
#include "vlm.h"

static char *g_root;

/* The smallest tokenizer.json the loader accepts (a one-token BPE). */
#define TINY_TOKENIZER                                                                            \
    "{\"version\":\"1.0\",\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]}}"
static int g_case;

/* A fresh directory under the test root holding config.json = `config`. */
static char *make_dir(const char *config) {
    char name[32];
    snprintf(name, sizeof name, "c%d", g_case++);
    char *d = tu_join(g_root, name);
    mkdir(d, 0755);
    if (config) tu_write_str(d, "config.json", config);
    return d;
}

static vlm_status probe(const char *dir, vlm_checkpoint *ck, vlm_error *err) {
    return vlm_checkpoint_probe(dir, ck, err);
}

static void check_eos(const char *config, const char *gen, const long long *want, size_t n,
                      const char *source) {
    char *d = make_dir(config);
    if (gen) tu_write_str(d, "generation_config.json", gen);
    vlm_checkpoint ck;
    vlm_error err;
    vlm_status s = probe(d, &ck, &err);
    CHECK_MSG(s == VLM_OK, "%s: %s", config, err.message);
    if (s == VLM_OK) {
        CHECK_MSG(ck.base.n_eos == n, "%s | %s: %zu ids, want %zu", config, gen ? gen : "-",
                  ck.base.n_eos, n);
        for (size_t i = 0; i < n && i < ck.base.n_eos; i++)
            CHECK_EQ_INT(ck.base.eos_ids[i], want[i]);
        if (source) CHECK_STR(ck.base.eos_source, source);
        else CHECK(ck.base.eos_source == NULL);
    }
    vlm_checkpoint_free(&ck);
    free(d);
}

static void check_probe_error(const char *config, const char *gen, vlm_status want,
                              const char *file, const char *field) {
    char *d = make_dir(config);
    if (gen) tu_write_str(d, "generation_config.json", gen);
    vlm_checkpoint ck;
    vlm_error err;
    vlm_status s = probe(d, &ck, &err);
    CHECK_MSG(s == want, "%s: got %s (%s), want %s", config, vlm_status_str(s),
              s ? err.message : "", vlm_status_str(want));
    if (s != VLM_OK) {
        CHECK_CONTAINS(err.message, file);
        if (field) CHECK_CONTAINS(err.message, field);
    }
    vlm_checkpoint_free(&ck);
    free(d);
}

static void test_eos_rules(void) {
    long long a[] = {7}, b[] = {1, 2, 3}, c[] = {11}, e[] = {21}, f[] = {5, 6};
    check_eos("{\"model_type\":\"x\",\"eos_token_id\":7}", NULL, a, 1, "config.json");
    check_eos("{\"model_type\":\"x\",\"eos_token_id\":[1,2,3]}", NULL, b, 3, "config.json");
    /* generation_config.json: truthy replaces, falsy or absent leaves the config's */
    check_eos("{\"model_type\":\"x\",\"eos_token_id\":7}", "{\"eos_token_id\":[5,6]}", f, 2,
              "generation_config.json");
    check_eos("{\"model_type\":\"x\",\"eos_token_id\":7}", "{\"eos_token_id\":0}", a, 1,
              "config.json");
    check_eos("{\"model_type\":\"x\",\"eos_token_id\":7}", "{\"eos_token_id\":[]}", a, 1,
              "config.json");
    check_eos("{\"model_type\":\"x\",\"eos_token_id\":7}", "{\"eos_token_id\":null}", a, 1,
              "config.json");
    check_eos("{\"model_type\":\"x\",\"eos_token_id\":7}", "{\"temperature\":0.7}", a, 1,
              "config.json");
    check_eos("{\"model_type\":\"x\"}", "{\"eos_token_id\":11}", c, 1, "generation_config.json");
    /* promotion: text_config, then llm_config, when the top level has none (or a falsy one) */
    check_eos("{\"model_type\":\"x\",\"text_config\":{\"eos_token_id\":11}}", NULL, c, 1,
              "config.json:text_config");
    check_eos("{\"model_type\":\"x\",\"llm_config\":{\"eos_token_id\":21}}", NULL, e, 1,
              "config.json:llm_config");
    check_eos("{\"model_type\":\"x\",\"text_config\":{\"eos_token_id\":0},"
              "\"llm_config\":{\"eos_token_id\":21}}",
              NULL, e, 1, "config.json:llm_config");
    check_eos("{\"model_type\":\"x\",\"text_config\":{\"eos_token_id\":[]},"
              "\"llm_config\":{\"eos_token_id\":[21]}}",
              NULL, e, 1, "config.json:llm_config");
    check_eos("{\"model_type\":\"x\",\"eos_token_id\":null,\"text_config\":{\"eos_token_id\":11}}",
              NULL, c, 1, "config.json:text_config");
    check_eos("{\"model_type\":\"x\",\"eos_token_id\":0,\"text_config\":{\"eos_token_id\":11}}",
              NULL, c, 1, "config.json:text_config");
    check_eos("{\"model_type\":\"x\",\"eos_token_id\":[],\"text_config\":{\"eos_token_id\":11}}",
              NULL, c, 1, "config.json:text_config");
    /* the top level wins over text_config when truthy */
    check_eos("{\"model_type\":\"x\",\"eos_token_id\":7,\"text_config\":{\"eos_token_id\":11}}",
              NULL, a, 1, "config.json");
    /* none anywhere */
    check_eos("{\"model_type\":\"x\"}", NULL, NULL, 0, NULL);
    check_eos("{\"model_type\":\"x\",\"text_config\":{}}", "{}", NULL, 0, NULL);

    /* wrong types: errors name the file and the dotted field */
    check_probe_error("{\"model_type\":\"x\",\"eos_token_id\":\"2\"}", NULL, VLM_ERR_FORMAT,
                      "config.json", "eos_token_id");
    check_probe_error("{\"model_type\":\"x\",\"eos_token_id\":true}", NULL, VLM_ERR_FORMAT,
                      "config.json", "eos_token_id");
    check_probe_error("{\"model_type\":\"x\",\"eos_token_id\":1.5}", NULL, VLM_ERR_FORMAT,
                      "config.json", "eos_token_id");
    check_probe_error("{\"model_type\":\"x\",\"eos_token_id\":-1}", NULL, VLM_ERR_FORMAT,
                      "config.json", "eos_token_id");
    check_probe_error("{\"model_type\":\"x\",\"eos_token_id\":[1,\"x\"]}", NULL, VLM_ERR_FORMAT,
                      "config.json", "eos_token_id[1]");
    check_probe_error("{\"model_type\":\"x\",\"text_config\":{\"eos_token_id\":{}}}", NULL,
                      VLM_ERR_FORMAT, "config.json", "text_config.eos_token_id");
    check_probe_error("{\"model_type\":\"x\",\"llm_config\":{\"eos_token_id\":[[1]]}}", NULL,
                      VLM_ERR_FORMAT, "config.json", "llm_config.eos_token_id[0]");
    check_probe_error("{\"model_type\":\"x\",\"eos_token_id\":1}", "{\"eos_token_id\":\"</s>\"}",
                      VLM_ERR_FORMAT, "generation_config.json", "eos_token_id");
    check_probe_error("{\"model_type\":\"x\"}", "[1,2]", VLM_ERR_FORMAT, "generation_config.json",
                      NULL);
    check_probe_error("{\"model_type\":\"x\"}", "{\"eos_token_id\":", VLM_ERR_FORMAT,
                      "generation_config.json", "line");
}

static void test_model_type_and_config_errors(void) {
    const char *pairs[][2] = {
        {"lfm2-vl", "lfm2_vl"},         {"llava_qwen2", "fastvlm"},
        {"llava-qwen2", "llava_bunny"}, {"bunny-llama", "llava_bunny"},
        {"cohere2_vision", "aya_vision"}, {"jvlm", "jina_vlm"},
        {"phi4-siglip", "phi4_siglip"}, {"granite-vision", "granite_vision"},
        {"granite4-vision", "granite4_vision"}, {"qwen2_vl", "qwen2_vl"},
        {"gemma3", "gemma3"},
    };
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        char cfg[128];
        snprintf(cfg, sizeof cfg, "{\"model_type\":\"%s\"}", pairs[i][0]);
        char *d = make_dir(cfg);
        vlm_checkpoint ck;
        vlm_error err;
        CHECK(probe(d, &ck, &err) == VLM_OK);
        CHECK_STR(ck.model_type, pairs[i][1]);
        CHECK_STR(ck.base.model_type_raw, pairs[i][0]);
        vlm_checkpoint_free(&ck);
        free(d);
    }
    check_probe_error("{\"eos_token_id\":1}", NULL, VLM_ERR_FORMAT, "config.json", "model_type");
    check_probe_error("{\"model_type\":3}", NULL, VLM_ERR_FORMAT, "config.json", "model_type");
    check_probe_error("{\"model_type\":\"\"}", NULL, VLM_ERR_FORMAT, "config.json", "model_type");
    check_probe_error("[\"model_type\"]", NULL, VLM_ERR_FORMAT, "config.json", "object");
    check_probe_error("{\"model_type\":\"x\",}", NULL, VLM_ERR_FORMAT, "config.json", "line 1");
    check_probe_error("", NULL, VLM_ERR_FORMAT, "config.json", NULL);
    check_probe_error("{\"model_type\":\"x\"", NULL, VLM_ERR_FORMAT, "config.json", NULL);
    /* a missing config.json */
    check_probe_error(NULL, NULL, VLM_ERR_NOT_FOUND, "config.json", NULL);
}

static void test_quantization(void) {
    char *d = make_dir("{\"model_type\":\"qwen2_vl\",\"quantization\":{\"group_size\":64,"
                       "\"bits\":4,\"language_model.lm_head\":{\"group_size\":32,\"bits\":8},"
                       "\"vision_tower.patch_embed\":false,\"mode\":\"affine\"}}");
    vlm_checkpoint ck;
    vlm_error err;
    CHECK(probe(d, &ck, &err) == VLM_OK);
    vlm_quant_config *q = &ck.base.quant;
    CHECK(q->present);
    CHECK_EQ_INT(q->bits, 4);
    CHECK_EQ_INT(q->group_size, 64);
    CHECK_STR(q->mode, "affine");
    CHECK_EQ_INT(q->n_overrides, 2);
    if (q->n_overrides == 2) {
        CHECK_STR(q->overrides[0].module, "language_model.lm_head");
        CHECK(q->overrides[0].quantized);
        CHECK_EQ_INT(q->overrides[0].bits, 8);
        CHECK_EQ_INT(q->overrides[0].group_size, 32);
        CHECK_STR(q->overrides[1].module, "vision_tower.patch_embed");
        CHECK(!q->overrides[1].quantized);
    }
    vlm_checkpoint_free(&ck);
    free(d);

    d = make_dir("{\"model_type\":\"x\"}");
    CHECK(probe(d, &ck, &err) == VLM_OK);
    CHECK(!ck.base.quant.present);
    vlm_checkpoint_free(&ck);
    free(d);

    check_probe_error("{\"model_type\":\"x\",\"quantization\":{\"bits\":\"4\",\"group_size\":64}}",
                      NULL, VLM_ERR_FORMAT, "config.json", "quantization.bits");
    check_probe_error("{\"model_type\":\"x\",\"quantization\":{\"bits\":4}}", NULL, VLM_ERR_FORMAT,
                      "config.json", "group_size");
    check_probe_error("{\"model_type\":\"x\",\"quantization\":[4]}", NULL, VLM_ERR_FORMAT,
                      "config.json", "quantization");
    check_probe_error("{\"model_type\":\"x\",\"quantization\":{\"bits\":4,\"group_size\":64,"
                      "\"m.proj\":3}}",
                      NULL, VLM_ERR_FORMAT, "config.json", "quantization.m.proj");
    check_probe_error("{\"model_type\":\"x\",\"quantization\":{\"bits\":4,\"group_size\":64,"
                      "\"m.proj\":{\"bits\":-4}}}",
                      NULL, VLM_ERR_FORMAT, "config.json", "quantization.m.proj.bits");
}

/* The three processor-config cases of DESIGN.md step 3, plus neither, plus the override. */
static void test_processor_resolution(void) {
    struct {
        const char *model_type, *pre, *proc;
        const char *want_raw, *want_class, *want_file;
        int want_pre, want_proc;
    } cases[] = {
        /* 1: preprocessor_config.json with a class: it wins, both bodies kept */
        {"qwen2_vl", "{\"processor_class\":\"Qwen2VLProcessor\",\"patch_size\":14}",
         "{\"processor_class\":\"Other\"}", "Qwen2VLProcessor", "Qwen2VLProcessor",
         "preprocessor_config.json", 1, 1},
        /* 2: preprocessor without a class: the class comes from processor_config.json */
        {"qwen2_vl", "{\"patch_size\":14}", "{\"processor_class\":\"Qwen2VLProcessor\"}",
         "Qwen2VLProcessor", "Qwen2VLProcessor", "preprocessor_config.json", 1, 1},
        /* 3: only processor_config.json */
        {"qwen2_vl", NULL, "{\"processor_class\":\"Qwen2_5_VLProcessor\"}",
         "Qwen2_5_VLProcessor", "Qwen2_5_VLProcessor", "processor_config.json", 0, 1},
        /* preprocessor only, no class anywhere */
        {"qwen2_vl", "{\"patch_size\":14}", NULL, NULL, NULL, "preprocessor_config.json", 1, 0},
        /* neither file */
        {"qwen2_vl", NULL, NULL, NULL, NULL, NULL, 0, 0},
        /* mistral3 ships PixtralProcessor; the override table forces Mistral3Processor */
        {"mistral3", "{\"processor_class\":\"PixtralProcessor\"}", NULL, "PixtralProcessor",
         "Mistral3Processor", "preprocessor_config.json", 1, 0},
        {"mistral3", NULL, NULL, NULL, "Mistral3Processor", NULL, 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char cfg[128];
        snprintf(cfg, sizeof cfg, "{\"model_type\":\"%s\"}", cases[i].model_type);
        char *d = make_dir(cfg);
        if (cases[i].pre) tu_write_str(d, "preprocessor_config.json", cases[i].pre);
        if (cases[i].proc) tu_write_str(d, "processor_config.json", cases[i].proc);
        vlm_checkpoint ck;
        vlm_error err;
        vlm_status s = probe(d, &ck, &err);
        CHECK_MSG(s == VLM_OK, "case %zu: %s", i, err.message);
        if (cases[i].want_raw) CHECK_STR(ck.processor_class_raw, cases[i].want_raw);
        else CHECK_MSG(ck.processor_class_raw == NULL, "case %zu", i);
        if (cases[i].want_class) CHECK_STR(ck.processor_class, cases[i].want_class);
        else CHECK_MSG(ck.processor_class == NULL, "case %zu", i);
        if (cases[i].want_file) CHECK_STR(ck.processor_config_file, cases[i].want_file);
        else CHECK_MSG(ck.processor_config_file == NULL, "case %zu", i);
        CHECK_EQ_INT(ck.preprocessor != NULL, cases[i].want_pre);
        CHECK_EQ_INT(ck.processor != NULL, cases[i].want_proc);
        if (cases[i].want_pre) {
            int64_t ps = 0;
            if (cases[i].pre && strstr(cases[i].pre, "patch_size"))
                CHECK(vlm_json_int(vlm_json_get(ck.preprocessor, "patch_size"), &ps) && ps == 14);
        }
        vlm_checkpoint_free(&ck);
        free(d);
    }
    /* malformed processor configs name their file */
    char *d = make_dir("{\"model_type\":\"x\"}");
    tu_write_str(d, "preprocessor_config.json", "{\"processor_class\":7}");
    vlm_checkpoint ck;
    vlm_error err;
    CHECK(probe(d, &ck, &err) == VLM_ERR_FORMAT);
    CHECK_CONTAINS(err.message, "preprocessor_config.json");
    CHECK_CONTAINS(err.message, "processor_class");
    vlm_checkpoint_free(&ck);
    free(d);
    d = make_dir("{\"model_type\":\"x\"}");
    tu_write_str(d, "processor_config.json", "{\"processor_class\":");
    CHECK(probe(d, &ck, &err) == VLM_ERR_FORMAT);
    CHECK_CONTAINS(err.message, "processor_config.json");
    vlm_checkpoint_free(&ck);
    free(d);
}

/* ---------------------------------------------------------------- registries and ordering */

typedef struct ctor_log {
    int model_calls, processor_calls, order_ok, saw_weights, fail_model;
    void *user_seen;
} ctor_log;

static void free_impl(void *p) {
    free(p);
}

static vlm_status test_model_ctor(vlm_model *m, void *user, vlm_error *err) {
    ctor_log *log = user;
    log->model_calls++;
    log->user_seen = user;
    /* constructors run after the weights are open */
    log->saw_weights = m->weights && vlm_st_find(m->weights, "w") != NULL;
    vlm_model_set_impl(m, malloc(64), free_impl); /* freed by vlm_model_free, also on failure */
    if (log->fail_model) {
        snprintf(err->message, sizeof err->message, "test ctor refuses");
        err->status = VLM_ERR_FORMAT;
        return VLM_ERR_FORMAT;
    }
    return VLM_OK;
}

static vlm_status test_processor_ctor(vlm_model *m, void *user, vlm_error *err) {
    ctor_log *log = user;
    log->processor_calls++;
    log->order_ok = log->model_calls == 1 && vlm_model_impl(m) != NULL;
    vlm_model_set_processor_impl(m, malloc(32), free_impl);
    return VLM_OK;
}

static void test_registry_and_load(void) {
    ctor_log log = {0};
    vlm_error err;
    const char *cfg = "{\"model_type\":\"test-vlm\",\"eos_token_id\":[3,4]}";

    /* not registered: fails UNSUPPORTED before any tokenizer or weight I/O — the weights
     * and tokenizer here are garbage, and their errors must not be what comes back */
    char *d = make_dir(cfg);
    tu_write_str(d, "preprocessor_config.json", "{\"processor_class\":\"TestProcessor\"}");
    tu_write_str(d, "model.safetensors", "garbage");
    tu_write_str(d, "tokenizer.json", "{garbage");
    vlm_model *m = (vlm_model *)0x1;
    vlm_status s = vlm_model_load(d, NULL, &m, &err);
    CHECK_EQ_INT(s, VLM_ERR_UNSUPPORTED);
    CHECK(m == NULL);
    CHECK_CONTAINS(err.message, "config.json");
    CHECK_CONTAINS(err.message, "test-vlm");

    /* model registered, processor not: still before weight I/O, names the processor file */
    CHECK(vlm_register_model_type("test-vlm", test_model_ctor, &log, &err) == VLM_OK);
    s = vlm_model_load(d, NULL, &m, &err);
    CHECK_EQ_INT(s, VLM_ERR_UNSUPPORTED);
    CHECK_CONTAINS(err.message, "preprocessor_config.json");
    CHECK_CONTAINS(err.message, "TestProcessor");
    CHECK_EQ_INT(log.model_calls, 0);

    /* both registered: now the garbage weights are reached and named */
    CHECK(vlm_register_processor_class("TestProcessor", test_processor_ctor, &log, &err) == VLM_OK);
    s = vlm_model_load(d, NULL, &m, &err);
    CHECK_EQ_INT(s, VLM_ERR_FORMAT);
    CHECK_CONTAINS(err.message, "model.safetensors");
    CHECK_EQ_INT(log.model_calls, 0);

    /* a good checkpoint: constructors run in order, after the weights */
    char *g = make_dir(cfg);
    tu_write_str(g, "preprocessor_config.json", "{\"processor_class\":\"TestProcessor\"}");
    tu_write_tiny_safetensors(g, "model.safetensors");
    tu_write_str(g, "generation_config.json", "{\"eos_token_id\":9}");
    tu_write_str(g, "tokenizer.json", TINY_TOKENIZER);
    s = vlm_model_load(g, NULL, &m, &err);
    CHECK_MSG(s == VLM_OK, "%s", err.message);
    CHECK_EQ_INT(log.model_calls, 1);
    CHECK_EQ_INT(log.processor_calls, 1);
    CHECK(log.order_ok);
    CHECK(log.saw_weights);
    CHECK(log.user_seen == &log);
    if (m) {
        CHECK_STR(vlm_model_type(m), "test-vlm");
        CHECK_STR(vlm_model_processor_class(m), "TestProcessor");
        size_t n = 0;
        const int64_t *eos = vlm_model_eos_token_ids(m, &n);
        CHECK(n == 1 && eos && eos[0] == 9);
        CHECK_CONTAINS(vlm_model_config_json(m), "\"test-vlm\"");
        CHECK_STR(vlm_model_path(m), g);
        CHECK_STR(m->tokenizer_dir, g);
        CHECK(vlm_model_impl(m) != NULL && vlm_model_processor_impl(m) != NULL);
        CHECK(m->tokenizer != NULL);     /* built once at load */
        CHECK(m->chat_template == NULL); /* none in this checkpoint: a warning, not an error */
    }
    vlm_model_free(m);

    /* a constructor's failure propagates and what it attached is freed (ASan checks) */
    log = (ctor_log){0};
    log.fail_model = 1;
    s = vlm_model_load(g, NULL, &m, &err);
    CHECK_EQ_INT(s, VLM_ERR_FORMAT);
    CHECK_CONTAINS(err.message, "test ctor refuses");
    CHECK(m == NULL);
    CHECK_EQ_INT(log.processor_calls, 0);

    /* re-registration replaces the entry (new user pointer seen) */
    ctor_log log2 = {0};
    CHECK(vlm_register_model_type("test-vlm", test_model_ctor, &log2, &err) == VLM_OK);
    s = vlm_model_load(g, NULL, &m, &err);
    CHECK_MSG(s == VLM_OK, "%s", err.message);
    CHECK_EQ_INT(log2.model_calls, 1);
    vlm_model_free(m);

    /* tokenizer directory override: honoured, and a missing one is named */
    vlm_model_params p = vlm_model_params_default();
    char *tokdir = make_dir(NULL);
    tu_write_str(tokdir, "tokenizer.json", TINY_TOKENIZER);
    p.tokenizer_dir = tokdir;
    log2 = (ctor_log){0};
    s = vlm_model_load(g, &p, &m, &err);
    CHECK_MSG(s == VLM_OK, "%s", err.message);
    if (m) CHECK_STR(m->tokenizer_dir, tokdir);
    vlm_model_free(m);
    p.tokenizer_dir = "/nonexistent/vlm-tokenizer";
    s = vlm_model_load(g, &p, &m, &err);
    CHECK_EQ_INT(s, VLM_ERR_NOT_FOUND);
    CHECK_CONTAINS(err.message, "/nonexistent/vlm-tokenizer");

    /* header-only load: no constructors, weights known without data */
    p = vlm_model_params_default();
    p.load_tensors = 0;
    log2 = (ctor_log){0};
    s = vlm_model_load(g, &p, &m, &err);
    CHECK_MSG(s == VLM_OK, "%s", err.message);
    CHECK_EQ_INT(log2.model_calls, 0);
    if (m) {
        const vlm_st_tensor *t = vlm_st_find(m->weights, "w");
        CHECK(t && t->data == NULL && t->nbytes == 16);
    }
    vlm_model_free(m);

    /* a shard index naming a missing file fails naming it */
    char *sh = make_dir(cfg);
    tu_write_str(sh, "preprocessor_config.json", "{\"processor_class\":\"TestProcessor\"}");
    tu_write_str(sh, "model.safetensors.index.json",
                 "{\"metadata\":{},\"weight_map\":{\"w\":\"model-00001-of-00002.safetensors\"}}");
    s = vlm_model_load(sh, NULL, &m, &err);
    CHECK(s != VLM_OK);
    CHECK_CONTAINS(err.message, "model-00001-of-00002.safetensors");

    /* registration argument checks */
    CHECK_EQ_INT(vlm_register_model_type(NULL, test_model_ctor, NULL, &err), VLM_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(vlm_register_model_type("x", NULL, NULL, &err), VLM_ERR_INVALID_ARGUMENT);
    char longname[300];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    CHECK_EQ_INT(vlm_register_processor_class(longname, test_processor_ctor, NULL, &err),
                 VLM_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(vlm_model_load(g, NULL, NULL, &err), VLM_ERR_INVALID_ARGUMENT);
    free(d);
    free(g);
    free(sh);
    free(tokdir);
}

/* ---------------------------------------------------------------- hostile files */

static void on_alarm(int sig) {
    (void)sig;
    static const char msg[] = "test_factory: a load blocked on a FIFO (timeout)\n";
    ssize_t r = write(2, msg, sizeof msg - 1);
    (void)r;
    _exit(1);
}

static void test_hostile_files(void) {
    vlm_error err;
    vlm_model *m;
    vlm_checkpoint ck;

    /* config.json is a FIFO with no writer: must return at once, not block */
    char *d = make_dir(NULL);
    char *fifo = tu_join(d, "config.json");
    CHECK(mkfifo(fifo, 0644) == 0);
    signal(SIGALRM, on_alarm);
    alarm(10);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    vlm_status s = vlm_model_load(d, NULL, &m, &err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    alarm(0);
    CHECK_EQ_INT(s, VLM_ERR_IO);
    CHECK_CONTAINS(err.message, "config.json");
    CHECK_CONTAINS(err.message, "FIFO");
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
    CHECK_MSG(secs < 1.0, "FIFO load took %.3f s", secs);
    free(fifo);
    free(d);

    /* a FIFO as generation_config.json or preprocessor_config.json, likewise */
    const char *names[] = {"generation_config.json", "preprocessor_config.json",
                           "processor_config.json"};
    for (int i = 0; i < 3; i++) {
        d = make_dir("{\"model_type\":\"x\"}");
        fifo = tu_join(d, names[i]);
        CHECK(mkfifo(fifo, 0644) == 0);
        alarm(10);
        s = probe(d, &ck, &err);
        alarm(0);
        CHECK_EQ_INT(s, VLM_ERR_IO);
        CHECK_CONTAINS(err.message, names[i]);
        vlm_checkpoint_free(&ck);
        free(fifo);
        free(d);
    }

    /* oversized config.json (sparse, 17 MiB > the 16 MiB cap): refused without reading */
    d = make_dir(NULL);
    char *big = tu_join(d, "config.json");
    int fd = open(big, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0 && ftruncate(fd, 17 << 20) == 0);
    close(fd);
    s = vlm_model_load(d, NULL, &m, &err);
    CHECK_EQ_INT(s, VLM_ERR_LIMIT);
    CHECK_CONTAINS(err.message, "config.json");
    free(big);
    free(d);

    /* config.json is a directory */
    d = make_dir(NULL);
    char *sub = tu_join(d, "config.json");
    mkdir(sub, 0755);
    s = vlm_model_load(d, NULL, &m, &err);
    CHECK_EQ_INT(s, VLM_ERR_IO);
    CHECK_CONTAINS(err.message, "config.json");
    free(sub);
    free(d);

    /* the model path is missing, or a file */
    s = vlm_model_load("/nonexistent/vlm-model", NULL, &m, &err);
    CHECK_EQ_INT(s, VLM_ERR_NOT_FOUND);
    CHECK_CONTAINS(err.message, "/nonexistent/vlm-model");
    d = make_dir("{\"model_type\":\"x\"}");
    char *cfgpath = tu_join(d, "config.json");
    s = vlm_model_load(cfgpath, NULL, &m, &err);
    CHECK_EQ_INT(s, VLM_ERR_IO);
    free(cfgpath);
    free(d);
    CHECK_EQ_INT(vlm_model_load(NULL, NULL, &m, &err), VLM_ERR_INVALID_ARGUMENT);
    /* a NULL error pointer is allowed */
    CHECK_EQ_INT(vlm_model_load("/nonexistent/vlm-model", NULL, &m, NULL), VLM_ERR_NOT_FOUND);
}

static void test_misc_api(void) {
    CHECK_STR(vlm_status_str(VLM_OK), "ok");
    CHECK_STR(vlm_status_str(VLM_ERR_IO), "i/o error");
    CHECK_STR(vlm_status_str((vlm_status)999), "unknown status");
    CHECK_STR(vlm_version(), VLM_VERSION_STRING);
    CHECK_STR(vlm_log_level_str(VLM_LOG_WARN), "warn");
    vlm_model_free(NULL);
    CHECK(vlm_model_type(NULL) == NULL);
    vlm_model_params p = vlm_model_params_default();
    CHECK(p.log_fn == NULL && p.load_tensors == 1 && p.log_level == VLM_LOG_INFO);
}

/* Logging goes to the callback given per model, with its user pointer. */
typedef struct log_sink {
    int count;
    char last[512];
} log_sink;

static void sink_fn(vlm_log_level level, const char *msg, void *user) {
    log_sink *s = user;
    s->count++;
    snprintf(s->last, sizeof s->last, "%s:%s", vlm_log_level_str(level), msg);
}

static void test_logging(void) {
    log_sink sink = {0};
    vlm_model_params p = vlm_model_params_default();
    p.log_fn = sink_fn;
    p.log_user = &sink;
    vlm_model *m;
    vlm_error err;
    vlm_status s = vlm_model_load("/nonexistent/vlm-log", &p, &m, &err);
    CHECK(s != VLM_OK);
    CHECK_EQ_INT(sink.count, 1);
    CHECK_CONTAINS(sink.last, "error:");
    CHECK_CONTAINS(sink.last, "/nonexistent/vlm-log");
    /* a threshold above ERROR's drops it */
    sink.count = 0;
    p.log_level = (vlm_log_level)(VLM_LOG_ERROR + 1);
    vlm_model_load("/nonexistent/vlm-log", &p, &m, &err);
    CHECK_EQ_INT(sink.count, 0);
}

int main(void) {
    g_root = tu_mkdtemp();
    if (!g_root) SKIP("cannot create a temp dir");
    test_misc_api();
    test_eos_rules();
    test_model_type_and_config_errors();
    test_quantization();
    test_processor_resolution();
    test_registry_and_load();
    test_hostile_files();
    test_logging();
    tu_rm_rf(g_root);
    free(g_root);
    TEST_DONE();
}
