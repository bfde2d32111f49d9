/* `vlm preprocess --model DIR --prompt TEXT [--image P]... [--video P]... --out FILE`:
 * writes to FILE.safetensors the pixel tensors a Qwen2-VL / Qwen2.5-VL model is given, under
 * transformers' names: pixel_values [rows, C*T*p*p] F32 and image_grid_thw [n_images, 3] I64
 * for the images, pixel_values_videos and video_grid_thw for the videos, and, for
 * Qwen2.5-VL, second_per_grid_ts [n_videos] F32 (temporal_patch_size / sampled fps). The
 * processor settings come from DIR's configs (media/qwen_processor_config.h); video frames
 * are sampled as the checkpoint's video processor says unless --fps / --num-frames /
 * --all-frames say otherwise. The prompt is recorded in the file's metadata; input_ids and
 * position ids will join once the Qwen model's tokenizer and template path exists.
 * Bad input: exit 1 and one line on stderr naming the file and what is wrong. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libavutil/log.h>

#include "commands.h"
#include "core/alloc.h"
#include "core/error.h"
#include "media/image.h"
#include "media/qwen_processor_config.h"
#include "media/qwen_vision.h"
#include "media/video.h"
#include "models/checkpoint.h"
#include "weights/safetensors_write.h"

#define MAX_INPUTS 64

static void usage(FILE *f) {
    fprintf(f,
            "usage: vlm preprocess --model DIR --prompt TEXT [--image PATH]... [--video PATH]...\n"
            "                      --out FILE.safetensors [options]\n"
            "\n"
            "Writes the pixel tensors transformers' Qwen2-VL/Qwen2.5-VL processor would give\n"
            "the model (pixel_values, image_grid_thw, pixel_values_videos, video_grid_thw,\n"
            "second_per_grid_ts) to a safetensors file.\n"
            "\n"
            "options:\n"
            "  --fps F           sample video frames at F per second (do_sample_frames, fps=F)\n"
            "  --num-frames N    sample N video frames (do_sample_frames, num_frames=N)\n"
            "  --all-frames      use every video frame (do_sample_frames=False)\n"
            "  --max-frames N    refuse videos that would give more than N frames (768)\n"
            "  --threads N       decoder and resize threads (0: automatic)\n"
            "  --verbose         let FFmpeg print its own warnings\n");
}

/* A growing float32 [rows, cols] matrix the per-input results are appended to. */
typedef struct rows_buf {
    float *data;
    int64_t rows, cols;
    int64_t *grid; /* [n][3] */
    int64_t n;
} rows_buf;

static int rows_append(rows_buf *b, const float *pv, int64_t rows, int64_t cols,
                       const int64_t grid[3]) {
    if (b->rows && cols != b->cols) return -1;
    float *d = vlm_realloc_array(b->data, (size_t)(b->rows + rows) * (size_t)cols, sizeof *d);
    if (!d) return -1;
    b->data = d;
    memcpy(d + (size_t)b->rows * (size_t)cols, pv, (size_t)rows * (size_t)cols * sizeof *d);
    int64_t *g = vlm_realloc_array(b->grid, (size_t)(b->n + 1) * 3, sizeof *g);
    if (!g) return -1;
    b->grid = g;
    memcpy(g + b->n * 3, grid, 3 * sizeof *g);
    b->rows += rows;
    b->cols = cols;
    b->n++;
    return 0;
}

static void rows_free(rows_buf *b) {
    free(b->data);
    free(b->grid);
    memset(b, 0, sizeof *b);
}

static int fail(const vlm_error *err) {
    fprintf(stderr, "vlm preprocess: %s\n", err->message);
    return 1;
}

