/* Python's json.dump(obj, f, indent=N) (ensure_ascii, "," + newline between items, ": "
 * after keys, floats as repr(), NaN / Infinity spelled as Python spells them) of a parsed
 * vlm_json, optionally with the top-level keys sorted as dict(sorted(d.items())) sorts
 * them: how mlx-vlm's save_config writes config.json, so `vlm convert` writes the same
 * text. Nested objects keep their member order. */
#ifndef VLM_TOOLS_PYJSON_H
#define VLM_TOOLS_PYJSON_H

#include <stdbool.h>

#include "core/json.h"
#include "core/strbuf.h"

/* Appends the text of v to b. `skip` (NULL-terminated, may be NULL) names top-level keys
 * to leave out; `extra_keys` / `extra_vals` (n_extra of them) add top-level members,
 * replacing members of the same name. Returns false when b ran out of memory. */
bool vlm_pyjson_dump(vlm_strbuf *b, const vlm_json *v, int indent, bool sort_top,
                     const char *const *skip, const char *const *extra_keys,
                     const vlm_json *const *extra_vals, int n_extra);

#endif
