/* The scalar pieces of Python's json.dumps text, shared by the Jinja tojson filter
 * (text/jinja_json.c, over template values) and `vlm convert`'s config.json writer
 * (tools/vlm/pyjson.c, over vlm_json): string literals with json's escapes and floats as
 * repr() with NaN / Infinity spelled as Python spells them. Each caller walks its own value
 * tree and writes separators and indentation itself. */
#ifndef VLM_TEXT_PY_JSON_H
#define VLM_TEXT_PY_JSON_H

#include <stdbool.h>
#include <stddef.h>

#include "core/strbuf.h"

/* Appends s[0..n) (UTF-8; jansson and the Jinja engine only hand over valid UTF-8) as a JSON
 * string literal, quotes included: " \ \n \r \t \b \f by name, other code points below
 * 0x20 as \uXXXX; with ensure_ascii also everything above '~' (UTF-16 pairs above the
 * BMP), without it those bytes are copied as they are. */
void vlm_py_json_string(vlm_strbuf *b, const char *s, size_t n, bool ensure_ascii);
/* Appends f as json.dumps writes a float: repr(f), or NaN, Infinity, -Infinity. */
void vlm_py_json_float(vlm_strbuf *b, double f);
/* Appends a newline and `level` copies of indent[0..indent_len), as json.dumps does before
 * each item when an indent is given. */
void vlm_py_json_newline(vlm_strbuf *b, const char *indent, size_t indent_len, int level);

#endif