static int parse_int(const char *s, long long lo, long long hi, long long *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

/* One image: decode, then the Qwen image processor. */
static vlm_status do_image(const char *path, const vlm_qwen_vision_params *vp, rows_buf *out,
                           vlm_error *err) {
    vlm_image img;
    vlm_status s = vlm_image_decode_file(path, NULL, &img, NULL, err);
    if (s != VLM_OK) return s;
    float *pv = NULL;
    int64_t rows = 0, grid[3];
    s = vlm_qwen_preprocess(&img, 1, vp, &pv, &rows, grid, err);
    vlm_image_free(&img);
    if (s != VLM_OK) {
        vlm_err_prefix(err, "%s", path);
        return s;
    }
    int64_t cols = 3 * (int64_t)vp->temporal_patch_size * vp->patch_size * vp->patch_size;
    int r = rows_append(out, pv, rows, cols, grid);
    free(pv);
    if (r) return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    return VLM_OK;
}

/* One video: decode the sampled frames, then the Qwen video processor. */
static vlm_status do_video(const char *path, const vlm_qwen_processor_config *cfg,
                           const vlm_video_limits *lim, int threads, rows_buf *out,
                           float *second_per_grid, vlm_error *err) {
    vlm_video_params vp = vlm_video_params_default();
    vp.sampling = cfg->sampling;
    vp.limits = *lim;
    vp.threads = threads;
    vlm_video v;
    vlm_status s = vlm_video_decode_file(path, &vp, &v, err);
    if (s != VLM_OK) return s;
    vlm_image *frames = vlm_calloc_array((size_t)v.n_frames, sizeof *frames);
    if (!frames) {
        vlm_video_free(&v);
        return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    }
    size_t frame_bytes = (size_t)v.width * (size_t)v.height * 3;
    for (int64_t i = 0; i < v.n_frames; i++)
        frames[i] =
            (vlm_image){v.width, v.height, (size_t)v.width * 3, v.rgb + (size_t)i * frame_bytes};
    float *pv = NULL;
    int64_t rows = 0, grid[3];
    s = vlm_qwen_preprocess(frames, (int)v.n_frames, &cfg->video, &pv, &rows, grid, err);
    free(frames);
    if (s != VLM_OK) {
        vlm_err_prefix(err, "%s", path);
        vlm_video_free(&v);
        return s;
    }
    *second_per_grid = (float)((double)cfg->video.temporal_patch_size / vlm_video_sampled_fps(&v));
    fprintf(stderr,
            "%s: %s %s %dx%d, %lld frames at %.4f fps; %lld sampled -> grid %lldx%lldx%lld\n", path,
            v.info.container, v.info.codec, v.width, v.height, (long long)v.info.total_frames,
            v.info.fps, (long long)v.n_frames, (long long)grid[0], (long long)grid[1],
            (long long)grid[2]);
    vlm_video_free(&v);
    int64_t cols =
        3 * (int64_t)cfg->video.temporal_patch_size * cfg->video.patch_size * cfg->video.patch_size;
    int r = rows_append(out, pv, rows, cols, grid);
    free(pv);
    if (r) return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    return VLM_OK;
}

static void print_tensor(const char *name, const char *dtype, int64_t a, int64_t b, int ndim) {
    if (ndim == 1)
        printf("%s %s [%lld]\n", name, dtype, (long long)a);
    else
        printf("%s %s [%lld, %lld]\n", name, dtype, (long long)a, (long long)b);
}

int vlm_cmd_preprocess(int argc, char **argv) {
    const char *model = NULL, *prompt = NULL, *out_path = NULL;
    const char *images[MAX_INPUTS], *videos[MAX_INPUTS];
    int n_images = 0, n_videos = 0, threads = 0, verbose = 0;
    double fps = 0;
    long long num_frames = -1, max_frames = 768;
    int all_frames = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        long long n;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--verbose")) {
            verbose = 1;
            continue;
        } else if (!strcmp(a, "--all-frames")) {
            all_frames = 1;
            continue;
        }
        if (!val) {
            fprintf(stderr, "vlm preprocess: %s needs a value\n", a);
            usage(stderr);
            return 2;
        }
        i++;
        if (!strcmp(a, "--model"))
            model = val;
        else if (!strcmp(a, "--prompt"))
            prompt = val;
        else if (!strcmp(a, "--out"))
            out_path = val;
        else if (!strcmp(a, "--image") || !strcmp(a, "--video")) {
            int is_image = a[2] == 'i';
            if ((is_image ? n_images : n_videos) >= MAX_INPUTS) {
                fprintf(stderr, "vlm preprocess: more than %d %ss\n", MAX_INPUTS, a + 2);
                return 2;
            }
            if (is_image)
                images[n_images++] = val;
            else
                videos[n_videos++] = val;
        } else if (!strcmp(a, "--fps")) {
            char *end;
            fps = strtod(val, &end);
            if (end == val || *end || !(fps > 0) || fps > 1e6) {
                fprintf(stderr, "vlm preprocess: --fps wants a positive number, not '%s'\n", val);
                return 2;
            }
        } else if (!strcmp(a, "--num-frames")) {
            if (parse_int(val, 0, INT32_MAX, &n)) {
                fprintf(stderr, "vlm preprocess: --num-frames wants a count, not '%s'\n", val);
                return 2;
            }
            num_frames = n;
        } else if (!strcmp(a, "--max-frames")) {
            if (parse_int(val, 1, INT32_MAX, &n)) {
                fprintf(stderr, "vlm preprocess: --max-frames wants a count, not '%s'\n", val);
                return 2;
            }
            max_frames = n;
        } else if (!strcmp(a, "--threads")) {
            if (parse_int(val, 0, 1024, &n)) {
                fprintf(stderr, "vlm preprocess: --threads wants a count, not '%s'\n", val);
                return 2;
            }
            threads = (int)n;
        } else {
            fprintf(stderr, "vlm preprocess: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!model || !prompt || !out_path) {
        fprintf(stderr, "vlm preprocess: --model, --prompt and --out are required\n");
        usage(stderr);
        return 2;
    }
    if ((fps > 0) + (num_frames >= 0) + all_frames > 1) {
        fprintf(stderr,
                "vlm preprocess: --fps, --num-frames and --all-frames exclude each other\n");
        return 2;
    }
    /* FFmpeg's log is process-wide: a program may set it (the library never does). Our own
     * messages carry FFmpeg's reason. */
    if (!verbose) av_log_set_level(AV_LOG_QUIET);

    vlm_error err = {0};
    vlm_checkpoint ck;
    if (vlm_checkpoint_probe(model, &ck, &err) != VLM_OK) return fail(&err);
    char mt[64]; /* ck is freed below */
    snprintf(mt, sizeof mt, "%s", ck.model_type ? ck.model_type : "");
    if (strcmp(mt, "qwen2_vl") != 0 && strcmp(mt, "qwen2_5_vl") != 0) {
        fprintf(stderr,
                "vlm preprocess: %s: model_type '%s' is not supported yet (Qwen2-VL and "
                "Qwen2.5-VL only)\n",
                model, mt);
        vlm_checkpoint_free(&ck);
        return 1;
    }
    vlm_qwen_processor_config cfg;
    vlm_status s = vlm_qwen_processor_config_load(model, mt, &cfg, &err);
    vlm_checkpoint_free(&ck);
    if (s != VLM_OK) return fail(&err);
    if (fps > 0) {
        cfg.sampling.mode = VLM_VIDEO_SAMPLE_FPS;
        cfg.sampling.fps = fps;
    } else if (num_frames >= 0) {
        cfg.sampling.mode = VLM_VIDEO_SAMPLE_COUNT;
        cfg.sampling.num_frames = num_frames;
    } else if (all_frames) {
        cfg.sampling.mode = VLM_VIDEO_SAMPLE_ALL;
    }
    cfg.image.n_threads = threads;
    cfg.video.n_threads = threads;

    rows_buf img = {0}, vid = {0};
    float spg[MAX_INPUTS];
    int rc = 1;
    for (int i = 0; i < n_images; i++)
        if (do_image(images[i], &cfg.image, &img, &err) != VLM_OK) goto out;
    vlm_video_limits lim = {0};
    lim.max_frames = max_frames;
    for (int i = 0; i < n_videos; i++)
        if (do_video(videos[i], &cfg, &lim, threads, &vid, &spg[i], &err) != VLM_OK) goto out;

    vlm_st_writer *w = NULL;
    if (vlm_st_writer_init(&w, out_path, &err) != VLM_OK) goto out;
    s = vlm_st_writer_set_metadata(w, "format", "pt", &err);
    if (s == VLM_OK) s = vlm_st_writer_set_metadata(w, "prompt", prompt, &err);
    if (s == VLM_OK) s = vlm_st_writer_set_metadata(w, "model_type", mt, &err);
    if (s == VLM_OK && img.n) {
        s = vlm_st_writer_add(w, "pixel_values", VLM_ST_F32, 2, (int64_t[]){img.rows, img.cols},
                              img.data, (uint64_t)img.rows * (uint64_t)img.cols * 4, &err);
        if (s == VLM_OK)
            s = vlm_st_writer_add(w, "image_grid_thw", VLM_ST_I64, 2, (int64_t[]){img.n, 3},
                                  img.grid, (uint64_t)img.n * 24, &err);
    }
    if (s == VLM_OK && vid.n) {
        s = vlm_st_writer_add(w, "pixel_values_videos", VLM_ST_F32, 2,
                              (int64_t[]){vid.rows, vid.cols}, vid.data,
                              (uint64_t)vid.rows * (uint64_t)vid.cols * 4, &err);
        if (s == VLM_OK)
            s = vlm_st_writer_add(w, "video_grid_thw", VLM_ST_I64, 2, (int64_t[]){vid.n, 3},
                                  vid.grid, (uint64_t)vid.n * 24, &err);
        if (s == VLM_OK && cfg.second_per_grid_ts)
            s = vlm_st_writer_add(w, "second_per_grid_ts", VLM_ST_F32, 1, (int64_t[]){vid.n}, spg,
                                  (uint64_t)vid.n * 4, &err);
    }
    if (s == VLM_OK) s = vlm_st_writer_write(w, &err);
    vlm_st_writer_free(w);
    if (s != VLM_OK) goto out;
    if (img.n) {
        print_tensor("pixel_values", "F32", img.rows, img.cols, 2);
        print_tensor("image_grid_thw", "I64", img.n, 3, 2);
    }
    if (vid.n) {
        print_tensor("pixel_values_videos", "F32", vid.rows, vid.cols, 2);
        print_tensor("video_grid_thw", "I64", vid.n, 3, 2);
        if (cfg.second_per_grid_ts) print_tensor("second_per_grid_ts", "F32", vid.n, 0, 1);
    }
    rc = 0;
out:
    if (rc) fail(&err);
    rows_free(&img);
    rows_free(&vid);
    return rc;
}
