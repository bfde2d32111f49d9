/* `vlm template DIR --messages FILE.json [--add-generation-prompt] [--kwargs FILE.json]`:
 * renders a checkpoint's chat template for an OpenAI-style messages list and prints the
 * prompt exactly (no newline added). FILE.json is a list of messages, or an object with a
 * "messages" list whose other members (tools, enable_thinking, ...) become template
 * arguments; --kwargs adds more arguments from a JSON object. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "core/file.h"
#include "core/json.h"
#include "core/strbuf.h"
#include "text/chat_template.h"

static void usage(FILE *f) {
    fprintf(f, "usage: vlm template DIR --messages FILE.json [--add-generation-prompt]\n"
               "                        [--kwargs FILE.json]\n\n"
               "Renders DIR's chat template (chat_template.jinja, chat_template.json or\n"
               "tokenizer_config.json) as transformers' apply_chat_template does and prints it.\n"
               "FILE.json: a list of messages, or {\"messages\": [...], \"tools\": [...], ...}.\n"
               "--kwargs: a JSON object of further template arguments (enable_thinking, ...).\n");
}

int vlm_cmd_template(int argc, char **argv) {
    const char *dir = NULL, *messages_path = NULL, *kwargs_path = NULL;
    int add_generation_prompt = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--messages") && i + 1 < argc) {
            messages_path = argv[++i];
        } else if (!strcmp(argv[i], "--kwargs") && i + 1 < argc) {
            kwargs_path = argv[++i];
        } else if (!strcmp(argv[i], "--add-generation-prompt")) {
            add_generation_prompt = 1;
        } else if (argv[i][0] == '-' || dir) {
            fprintf(stderr, "vlm template: unexpected argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        } else {
            dir = argv[i];
        }
    }
    if (!dir || !messages_path) {
        usage(stderr);
        return 2;
    }
    vlm_error err = {0};
    vlm_json *doc = NULL, *kwargs = NULL, *extra = NULL;
    vlm_chat_template *t = NULL;
    char *text = NULL;
    size_t len = 0;
    int rc = 1;
    if (vlm_json_load_file(messages_path, VLM_CONFIG_MAX_BYTES * 4, 0, &doc, &err)) goto fail;
    if (kwargs_path && vlm_json_load_file(kwargs_path, VLM_CONFIG_MAX_BYTES, 0, &kwargs, &err))
        goto fail;
    if (kwargs && !vlm_json_is_object(kwargs)) {
        fprintf(stderr, "vlm template: %s: expected a JSON object\n", kwargs_path);
        goto done;
    }
    const vlm_json *messages = doc;
    if (vlm_json_is_object(doc)) {
        messages = vlm_json_get(doc, "messages");
        if (!messages) {
            fprintf(stderr, "vlm template: %s: no \"messages\" member\n", messages_path);
            goto done;
        }
    }
    /* Arguments: the messages file's other members, then --kwargs, then the flag. */
    /* Merging JSON objects needs jansson's set; the wrapper has none, so the arguments are
     * serialized and parsed once more as one object. */
    {
        vlm_strbuf b;
        vlm_strbuf_init(&b);
        vlm_strbuf_putc(&b, '{');
        int n = 0;
        const vlm_json *srcs[2] = {vlm_json_is_object(doc) ? doc : NULL, kwargs};
        for (int s = 0; s < 2; s++) {
            if (!srcs[s]) continue;
            for (void *it = vlm_json_iter(srcs[s]); it; it = vlm_json_iter_next(srcs[s], it)) {
                const char *key = vlm_json_iter_key(it);
                if (s == 0 && !strcmp(key, "messages")) continue;
                if (!strcmp(key, "add_generation_prompt") && add_generation_prompt) continue;
                char *val = vlm_json_dump(vlm_json_iter_value(it));
                if (!val) {
                    vlm_strbuf_free(&b);
                    fprintf(stderr, "vlm template: out of memory\n");
                    goto done;
                }
                if (n++) vlm_strbuf_putc(&b, ',');
                vlm_strbuf_json_string(&b, key, vlm_json_iter_key_len(it));
                vlm_strbuf_putc(&b, ':');
                vlm_strbuf_puts(&b, val);
                free(val);
            }
        }
        if (add_generation_prompt || n == 0) {
            if (n++) vlm_strbuf_putc(&b, ',');
            vlm_strbuf_puts(&b, add_generation_prompt ? "\"add_generation_prompt\":true"
                                                      : "\"add_generation_prompt\":false");
        }
        vlm_strbuf_putc(&b, '}');
        vlm_status st =
            b.failed ? VLM_ERR_OUT_OF_MEMORY
                     : vlm_json_parse(vlm_strbuf_cstr(&b), b.len, "arguments", 0, &extra, &err);
        vlm_strbuf_free(&b);
        if (st) goto fail;
    }
    if (vlm_chat_template_load(dir, &t, &err)) goto fail;
    if (vlm_chat_template_render_ex(t, messages, extra, NULL, &text, &len, &err)) goto fail;
    fwrite(text, 1, len, stdout);
    fflush(stdout);
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "vlm template: %s: %s\n", vlm_status_str(err.status), err.message);
done:
    free(text);
    vlm_chat_template_free(t);
    vlm_json_free(extra);
    vlm_json_free(kwargs);
    vlm_json_free(doc);
    return rc;
}
