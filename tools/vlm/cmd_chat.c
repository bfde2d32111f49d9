/* `vlm chat --model DIR`: an interactive conversation. Lines are user turns; /image PATH
 * and /video PATH attach media to the next turn, /clear forgets the conversation, /quit
 * (or end of input) leaves. The session keeps its KV cache between turns, so each turn
 * computes only what is new. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_common.h"
#include "commands.h"
#include "vlm.h"

static const char usage_text[] =
    "usage: vlm chat --model DIR [--system TEXT] [--max-tokens N] [--temperature T] ...\n"
    "(the sampling and --device options of `vlm generate`). In the chat: /image PATH,\n"
    "/video PATH, /clear, /quit.\n";

static int print_piece(const char *piece, size_t len, int32_t token, void *user) {
    (void)token;
    (void)user;
    fwrite(piece, 1, len, stdout);
    fflush(stdout);
    return 0;
}

static void trim(char *s) {
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ')) s[--n] = '\0';
}

int vlm_cmd_chat(int argc, char **argv) {
    vlm_cli_options o;
    if (vlm_cli_parse(argc, argv, &o, usage_text) != 0) return 2;
    if (o.help) {
        fputs(usage_text, stdout);
        return 0;
    }
    if (!o.model) {
        fprintf(stderr, "vlm chat: --model is required\n%s", usage_text);
        return 2;
    }
    vlm_model *model = NULL;
    vlm_session *session = NULL;
    vlm_request *pending = NULL;
    vlm_error err = {0};
    if (vlm_cli_load(&o, &model, &session, &err) != VLM_OK ||
        vlm_request_init(&pending, &err) != VLM_OK ||
        vlm_request_add_message(pending, "user", &err) != VLM_OK) {
        fprintf(stderr, "vlm chat: %s\n", err.message);
        vlm_session_free(session);
        vlm_model_free(model);
        return 1;
    }
    char *line = NULL;
    size_t cap = 0;
    int rc = 0;
    for (;;) {
        fputs("> ", stderr);
        if (getline(&line, &cap, stdin) < 0) break;
        trim(line);
        if (!strcmp(line, "/quit") || !strcmp(line, "/exit")) break;
        vlm_status s = VLM_OK;
        if (!strcmp(line, "/clear")) {
            vlm_session_clear(session);
            fprintf(stderr, "(conversation cleared)\n");
            continue;
        }
        if (!strncmp(line, "/image ", 7)) s = vlm_request_add_image_file(pending, line + 7, &err);
        else if (!strncmp(line, "/video ", 7)) s = vlm_request_add_video_file(pending, line + 7, &err);
        else if (line[0] == '/') {
            fprintf(stderr, "unknown command %s (use /image, /video, /clear, /quit)\n", line);
            continue;
        } else if (line[0]) {
            vlm_generate_result res;
            s = vlm_request_add_text(pending, line, &err);
            if (s == VLM_OK) s = vlm_session_generate(session, pending, &o.gen, print_piece, NULL, &res, &err);
            if (s == VLM_OK) {
                printf("\n");
                vlm_cli_print_stats(&res);
                vlm_generate_result_free(&res);
            }
            /* the turn is in the session's history now (or failed): start a fresh one */
            vlm_request_free(pending);
            pending = NULL;
            if (vlm_request_init(&pending, &err) != VLM_OK ||
                vlm_request_add_message(pending, "user", &err) != VLM_OK) {
                rc = 1;
                break;
            }
        }
        if (s != VLM_OK) fprintf(stderr, "vlm chat: %s\n", err.message);
    }
    free(line);
    vlm_request_free(pending);
    vlm_session_free(session);
    vlm_model_free(model);
    return rc;
}
