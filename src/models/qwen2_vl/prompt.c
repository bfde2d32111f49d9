/* The Qwen2-VL / Qwen2.5-VL processor step of a request: decode every image and video of
 * the chat in order, preprocess them (smart_resize, Pillow-exact resize, normalize, patch
 * layout), expand each <|image_pad|> / <|video_pad|> into one token per merged patch, and
 * compute the M-RoPE positions with the transformers 4.x get_rope_index rule:
 *   text tokens (p, p, p), p increasing by 1;
 *   a media block starts at s = (max position so far) + 1 and gives (s + T_off, s + row,
 *   s + col) over the merged grid; images T_off = 0; Qwen2-VL video T_off = t;
 *   Qwen2.5-VL video T_off = t * (int64)second_per_grid_t * tokens_per_second (the
 *   seconds per grid step are truncated to an integer first, as 4.5x and 5.17 do);
 *   the next text starts at the block's max + 1.
 * Decode positions continue at max + 1 on all three axes. */
#include "models/qwen2_vl/model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/checked.h"
#include "core/error.h"
#include "media/image.h"
#include "media/video.h"

void qwen2_vl_media_free(void *p) {
    qwen2_vl_media *m = p;
    if (!m) return;
    free(m->pixels);
    free(m->grids);
    free(m->vpixels);
    free(m->vgrids);
    free(m->spg);
    free(m);
}

/* Appends rows x K floats to a growing array. */
static vlm_status append_rows(float **dst, int64_t *rows, const float *src, int64_t n, int64_t K,
                              vlm_error *err) {
    size_t total, bytes;
    if (!vlm_size_add((size_t)*rows, (size_t)n, &total) ||
        !vlm_size_mul(total, (size_t)K * sizeof(float), &bytes))
        return vlm_err(err, VLM_ERR_LIMIT, "processor: pixel values too large");
    float *d = realloc(*dst, bytes ? bytes : 1);
    if (!d) return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "processor: out of memory");
    memcpy(d + (size_t)*rows * (size_t)K, src, (size_t)n * (size_t)K * sizeof(float));
    *dst = d;
    *rows = (int64_t)total;
    return VLM_OK;
}

static vlm_status push_grid(int64_t **grids, int n, const int64_t g[3], vlm_error *err) {
    int64_t *d = vlm_realloc_array(*grids, (size_t)n + 1, 3 * sizeof *d);
    if (!d) return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "processor: out of memory");
    memcpy(d + 3 * n, g, 3 * sizeof *d);
    *grids = d;
    return VLM_OK;
}

static vlm_status load_image(const vlm_part *p, vlm_image *img, vlm_error *err) {
    vlm_image_decode_params dp = vlm_image_decode_params_default();
    switch (p->source) {
    case VLM_MEDIA_FILE: return vlm_image_decode_file(p->path, &dp, img, NULL, err);
    case VLM_MEDIA_MEMORY:
        return vlm_image_decode_memory(p->data, p->size, "image buffer", &dp, img, NULL, err);
    default:
        return vlm_image_from_rgb(p->data, p->width, p->height, (size_t)p->width * 3, &dp, img, err);
    }
}

static vlm_status add_image(const qwen2_vl_model *qm, const vlm_part *part,
                            const vlm_qwen_vision_params *vp, qwen2_vl_media *md, vlm_error *err) {
    vlm_image img = {0};
    float *px = NULL;
    int64_t rows = 0, grid[3];
    vlm_status s = load_image(part, &img, err);
    if (s == VLM_OK) s = vlm_qwen_preprocess(&img, 1, vp, &px, &rows, grid, err);
    if (s == VLM_OK) s = append_rows(&md->pixels, &md->rows, px, rows, qm->patch_dim, err);
    if (s == VLM_OK) s = push_grid(&md->grids, md->n_images, grid, err);
    if (s == VLM_OK) md->n_images++;
    free(px);
    vlm_image_free(&img);
    return s;
}

