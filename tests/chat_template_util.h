/* Helpers shared by the chat template tests: merging JSON objects (the JSON wrapper reads
 * only) and rendering one conversation with a fixed clock. */
#ifndef VLM_TEST_CHAT_TEMPLATE_UTIL_H
#define VLM_TEST_CHAT_TEMPLATE_UTIL_H

#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/strbuf.h"
#include "text/chat_template.h"

/* {**a, **b} as a new JSON object (either may be NULL); NULL on failure. */
static inline vlm_json *ct_merge_objects(const vlm_json *a, const vlm_json *b) {
    vlm_strbuf s;
    vlm_strbuf_init(&s);
    vlm_strbuf_putc(&s, '{');
    int n = 0;
    const vlm_json *srcs[2] = {a, b};
    for (int k = 0; k < 2; k++) {
        if (!vlm_json_is_object(srcs[k])) continue;
        for (void *it = vlm_json_iter(srcs[k]); it; it = vlm_json_iter_next(srcs[k], it)) {
            const char *key = vlm_json_iter_key(it);
            if (k == 0 && b && vlm_json_get(b, key)) continue; /* b wins */
            char *val = vlm_json_dump(vlm_json_iter_value(it));
            if (!val) {
                vlm_strbuf_free(&s);
                return NULL;
            }
            if (n++) vlm_strbuf_putc(&s, ',');
            vlm_strbuf_json_string(&s, key, vlm_json_iter_key_len(it));
            vlm_strbuf_putc(&s, ':');
            vlm_strbuf_puts(&s, val);
            free(val);
        }
    }
    vlm_strbuf_putc(&s, '}');
    vlm_json *out = NULL;
    vlm_error err = {0};
    if (!s.failed) vlm_json_parse(vlm_strbuf_cstr(&s), s.len, "merged", 0, &out, &err);
    vlm_strbuf_free(&s);
    return out;
}

#endif
