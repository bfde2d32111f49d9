/* A checkpoint's chat template: found where transformers looks for it, and rendered as
 * transformers' apply_chat_template renders it (the messages, tools=None, documents=None,
 * add_generation_prompt=False, the tokenizer's special tokens and any extra keyword
 * arguments as template variables; continue_final_message trims the output after the
 * final message as transformers does).
 *
 *   vlm_chat_template *t;
 *   if (vlm_chat_template_load("Qwen3-VL-2B", &t, &err)) ...;
 *   char *prompt;
 *   vlm_chat_template_render(t, messages_json, extra_json, &prompt, &err);   // free(prompt)
 *   vlm_chat_template_free(t);
 *
 * A loaded template is read-only; several threads may render it at once. */
#ifndef VLM_TEXT_CHAT_TEMPLATE_H
#define VLM_TEXT_CHAT_TEMPLATE_H

#include <stddef.h>

#include "core/json.h"
#include "text/jinja.h"
#include "vlm.h"

typedef struct vlm_chat_template vlm_chat_template;

/* Looks in dir for chat_template.jinja, else chat_template.json ({"chat_template": "..."}),
 * else tokenizer_config.json's "chat_template" (a string, or a list of {"name", "template"}
 * of which "default" is used). The special tokens (bos_token, eos_token, unk_token,
 * sep_token, pad_token, cls_token, mask_token: strings or {"content": ...}; and
 * additional_special_tokens) are read from tokenizer_config.json when it exists. Fails with
 * VLM_ERR_NOT_FOUND when there is no template; errors name the file. */
vlm_status vlm_chat_template_load(const char *dir, vlm_chat_template **out, vlm_error *err);

/* A template from text; tokenizer_config (may be NULL) supplies the special tokens. `name`
 * prefixes messages. */
vlm_status vlm_chat_template_from_string(const char *src, size_t len, const char *name,
                                         const vlm_json *tokenizer_config, vlm_chat_template **out,
                                         vlm_error *err);

/* Renders an OpenAI/HF-style messages list (a JSON array). `extra` (a JSON object or
 * NULL) holds apply_chat_template's keyword arguments: add_generation_prompt, tools,
 * documents, continue_final_message, and anything else (enable_thinking, ...), which
 * becomes a template variable. *out is NUL-terminated UTF-8 (free()). */
vlm_status vlm_chat_template_render(const vlm_chat_template *t, const vlm_json *messages,
                                    const vlm_json *extra, char **out, vlm_error *err);
/* The same with render limits and a fixed clock for strftime_now (params may be NULL). */
vlm_status vlm_chat_template_render_ex(const vlm_chat_template *t, const vlm_json *messages,
                                       const vlm_json *extra, const vlm_jinja_render_params *params,
                                       char **out, size_t *out_len, vlm_error *err);

/* Where the template came from ("dir/chat_template.jinja", ...). */
const char *vlm_chat_template_origin(const vlm_chat_template *t);

void vlm_chat_template_free(vlm_chat_template *t); /* NULL is a no-op */

#endif
