/* The cheap first half of the load factory: what a checkpoint directory says about
 * itself, read in DESIGN.md's order without touching weights or the tokenizer:
 * config.json (bounded), generation_config.json, the canonical model_type, and the
 * processor configuration (preprocessor_config.json preferred, processor_config.json as
 * fallback, both bodies kept, the per-model class override applied). `vlm inspect` shows
 * this; vlm_model_load continues from it. */
#ifndef VLM_MODELS_CHECKPOINT_H
#define VLM_MODELS_CHECKPOINT_H

#include <stdbool.h>

#include "core/json.h"
#include "models/base_config.h"
#include "vlm.h"

typedef struct vlm_checkpoint {
    char *dir;
    char *config_path;
    char *config_text;       /* config.json, NUL-terminated */
    vlm_json *config;        /* parsed config.json */
    vlm_base_config base;
    const char *model_type;  /* canonical: base.model_type_raw or a static table entry */
    bool model_supported;    /* a model constructor is registered for model_type */

    vlm_json *preprocessor;  /* preprocessor_config.json body, or NULL */
    vlm_json *processor;     /* processor_config.json body, or NULL */
    const char *processor_config_file; /* static: which file the config came from, or NULL */
    char *processor_class_raw;         /* as the checkpoint names it, or NULL */
    char *processor_class;             /* after the override table, or NULL */
    bool processor_supported;          /* a processor constructor is registered */
} vlm_checkpoint;

/* Reads the checkpoint's configs. Fails on I/O and format errors (naming the file and
 * field) but not on an unsupported model_type or processor class: the caller decides. */
vlm_status vlm_checkpoint_probe(const char *dir, vlm_checkpoint *out, vlm_error *err);
void vlm_checkpoint_free(vlm_checkpoint *ck);

/* Fails with VLM_ERR_UNSUPPORTED, naming the file and value, when the model_type or the
 * processor class has no registered constructor. */
vlm_status vlm_checkpoint_require_supported(const vlm_checkpoint *ck, vlm_error *err);

#endif
