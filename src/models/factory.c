/* The load factory: vlm_model_load in DESIGN.md's order, cheap failures first —
 * configs and model_type, processor class, then the tokenizer directory, the weights and
 * only then the constructors. Also the accessors of the vlm_model handle. */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/file.h"
#include "models/model.h"
#include "models/registry.h"
#include "text/chat_template.h"
#include "tensor/device.h"
#include "text/tokenizer.h"

vlm_model_params vlm_model_params_default(void) {
    vlm_model_params p;
    memset(&p, 0, sizeof p);
    p.log_level = VLM_LOG_INFO;
    p.load_tensors = 1;
    return p;
}

static vlm_status resolve_tokenizer_dir(vlm_model *m, const vlm_model_params *p, vlm_error *err) {
    const char *dir = p->tokenizer_dir ? p->tokenizer_dir : m->ckpt.dir;
    if (vlm_path_kind_of(dir) != VLM_PATH_DIR)
        return vlm_err(err, VLM_ERR_NOT_FOUND, "%s: tokenizer directory does not exist", dir);
    if (!(m->tokenizer_dir = vlm_strdup(dir)))
        return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "%s: out of memory", dir);
    return VLM_OK;
}

vlm_status vlm_model_load(const char *path, const vlm_model_params *params, vlm_model **out,
                          vlm_error *err) {
    if (!out) return vlm_err(err, VLM_ERR_INVALID_ARGUMENT, "vlm_model_load: out is NULL");
    *out = NULL;
    vlm_model_params defaults = vlm_model_params_default();
    const vlm_model_params *p = params ? params : &defaults;
    vlm_model *m = calloc(1, sizeof *m);
    if (!m) return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "vlm_model_load: out of memory");
    m->log = (vlm_logger){p->log_fn, p->log_user, p->log_level};

    /* 1-3: configs, model_type, processor class; unsupported names fail here, before
     * any tokenizer or weight I/O. */
    vlm_status s = vlm_checkpoint_probe(path, &m->ckpt, err);
    if (s == VLM_OK) s = vlm_checkpoint_require_supported(&m->ckpt, err);
    /* the device: an absent GPU fails here, before the tokenizer and the weights */
    if (s == VLM_OK) s = vlm_device_backend(p->device, &m->backend, err);
    if (s == VLM_OK) s = vlm_device_compute(m->backend, p->compute, &m->bf16_compute, err);
    /* 4: tokenizer directory, weights, model and processor constructors. */
    if (s == VLM_OK) s = resolve_tokenizer_dir(m, p, err);
    if (s == VLM_OK) {
        s = vlm_st_open_dir(m->ckpt.dir, p->load_tensors ? 0 : VLM_ST_HEADER_ONLY, &m->weights,
                            err);
        if (s == VLM_OK)
            vlm_log(&m->log, VLM_LOG_INFO, "%s: %zu tensors in %zu file(s)", m->ckpt.dir,
                    vlm_st_count(m->weights), vlm_st_file_count(m->weights));
    }
    /* the tokenizer (built once, shared by every session) and the chat template */
    if (s == VLM_OK && p->load_tensors) s = vlm_tokenizer_load(m->tokenizer_dir, &m->tokenizer, err);
    if (s == VLM_OK && p->load_tensors) {
        s = vlm_chat_template_load(m->tokenizer_dir, &m->chat_template, err);
        if (s == VLM_ERR_NOT_FOUND) {
            vlm_log(&m->log, VLM_LOG_WARN, "%s: no chat template; prompts must be given raw",
                    m->tokenizer_dir);
            s = vlm_err_ok(err);
        }
    }
    if (s == VLM_OK && p->load_tensors) {
        vlm_model_constructor mc;
        vlm_processor_constructor pc;
        void *mu, *pu;
        /* Looked up again: a registration may have replaced the entry since the probe. */
        if (!vlm_registry_find_model(m->ckpt.model_type, &mc, &mu) ||
            !vlm_registry_find_processor(m->ckpt.processor_class, &pc, &pu)) {
            s = vlm_checkpoint_require_supported(&m->ckpt, err);
            if (s == VLM_OK) s = vlm_err(err, VLM_ERR_INTERNAL, "registry changed during load");
        } else {
            s = mc(m, mu, err);
            if (s == VLM_OK) s = pc(m, pu, err);
        }
    }
    if (s != VLM_OK) {
        vlm_log(&m->log, VLM_LOG_ERROR, "%s", err ? err->message : vlm_status_str(s));
        vlm_model_free(m);
        return s;
    }
    *out = m;
    return vlm_err_ok(err);
}

void vlm_model_free(vlm_model *m) {
    if (!m) return;
    if (m->processor_impl_free) m->processor_impl_free(m->processor_impl);
    if (m->impl_free) m->impl_free(m->impl);
    vlm_st_close(m->weights);
    vlm_tokenizer_free(m->tokenizer);
    vlm_chat_template_free(m->chat_template);
    free(m->tokenizer_dir);
    vlm_checkpoint_free(&m->ckpt);
    free(m);
}

const char *vlm_model_type(const vlm_model *m) {
    return m ? m->ckpt.model_type : NULL;
}

const char *vlm_model_processor_class(const vlm_model *m) {
    return m ? m->ckpt.processor_class : NULL;
}

const int64_t *vlm_model_eos_token_ids(const vlm_model *m, size_t *n) {
    if (n) *n = m ? m->ckpt.base.n_eos : 0;
    return m ? m->ckpt.base.eos_ids : NULL;
}

const char *vlm_model_config_json(const vlm_model *m) {
    return m ? m->ckpt.config_text : NULL;
}

const char *vlm_model_path(const vlm_model *m) {
    return m ? m->ckpt.dir : NULL;
}

void vlm_model_set_impl(vlm_model *m, void *impl, void (*free_fn)(void *)) {
    m->impl = impl;
    m->impl_free = free_fn;
}

void *vlm_model_impl(const vlm_model *m) {
    return m ? m->impl : NULL;
}

void vlm_model_set_processor_impl(vlm_model *m, void *impl, void (*free_fn)(void *)) {
    m->processor_impl = impl;
    m->processor_impl_free = free_fn;
}

void *vlm_model_processor_impl(const vlm_model *m) {
    return m ? m->processor_impl : NULL;
}
