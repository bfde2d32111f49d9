/* bench_chat_template: time to load (parse) a checkpoint's chat template and to render a
 * synthetic conversation of N user/assistant turns (each message ~200 bytes of text),
 * single-threaded. Usage: bench_chat_template DIR [TURNS=50] [REPS=200]. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/json.h"
#include "core/strbuf.h"
#include "text/chat_template.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: bench_chat_template DIR [TURNS] [REPS]\n");
        return 2;
    }
    int turns = argc > 2 ? atoi(argv[2]) : 50, reps = argc > 3 ? atoi(argv[3]) : 200;
    vlm_error err = {0};
    vlm_chat_template *t = NULL;
    double t0 = now_s();
    int loads = 0;
    do {
        vlm_chat_template_free(t);
        t = NULL;
        if (vlm_chat_template_load(argv[1], &t, &err)) {
            fprintf(stderr, "%s\n", err.message);
            return 1;
        }
        loads++;
    } while (now_s() - t0 < 0.5);
    double load_s = (now_s() - t0) / loads;
    vlm_strbuf b;
    vlm_strbuf_init(&b);
    vlm_strbuf_putc(&b, '[');
    for (int i = 0; i < 2 * turns; i++) {
        if (i) vlm_strbuf_putc(&b, ',');
        vlm_strbuf_printf(&b, "{\"role\": \"%s\", \"content\": \"", i % 2 ? "assistant" : "user");
        for (int k = 0; k < 4; k++)
            vlm_strbuf_puts(&b, "The quick brown fox jumps over the lazy dog; 0123456789. ");
        vlm_strbuf_puts(&b, "\"}");
    }
    vlm_strbuf_putc(&b, ']');
    vlm_json *msgs = NULL, *extra = NULL;
    if (vlm_json_parse(vlm_strbuf_cstr(&b), b.len, "messages", 0, &msgs, &err) ||
        vlm_json_parse("{\"add_generation_prompt\": true}", 31, "extra", 0, &extra, &err)) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    size_t out_len = 0;
    double r0 = now_s();
    for (int r = 0; r < reps; r++) {
        char *out = NULL;
        if (vlm_chat_template_render_ex(t, msgs, extra, NULL, &out, &out_len, &err)) {
            fprintf(stderr, "%s\n", err.message);
            return 1;
        }
        free(out);
    }
    double render_s = (now_s() - r0) / reps;
    printf("%s: load %.3f ms; render %d messages -> %zu bytes: %.3f ms (%.1f MB/s of prompt)\n",
           vlm_chat_template_origin(t), load_s * 1e3, 2 * turns, out_len, render_s * 1e3,
           out_len / render_s / 1e6);
    vlm_strbuf_free(&b);
    vlm_json_free(msgs);
    vlm_json_free(extra);
    vlm_chat_template_free(t);
    return 0;
}
