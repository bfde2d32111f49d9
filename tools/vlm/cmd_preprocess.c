/* `vlm preprocess --model DIR --prompt TEXT [--image P]... [--video P]... --out FILE`:
 * writes to FILE.safetensors exactly what the model is given for that prompt, under
 * transformers' names. The prompt goes through the same engine path as `vlm generate`
 * (engine/prompt.h: one user message of the images, then the videos, then the text; the
 * model's chat template with add_generation_prompt; the tokenizer; the family's media step),
 * so the file is what generation would compute on, not a second implementation of it:
 *   input_ids [n] I64 (media placeholders expanded), position_ids [3, n] I64 (M-RoPE t, h,
 *   w), rope_deltas [1] I64 (first generated position - n), pixel_values [rows, C*T*p*p] F32
 *   and image_grid_thw [n_images, 3] I64, pixel_values_videos / video_grid_thw likewise, and
 *   for Qwen2.5-VL second_per_grid_ts [n_videos] F32.
 * Video frames are sampled as generation samples them unless --fps / --num-frames /
 * --all-frames say otherwise. Qwen2-VL and Qwen2.5-VL only for now.
 * Bad input: exit 1 and one line on stderr naming the file and what is wrong. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libavutil/log.h>

#include "commands.h"
#include "core/alloc.h"
#include "core/error.h"
#include "engine/prompt.h"
#include "model_path.h"
#include "models/model.h"
#include "models/qwen2_vl/model.h"
#include "vlm.h"
#include "weights/safetensors_write.h"

#define MAX_INPUTS 64

static void usage(FILE *f) {
    fprintf(f,
            "usage: vlm preprocess --model DIR --prompt TEXT [--image PATH]... [--video PATH]...\n"
            "                      --out FILE.safetensors [options]\n"
            "\n"
            "Writes what the model is given for the prompt, as `vlm generate` builds it (one\n"
            "user message: the images, the videos, then the text), under transformers' names:\n"
            "input_ids, position_ids, rope_deltas, pixel_values, image_grid_thw,\n"
            "pixel_values_videos, video_grid_thw, second_per_grid_ts. DIR may be a repo id\n"
            "(ORG/NAME) in the local Hugging Face cache.\n"
            "\n"
            "options:\n"
            "  --system TEXT     system prompt (default: the chat template's)\n"
            "  --fps F           sample video frames at F per second (do_sample_frames, fps=F)\n"
            "  --num-frames N    sample N video frames (do_sample_frames, num_frames=N)\n"
            "  --all-frames      use every video frame (do_sample_frames=False)\n"
            "  --min-pixels N    image/video pixel budget overrides (default: the processor's)\n"
            "  --max-pixels N\n"
            "  --device D        load the model on D: cpu (default), cuda, cuda:N\n"
            "  --verbose         let FFmpeg print its own warnings\n");
}

static int parse_int(const char *s, long long lo, long long hi, long long *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

/* Warnings only: an error comes back through vlm_error and is printed once, at the end. */
static void log_warnings(vlm_log_level level, const char *msg, void *user) {
    (void)user;
    if (level == VLM_LOG_WARN) fprintf(stderr, "vlm: warn: %s\n", msg);
}

static void print_shape(const char *name, const char *dtype, int ndim, const int64_t *shape) {
    printf("%s %s [", name, dtype);
    for (int i = 0; i < ndim; i++)
        printf("%s%lld", i ? ", " : "", (long long)shape[i]);
    printf("]\n");
}

/* The tensors added, listed on stdout once the file is written. */
typedef struct out_list {
    const char *name[16], *dtype[16];
    int ndim[16];
    int64_t shape[16][2];
    int n;
} out_list;

