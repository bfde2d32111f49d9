/* The two registries of the load factory: model_type -> model constructor and
 * processor_class -> processor constructor, plus the read-only tables that canonicalize
 * names (mlx-vlm's MODEL_REMAPPING) and override processor classes per model
 * (mistral3 -> Mistral3Processor). Built-in families are compile-time entries in
 * registry.c; vlm_register_* adds run-time entries, which take precedence. */
#ifndef VLM_MODELS_REGISTRY_H
#define VLM_MODELS_REGISTRY_H

#include <stdbool.h>

#include "vlm.h"

/* The canonical model_type for a raw one (the raw string itself when not remapped). */
const char *vlm_registry_canonical_model_type(const char *raw);

/* The processor class a model_type forces, or NULL when the checkpoint's class stands. */
const char *vlm_registry_processor_override(const char *canonical_model_type);

/* Looks up constructors; false when none is registered. Thread-safe. */
bool vlm_registry_find_model(const char *model_type, vlm_model_constructor *ctor, void **user);
bool vlm_registry_find_processor(const char *processor_class, vlm_processor_constructor *ctor,
                                 void **user);

#endif
