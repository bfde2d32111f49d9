/* Flattening of tokenizer.json component Sequences and the field readers (pattern, string,
 * one character) that the normalizer, pre-tokenizer, post-processor and decoder parsers
 * share (see tok_component.h). */
#include "text/tok_component.h"

#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "text/tok_internal.h"
#include "text/tok_unicode.h"

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

vlm_status tok_parse_pattern(const vlm_json *j, const char *where, tok_pattern *p, vlm_error *err) {
    const vlm_json *s = vlm_json_get(j, "String"), *r = vlm_json_get(j, "Regex");
    if (vlm_json_is_string(s))
        return tok_pattern_literal(p, vlm_json_string(s), vlm_json_string_len(s), err);
    if (vlm_json_is_string(r)) {
        char w[300];
        snprintf(w, sizeof w, "%s.Regex", where);
        return tok_pattern_regex(p, vlm_json_string(r), vlm_json_string_len(r), w, err);
    }
    return vlm_err(err, VLM_ERR_FORMAT, "%s must be {\"String\": ...} or {\"Regex\": ...}", where);
}

vlm_status tok_parse_string(const vlm_json *j, const char *key, const char *where, char **str,
                            size_t *len, vlm_error *err) {
    const vlm_json *v = vlm_json_get(j, key);
    if (!vlm_json_is_string(v))
        return vlm_err(err, VLM_ERR_FORMAT, "%s.%s must be a string", where, key);
    *len = vlm_json_string_len(v);
    *str = vlm_strndup(vlm_json_string(v), *len);
    if (!*str) return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "out of memory");
    return VLM_OK;
}

bool tok_json_char(const vlm_json *v, uint32_t *cp) {
    const char *s = vlm_json_string(v);
    size_t n = vlm_json_string_len(v), adv = 0;
    if (!s || !n || tok_utf8_valid_prefix(s, n) != n) return false;
    uint32_t c = tok_utf8_decode(s, &adv);
    if (adv != n) return false;
    *cp = c;
    return true;
}
