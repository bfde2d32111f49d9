/* Qwen2-VL on bad input: a checkpoint missing a tensor or holding one of the wrong shape,
 * an inconsistent config, an unreadable image, a prompt longer than the context, a
 * template that emits no image placeholder for an image. Every case is a clear error that
 * names the file, tensor or limit; nothing crashes or leaks (run under ASan). The
 * checkpoints are copies of the transformers-made fixture with one thing broken. */
#include <sys/stat.h>
#include <unistd.h>

#include "fs_util.h"
#include "test.h"
#include "vlm.h"
#include "weights/safetensors.h"
#include "weights/safetensors_write.h"

static char g_src[1024];

/* Copies the fixture's small files into dir, and its weights with `drop` left out and
 * `reshape` written with its first dimension halved. */
static void make_variant(const char *dir, const char *drop, const char *reshape) {
    mkdir(dir, 0755);
    const char *files[] = {"config.json", "preprocessor_config.json", "tokenizer.json",
                           "tokenizer_config.json", "chat_template.json", "generation_config.json"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char *s = tu_join(g_src, files[i]), *d = tu_join(dir, files[i]);
        FILE *in = fopen(s, "rb"), *out = in ? fopen(d, "wb") : NULL;
        char buf[65536];
        size_t n;
        while (in && out && (n = fread(buf, 1, sizeof buf, in)) > 0) fwrite(buf, 1, n, out);
        if (in) fclose(in);
        if (out) fclose(out);
        free(s);
        free(d);
    }
    vlm_st_set *set;
    vlm_error err;
    CHECK(vlm_st_open_dir(g_src, 0, &set, &err) == VLM_OK);
    char *out = tu_join(dir, "model.safetensors");
    vlm_st_writer *w;
    CHECK(vlm_st_writer_init(&w, out, &err) == VLM_OK);
    for (size_t i = 0; i < vlm_st_count(set); i++) {
        const vlm_st_tensor *t = vlm_st_at(set, i);
        if (drop && !strcmp(t->name, drop)) continue;
        int64_t shape[VLM_ST_MAX_DIMS];
        memcpy(shape, t->shape, sizeof shape);
        uint64_t nbytes = t->nbytes;
        if (reshape && !strcmp(t->name, reshape)) {
            shape[0] /= 2;
            nbytes /= 2;
        }
        CHECK(vlm_st_writer_add(w, t->name, t->dtype, t->ndim, shape, t->data, nbytes, &err) == VLM_OK);
    }
    CHECK(vlm_st_writer_write(w, &err) == VLM_OK);
    vlm_st_writer_free(w);
    vlm_st_close(set);
    free(out);
}

static void expect_load_error(const char *dir, vlm_status want, const char *needle) {
    vlm_model *m = NULL;
    vlm_error err;
    vlm_status s = vlm_model_load(dir, NULL, &m, &err);
    CHECK_MSG(s == want, "%s: got %s (%s)", dir, vlm_status_str(s), err.message);
    CHECK(m == NULL);
    if (s != VLM_OK) CHECK_CONTAINS(err.message, needle);
    vlm_model_free(m);
}

