/* The vlm_model handle (opaque in vlm.h): the checkpoint's configs, its weights, the
 * compute backend (params.device), the tokenizer directory, the logger, and the family's
 * model and processor state attached by their constructors. Read-only once vlm_model_load
 * returns. */
#ifndef VLM_MODELS_MODEL_H
#define VLM_MODELS_MODEL_H

#include "core/log.h"
#include "tensor/tensor.h"
#include "models/checkpoint.h"
#include "weights/safetensors.h"

struct vlm_family;
struct vlm_tokenizer;
struct vlm_chat_template;

struct vlm_model {
    vlm_checkpoint ckpt;
    vlm_logger log;
    const vlm_backend *backend; /* params.device's: weights, KV caches and arenas live there */
    int bf16_compute;           /* params.compute resolved: sessions' contexts get it */
    char *tokenizer_dir;  /* params.tokenizer_dir or the model directory */
    vlm_st_set *weights;  /* headers only (no data) when loaded with load_tensors == 0 */
    struct vlm_tokenizer *tokenizer;         /* tokenizer.json of tokenizer_dir */
    struct vlm_chat_template *chat_template; /* NULL when the checkpoint has none */
    const struct vlm_family *family;         /* set by the model constructor */
    void *impl;
    void (*impl_free)(void *);
    void *processor_impl;
    void (*processor_impl_free)(void *);
};

#endif