/* Adds one I64 or F32 tensor of shape [d0] or [d0, d1] and records it in l. */
static vlm_status add(vlm_st_writer *w, out_list *l, const char *name, vlm_st_dtype dt, int ndim,
                      int64_t d0, int64_t d1, const void *data, vlm_error *err) {
    int64_t shape[2] = {d0, d1};
    uint64_t count = (uint64_t)d0 * (uint64_t)(ndim == 2 ? d1 : 1);
    int is_f32 = dt == VLM_ST_F32;
    vlm_status s =
        vlm_st_writer_add(w, name, dt, ndim, shape, data, count * (is_f32 ? 4u : 8u), err);
    if (s == VLM_OK) {
        l->name[l->n] = name;
        l->dtype[l->n] = is_f32 ? "F32" : "I64";
        l->ndim[l->n] = ndim;
        memcpy(l->shape[l->n], shape, sizeof shape);
        l->n++;
    }
    return s;
}

/* Writes the Qwen2-VL prompt: ids and positions from the prompt, pixels from its media. */
static vlm_status write_qwen2_vl(const vlm_model *model, const vlm_prompt *p, const char *path,
                                 const char *prompt_text, out_list *l, vlm_error *err) {
    const qwen2_vl_model *qm = vlm_model_impl(model);
    const qwen2_vl_media *md = p->media;
    if (!md || p->n_axes != 3 || !p->pos)
        return vlm_err(err, VLM_ERR_INTERNAL, "preprocess: the prompt has no M-RoPE positions");
    int64_t *ids = vlm_malloc_array((size_t)p->n, sizeof *ids);
    float *spg = vlm_malloc_array((size_t)md->n_videos + 1, sizeof *spg);
    vlm_st_writer *w = NULL;
    vlm_status s = ids && spg ? VLM_OK : vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "out of memory");
    if (s == VLM_OK) {
        for (int64_t i = 0; i < p->n; i++)
            ids[i] = p->ids[i];
        for (int i = 0; i < md->n_videos; i++)
            spg[i] = (float)md->spg[i];
    }
    int64_t delta = p->next_pos - p->n;
    if (s == VLM_OK) s = vlm_st_writer_init(&w, path, err);
    if (s == VLM_OK) s = vlm_st_writer_set_metadata(w, "format", "pt", err);
    if (s == VLM_OK) s = vlm_st_writer_set_metadata(w, "prompt", prompt_text, err);
    if (s == VLM_OK) s = vlm_st_writer_set_metadata(w, "model_type", vlm_model_type(model), err);
    if (s == VLM_OK) s = add(w, l, "input_ids", VLM_ST_I64, 1, p->n, 0, ids, err);
    if (s == VLM_OK) s = add(w, l, "position_ids", VLM_ST_I64, 2, 3, p->n, p->pos, err);
    if (s == VLM_OK) s = add(w, l, "rope_deltas", VLM_ST_I64, 1, 1, 0, &delta, err);
    if (s == VLM_OK && md->n_images) {
        s = add(w, l, "pixel_values", VLM_ST_F32, 2, md->rows, qm->patch_dim, md->pixels, err);
        if (s == VLM_OK)
            s = add(w, l, "image_grid_thw", VLM_ST_I64, 2, md->n_images, 3, md->grids, err);
    }
    if (s == VLM_OK && md->n_videos) {
        s = add(w, l, "pixel_values_videos", VLM_ST_F32, 2, md->vrows, qm->patch_dim, md->vpixels,
                err);
        if (s == VLM_OK)
            s = add(w, l, "video_grid_thw", VLM_ST_I64, 2, md->n_videos, 3, md->vgrids, err);
        if (s == VLM_OK && qm->proc.second_per_grid_ts)
            s = add(w, l, "second_per_grid_ts", VLM_ST_F32, 1, md->n_videos, 0, spg, err);
    }
    if (s == VLM_OK) s = vlm_st_writer_write(w, err);
    vlm_st_writer_free(w);
    free(ids);
    free(spg);
    return s;
}

