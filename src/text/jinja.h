/* A Jinja template engine for chat templates: the subset of jinja2 3.1 that the chat
 * templates of the supported model families use, with the environment transformers'
 * apply_chat_template sets up (ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks,
 * the loopcontrols extension, the {% generation %} tag, raise_exception, strftime_now and
 * its own tojson). Output is byte-identical to jinja2's; anything outside the subset is an
 * error naming the template, line and column, never different output.
 *
 *   vlm_jinja_template *t;
 *   if (vlm_jinja_parse(src, len, "chat_template.jinja", &t, &err)) ...;
 *   vlm_jdict *vars = ...;                       // messages, add_generation_prompt, ...
 *   char *text;
 *   if (vlm_jinja_render(t, vars, NULL, &text, NULL, &err)) ...;
 *   free(text);
 *   vlm_jinja_template_free(t);
 *
 * A parsed template is read-only: several threads may render it at once. Rendering is
 * bounded (output size, evaluation steps, nesting depth, bytes of strings made), so a
 * hostile template fails with VLM_ERR_LIMIT instead of hanging or exhausting memory. */
#ifndef VLM_TEXT_JINJA_H
#define VLM_TEXT_JINJA_H

#include <stddef.h>
#include <stdint.h>

#include "core/json.h"
#include "text/jinja_value.h"
#include "vlm.h"

typedef struct vlm_jinja_template vlm_jinja_template;

/* Parses src[0..len) (UTF-8). `name` prefixes every message ("name:line:col: ..."). */
vlm_status vlm_jinja_parse(const char *src, size_t len, const char *name, vlm_jinja_template **out,
                           vlm_error *err);
void vlm_jinja_template_free(vlm_jinja_template *t); /* NULL is a no-op */

typedef struct vlm_jinja_render_params {
    size_t max_output_bytes;  /* 0: 64 MiB */
    uint64_t max_steps;       /* evaluation steps; 0: 20 million */
    uint32_t max_depth;       /* nested evaluation (macro calls, expressions); 0: 1000 */
    uint64_t max_alloc_bytes; /* bytes of all strings and list items made; 0: 512 MiB */
    int64_t now;              /* strftime_now's clock, seconds since the epoch (local time
                                 zone); < 0 (the default from vlm_jinja_render_params_default):
                                 the system clock */
} vlm_jinja_render_params;

vlm_jinja_render_params vlm_jinja_render_params_default(void);

/* Renders with the variables in `vars` (borrowed; names -> values; the render takes and drops
 * references, so one vars dict must not be used by two concurrent renders). On success *out is a
 * NUL-terminated UTF-8 string (free()) and *out_len (may be NULL) its length in bytes.
 * raise_exception(msg) fails with VLM_ERR_FORMAT and the message. `params` may be NULL. */
vlm_status vlm_jinja_render(const vlm_jinja_template *t, const vlm_jdict *vars,
                            const vlm_jinja_render_params *params, char **out, size_t *out_len,
                            vlm_error *err);

/* Converts parsed JSON to a Jinja value (objects keep their key order). */
vlm_status vlm_jinja_from_json(const vlm_json *j, vlm_jv *out, vlm_error *err);

#endif
