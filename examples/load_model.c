/* Loads a checkpoint directory through the public API and prints what the load factory
 * found. With --headers-only it reads configs and safetensors headers only.
 *   example_load_model MODEL_DIR [--headers-only]                                      */
#include <stdio.h>
#include <string.h>

#include "vlm.h"

static void on_log(vlm_log_level level, const char *msg, void *user) {
    (void)user;
    fprintf(stderr, "[%s] %s\n", vlm_log_level_str(level), msg);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s MODEL_DIR [--headers-only]\n", argv[0]);
        return 2;
    }
    vlm_model_params params = vlm_model_params_default();
    params.log_fn = on_log;
    params.load_tensors = !(argc > 2 && !strcmp(argv[2], "--headers-only"));

    vlm_model *model = NULL;
    vlm_error err;
    if (vlm_model_load(argv[1], &params, &model, &err) != VLM_OK) {
        fprintf(stderr, "load failed (%s): %s\n", vlm_status_str(err.status), err.message);
        return 1;
    }
    size_t n_eos = 0;
    const int64_t *eos = vlm_model_eos_token_ids(model, &n_eos);
    printf("model_type: %s\nprocessor_class: %s\neos:", vlm_model_type(model),
           vlm_model_processor_class(model) ? vlm_model_processor_class(model) : "(none)");
    for (size_t i = 0; i < n_eos; i++) printf(" %lld", (long long)eos[i]);
    printf("\n");
    vlm_model_free(model);
    return 0;
}
