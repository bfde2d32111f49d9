/* vlm_request: building chats (public API) and turning them into the JSON messages chat
 * templates read (see request.h). */
#include "engine/request.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/checked.h"
#include "core/error.h"

#define OOM(err) vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "request: out of memory")

vlm_status vlm_request_init(vlm_request **out, vlm_error *err) {
    if (!out) return vlm_err(err, VLM_ERR_INVALID_ARGUMENT, "vlm_request_init: out is NULL");
    *out = calloc(1, sizeof **out);
    return *out ? VLM_OK : OOM(err);
}

static void part_free(vlm_part *p) {
    free(p->text);
    free(p->path);
    free(p->data);
}

void vlm_request_clear(vlm_request *req) {
    if (!req) return;
    for (size_t i = 0; i < req->n_msgs; i++) {
        for (size_t j = 0; j < req->msgs[i].n_parts; j++) part_free(&req->msgs[i].parts[j]);
        free(req->msgs[i].parts);
        free(req->msgs[i].role);
    }
    free(req->msgs);
    memset(req, 0, sizeof *req);
}

void vlm_request_free(vlm_request *req) {
    vlm_request_clear(req);
    free(req);
}

vlm_status vlm_request_add_message(vlm_request *req, const char *role, vlm_error *err) {
    if (!req || !role || !*role)
        return vlm_err(err, VLM_ERR_INVALID_ARGUMENT, "vlm_request_add_message: role required");
    if (req->n_msgs == req->cap_msgs) {
        size_t cap = req->cap_msgs ? 2 * req->cap_msgs : 8;
        vlm_message *m = vlm_realloc_array(req->msgs, cap, sizeof *m);
        if (!m) return OOM(err);
        req->msgs = m;
        req->cap_msgs = cap;
    }
    vlm_message *m = &req->msgs[req->n_msgs];
    memset(m, 0, sizeof *m);
    if (!(m->role = vlm_strdup(role))) return OOM(err);
    req->n_msgs++;
    return VLM_OK;
}

/* A zeroed new part at the end of the current message ("user" started when none). */
static vlm_status new_part(vlm_request *req, vlm_part **out, vlm_error *err) {
    if (!req) return vlm_err(err, VLM_ERR_INVALID_ARGUMENT, "request is NULL");
    if (req->n_msgs == 0) {
        vlm_status s = vlm_request_add_message(req, "user", err);
        if (s != VLM_OK) return s;
    }
    vlm_message *m = &req->msgs[req->n_msgs - 1];
    if (m->n_parts == m->cap_parts) {
        size_t cap = m->cap_parts ? 2 * m->cap_parts : 4;
        vlm_part *p = vlm_realloc_array(m->parts, cap, sizeof *p);
        if (!p) return OOM(err);
        m->parts = p;
        m->cap_parts = cap;
    }
    *out = &m->parts[m->n_parts];
    memset(*out, 0, sizeof **out);
    return VLM_OK;
}

/* Commits the part new_part returned (after its fields are filled). */
static void commit(vlm_request *req) {
    req->msgs[req->n_msgs - 1].n_parts++;
}

vlm_status vlm_request_add_text(vlm_request *req, const char *text, vlm_error *err) {
    if (!text) return vlm_err(err, VLM_ERR_INVALID_ARGUMENT, "vlm_request_add_text: text is NULL");
    vlm_part *p;
    vlm_status s = new_part(req, &p, err);
    if (s != VLM_OK) return s;
    p->kind = VLM_PART_TEXT;
    if (!(p->text = vlm_strdup(text))) return OOM(err);
    commit(req);
    return VLM_OK;
}

static vlm_status add_file(vlm_request *req, vlm_part_kind kind, const char *path,
                           vlm_error *err) {
    if (!path || !*path) return vlm_err(err, VLM_ERR_INVALID_ARGUMENT, "media path is empty");
    vlm_part *p;
    vlm_status s = new_part(req, &p, err);
    if (s != VLM_OK) return s;
    p->kind = kind;
    p->source = VLM_MEDIA_FILE;
    if (!(p->path = vlm_strdup(path))) return OOM(err);
    commit(req);
    return VLM_OK;
}

vlm_status vlm_request_add_image_file(vlm_request *req, const char *path, vlm_error *err) {
    return add_file(req, VLM_PART_IMAGE, path, err);
}

vlm_status vlm_request_add_video_file(vlm_request *req, const char *path, vlm_error *err) {
    return add_file(req, VLM_PART_VIDEO, path, err);
}

vlm_status vlm_request_add_image_memory(vlm_request *req, const void *data, size_t size,
                                        vlm_error *err) {
    if (!data || !size) return vlm_err(err, VLM_ERR_INVALID_ARGUMENT, "image buffer is empty");
    vlm_part *p;
    vlm_status s = new_part(req, &p, err);
    if (s != VLM_OK) return s;
    p->kind = VLM_PART_IMAGE;
    p->source = VLM_MEDIA_MEMORY;
    if (!(p->data = malloc(size))) return OOM(err);
    memcpy(p->data, data, size);
    p->size = size;
    commit(req);
    return VLM_OK;
}

