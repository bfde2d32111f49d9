/* What `vlm generate` and `vlm chat` share: option parsing into generation parameters,
 * loading a model and a session, printing figures, JSON string output. */
#ifndef VLM_TOOLS_CLI_COMMON_H
#define VLM_TOOLS_CLI_COMMON_H

#include <stdio.h>

#include "vlm.h"

#define VLM_CLI_MAX_IMAGES 64
#define VLM_CLI_MAX_STOPS 16

typedef struct vlm_cli_options {
    const char *model, *prompt, *video, *system;
    const char *device; /* --device: NULL (cpu), "cpu", "cuda", "cuda:N" */
    const char *compute; /* --compute: NULL (the device's default), "f32", "bf16" */
    const char *images[VLM_CLI_MAX_IMAGES];
    int n_images;
    const char *stops[VLM_CLI_MAX_STOPS + 1]; /* NULL-terminated */
    int n_stops;
    int threads, json, help;
    long long context;
    vlm_generate_params gen;
} vlm_cli_options;

/* Parses argv[1..]; prints a message naming the bad option and returns nonzero. */
int vlm_cli_parse(int argc, char **argv, vlm_cli_options *o, const char *usage);
void vlm_cli_options_free(vlm_cli_options *o);

/* Resolves --model (directory or HF cache repo id), loads it and opens a session. */
vlm_status vlm_cli_load(const vlm_cli_options *o, vlm_model **model, vlm_session **session,
                        vlm_error *err);

/* Prompt and generation tokens/s and peak memory, to stderr. */
void vlm_cli_print_stats(const vlm_generate_result *r);

#endif
