/* Request -> prompt (engine/prompt.h): template rendering, tokenization and the family's
 * prompt step in one place, so that generation and `vlm preprocess` cannot drift apart. */
#include "engine/prompt.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "engine/request.h"
#include "models/model.h"
#include "text/chat_template.h"
#include "text/tokenizer.h"

/* Renders and tokenizes the whole chat (add_generation_prompt on). */
static vlm_status tokenize_chat(const vlm_model *m, const vlm_request *chat,
                                const vlm_generate_params *gp, int32_t **ids, size_t *n,
                                vlm_error *err) {
    *ids = NULL;
    *n = 0;
    if (!m->chat_template)
        return vlm_err(err, VLM_ERR_NOT_FOUND, "%s: the checkpoint has no chat template",
                       m->tokenizer_dir);
    vlm_json *messages = NULL, *extra = NULL;
    char *text = NULL;
    vlm_status s = vlm_request_to_json(chat, gp->system_prompt, &messages, err);
    if (s == VLM_OK) {
        static const char kw[] = "{\"add_generation_prompt\": true}";
        s = vlm_json_parse(kw, sizeof kw - 1, "generation kwargs", 0, &extra, err);
    }
    if (s == VLM_OK) s = vlm_chat_template_render(m->chat_template, messages, extra, &text, err);
    if (s == VLM_OK) s = vlm_tokenizer_encode(m->tokenizer, text, strlen(text), false, ids, n, err);
    free(text);
    vlm_json_free(messages);
    vlm_json_free(extra);
    return s;
}

vlm_status vlm_engine_build_prompt(const vlm_model *m, const vlm_request *chat,
                                   const vlm_generate_params *gp, vlm_prompt *out, vlm_error *err) {
    if (!out) return vlm_err(err, VLM_ERR_INVALID_ARGUMENT, "build prompt: out is NULL");
    memset(out, 0, sizeof *out);
    if (!m || !chat)
        return vlm_err(err, VLM_ERR_INVALID_ARGUMENT, "build prompt: model and chat required");
    if (!m->family || !m->tokenizer)
        return vlm_err(err, VLM_ERR_INVALID_ARGUMENT,
                       "build prompt: the model was not fully loaded (load_tensors = 0?)");
    vlm_generate_params defaults = vlm_generate_params_default();
    if (!gp) gp = &defaults;
    if (gp->num_frames < -1)
        return vlm_err(err, VLM_ERR_INVALID_ARGUMENT,
                       "num_frames must be -1 (every frame), 0 (by fps) or a count, not %lld",
                       (long long)gp->num_frames);
    if (gp->num_frames != 0 && gp->fps > 0)
        return vlm_err(err, VLM_ERR_INVALID_ARGUMENT,
                       "fps and num_frames exclude each other (set one of them)");
    int32_t *ids = NULL;
    size_t n_ids = 0;
    vlm_status s = tokenize_chat(m, chat, gp, &ids, &n_ids, err);
    if (s == VLM_OK) s = m->family->prompt_build(m, ids, (int64_t)n_ids, chat, gp, out, err);
    free(ids);
    if (s != VLM_OK) vlm_prompt_free(out);
    return s;
}
