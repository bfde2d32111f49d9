/* The interface between the generic engine (sessions, generation) and a model family.
 * The engine renders the chat template and tokenizes; the family turns the token ids and
 * the chat's media into a prompt (media tokens expanded, pixel values, positions) and runs
 * its forward passes over a per-session state that owns the KV cache. A family fills one
 * static vlm_family table; its model constructor points the model at it. */
#ifndef VLM_MODELS_FAMILY_H
#define VLM_MODELS_FAMILY_H

#include <stdint.h>

#include "engine/request.h"
#include "vlm.h"

typedef struct vlm_prompt {
    int32_t *ids;      /* [n] with media tokens expanded */
    int64_t n;
    int64_t *pos;      /* [n_axes][n] positions (M-RoPE: t, h, w), or NULL: position = index */
    int n_axes;
    int64_t next_pos;  /* position of the first generated token (every axis) */
    void *media;       /* the family's prepared media (pixel values, grids, ...) */
    void (*media_free)(void *media);
} vlm_prompt;

void vlm_prompt_free(vlm_prompt *p);

typedef struct vlm_family {
    const char *name;
    vlm_status (*state_init)(const vlm_model *m, const vlm_session_params *p, void **state,
                             vlm_error *err);
    void (*state_free)(void *state);
    /* ids: the tokenized rendering of the whole chat (before media expansion). */
    vlm_status (*prompt_build)(const vlm_model *m, const int32_t *ids, int64_t n,
                               const vlm_request *chat, const vlm_generate_params *gp,
                               vlm_prompt *out, vlm_error *err);
    int64_t (*cached)(void *state);        /* positions held by the cache */
    void (*truncate)(void *state, int64_t n); /* keep the first n cached positions */
    /* Computes prompt positions [cached, n); writes the last position's logits [vocab]. */
    vlm_status (*prefill)(const vlm_model *m, void *state, const vlm_prompt *p, float *logits,
                          vlm_error *err);
    /* One token at position `pos` on every axis, after the cached ones. */
    vlm_status (*decode)(const vlm_model *m, void *state, int32_t token, int64_t pos,
                         float *logits, vlm_error *err);
    int64_t (*vocab_size)(const vlm_model *m);
} vlm_family;

#endif