static vlm_status add_video(const qwen2_vl_model *qm, const vlm_part *part,
                            const vlm_generate_params *gp, const vlm_qwen_vision_params *vp,
                            qwen2_vl_media *md, vlm_error *err) {
    vlm_video video = {0};
    vlm_image *frames = NULL;
    float *px = NULL;
    int64_t rows = 0, grid[3];
    double fps = 0;
    int n = 0;
    vlm_status s = VLM_OK;
    if (part->source == VLM_MEDIA_FRAMES) {
        n = part->n_frames;
        fps = part->fps;
    } else {
        vlm_video_params p = vlm_video_params_default();
        p.sampling = qm->proc.sampling;
        if (gp->num_frames > 0) {
            p.sampling.mode = VLM_VIDEO_SAMPLE_COUNT;
            p.sampling.num_frames = gp->num_frames;
        } else if (gp->num_frames < 0) {
            p.sampling.mode = VLM_VIDEO_SAMPLE_ALL;
        } else if (gp->fps > 0) {
            p.sampling.mode = VLM_VIDEO_SAMPLE_FPS;
            p.sampling.fps = gp->fps;
        } else if (p.sampling.mode == VLM_VIDEO_SAMPLE_ALL) {
            /* the processor keeps every frame when sampling is off; a file is sampled at
             * 2 fps instead (Qwen's own recipe), unless the caller asks otherwise */
            p.sampling.mode = VLM_VIDEO_SAMPLE_FPS;
            p.sampling.fps = 2.0;
        }
        s = part->source == VLM_MEDIA_FILE
                ? vlm_video_decode_file(part->path, &p, &video, err)
                : vlm_video_decode_memory(part->data, part->size, "video buffer", &p, &video, err);
        if (s == VLM_OK) {
            n = (int)video.n_frames;
            fps = vlm_video_sampled_fps(&video);
        }
    }
    if (s == VLM_OK && n < 1) s = vlm_err(err, VLM_ERR_FORMAT, "video: no frames");
    if (s == VLM_OK && !(frames = vlm_calloc_array((size_t)n, sizeof *frames)))
        s = vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "video: out of memory");
    for (int i = 0; s == VLM_OK && i < n; i++) {
        int w = part->source == VLM_MEDIA_FRAMES ? part->width : video.width;
        int h = part->source == VLM_MEDIA_FRAMES ? part->height : video.height;
        const uint8_t *src = (part->source == VLM_MEDIA_FRAMES ? part->data : video.rgb) +
                             (size_t)i * (size_t)w * (size_t)h * 3;
        frames[i] = (vlm_image){.width = w, .height = h, .stride = (size_t)w * 3, .data = (uint8_t *)src};
    }
    if (s == VLM_OK) s = vlm_qwen_preprocess(frames, n, vp, &px, &rows, grid, err);
    if (s == VLM_OK) s = append_rows(&md->vpixels, &md->vrows, px, rows, qm->patch_dim, err);
    if (s == VLM_OK) s = push_grid(&md->vgrids, md->n_videos, grid, err);
    if (s == VLM_OK) {
        double *d = vlm_realloc_array(md->spg, (size_t)md->n_videos + 1, sizeof *d);
        if (!d) s = vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "video: out of memory");
        else {
            md->spg = d;
            md->spg[md->n_videos++] = fps > 0 ? (double)vp->temporal_patch_size / fps : 1.0;
        }
    }
    free(px);
    free(frames); /* the frames point into video.rgb or the request */
    vlm_video_free(&video);
    return s;
}

