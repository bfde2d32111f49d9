/* Registries and name tables of the load factory (see registry.h). A new model family
 * adds one line to `builtin_models` (and its processor classes to `builtin_processors`).
 *
 * The run-time tables are the library's one piece of process-wide state, like
 * sqlite3_auto_extension: append-or-replace under a mutex, read under the same mutex. */
#include "models/registry.h"

#include <pthread.h>
#include <string.h>

#include "core/error.h"
#include "models/qwen2_vl/model.h"

typedef struct name_map {
    const char *from, *to;
} name_map;

/* mlx-vlm MODEL_REMAPPING, the entries relevant to VLMs (REFERENCE_NOTES.md §5). */
static const name_map model_type_remap[] = {
    {"llava_qwen2", "fastvlm"},        {"llava-qwen2", "llava_bunny"},
    {"bunny-llama", "llava_bunny"},    {"lfm2-vl", "lfm2_vl"},
    {"cohere2_vision", "aya_vision"},  {"jvlm", "jina_vlm"},
    {"phi4-siglip", "phi4_siglip"},    {"granite-vision", "granite_vision"},
    {"granite4-vision", "granite4_vision"},
};

/* mlx-swift-lm processorTypeOverrides: checkpoints ship a class that does not fit. */
static const name_map processor_override[] = {
    {"mistral3", "Mistral3Processor"},
};

typedef struct model_entry {
    const char *model_type;
    vlm_model_constructor ctor;
} model_entry;

typedef struct processor_entry {
    const char *processor_class;
    vlm_processor_constructor ctor;
} processor_entry;

/* Built-in families: one line each; a NULL name ends each table. */
static const model_entry builtin_models[] = {
    {"qwen2_vl", qwen2_vl_model_construct},
    {"qwen2_5_vl", qwen2_vl_model_construct},
    {NULL, NULL},
};
static const processor_entry builtin_processors[] = {
    {"Qwen2VLProcessor", qwen2_vl_processor_construct},
    {"Qwen2_5_VLProcessor", qwen2_vl_processor_construct},
    {NULL, NULL},
};

#define RUNTIME_MAX 256
#define NAME_MAX_LEN 128

typedef struct runtime_entry {
    char name[NAME_MAX_LEN];
    void (*fn)(void); /* the constructor, cast back by its table's reader */
    void *user;
} runtime_entry;

typedef struct runtime_table {
    runtime_entry entries[RUNTIME_MAX];
    int count;
} runtime_table;

static pthread_mutex_t runtime_lock = PTHREAD_MUTEX_INITIALIZER;
static runtime_table runtime_models;
static runtime_table runtime_processors;

const char *vlm_registry_canonical_model_type(const char *raw) {
    for (size_t i = 0; i < sizeof model_type_remap / sizeof model_type_remap[0]; i++)
        if (!strcmp(raw, model_type_remap[i].from)) return model_type_remap[i].to;
    return raw;
}

const char *vlm_registry_processor_override(const char *canonical_model_type) {
    for (size_t i = 0; i < sizeof processor_override / sizeof processor_override[0]; i++)
        if (!strcmp(canonical_model_type, processor_override[i].from))
            return processor_override[i].to;
    return NULL;
}

static bool runtime_find(runtime_table *t, const char *name, void (**fn)(void), void **user) {
    bool found = false;
    pthread_mutex_lock(&runtime_lock);
    for (int i = 0; i < t->count; i++) {
        if (!strcmp(t->entries[i].name, name)) {
            *fn = t->entries[i].fn;
            *user = t->entries[i].user;
            found = true;
            break;
        }
    }
    pthread_mutex_unlock(&runtime_lock);
    return found;
}

static vlm_status runtime_add(runtime_table *t, const char *what, const char *name,
                              void (*fn)(void), void *user, vlm_error *err) {
    if (!name || !*name || !fn)
        return vlm_err(err, VLM_ERR_INVALID_ARGUMENT, "register %s: name and constructor required",
                       what);
    if (strlen(name) >= NAME_MAX_LEN)
        return vlm_err(err, VLM_ERR_INVALID_ARGUMENT, "register %s: name longer than %d bytes",
                       what, NAME_MAX_LEN - 1);
    vlm_status s = VLM_OK;
    pthread_mutex_lock(&runtime_lock);
    int i = 0;
    while (i < t->count && strcmp(t->entries[i].name, name)) i++;
    if (i == t->count) {
        if (t->count == RUNTIME_MAX) {
            s = vlm_err(err, VLM_ERR_LIMIT, "register %s '%s': more than %d run-time entries",
                        what, name, RUNTIME_MAX);
        } else {
            strcpy(t->entries[i].name, name);
            t->count++;
        }
    }
    if (s == VLM_OK) {
        t->entries[i].fn = fn;
        t->entries[i].user = user;
    }
    pthread_mutex_unlock(&runtime_lock);
    return s == VLM_OK ? vlm_err_ok(err) : s;
}

bool vlm_registry_find_model(const char *model_type, vlm_model_constructor *ctor, void **user) {
    void (*fn)(void);
    if (runtime_find(&runtime_models, model_type, &fn, user)) {
        *ctor = (vlm_model_constructor)fn;
        return true;
    }
    for (const model_entry *e = builtin_models; e->model_type; e++) {
        if (!strcmp(e->model_type, model_type)) {
            *ctor = e->ctor;
            *user = NULL;
            return true;
        }
    }
    return false;
}

bool vlm_registry_find_processor(const char *processor_class, vlm_processor_constructor *ctor,
                                 void **user) {
    void (*fn)(void);
    if (runtime_find(&runtime_processors, processor_class, &fn, user)) {
        *ctor = (vlm_processor_constructor)fn;
        return true;
    }
    for (const processor_entry *e = builtin_processors; e->processor_class; e++) {
        if (!strcmp(e->processor_class, processor_class)) {
            *ctor = e->ctor;
            *user = NULL;
            return true;
        }
    }
    return false;
}

vlm_status vlm_register_model_type(const char *model_type, vlm_model_constructor ctor, void *user,
                                   vlm_error *err) {
    return runtime_add(&runtime_models, "model_type", model_type, (void (*)(void))ctor, user, err);
}

vlm_status vlm_register_processor_class(const char *processor_class,
                                        vlm_processor_constructor ctor, void *user,
                                        vlm_error *err) {
    return runtime_add(&runtime_processors, "processor_class", processor_class,
                       (void (*)(void))ctor, user, err);
}
