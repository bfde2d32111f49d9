/* The JSON reader every parser uses: Debian's jansson behind a small wrapper, so the
 * rest of the code neither includes jansson nor repeats its error formatting. Object
 * members keep the order of the file. Parse errors name the file, line and column. */
#ifndef VLM_CORE_JSON_H
#define VLM_CORE_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vlm.h"

typedef struct json_t vlm_json; /* a JSON value; the tree is owned by its root */

enum {
    VLM_JSON_REJECT_DUPLICATES = 1 /* a repeated object key is a format error */
};

/* Parses text[0..len) as one JSON document. `origin` names it in errors (a path). On
 * success *out owns the tree; release it with vlm_json_free. */
vlm_status vlm_json_parse(const char *text, size_t len, const char *origin, int flags,
                          vlm_json **out, vlm_error *err);
/* Reads (bounded, see file.h) and parses a file. */
vlm_status vlm_json_load_file(const char *path, size_t max_bytes, int flags, vlm_json **out,
                              vlm_error *err);
void vlm_json_free(vlm_json *root);

bool vlm_json_is_object(const vlm_json *v);
bool vlm_json_is_array(const vlm_json *v);
bool vlm_json_is_string(const vlm_json *v);
bool vlm_json_is_integer(const vlm_json *v);
bool vlm_json_is_number(const vlm_json *v); /* integer or real */
bool vlm_json_is_bool(const vlm_json *v);
bool vlm_json_is_null(const vlm_json *v);
/* "object", "array", "string", "integer", "real", "true", "false", "null", or "missing". */
const char *vlm_json_type_name(const vlm_json *v);

/* Member lookup; NULL when v is not an object or has no such key. */
vlm_json *vlm_json_get(const vlm_json *v, const char *key);

const char *vlm_json_string(const vlm_json *v); /* NULL unless a string */
size_t vlm_json_string_len(const vlm_json *v);  /* bytes; strings may hold NUL */
bool vlm_json_int(const vlm_json *v, int64_t *out); /* true only for JSON integers */
double vlm_json_number(const vlm_json *v);          /* integer or real; 0 otherwise */
bool vlm_json_true(const vlm_json *v);              /* true only for JSON true */

size_t vlm_json_array_size(const vlm_json *v); /* 0 unless an array */
vlm_json *vlm_json_array_at(const vlm_json *v, size_t i);

size_t vlm_json_object_size(const vlm_json *v);
/* Iteration over an object's members in file order:
 *   for (void *it = vlm_json_iter(o); it; it = vlm_json_iter_next(o, it)) ...     */
void *vlm_json_iter(const vlm_json *obj);
void *vlm_json_iter_next(const vlm_json *obj, void *it);
const char *vlm_json_iter_key(void *it);
size_t vlm_json_iter_key_len(void *it);
vlm_json *vlm_json_iter_value(void *it);

/* Compact serialization (keys in file order) in a fresh buffer (free()); NULL on failure. */
char *vlm_json_dump(const vlm_json *v);

#endif
