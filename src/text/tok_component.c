/* Flattening of tokenizer.json component Sequences (see tok_component.h): one walk shared
 * by the normalizer, pre-tokenizer, post-processor and decoder parsers. */
#include "text/tok_component.h"

#include <stdio.h>
#include <string.h>

#include "text/tok_internal.h"

static vlm_status parse_one(const vlm_json *j, const char *where, const tok_component_kind *kind,
                            void *steps, size_t *n, int depth, vlm_error *err) {
    if (!vlm_json_is_object(j))
        return vlm_err(err, VLM_ERR_FORMAT, "%s must be an object, not %s", where,
                       vlm_json_type_name(j));
    const char *type = vlm_json_string(vlm_json_get(j, "type"));
    if (!type) return vlm_err(err, VLM_ERR_FORMAT, "%s.type must be a string", where);
    if (!strcmp(type, "Sequence")) {
        const vlm_json *list = vlm_json_get(j, kind->list_key);
        if (!vlm_json_is_array(list))
            return vlm_err(err, VLM_ERR_FORMAT, "%s.%s must be an array", where, kind->list_key);
        if (depth > 8) return vlm_err(err, VLM_ERR_LIMIT, "%s: Sequences nested too deep", where);
        for (size_t i = 0; i < vlm_json_array_size(list); i++) {
            char w[256];
            snprintf(w, sizeof w, "%s.%s[%zu]", where, kind->list_key, i);
            vlm_status st =
                parse_one(vlm_json_array_at(list, i), w, kind, steps, n, depth + 1, err);
            if (st != VLM_OK) return st;
        }
        return VLM_OK;
    }
    if (*n + kind->max_new > TOK_MAX_STEPS)
        return vlm_err(err, VLM_ERR_LIMIT, "%s: more than %d %s steps", where, TOK_MAX_STEPS,
                       kind->noun);
    return kind->parse(j, type, where, steps, n, err);
}

vlm_status tok_component_parse(const vlm_json *j, const char *where, const tok_component_kind *kind,
                               void *steps, size_t *n, vlm_error *err) {
    *n = 0;
    if (!j || vlm_json_is_null(j)) return VLM_OK;
    return parse_one(j, where, kind, steps, n, 0, err);
}
