/* A single-pass reader for the two big members of a tokenizer.json, model.vocab (an
 * object of token -> id, 262k entries for Gemma 3) and model.merges (a list of "a b"
 * strings or [a, b] pairs, 515k for Gemma 3), straight from the file text. A general
 * JSON tree of those costs most of the load time; everything else in the file goes
 * through jansson after the two values are cut out (tok_json_cut).
 *
 * Every function checks bounds and syntax; errors give the byte offset. */
#ifndef VLM_TEXT_TOK_JSON_SCAN_H
#define VLM_TEXT_TOK_JSON_SCAN_H

#include <stdbool.h>
#include <stddef.h>

#include "core/strbuf.h"
#include "vlm.h"

typedef struct tok_json_range {
    size_t start, end; /* [start, end) of a JSON value in the text; start == end: absent */
} tok_json_range;

typedef struct tok_json_cur tok_json_cur;
/* Reads the value at the cursor and leaves the cursor after it. */
typedef vlm_status (*tok_json_value_fn)(tok_json_cur *c, void *user, vlm_error *err);

/* Walks a tokenizer.json text once: calls vocab_fn / merges_fn at the values of
 * model.vocab / model.merges (again for a repeated key; the last call counts, as in
 * jansson) and records their ranges (start == end: absent). A syntax error elsewhere is
 * VLM_ERR_FORMAT "invalid JSON near byte N" with *syntax set, so the caller can ask
 * jansson for line and column; the callbacks' own errors pass through. */
vlm_status tok_json_scan_model(const char *text, size_t len, tok_json_value_fn vocab_fn,
                               tok_json_value_fn merges_fn, void *user, tok_json_range *vocab,
                               tok_json_range *merges, bool *syntax, vlm_error *err);

/* Copies text without the values at a and b (a before b, either may be absent): each
 * becomes "{}" or "[]". Returns a fresh NUL-terminated buffer (free()) or NULL. */
char *tok_json_cut(const char *text, size_t len, tok_json_range a, tok_json_range b,
                   size_t *out_len);

/* A cursor over a JSON value. */
struct tok_json_cur {
    const char *p, *end, *base; /* base: start of the whole text, for offsets */
};

void tok_json_skip_ws(tok_json_cur *c);
/* Reads a JSON string at the cursor. When it holds no escapes, *s points into the text;
 * otherwise it is unescaped into `scratch` (cleared first). Validates UTF-8 and escapes
 * (lone surrogates are errors, as in serde_json). Returns false on a syntax error. */
bool tok_json_string(tok_json_cur *c, vlm_strbuf *scratch, const char **s, size_t *len);
/* Reads a non-negative JSON integer (no fraction or exponent) up to `max`. Returns 0 ok,
 * 1 syntax error, 2 not an integer / negative, 3 above max. */
int tok_json_uint(tok_json_cur *c, long long max, long long *out);
/* Skips any JSON value (depth-limited). False on a syntax error. */
bool tok_json_skip_value(tok_json_cur *c);

#endif
