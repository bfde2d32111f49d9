/* The prompt of a chat, as the model is given it: the one path from a request to token ids,
 * positions and prepared media, shared by generation (session.c) and `vlm preprocess`
 * (which writes the same tensors to a file), so both see exactly the same input. */
#ifndef VLM_ENGINE_PROMPT_H
#define VLM_ENGINE_PROMPT_H

#include "models/family.h"
#include "vlm.h"

/* Renders `chat` with the model's chat template (add_generation_prompt on; gp->system_prompt
 * prepended as a system message when the chat has none), tokenizes the text, and lets the
 * model's family build the prompt: media decoded and preprocessed (gp's pixel budget and
 * video sampling apply), media placeholders expanded, positions computed. `gp` NULL means
 * vlm_generate_params_default(). On success *out owns its arrays (vlm_prompt_free); on
 * failure *out is zeroed. The model must be fully loaded (family and tokenizer set).
 * Thread-safe for different outputs (the model is only read). */
vlm_status vlm_engine_build_prompt(const vlm_model *m, const vlm_request *chat,
                                   const vlm_generate_params *gp, vlm_prompt *out, vlm_error *err);

#endif