/* Copies n frames of raw RGB into one tight buffer. */
static vlm_status add_frames(vlm_request *req, vlm_part_kind kind, vlm_media_source src,
                             const uint8_t *const *frames, int n, int width, int height,
                             size_t stride, double fps, vlm_error *err) {
    size_t row = 0, frame = 0, total = 0;
    if (!frames || n < 1 || width < 1 || height < 1 || !vlm_size_mul((size_t)width, 3, &row) ||
        stride < row || !vlm_size_mul(row, (size_t)height, &frame) ||
        !vlm_size_mul(frame, (size_t)n, &total))
        return vlm_err(err, VLM_ERR_INVALID_ARGUMENT,
                       "raw RGB media: bad size %dx%d, %d frame(s), stride %zu", width, height, n,
                       stride);
    for (int i = 0; i < n; i++)
        if (!frames[i]) return vlm_err(err, VLM_ERR_INVALID_ARGUMENT, "raw RGB frame %d is NULL", i);
    vlm_part *p;
    vlm_status s = new_part(req, &p, err);
    if (s != VLM_OK) return s;
    p->kind = kind;
    p->source = src;
    if (!(p->data = malloc(total))) return OOM(err);
    for (int i = 0; i < n; i++)
        for (int y = 0; y < height; y++)
            memcpy(p->data + (size_t)i * frame + (size_t)y * row, frames[i] + (size_t)y * stride, row);
    p->size = total;
    p->width = width;
    p->height = height;
    p->n_frames = n;
    p->fps = fps;
    commit(req);
    return VLM_OK;
}

vlm_status vlm_request_add_image_rgb(vlm_request *req, const uint8_t *rgb, int width, int height,
                                     size_t stride, vlm_error *err) {
    const uint8_t *frames[1] = {rgb};
    return add_frames(req, VLM_PART_IMAGE, VLM_MEDIA_RGB, frames, 1, width, height, stride, 0, err);
}

vlm_status vlm_request_add_video_frames(vlm_request *req, const uint8_t *const *frames,
                                        int n_frames, int width, int height, size_t stride,
                                        double fps, vlm_error *err) {
    if (!(fps > 0))
        return vlm_err(err, VLM_ERR_INVALID_ARGUMENT, "video frames: fps must be > 0");
    return add_frames(req, VLM_PART_VIDEO, VLM_MEDIA_FRAMES, frames, n_frames, width, height,
                      stride, fps, err);
}

static vlm_status copy_part(vlm_part *d, const vlm_part *s, vlm_error *err) {
    *d = *s;
    d->text = NULL;
    d->path = NULL;
    d->data = NULL;
    if ((s->text && !(d->text = vlm_strdup(s->text))) || (s->path && !(d->path = vlm_strdup(s->path))))
        return OOM(err);
    if (s->data) {
        if (!(d->data = malloc(s->size))) return OOM(err);
        memcpy(d->data, s->data, s->size);
    }
    return VLM_OK;
}

vlm_status vlm_request_append(vlm_request *dst, const vlm_request *src, vlm_error *err) {
    for (size_t i = 0; i < src->n_msgs; i++) {
        vlm_status s = vlm_request_add_message(dst, src->msgs[i].role, err);
        if (s != VLM_OK) return s;
        for (size_t j = 0; j < src->msgs[i].n_parts; j++) {
            vlm_part *p;
            if ((s = new_part(dst, &p, err)) != VLM_OK) return s;
            s = copy_part(p, &src->msgs[i].parts[j], err);
            commit(dst); /* committed even on failure so clear() frees what was copied */
            if (s != VLM_OK) return s;
        }
    }
    return VLM_OK;
}

vlm_status vlm_request_add_assistant(vlm_request *dst, const char *text, vlm_error *err) {
    vlm_status s = vlm_request_add_message(dst, "assistant", err);
    return s != VLM_OK ? s : vlm_request_add_text(dst, text, err);
}

vlm_status vlm_request_to_json(const vlm_request *req, const char *system_prompt, vlm_json **out,
                               vlm_error *err) {
    *out = NULL;
    json_t *msgs = json_array();
    if (!msgs) return OOM(err);
    int has_system = req->n_msgs > 0 && !strcmp(req->msgs[0].role, "system");
    int ok = 1;
    if (system_prompt && !has_system) {
        json_t *m = json_pack("{s:s, s:s}", "role", "system", "content", system_prompt);
        ok = m && json_array_append_new(msgs, m) == 0;
    }
    for (size_t i = 0; ok && i < req->n_msgs; i++) {
        const vlm_message *m = &req->msgs[i];
        json_t *jm = json_object();
        ok = jm && json_array_append_new(msgs, jm) == 0 &&
             json_object_set_new(jm, "role", json_string(m->role)) == 0;
        if (ok && m->n_parts == 1 && m->parts[0].kind == VLM_PART_TEXT) {
            ok = json_object_set_new(jm, "content", json_string(m->parts[0].text)) == 0;
            continue;
        }
        json_t *content = json_array();
        ok = ok && content && json_object_set_new(jm, "content", content) == 0;
        for (size_t j = 0; ok && j < m->n_parts; j++) {
            const vlm_part *p = &m->parts[j];
            json_t *jp = p->kind == VLM_PART_TEXT
                             ? json_pack("{s:s, s:s}", "type", "text", "text", p->text)
                             : json_pack("{s:s}", "type", p->kind == VLM_PART_IMAGE ? "image" : "video");
            ok = jp && json_array_append_new(content, jp) == 0;
        }
    }
    if (!ok) {
        json_decref(msgs);
        return vlm_err(err, VLM_ERR_FORMAT, "request: a text is not valid UTF-8, or out of memory");
    }
    *out = msgs;
    return VLM_OK;
}
