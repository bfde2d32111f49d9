/* The Qwen processor settings read from checkpoint directories: the committed checkpoints
 * (Hub preprocessor_config.json, transformers-5 processor_config.json, mlx) give the values
 * their files hold, the video processor falls back through transformers' file order, the
 * video file's sampling switches turn into a sampling mode, and wrong types are errors that
 * name the file and the field. */
#include <sys/stat.h>

#include "media/qwen_processor_config.h"
#include "video_test_util.h"

static const char *ck(const char *name) {
    static char buf[4096];
    snprintf(buf, sizeof buf, "%s/tests/fixtures/checkpoints/%s", vlm_test_source_dir(), name);
    return buf;
}

static void write_in(const char *dir, const char *name, const char *text) {
    char p[4200];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    CHECK(write_file(p, text, strlen(text)) == 0);
}

static void rm_in(const char *dir, const char *name) {
    char p[4200];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    unlink(p);
}

int main(void) {
    vlm_qwen_processor_config c;
    vlm_error err = {0};

    /* Hub Qwen2-VL: preprocessor_config.json serves the image and (fallback) video processor. */
    CHECK(vlm_qwen_processor_config_load(ck("qwen2_vl_hub"), "qwen2_vl", &c, &err) == VLM_OK);
    CHECK_EQ_INT(c.image.min_pixels, 3136);
    CHECK_EQ_INT(c.image.max_pixels, 12845056);
    CHECK_EQ_INT(c.video.min_pixels, 3136);
    CHECK_EQ_INT(c.video.max_pixels, 12845056);
    CHECK_EQ_INT(c.image.patch_size, 14);
    CHECK_EQ_INT(c.video.temporal_patch_size, 2);
    CHECK(c.sampling.mode == VLM_VIDEO_SAMPLE_ALL);
    CHECK(!c.second_per_grid_ts);
    CHECK_STR(c.video_source, "preprocessor_config.json");
    CHECK(c.image.norm.mean[0] == 0.48145466 && c.image.norm.std[2] == 0.27577711);

    /* transformers-5 layout: the nested image_processor; no video_processor -> class defaults. */
    CHECK(vlm_qwen_processor_config_load(ck("qwen2_5_vl_t5_sharded"), "qwen2_5_vl", &c, &err) ==
          VLM_OK);
    CHECK_EQ_INT(c.image.max_pixels, 12845056);
    CHECK_EQ_INT(c.video.min_pixels, 128 * 28 * 28);
    CHECK_EQ_INT(c.video.max_pixels, 28 * 28 * 768);
    CHECK(c.second_per_grid_ts);
    CHECK_STR(c.image_source, "processor_config.json");
    CHECK_STR(c.video_source, "");

    /* mlx: a preprocessor_config.json without pixel limits -> the classes' defaults. */
    CHECK(vlm_qwen_processor_config_load(ck("qwen2_5_vl_mlx_4bit"), NULL, &c, &err) == VLM_OK);
    CHECK_EQ_INT(c.image.min_pixels, 56 * 56);
    CHECK_EQ_INT(c.image.max_pixels, 28 * 28 * 1280);
    CHECK(c.second_per_grid_ts); /* from processor_class Qwen2_5_VLProcessor */

    char *dir = make_temp_dir();
    CHECK(dir != NULL);
    if (!dir) TEST_DONE();
    /* A video config takes precedence for videos; size then min/max_pixels override. */
    write_in(dir, "preprocessor_config.json", "{\"min_pixels\": 1000, \"max_pixels\": 200000}");
    write_in(dir, "video_preprocessor_config.json",
             "{\"size\": {\"shortest_edge\": 4096, \"longest_edge\": 50000}, \"max_pixels\": 60000,"
             " \"do_sample_frames\": true, \"fps\": 1.5, \"min_frames\": 2, \"max_frames\": 32,"
             " \"temporal_patch_size\": 4, \"resample\": 2, \"image_mean\": 0.5}");
    CHECK_MSG(vlm_qwen_processor_config_load(dir, "qwen2_vl", &c, &err) == VLM_OK, "%s",
              err.message);
    CHECK_EQ_INT(c.image.min_pixels, 1000);
    CHECK_EQ_INT(c.video.min_pixels, 4096);
    CHECK_EQ_INT(c.video.max_pixels, 60000);
    CHECK(c.sampling.mode == VLM_VIDEO_SAMPLE_FPS && c.sampling.fps == 1.5);
    CHECK_EQ_INT(c.sampling.min_frames, 2);
    CHECK_EQ_INT(c.sampling.max_frames, 32);
    CHECK_EQ_INT(c.sampling.temporal_patch_size, 4);
    CHECK(c.video.resample == VLM_RESAMPLE_BILINEAR);
    CHECK(c.video.norm.mean[1] == 0.5);
    write_in(dir, "video_preprocessor_config.json",
             "{\"do_sample_frames\": true, \"num_frames\": 8}");
    CHECK(vlm_qwen_processor_config_load(dir, "qwen2_vl", &c, &err) == VLM_OK);
    CHECK(c.sampling.mode == VLM_VIDEO_SAMPLE_COUNT && c.sampling.num_frames == 8);
    write_in(dir, "video_preprocessor_config.json", "{\"do_sample_frames\": false, \"fps\": 2}");
    CHECK(vlm_qwen_processor_config_load(dir, "qwen2_vl", &c, &err) == VLM_OK);
    CHECK(c.sampling.mode == VLM_VIDEO_SAMPLE_ALL);

    /* Wrong types and values name the file and the field. */
    static const struct {
        const char *json, *needle;
    } bad[] = {
        {"{\"max_pixels\": \"big\"}", "'max_pixels' must be an integer"},
        {"{\"patch_size\": 0}", "'patch_size' is 0"},
        {"{\"image_mean\": [0.5, 0.5]}", "'image_mean'"},
        {"{\"image_std\": [0.5, 0, 0.5]}", "'image_std' has an invalid value"},
        {"{\"do_sample_frames\": 1}", "'do_sample_frames' must be true or false"},
        {"{\"fps\": -2}", "'fps' must be positive"},
        {"{\"resample\": 9}", "'resample'"},
        {"{\"size\": [1, 2]}", "'size' must be an object"},
        {"{\"min_pixels\": 5000, \"max_pixels\": 100}", "larger than max_pixels"},
        {"[1, 2]", "must be a JSON object"},
        {"{\"min_pixels\": ", "video_preprocessor_config.json"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_in(dir, "video_preprocessor_config.json", bad[i].json);
        memset(&err, 0, sizeof err);
        vlm_status s = vlm_qwen_processor_config_load(dir, "qwen2_vl", &c, &err);
        CHECK_MSG(s == VLM_ERR_FORMAT, "case %zu: status %d", i, (int)s);
        CHECK_CONTAINS(err.message, bad[i].needle);
        CHECK_CONTAINS(err.message, "video_preprocessor_config.json");
    }
    rm_in(dir, "video_preprocessor_config.json");
    rm_in(dir, "preprocessor_config.json");
    /* No config at all: class defaults. */
    CHECK(vlm_qwen_processor_config_load(dir, "qwen2_vl", &c, &err) == VLM_OK);
    CHECK_EQ_INT(c.video.min_pixels, 128 * 28 * 28);
    rm_rf(dir);
    free(dir);
    TEST_DONE();
}
