/* A growable NUL-terminated byte buffer, for building JSON output, rendered templates and
 * decoded text. A failed append marks the buffer failed (ok == false) and later appends
 * do nothing, so callers check once at the end. */
#ifndef VLM_CORE_STRBUF_H
#define VLM_CORE_STRBUF_H

#include <stdbool.h>
#include <stddef.h>

#include "core/error.h"

typedef struct vlm_strbuf {
    char *data;  /* NUL-terminated when len > 0 or after any append; may be NULL if empty */
    size_t len;
    size_t cap;
    bool failed;
} vlm_strbuf;

void vlm_strbuf_init(vlm_strbuf *b);
void vlm_strbuf_free(vlm_strbuf *b);
void vlm_strbuf_clear(vlm_strbuf *b);            /* len = 0, keeps the memory */
bool vlm_strbuf_reserve(vlm_strbuf *b, size_t extra);
void vlm_strbuf_append(vlm_strbuf *b, const char *s, size_t n);
void vlm_strbuf_puts(vlm_strbuf *b, const char *s);
void vlm_strbuf_putc(vlm_strbuf *b, char c);
void vlm_strbuf_printf(vlm_strbuf *b, const char *fmt, ...) VLM_PRINTF(2, 3);
/* Appends s as a JSON string literal, quotes included (control characters escaped). */
void vlm_strbuf_json_string(vlm_strbuf *b, const char *s, size_t n);
/* Hands the buffer to the caller (never NULL unless failed) and resets b. */
char *vlm_strbuf_take(vlm_strbuf *b);
static inline const char *vlm_strbuf_cstr(const vlm_strbuf *b) {
    return b->data ? b->data : "";
}

#endif