vlm_status qwen2_vl_prompt_build(const vlm_model *m, const int32_t *ids, int64_t n,
                                 const vlm_request *chat, const vlm_generate_params *gp,
                                 vlm_prompt *out, vlm_error *err) {
    memset(out, 0, sizeof *out);
    const qwen2_vl_model *qm = vlm_model_impl(m);
    const qwen2_vl_config *cfg = &qm->cfg;
    qwen2_vl_media *md = calloc(1, sizeof *md);
    if (!md) return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "processor: out of memory");
    out->media = md;
    out->media_free = qwen2_vl_media_free;

    vlm_qwen_vision_params ip = qm->proc.image, vp = qm->proc.video;
    if (gp->min_pixels > 0) ip.min_pixels = vp.min_pixels = gp->min_pixels;
    if (gp->max_pixels > 0) ip.max_pixels = vp.max_pixels = gp->max_pixels;

    vlm_status s = VLM_OK;
    for (size_t i = 0; s == VLM_OK && i < chat->n_msgs; i++)
        for (size_t j = 0; s == VLM_OK && j < chat->msgs[i].n_parts; j++) {
            const vlm_part *p = &chat->msgs[i].parts[j];
            if (p->kind == VLM_PART_IMAGE) s = add_image(qm, p, &ip, md, err);
            else if (p->kind == VLM_PART_VIDEO) s = add_video(qm, p, gp, &vp, md, err);
        }
    if (s != VLM_OK) return s;

    /* expand the pads: one token per merged patch */
    const int64_t unit = cfg->vision.merge_size * cfg->vision.merge_size;
    int64_t n_img_tok = 0, n_vid_tok = 0, total = 0;
    for (int64_t i = 0; i < n; i++) {
        n_img_tok += ids[i] == cfg->image_token_id;
        n_vid_tok += ids[i] == cfg->video_token_id;
    }
    if (n_img_tok != md->n_images || n_vid_tok != md->n_videos)
        return vlm_err(err, VLM_ERR_INVALID_ARGUMENT,
                       "processor: the prompt has %lld image and %lld video placeholders but the "
                       "request has %d images and %d videos (does the chat template emit one "
                       "<|image_pad|> per image?)",
                       (long long)n_img_tok, (long long)n_vid_tok, md->n_images, md->n_videos);
    int64_t gi = 0, vi = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t add = 1;
        if (ids[i] == cfg->image_token_id) add = (md->grids[3 * gi] * md->grids[3 * gi + 1] * md->grids[3 * gi + 2]) / unit, gi++;
        else if (ids[i] == cfg->video_token_id) add = (md->vgrids[3 * vi] * md->vgrids[3 * vi + 1] * md->vgrids[3 * vi + 2]) / unit, vi++;
        if (!vlm_i64_add(total, add, &total))
            return vlm_err(err, VLM_ERR_LIMIT, "processor: prompt too long");
    }
    out->ids = vlm_malloc_array((size_t)total, sizeof *out->ids);
    out->pos = vlm_malloc_array((size_t)total, 3 * sizeof *out->pos);
    if (!out->ids || !out->pos) return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "processor: out of memory");
    out->n = total;
    out->n_axes = 3;
    int64_t *pt = out->pos, *ph = out->pos + total, *pw = out->pos + 2 * total;
    int64_t k = 0, cur = 0;
    gi = vi = 0;
    for (int64_t i = 0; i < n; i++) {
        int is_img = ids[i] == cfg->image_token_id, is_vid = ids[i] == cfg->video_token_id;
        if (!is_img && !is_vid) {
            out->ids[k] = ids[i];
            pt[k] = ph[k] = pw[k] = cur++;
            k++;
            continue;
        }
        const int64_t *g = is_img ? &md->grids[3 * gi] : &md->vgrids[3 * vi];
        double spg = is_vid ? md->spg[vi] : 0;
        int64_t T = g[0], H = g[1] / cfg->vision.merge_size, W = g[2] / cfg->vision.merge_size;
        int64_t mx = cur;
        for (int64_t t = 0; t < T; t++) {
            int64_t toff = 0;
            if (is_vid)
                toff = cfg->family == QWEN2_VL
                           ? t
                           : t * (int64_t)spg * (int64_t)cfg->vision.tokens_per_second;
            for (int64_t y = 0; y < H; y++)
                for (int64_t x = 0; x < W; x++, k++) {
                    out->ids[k] = (int32_t)ids[i];
                    pt[k] = cur + toff;
                    ph[k] = cur + y;
                    pw[k] = cur + x;
                    int64_t b = pt[k] > ph[k] ? pt[k] : ph[k];
                    if (pw[k] > b) b = pw[k];
                    if (b > mx) mx = b;
                }
        }
        cur = mx + 1;
        if (is_img) gi++;
        else vi++;
    }
    out->next_pos = cur;
    return VLM_OK;
}