int main(void) {
    snprintf(g_src, sizeof g_src, "%s/tests/fixtures/qwen2_vl_model/qwen2_5_vl/hub",
             vlm_test_source_dir());
    if (access(g_src, R_OK) != 0) SKIP("%s missing", g_src);
    char *root = tu_mkdtemp();

    /* a missing tensor, a tensor of the wrong shape */
    char *d1 = tu_join(root, "missing");
    make_variant(d1, "model.layers.1.mlp.down_proj.weight", NULL);
    expect_load_error(d1, VLM_ERR_NOT_FOUND, "model.layers.1.mlp.down_proj.weight");
    char *d2 = tu_join(root, "shape");
    make_variant(d2, NULL, "visual.blocks.0.attn.qkv.weight");
    expect_load_error(d2, VLM_ERR_FORMAT, "visual.blocks.0.attn.qkv.weight");

    /* a config whose numbers do not fit together: mrope sections, heads */
    char *d3 = tu_join(root, "config");
    make_variant(d3, NULL, NULL);
    char *cfg = tu_join(d3, "config.json");
    char *text = NULL;
    FILE *f = fopen(cfg, "rb");
    if (f) {
        fseek(f, 0, SEEK_END);
        long n = ftell(f);
        fseek(f, 0, SEEK_SET);
        text = calloc(1, (size_t)n + 1);
        CHECK(fread(text, 1, (size_t)n, f) == (size_t)n);
        fclose(f);
    }
    char *sec = text ? strstr(text, "\"mrope_section\"") : NULL;
    CHECK(sec != NULL);
    if (sec) {
        char *digit = strpbrk(sec, "0123456789");
        if (digit) *digit = '9'; /* [2, 3, 3] -> [9, 3, 3] */
        tu_write_str(d3, "config.json", text);
        expect_load_error(d3, VLM_ERR_FORMAT, "mrope_section");
    }
    free(text);
    free(cfg);

    /* the good checkpoint: generation errors */
    vlm_model *m;
    vlm_error err;
    CHECK(vlm_model_load(g_src, NULL, &m, &err) == VLM_OK);
    vlm_session *s;
    vlm_session_params sp = vlm_session_params_default();
    sp.context_size = 40; /* the image prompt needs 54 positions */
    CHECK(vlm_session_init(m, &sp, &s, &err) == VLM_OK);
    vlm_request *r;
    vlm_generate_params gp = vlm_generate_params_default();
    gp.max_tokens = 4;

    /* unreadable images: missing, not an image, truncated */
    char *junk = tu_join(root, "junk.png");
    tu_write_str(root, "junk.png", "\x89PNG\r\n\x1a\n this is not a png");
    const char *bad_images[] = {"/nonexistent/picture.jpg", junk};
    for (int i = 0; i < 2; i++) {
        vlm_request_init(&r, &err);
        vlm_request_add_image_file(r, bad_images[i], &err);
        vlm_request_add_text(r, "What is this?", &err);
        vlm_status st = vlm_session_generate(s, r, &gp, NULL, NULL, NULL, &err);
        CHECK(st != VLM_OK);
        CHECK_CONTAINS(err.message, bad_images[i]);
        vlm_request_free(r);
    }
    /* a prompt longer than the context */
    char img[1200];
    snprintf(img, sizeof img, "%s/tests/fixtures/qwen2_vl_model/media/img_150x130.png",
             vlm_test_source_dir());
    vlm_request_init(&r, &err);
    vlm_request_add_image_file(r, img, &err);
    vlm_request_add_text(r, "What is in the picture?", &err);
    CHECK_EQ_INT(vlm_session_generate(s, r, &gp, NULL, NULL, NULL, &err), VLM_ERR_LIMIT);
    CHECK_CONTAINS(err.message, "context");
    vlm_request_free(r);
    /* the session still works after the failures (text fits) */
    vlm_request_init(&r, &err);
    vlm_request_add_text(r, "Hi", &err);
    vlm_generate_result res;
    vlm_session_clear(s);
    CHECK_MSG(vlm_session_generate(s, r, &gp, NULL, NULL, &res, &err) == VLM_OK, "%s", err.message);
    vlm_generate_result_free(&res);
    vlm_request_free(r);
    /* invalid parameters */
    vlm_request_init(&r, &err);
    vlm_request_add_text(r, "Hi", &err);
    gp.top_p = 2;
    CHECK_EQ_INT(vlm_session_generate(s, r, &gp, NULL, NULL, NULL, &err), VLM_ERR_INVALID_ARGUMENT);
    gp.top_p = 1;
    gp.fps = 2; /* fps and num_frames both set */
    gp.num_frames = 4;
    CHECK_EQ_INT(vlm_session_generate(s, r, &gp, NULL, NULL, NULL, &err), VLM_ERR_INVALID_ARGUMENT);
    CHECK_CONTAINS(err.message, "exclude");
    gp.fps = 0;
    gp.num_frames = -2;
    CHECK_EQ_INT(vlm_session_generate(s, r, &gp, NULL, NULL, NULL, &err), VLM_ERR_INVALID_ARGUMENT);
    CHECK_CONTAINS(err.message, "num_frames");
    vlm_request_free(r);
    CHECK_EQ_INT(vlm_request_add_image_rgb(NULL, NULL, 0, 0, 0, &err), VLM_ERR_INVALID_ARGUMENT);

    vlm_session_free(s);
    vlm_model_free(m);
    free(junk);
    tu_rm_rf(root);
    free(root);
    free(d1);
    free(d2);
    free(d3);
    TEST_DONE();
}
