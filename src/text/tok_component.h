/* Reading one pipeline component of tokenizer.json (normalizer, pre_tokenizer,
 * post_processor, decoder). Each is either one object {"type": T, ...} or a
 * {"type": "Sequence", "<list key>": [...]} of them, nested; the tokenizer keeps every
 * component as a flat array of at most TOK_MAX_STEPS steps. tok_component_parse does the
 * part the four components share -- the null check, the object and "type" checks, the
 * flattening of Sequences with its nesting bound and "where[i]" error paths, the step
 * limit -- and hands each other object, in file order, to the component's own parser,
 * which reads its fields with the readers declared below. */
#ifndef VLM_TEXT_TOK_COMPONENT_H
#define VLM_TEXT_TOK_COMPONENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/json.h"
#include "text/tok_pattern.h"

/* Parses the object j (not a Sequence) whose "type" is `type` into steps[*n] onward (the
 * caller's step array, e.g. tok_norm *) and advances *n by the steps it stored, also on
 * an error after which those steps need freeing. Errors name `where`. */
typedef vlm_status (*tok_component_fn)(const vlm_json *j, const char *type, const char *where,
                                       void *steps, size_t *n, vlm_error *err);

typedef struct tok_component_kind {
    const char *list_key; /* the array of a Sequence: "normalizers", "decoders", ... */
    const char *noun;     /* for the step-limit message: "normalizer", "decoder", ... */
    size_t max_new;       /* the most steps one object adds (room checked before parse) */
    tok_component_fn parse;
} tok_component_kind;

/* Sets *n = 0 and parses j (NULL or JSON null: no steps) into steps with kind->parse.
 * Fails with VLM_ERR_FORMAT when an entry is not an object, its "type" is not a string
 * or a Sequence's list is not an array; VLM_ERR_LIMIT when Sequences nest more than 8
 * deep or the steps would pass TOK_MAX_STEPS; otherwise with the first error of
 * kind->parse. On failure *n counts the steps that need freeing. */
vlm_status tok_component_parse(const vlm_json *j, const char *where, const tok_component_kind *kind,
                               void *steps, size_t *n, vlm_error *err);

/* Field readers the component parsers share. */

/* Reads a pattern object {"String": s} or {"Regex": r} into *p (errors name `where`). */
vlm_status tok_parse_pattern(const vlm_json *j, const char *where, tok_pattern *p, vlm_error *err);
/* Copies the string j[key] into *str (NUL-terminated, the caller frees it) and its length
 * into *len; VLM_ERR_FORMAT "<where>.<key> must be a string" when it is not one. */
vlm_status tok_parse_string(const vlm_json *j, const char *key, const char *where, char **str,
                            size_t *len, vlm_error *err);
/* True when v is a JSON string of exactly one valid UTF-8 character (serde's char), which
 * goes to *cp; false (nothing stored) otherwise, also when v is NULL. */
bool tok_json_char(const vlm_json *v, uint32_t *cp);

#endif
