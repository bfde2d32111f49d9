/* Asks a vision-language model about a picture and streams the answer, then asks a
 * follow-up in the same session (the KV cache is kept, so only the new turn is computed).
 *   example_describe_image MODEL_DIR IMAGE [QUESTION]                                  */
#include <stdio.h>

#include "vlm.h"

static int print_piece(const char *piece, size_t len, int32_t token, void *user) {
    (void)token;
    (void)user;
    fwrite(piece, 1, len, stdout);
    fflush(stdout);
    return 0; /* nonzero would stop generation */
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s MODEL_DIR IMAGE [QUESTION]\n", argv[0]);
        return 2;
    }
    vlm_error err;
    vlm_model *model = NULL;
    vlm_session *session = NULL;
    vlm_request *turn1 = NULL, *turn2 = NULL;
    int rc = 1;
    if (vlm_model_load(argv[1], NULL, &model, &err) != VLM_OK) goto done;
    if (vlm_session_init(model, NULL, &session, &err) != VLM_OK) goto done;

    vlm_generate_params gp = vlm_generate_params_default();
    gp.max_tokens = 64;
    if (vlm_request_init(&turn1, &err) != VLM_OK ||
        vlm_request_add_image_file(turn1, argv[2], &err) != VLM_OK ||
        vlm_request_add_text(turn1, argc > 3 ? argv[3] : "Describe this picture.", &err) != VLM_OK)
        goto done;
    vlm_generate_result res;
    if (vlm_session_generate(session, turn1, &gp, print_piece, NULL, &res, &err) != VLM_OK) goto done;
    printf("\n[%lld prompt tokens, %.1f tokens/s]\n", (long long)res.n_prompt, res.generation_tps);
    vlm_generate_result_free(&res);

    if (vlm_request_init(&turn2, &err) != VLM_OK ||
        vlm_request_add_text(turn2, "Say it in one word.", &err) != VLM_OK)
        goto done;
    if (vlm_session_generate(session, turn2, &gp, print_piece, NULL, &res, &err) != VLM_OK) goto done;
    printf("\n[%lld of %lld prompt positions computed]\n", (long long)res.n_prompt_computed,
           (long long)res.n_prompt);
    vlm_generate_result_free(&res);
    rc = 0;
done:
    if (rc) fprintf(stderr, "error (%s): %s\n", vlm_status_str(err.status), err.message);
    vlm_request_free(turn1);
    vlm_request_free(turn2);
    vlm_session_free(session);
    vlm_model_free(model);
    return rc;
}
