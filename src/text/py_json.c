/* Python json.dumps scalars: string literals and floats (see py_json.h). */
#include "text/py_json.h"

#include <math.h>
#include <stdint.h>

#include "text/jinja_pystr.h"

static void put_hex4(vlm_strbuf *b, uint32_t u) {
    vlm_strbuf_printf(b, "\\u%04x", u);
}

void vlm_py_json_string(vlm_strbuf *b, const char *s, size_t n, bool ensure_ascii) {
    vlm_strbuf_putc(b, '"');
    size_t i = 0;
    while (i < n) {
        size_t start = i;
        uint32_t cp = vlm_utf8_next(s, n, &i);
        switch (cp) {
        case '"':
            vlm_strbuf_puts(b, "\\\"");
            continue;
        case '\\':
            vlm_strbuf_puts(b, "\\\\");
            continue;
        case '\n':
            vlm_strbuf_puts(b, "\\n");
            continue;
        case '\r':
            vlm_strbuf_puts(b, "\\r");
            continue;
        case '\t':
            vlm_strbuf_puts(b, "\\t");
            continue;
        case '\b':
            vlm_strbuf_puts(b, "\\b");
            continue;
        case '\f':
            vlm_strbuf_puts(b, "\\f");
            continue;
        default:
            break;
        }
        if (cp < 0x20) {
            put_hex4(b, cp);
        } else if (ensure_ascii && cp > 0x7E) {
            if (cp >= 0x10000) {
                uint32_t v = cp - 0x10000;
                put_hex4(b, 0xD800 | (v >> 10));
                put_hex4(b, 0xDC00 | (v & 0x3FF));
            } else {
                put_hex4(b, cp);
            }
        } else {
            vlm_strbuf_append(b, s + start, i - start);
        }
    }
    vlm_strbuf_putc(b, '"');
}

void vlm_py_json_float(vlm_strbuf *b, double f) {
    if (isnan(f))
        vlm_strbuf_puts(b, "NaN");
    else if (isinf(f))
        vlm_strbuf_puts(b, f < 0 ? "-Infinity" : "Infinity");
    else
        vlm_py_float_repr(b, f);
}

void vlm_py_json_newline(vlm_strbuf *b, const char *indent, size_t indent_len, int level) {
    vlm_strbuf_putc(b, '\n');
    for (int k = 0; k < level; k++)
        vlm_strbuf_append(b, indent, indent_len);
}
