/* Python's text rules, as the Jinja evaluator needs them: UTF-8 code point access (Python
 * indexes strings by code point), str.isspace() and friends, case mapping, and the exact
 * text of str() and repr() for every value (float repr included), so that printing a
 * value gives what jinja2 prints. Case mapping uses utf8proc's simple mappings plus
 * Unicode's special multi-code-point mappings (ß -> SS), which together are Python's; only
 * lowercasing capital sigma (context-dependent in Python) is refused with an error. */
#ifndef VLM_TEXT_JINJA_PYSTR_H
#define VLM_TEXT_JINJA_PYSTR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/strbuf.h"
#include "text/jinja_value.h"

/* Decodes the code point at s[*i] (valid UTF-8, *i < n) and advances *i past it. */
static inline uint32_t vlm_utf8_next(const char *s, size_t n, size_t *i) {
    const unsigned char *p = (const unsigned char *)s + *i;
    size_t left = n - *i;
    uint32_t c = p[0];
    if (c < 0x80 || left < 2) {
        *i += 1;
        return c;
    }
    if (c < 0xE0) {
        *i += 2;
        return ((c & 0x1F) << 6) | (p[1] & 0x3F);
    }
    if (c < 0xF0 || left < 4) {
        if (left < 3) {
            *i += left;
            return 0xFFFD;
        }
        *i += 3;
        return ((c & 0x0F) << 12) | ((uint32_t)(p[1] & 0x3F) << 6) | (p[2] & 0x3F);
    }
    *i += 4;
    return ((c & 0x07) << 18) | ((uint32_t)(p[1] & 0x3F) << 12) | ((uint32_t)(p[2] & 0x3F) << 6) |
           (p[3] & 0x3F);
}

/* Byte offset just before the code point that ends at s[i] (i > 0). */
static inline size_t vlm_utf8_prev(const char *s, size_t i) {
    do
        i--;
    while (i > 0 && ((unsigned char)s[i] & 0xC0) == 0x80);
    return i;
}

void vlm_utf8_put(vlm_strbuf *b, uint32_t cp);
/* Length of a valid UTF-8 prefix of s[0..n): n when all of it is valid (no surrogates,
 * no overlong forms). */
size_t vlm_utf8_valid_prefix(const char *s, size_t n);
/* Drops an incomplete UTF-8 sequence from the end of NUL-terminated s (left by a truncating
 * snprintf), so messages stay valid UTF-8. */
void vlm_utf8_trim_partial(char *s);
/* Byte offset of code point index `cp` in s (cp <= s->ncp). */
size_t vlm_jstr_offset(const vlm_jstr *s, size_t cp);

bool vlm_py_isspace(uint32_t cp);     /* str.isspace(), also re's \s */
bool vlm_py_islinebreak(uint32_t cp); /* the boundaries str.splitlines() splits on */
bool vlm_py_isprintable(uint32_t cp);
bool vlm_py_isalpha(uint32_t cp);
bool vlm_py_isdigit(uint32_t cp); /* str.isdigit() */
bool vlm_py_isdecimal(uint32_t cp);
bool vlm_py_isnumeric(uint32_t cp);
bool vlm_py_isalnum(uint32_t cp);
bool vlm_py_isupper(uint32_t cp);
bool vlm_py_islower(uint32_t cp);
bool vlm_py_iscased(uint32_t cp);

/* Case conversions of s[0..n) appended to b, with Python's full mappings (ß -> SS). They
 * return NULL, or a message for lowercasing capital sigma, whose Python result depends on
 * the neighbouring characters. */
typedef enum vlm_py_case { VLM_PY_UPPER, VLM_PY_LOWER, VLM_PY_TITLE } vlm_py_case;
const char *vlm_py_case_put(vlm_strbuf *b, uint32_t cp, vlm_py_case which);
const char *vlm_py_upper(vlm_strbuf *b, const char *s, size_t n);
const char *vlm_py_lower(vlm_strbuf *b, const char *s, size_t n);
const char *vlm_py_capitalize(vlm_strbuf *b, const char *s, size_t n); /* str.capitalize */
const char *vlm_py_title(vlm_strbuf *b, const char *s, size_t n);      /* str.title */
const char *vlm_py_swapcase(vlm_strbuf *b, const char *s, size_t n);

/* repr(float) (== str(float)): the shortest text that reads back to the same double. */
void vlm_py_float_repr(vlm_strbuf *b, double f);
/* repr(str): quoted, with Python's escapes. */
void vlm_py_str_repr(vlm_strbuf *b, const char *s, size_t n);
/* str(v) and repr(v) appended to b. They return NULL, or a message for values whose
 * Python text is not reproducible (a generator's memory address). */
const char *vlm_jv_write_str(vlm_strbuf *b, vlm_jv v);
const char *vlm_jv_write_repr(vlm_strbuf *b, vlm_jv v);
/* str(v) as a new string value; NULL message on success. */
const char *vlm_jv_to_str(vlm_jv v, vlm_jv *out);

#endif
