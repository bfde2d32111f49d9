/* The chat a request carries (vlm_request in vlm.h): messages with a role and ordered
 * parts — text, images and videos from a file, an encoded buffer, raw RGB or decoded
 * frames. Everything is owned (copied in). A session's history is a vlm_request too. */
#ifndef VLM_ENGINE_REQUEST_H
#define VLM_ENGINE_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#include "core/json.h"
#include "vlm.h"

typedef enum vlm_part_kind { VLM_PART_TEXT = 0, VLM_PART_IMAGE, VLM_PART_VIDEO } vlm_part_kind;

typedef enum vlm_media_source {
    VLM_MEDIA_FILE = 0, /* path */
    VLM_MEDIA_MEMORY,   /* encoded bytes */
    VLM_MEDIA_RGB,      /* one raw RGB image */
    VLM_MEDIA_FRAMES    /* raw RGB frames of a video */
} vlm_media_source;

typedef struct vlm_part {
    vlm_part_kind kind;
    char *text;               /* TEXT */
    vlm_media_source source;  /* IMAGE / VIDEO */
    char *path;               /* FILE */
    uint8_t *data;            /* MEMORY: size bytes; RGB/FRAMES: n_frames * height * width * 3 */
    size_t size;
    int width, height, n_frames;
    double fps;               /* FRAMES */
} vlm_part;

typedef struct vlm_message {
    char *role;
    vlm_part *parts;
    size_t n_parts, cap_parts;
} vlm_message;

struct vlm_request {
    vlm_message *msgs;
    size_t n_msgs, cap_msgs;
};

/* Appends deep copies of src's messages to dst. */
vlm_status vlm_request_append(vlm_request *dst, const vlm_request *src, vlm_error *err);
/* Appends one assistant message holding `text`. */
vlm_status vlm_request_add_assistant(vlm_request *dst, const char *text, vlm_error *err);
/* Empties the request (keeps the struct). */
void vlm_request_clear(vlm_request *req);

/* The messages as the chat templates of HF processors see them: a list of {"role": r,
 * "content": [{"type": "image"}, {"type": "video"}, {"type": "text", "text": t}, ...]};
 * a message of one text part only gets a plain string content. `system_prompt` (may be
 * NULL) is prepended as a system message when the chat has none. */
vlm_status vlm_request_to_json(const vlm_request *req, const char *system_prompt, vlm_json **out,
                               vlm_error *err);

#endif
