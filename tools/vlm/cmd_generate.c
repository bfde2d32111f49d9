/* `vlm generate`: one prompt (with images and a video) in, the answer streamed out.
 * The prompt becomes one user message whose parts are the media first, in command-line
 * order, then the text (as mlx-vlm builds it). Figures go to stderr; --json prints one
 * object at the end instead of streaming. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_common.h"
#include "commands.h"
#include "core/strbuf.h"
#include "vlm.h"

static const char usage_text[] =
    "usage: vlm generate --model DIR --prompt TEXT [--image P]... [--video P] [--system TEXT]\n"
    "         [--max-tokens N] [--temperature T] [--top-p P] [--top-k K] [--min-p P]\n"
    "         [--repetition-penalty R] [--seed S] [--fps F] [--min-pixels N] [--max-pixels N]\n"
    "         [--ignore-eos] [--threads N] [--context N] [--stop S]... [--json]\n"
    "         [--device cpu|cuda|cuda:N] [--compute f32|bf16]\n"
    "DIR may be a repo id (ORG/NAME) in the local Hugging Face cache. Temperature 0 (the\n"
    "default) is greedy. --device: where the model runs (default cpu; cuda: GPU 0).\n"
    "--compute: arithmetic of large products (default bf16 on cuda: tensor cores with f32\n"
    "accumulation; f32: as the CPU, exact to f32 rounding).\n";

static int print_piece(const char *piece, size_t len, int32_t token, void *user) {
    (void)token;
    (void)user;
    fwrite(piece, 1, len, stdout);
    fflush(stdout);
    return 0;
}

static void print_json(const vlm_generate_result *r) {
    vlm_strbuf b;
    vlm_strbuf_init(&b);
    const char *t = r->text ? r->text : "";
    vlm_strbuf_json_string(&b, t, strlen(t));
    printf("{\"text\":%s,\"prompt_ids\":[", vlm_strbuf_cstr(&b));
    vlm_strbuf_free(&b);
    for (int64_t i = 0; i < r->n_prompt; i++) printf("%s%d", i ? "," : "", r->prompt_ids[i]);
    printf("],\"tokens\":[");
    for (int64_t i = 0; i < r->n_tokens; i++) printf("%s%d", i ? "," : "", r->tokens[i]);
    printf("],\"prompt_tokens\":%lld,\"generated_tokens\":%lld,\"prompt_tps\":%.3f,"
           "\"generation_tps\":%.3f,\"peak_memory\":%llu,\"stop_reason\":\"%s\"}\n",
           (long long)r->n_prompt, (long long)r->n_tokens, r->prompt_tps, r->generation_tps,
           (unsigned long long)r->peak_memory, r->stop_reason ? r->stop_reason : "");
}

int vlm_cmd_generate(int argc, char **argv) {
    vlm_cli_options o;
    if (vlm_cli_parse(argc, argv, &o, usage_text) != 0) return 2;
    if (o.help) {
        fputs(usage_text, stdout);
        vlm_cli_options_free(&o);
        return 0;
    }
    if (!o.model || !o.prompt) {
        fprintf(stderr, "vlm generate: --model and --prompt are required\n%s", usage_text);
        vlm_cli_options_free(&o);
        return 2;
    }
    vlm_model *model = NULL;
    vlm_session *session = NULL;
    vlm_request *req = NULL;
    vlm_generate_result res;
    memset(&res, 0, sizeof res);
    vlm_error err = {0};
    int rc = 1;
    if (vlm_cli_load(&o, &model, &session, &err) != VLM_OK) goto fail;
    if (vlm_request_init(&req, &err) != VLM_OK) goto fail;
    if (vlm_request_add_message(req, "user", &err) != VLM_OK) goto fail;
    for (int i = 0; i < o.n_images; i++)
        if (vlm_request_add_image_file(req, o.images[i], &err) != VLM_OK) goto fail;
    if (o.video && vlm_request_add_video_file(req, o.video, &err) != VLM_OK) goto fail;
    if (vlm_request_add_text(req, o.prompt, &err) != VLM_OK) goto fail;
    if (vlm_session_generate(session, req, &o.gen, o.json ? NULL : print_piece, NULL, &res, &err) !=
        VLM_OK)
        goto fail;
    if (o.json) print_json(&res);
    else printf("\n");
    fflush(stdout); /* the answer's line ends before the statistics on stderr, piped too */
    vlm_cli_print_stats(&res);
    rc = 0;
fail:
    if (rc) fprintf(stderr, "vlm generate: %s\n", err.message[0] ? err.message : vlm_status_str(err.status));
    vlm_generate_result_free(&res);
    vlm_request_free(req);
    vlm_session_free(session);
    vlm_model_free(model);
    vlm_cli_options_free(&o);
    return rc;
}
