/* Probing a checkpoint directory's configs (see checkpoint.h). */
#include "models/checkpoint.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/file.h"
#include "models/registry.h"

/* Loads dir/name as JSON when it exists; *out stays NULL when it does not. */
static vlm_status load_optional_json(const char *dir, const char *name, vlm_json **out,
                                     vlm_error *err) {
    *out = NULL;
    char *path = vlm_path_join(dir, name);
    if (!path) return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "%s/%s: out of memory", dir, name);
    vlm_status s = VLM_OK;
    if (vlm_path_kind_of(path) != VLM_PATH_MISSING)
        s = vlm_json_load_file(path, VLM_CONFIG_MAX_BYTES, 0, out, err);
    free(path);
    return s;
}

/* processor_class of a processor config body: a string, or NULL when absent. */
static vlm_status processor_class_of(const vlm_json *body, const char *dir, const char *file,
                                     const char **out, vlm_error *err) {
    *out = NULL;
    if (!vlm_json_is_object(body))
        return vlm_err(err, VLM_ERR_FORMAT, "%s/%s: top level must be an object, not %s", dir,
                       file, vlm_json_type_name(body));
    const vlm_json *v = vlm_json_get(body, "processor_class");
    if (!v || vlm_json_is_null(v)) return VLM_OK;
    if (!vlm_json_is_string(v) || vlm_json_string_len(v) == 0)
        return vlm_err(err, VLM_ERR_FORMAT,
                       "%s/%s: field 'processor_class' must be a non-empty string, not %s", dir,
                       file, vlm_json_type_name(v));
    *out = vlm_json_string(v);
    return VLM_OK;
}

/* The three cases of DESIGN.md step 3, then the per-model override. */
static vlm_status resolve_processor(vlm_checkpoint *ck, vlm_error *err) {
    vlm_status s;
    if ((s = load_optional_json(ck->dir, "preprocessor_config.json", &ck->preprocessor, err)))
        return s;
    if ((s = load_optional_json(ck->dir, "processor_config.json", &ck->processor, err))) return s;

    const char *pre_class = NULL, *proc_class = NULL;
    if (ck->preprocessor &&
        (s = processor_class_of(ck->preprocessor, ck->dir, "preprocessor_config.json", &pre_class,
                                err)))
        return s;
    if (ck->processor &&
        (s = processor_class_of(ck->processor, ck->dir, "processor_config.json", &proc_class, err)))
        return s;

    const char *cls = NULL;
    if (ck->preprocessor) {
        /* preferred file; its class, else the class processor_config.json names */
        ck->processor_config_file = "preprocessor_config.json";
        cls = pre_class ? pre_class : proc_class;
    } else if (ck->processor) {
        ck->processor_config_file = "processor_config.json";
        cls = proc_class;
    }
    if (cls && !(ck->processor_class_raw = vlm_strdup(cls)))
        return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "%s: out of memory", ck->dir);
    const char *forced = vlm_registry_processor_override(ck->model_type);
    const char *final_cls = forced ? forced : cls;
    if (final_cls && !(ck->processor_class = vlm_strdup(final_cls)))
        return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "%s: out of memory", ck->dir);
    if (ck->processor_class) {
        vlm_processor_constructor pc;
        void *user;
        ck->processor_supported = vlm_registry_find_processor(ck->processor_class, &pc, &user);
    }
    return VLM_OK;
}

vlm_status vlm_checkpoint_probe(const char *dir, vlm_checkpoint *ck, vlm_error *err) {
    memset(ck, 0, sizeof *ck);
    if (!dir || !*dir) return vlm_err(err, VLM_ERR_INVALID_ARGUMENT, "model path is empty");
    vlm_path_kind kind = vlm_path_kind_of(dir);
    if (kind == VLM_PATH_MISSING) return vlm_err(err, VLM_ERR_NOT_FOUND, "%s: no such directory", dir);
    if (kind != VLM_PATH_DIR) return vlm_err(err, VLM_ERR_IO, "%s: not a directory", dir);
    if (!(ck->dir = vlm_strdup(dir)) || !(ck->config_path = vlm_path_join(dir, "config.json")))
        return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "%s: out of memory", dir);

    /* 1. config.json, bounded; then generation_config.json's eos replacement. */
    vlm_status s;
    size_t len;
    if ((s = vlm_file_read(ck->config_path, VLM_CONFIG_MAX_BYTES, &ck->config_text, &len, err)))
        return s;
    if ((s = vlm_json_parse(ck->config_text, len, ck->config_path, 0, &ck->config, err))) return s;
    if ((s = vlm_base_config_parse(ck->config, ck->config_path, &ck->base, err))) return s;
    vlm_json *gen = NULL;
    if ((s = load_optional_json(dir, "generation_config.json", &gen, err))) return s;
    if (gen) {
        char *gen_path = vlm_path_join(dir, "generation_config.json");
        s = gen_path ? vlm_base_config_apply_generation(&ck->base, gen, gen_path, err)
                     : vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "%s: out of memory", dir);
        free(gen_path);
        vlm_json_free(gen);
        if (s) return s;
    }

    /* 2. canonical model_type and whether a constructor exists. */
    ck->model_type = vlm_registry_canonical_model_type(ck->base.model_type_raw);
    vlm_model_constructor mc;
    void *user;
    ck->model_supported = vlm_registry_find_model(ck->model_type, &mc, &user);

    /* 3. processor configuration. */
    return resolve_processor(ck, err);
}

vlm_status vlm_checkpoint_require_supported(const vlm_checkpoint *ck, vlm_error *err) {
    if (!ck->model_supported) {
        if (strcmp(ck->model_type, ck->base.model_type_raw))
            return vlm_err(err, VLM_ERR_UNSUPPORTED,
                           "%s: model_type '%s' (canonical '%s') is not supported: no model "
                           "constructor is registered",
                           ck->config_path, ck->base.model_type_raw, ck->model_type);
        return vlm_err(err, VLM_ERR_UNSUPPORTED,
                       "%s: model_type '%s' is not supported: no model constructor is registered",
                       ck->config_path, ck->model_type);
    }
    if (!ck->processor_class)
        return vlm_err(err, VLM_ERR_NOT_FOUND,
                       "%s: no processor_class in preprocessor_config.json or processor_config.json",
                       ck->dir);
    if (!ck->processor_supported)
        return vlm_err(err, VLM_ERR_UNSUPPORTED,
                       "%s/%s: processor class '%s' is not supported: no processor constructor is "
                       "registered",
                       ck->dir, ck->processor_config_file, ck->processor_class);
    return VLM_OK;
}

void vlm_checkpoint_free(vlm_checkpoint *ck) {
    if (!ck) return;
    free(ck->dir);
    free(ck->config_path);
    free(ck->config_text);
    vlm_json_free(ck->config);
    vlm_base_config_free(&ck->base);
    vlm_json_free(ck->preprocessor);
    vlm_json_free(ck->processor);
    free(ck->processor_class_raw);
    free(ck->processor_class);
    memset(ck, 0, sizeof *ck);
}
