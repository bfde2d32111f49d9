/* Growable byte buffer (see strbuf.h). Doubling growth; all sizes checked. */
#include "core/strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/checked.h"

void vlm_strbuf_init(vlm_strbuf *b) {
    memset(b, 0, sizeof *b);
}

void vlm_strbuf_free(vlm_strbuf *b) {
    free(b->data);
    vlm_strbuf_init(b);
}

void vlm_strbuf_clear(vlm_strbuf *b) {
    b->len = 0;
    if (b->data) b->data[0] = '\0';
}

bool vlm_strbuf_reserve(vlm_strbuf *b, size_t extra) {
    if (b->failed) return false;
    size_t need;
    if (!vlm_size_add(b->len, extra, &need) || !vlm_size_add(need, 1, &need)) {
        b->failed = true;
        return false;
    }
    if (need <= b->cap) return true;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need) {
        if (!vlm_size_mul(cap, 2, &cap)) {
            b->failed = true;
            return false;
        }
    }
    char *d = realloc(b->data, cap);
    if (!d) {
        b->failed = true;
        return false;
    }
    b->data = d;
    b->cap = cap;
    return true;
}

void vlm_strbuf_append(vlm_strbuf *b, const char *s, size_t n) {
    if (!vlm_strbuf_reserve(b, n)) return;
    if (n) memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void vlm_strbuf_puts(vlm_strbuf *b, const char *s) {
    vlm_strbuf_append(b, s, strlen(s));
}

void vlm_strbuf_putc(vlm_strbuf *b, char c) {
    vlm_strbuf_append(b, &c, 1);
}

void vlm_strbuf_printf(vlm_strbuf *b, const char *fmt, ...) {
    if (b->failed) return;
    va_list ap;
    va_start(ap, fmt);
    char small[256];
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = true;
        return;
    }
    if ((size_t)n < sizeof small) {
        vlm_strbuf_append(b, small, (size_t)n);
        return;
    }
    if (!vlm_strbuf_reserve(b, (size_t)n)) return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void vlm_strbuf_json_string(vlm_strbuf *b, const char *s, size_t n) {
    vlm_strbuf_putc(b, '"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"': vlm_strbuf_append(b, "\\\"", 2); break;
        case '\\': vlm_strbuf_append(b, "\\\\", 2); break;
        case '\n': vlm_strbuf_append(b, "\\n", 2); break;
        case '\r': vlm_strbuf_append(b, "\\r", 2); break;
        case '\t': vlm_strbuf_append(b, "\\t", 2); break;
        default:
            if (c < 0x20) vlm_strbuf_printf(b, "\\u%04x", c);
            else vlm_strbuf_putc(b, (char)c);
        }
    }
    vlm_strbuf_putc(b, '"');
}

char *vlm_strbuf_take(vlm_strbuf *b) {
    if (b->failed) {
        vlm_strbuf_free(b);
        return NULL;
    }
    if (!b->data && !vlm_strbuf_reserve(b, 0)) return NULL;
    b->data[b->len] = '\0';
    char *d = b->data;
    vlm_strbuf_init(b);
    return d;
}
