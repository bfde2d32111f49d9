/* --model resolution for the CLI: a directory, or a repo id in the local HF cache. */
#ifndef VLM_TOOLS_MODEL_PATH_H
#define VLM_TOOLS_MODEL_PATH_H

#include <stddef.h>

/* Writes the checkpoint directory for `arg` into out; 0 when none is found. */
int vlm_cli_resolve_model(const char *arg, char *out, size_t n);

#endif