int vlm_cmd_preprocess(int argc, char **argv) {
    const char *model_arg = NULL, *prompt = NULL, *out_path = NULL, *device = NULL;
    const char *images[MAX_INPUTS], *videos[MAX_INPUTS];
    int n_images = 0, n_videos = 0, verbose = 0, all_frames = 0;
    vlm_generate_params gp = vlm_generate_params_default();
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
            model_arg = val;
        else if (!strcmp(a, "--prompt"))
            prompt = val;
        else if (!strcmp(a, "--system"))
            gp.system_prompt = val;
        else if (!strcmp(a, "--out"))
            out_path = val;
        else if (!strcmp(a, "--device"))
            device = val;
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
            gp.fps = strtod(val, &end);
            if (end == val || *end || !(gp.fps > 0) || gp.fps > 1e6) {
                fprintf(stderr, "vlm preprocess: --fps wants a positive number, not '%s'\n", val);
                return 2;
            }
        } else if (!strcmp(a, "--num-frames")) {
            if (parse_int(val, 1, INT32_MAX, &n)) {
                fprintf(stderr, "vlm preprocess: --num-frames wants a positive count, not '%s'\n",
                        val);
                return 2;
            }
            gp.num_frames = n;
        } else if (!strcmp(a, "--min-pixels") || !strcmp(a, "--max-pixels")) {
            if (parse_int(val, 1, (long long)1e12, &n)) {
                fprintf(stderr, "vlm preprocess: %s wants a positive count, not '%s'\n", a, val);
                return 2;
            }
            if (a[3] == 'i')
                gp.min_pixels = n;
            else
                gp.max_pixels = n;
        } else {
            fprintf(stderr, "vlm preprocess: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!model_arg || !prompt || !out_path) {
        fprintf(stderr, "vlm preprocess: --model, --prompt and --out are required\n");
        usage(stderr);
        return 2;
    }
    if ((gp.fps > 0) + (gp.num_frames > 0) + all_frames > 1) {
        fprintf(stderr,
                "vlm preprocess: --fps, --num-frames and --all-frames exclude each other\n");
        return 2;
    }
    if (all_frames) gp.num_frames = -1;
    /* FFmpeg's log is process-wide: a program may set it (the library never does). Our own
     * messages carry FFmpeg's reason. */
    if (!verbose) av_log_set_level(AV_LOG_QUIET);

    vlm_error err = {0};
    vlm_model *model = NULL;
    vlm_request *req = NULL;
    vlm_prompt p = {0};
    out_list written = {0};
    int rc = 1;
    char dir[4096];
    if (!vlm_cli_resolve_model(model_arg, dir, sizeof dir)) {
        fprintf(stderr,
                "vlm preprocess: %s: not a directory, and not a repo id found in the Hugging "
                "Face cache\n",
                model_arg);
        return 1;
    }
    vlm_model_params mp = vlm_model_params_default();
    mp.log_fn = log_warnings;
    mp.log_level = VLM_LOG_WARN;
    mp.device = device;
    if (vlm_model_load(dir, &mp, &model, &err) != VLM_OK) goto out;
    if (model->family != &qwen2_vl_ops) {
        vlm_err(&err, VLM_ERR_UNSUPPORTED,
                "%s: model_type '%s' is not supported yet (Qwen2-VL and Qwen2.5-VL only)", dir,
                vlm_model_type(model));
        goto out;
    }
    if (vlm_request_init(&req, &err) != VLM_OK) goto out;
    if (vlm_request_add_message(req, "user", &err) != VLM_OK) goto out;
    for (int i = 0; i < n_images; i++)
        if (vlm_request_add_image_file(req, images[i], &err) != VLM_OK) goto out;
    for (int i = 0; i < n_videos; i++)
        if (vlm_request_add_video_file(req, videos[i], &err) != VLM_OK) goto out;
    if (vlm_request_add_text(req, prompt, &err) != VLM_OK) goto out;
    if (vlm_engine_build_prompt(model, req, &gp, &p, &err) != VLM_OK) goto out;
    if (write_qwen2_vl(model, &p, out_path, prompt, &written, &err) != VLM_OK) goto out;
    for (int i = 0; i < written.n; i++)
        print_shape(written.name[i], written.dtype[i], written.ndim[i], written.shape[i]);
    rc = 0;
out:
    if (rc)
        fprintf(stderr, "vlm preprocess: %s\n",
                err.message[0] ? err.message : vlm_status_str(err.status));
    vlm_prompt_free(&p);
    vlm_request_free(req);
    vlm_model_free(model);
    return rc;
}
