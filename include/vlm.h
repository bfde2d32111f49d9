/*
 * vlm.h — the public C API of vlm.c: run vision-language models from C.
 *
 * A complete program: ask a model about a picture, streaming the answer (error handling
 * shortened to one check each).
 *
 *   #include <stdio.h>
 *   #include "vlm.h"
 *
 *   static int on_piece(const char *piece, size_t len, int32_t token, void *user) {
 *       fwrite(piece, 1, len, stdout);        // whole UTF-8 sequences, as they come
 *       return 0;                             // nonzero stops generation
 *   }
 *
 *   int main(int argc, char **argv) {         // prog MODEL_DIR IMAGE
 *       vlm_error err;
 *       vlm_model *model;
 *       vlm_session *session;
 *       vlm_request *req;
 *       if (vlm_model_load(argv[1], NULL, &model, &err) != VLM_OK ||
 *           vlm_session_init(model, NULL, &session, &err) != VLM_OK) {
 *           fprintf(stderr, "vlm: %s: %s\n", vlm_status_str(err.status), err.message);
 *           return 1;
 *       }
 *       vlm_request_init(&req, &err);
 *       vlm_request_add_image_file(req, argv[2], &err);
 *       vlm_request_add_text(req, "What is in this picture?", &err);
 *       vlm_generate_params gp = vlm_generate_params_default();   // greedy, 256 tokens
 *       if (vlm_session_generate(session, req, &gp, on_piece, NULL, NULL, &err) != VLM_OK)
 *           fprintf(stderr, "vlm: %s\n", err.message);
 *       vlm_request_free(req);
 *       vlm_session_free(session);
 *       vlm_model_free(model);
 *       return 0;
 *   }
 *
 * Conventions, for every function below:
 * - Fallible functions return vlm_status. When they fail and the caller passed a
 *   vlm_error, it holds the status again and a one-line message that names the file,
 *   tensor or field at fault. A NULL vlm_error is allowed and simply gets no detail.
 * - The library never exits, aborts or prints on its own; messages go to the log
 *   callback given in the model parameters.
 * - `*_free(NULL)` is a no-op. Output handles are set to NULL on failure.
 * - Strings returned by accessors are owned by the object they came from and live as
 *   long as it does.
 * - Thread safety is stated per function. A vlm_model is read-only after loading and may
 *   be shared between threads.
 */
#ifndef VLM_H
#define VLM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VLM_VERSION_MAJOR 0
#define VLM_VERSION_MINOR 1
#define VLM_VERSION_PATCH 0
#define VLM_VERSION_STRING "0.1.0"
/* One integer that grows with every release: major * 10000 + minor * 100 + patch. */
#define VLM_VERSION_NUMBER                                                                         \
    (VLM_VERSION_MAJOR * 10000 + VLM_VERSION_MINOR * 100 + VLM_VERSION_PATCH)

#if defined(__GNUC__) && !defined(VLM_STATIC_API)
#define VLM_API __attribute__((visibility("default")))
#else
#define VLM_API
#endif

/* ---------------------------------------------------------------- status and errors */

typedef enum vlm_status {
    VLM_OK = 0,
    VLM_ERR_INVALID_ARGUMENT, /* a caller passed NULL where a value is required, or nonsense */
    VLM_ERR_IO,               /* a file could not be opened, read or mapped */
    VLM_ERR_FORMAT,           /* a file or request is malformed (bad JSON, bad header, ...) */
    VLM_ERR_UNSUPPORTED,      /* well-formed but not supported (unknown model_type, dtype) */
    VLM_ERR_NOT_FOUND,        /* a required file, tensor or key is absent */
    VLM_ERR_LIMIT,            /* a size limit was exceeded (file size, pixels, context) */
    VLM_ERR_OUT_OF_MEMORY,    /* an allocation failed */
    VLM_ERR_DEVICE,           /* the compute device failed or is absent */
    VLM_ERR_CANCELLED,        /* a callback asked to stop */
    VLM_ERR_INTERNAL          /* a broken invariant inside the library: a bug, please report */
} vlm_status;

/* The error detail a fallible call fills in. Caller-owned; no cleanup needed. */
typedef struct vlm_error {
    vlm_status status;
    char message[512]; /* NUL-terminated; "" when there is no detail */
} vlm_error;

/* A short, static, lower-case name for a status ("ok", "i/o error", ...). Never NULL;
 * unknown values give "unknown status". Thread-safe. */
VLM_API const char *vlm_status_str(vlm_status status);

/* The library version as a string, e.g. "0.1.0". Thread-safe. */
VLM_API const char *vlm_version(void);

/* ---------------------------------------------------------------- logging */

typedef enum vlm_log_level {
    VLM_LOG_DEBUG = 0,
    VLM_LOG_INFO = 1,
    VLM_LOG_WARN = 2,
    VLM_LOG_ERROR = 3
} vlm_log_level;

/* Receives one complete message (no trailing newline). It may be called from any thread
 * that uses the model it was set on; `user` is the pointer given with it. */
typedef void (*vlm_log_fn)(vlm_log_level level, const char *message, void *user);

/* "debug", "info", "warn", "error". Thread-safe. */
VLM_API const char *vlm_log_level_str(vlm_log_level level);

/* ---------------------------------------------------------------- models */

typedef struct vlm_model vlm_model;

typedef struct vlm_model_params {
    vlm_log_fn log_fn;          /* NULL: no logging */
    void *log_user;             /* passed to log_fn */
    vlm_log_level log_level;    /* messages below this level are dropped; default INFO */
    const char *tokenizer_dir;  /* NULL: the model directory; else where tokenizer files live */
    int load_tensors;           /* 1 (default): map weights and build the model; 0: read the
                                   checkpoint's configs and safetensors headers only */
    const char *device;         /* where weights live and the model computes: "cpu" (default,
                                   also NULL or ""), "cuda" (GPU 0) or "cuda:N". A CUDA device
                                   that is absent, or a library built without CUDA, fails the
                                   load with VLM_ERR_DEVICE; a name of another form with
                                   VLM_ERR_INVALID_ARGUMENT. Weights are uploaded once at load;
                                   each session's KV cache and scratch memory are on the
                                   device (MLX-quantized weights too: computed from the
                                   packed words). */
    const char *compute;        /* arithmetic of the large matrix products: "f32" (every
                                   product in f32, as the CPU computes; GPU results then
                                   match the CPU's within f32 rounding) or "bf16" (on a GPU,
                                   bf16 weights meet bf16-rounded activations on the tensor
                                   cores with f32 accumulation: several times faster prefill
                                   and vision, logits within ~1e-2 of f32). NULL or "": "bf16"
                                   on CUDA, "f32" on the CPU, which computes in f32 either
                                   way. Anything else: VLM_ERR_INVALID_ARGUMENT. */
} vlm_model_params;

/* Defaults: no logging, INFO level, tokenizer in the model directory, full load, CPU, the
 * device's default compute. */
VLM_API vlm_model_params vlm_model_params_default(void);

/* Loads the checkpoint in directory `path` (Hugging Face Hub, transformers-5 or
 * mlx-community layout). `params` may be NULL for the defaults. Cheap checks run first:
 * config.json, model_type, the processor configuration, and only then the tokenizer and
 * weights. On success *out owns the model; release it with vlm_model_free.
 * Thread-safe (loads of different models may run concurrently). */
VLM_API vlm_status vlm_model_load(const char *path, const vlm_model_params *params,
                                  vlm_model **out, vlm_error *err);

/* Releases the model and everything it owns. NULL is a no-op. Not thread-safe with
 * respect to other uses of the same model. */
VLM_API void vlm_model_free(vlm_model *model);

/* The canonical model_type (after the remapping table, e.g. "lfm2_vl" for "lfm2-vl").
 * Thread-safe. */
VLM_API const char *vlm_model_type(const vlm_model *model);

/* The processor class after the per-model override table, or NULL when the checkpoint
 * names none. Thread-safe. */
VLM_API const char *vlm_model_processor_class(const vlm_model *model);

/* The end-of-sequence token ids in effect (generation_config.json's when it has them).
 * Writes the count to *n; the array lives as long as the model. Thread-safe. */
VLM_API const int64_t *vlm_model_eos_token_ids(const vlm_model *model, size_t *n);

/* The full text of the checkpoint's config.json (NUL-terminated). Thread-safe. */
VLM_API const char *vlm_model_config_json(const vlm_model *model);

/* The model directory as given to vlm_model_load. Thread-safe. */
VLM_API const char *vlm_model_path(const vlm_model *model);

/* ---------------------------------------------------------------- extension registries */

/* A model constructor: called by vlm_model_load after the configs, tokenizer and weights
 * are loaded. It builds the family's model from them (reading vlm_model_config_json and
 * the weights) and attaches its state with vlm_model_set_impl. `user` is the pointer given
 * at registration. Returns VLM_OK or an error with detail in *err. */
typedef vlm_status (*vlm_model_constructor)(vlm_model *model, void *user, vlm_error *err);

/* A processor constructor: called after the model constructor; builds the family's
 * processor from the processor configuration (same contract). */
typedef vlm_status (*vlm_processor_constructor)(vlm_model *model, void *user, vlm_error *err);

/* Attaches a constructor's state to the model; `free_fn` (may be NULL) runs when the
 * model is freed. Call only from a constructor. */
VLM_API void vlm_model_set_impl(vlm_model *model, void *impl, void (*free_fn)(void *impl));
VLM_API void *vlm_model_impl(const vlm_model *model);
VLM_API void vlm_model_set_processor_impl(vlm_model *model, void *impl,
                                          void (*free_fn)(void *impl));
VLM_API void *vlm_model_processor_impl(const vlm_model *model);

/* Registers (or replaces) the constructor for a canonical model_type, for every later
 * load in this process. Built-in families are registered at compile time; a run-time
 * entry with the same name takes precedence. Thread-safe: registrations and loads may
 * race; a load sees either the old or the new entry. Fails with VLM_ERR_LIMIT after 256
 * run-time entries. */
VLM_API vlm_status vlm_register_model_type(const char *model_type, vlm_model_constructor ctor,
                                           void *user, vlm_error *err);

/* Registers (or replaces) the constructor for a processor class. Same contract. */
VLM_API vlm_status vlm_register_processor_class(const char *processor_class,
                                                vlm_processor_constructor ctor, void *user,
                                                vlm_error *err);

/* ---------------------------------------------------------------- requests
 *
 * A request is a chat: messages with a role ("system", "user", "assistant") whose parts
 * are text, images and videos, in order. Media are decoded when the request is generated.
 * The request copies everything given to it; the caller may free its buffers at once. */

typedef struct vlm_request vlm_request;

VLM_API vlm_status vlm_request_init(vlm_request **out, vlm_error *err);
VLM_API void vlm_request_free(vlm_request *req); /* NULL is a no-op */

/* Starts a new message; the parts added next belong to it. */
VLM_API vlm_status vlm_request_add_message(vlm_request *req, const char *role, vlm_error *err);
/* Parts of the current message (a "user" message is started when there is none). */
VLM_API vlm_status vlm_request_add_text(vlm_request *req, const char *text, vlm_error *err);
VLM_API vlm_status vlm_request_add_image_file(vlm_request *req, const char *path,
                                              vlm_error *err);
VLM_API vlm_status vlm_request_add_image_memory(vlm_request *req, const void *data, size_t size,
                                                vlm_error *err); /* an encoded JPEG/PNG/... */
/* Raw 8-bit RGB, `stride` bytes per row (>= 3 * width). */
VLM_API vlm_status vlm_request_add_image_rgb(vlm_request *req, const uint8_t *rgb, int width,
                                             int height, size_t stride, vlm_error *err);
VLM_API vlm_status vlm_request_add_video_file(vlm_request *req, const char *path,
                                              vlm_error *err);
/* Already-decoded frames (raw RGB, all the same size) sampled at `fps` frames per second. */
VLM_API vlm_status vlm_request_add_video_frames(vlm_request *req, const uint8_t *const *frames,
                                                int n_frames, int width, int height,
                                                size_t stride, double fps, vlm_error *err);

/* ---------------------------------------------------------------- sessions and generation */

typedef struct vlm_session vlm_session;

typedef struct vlm_session_params {
    int64_t context_size; /* positions kept (prompt + answers); default 4096 */
    int n_threads;        /* CPU threads; 0: all cores */
} vlm_session_params;

VLM_API vlm_session_params vlm_session_params_default(void);

/* A conversation with a model: its KV cache, scratch memory and history. The model must
 * outlive the session. One session is used by one thread at a time; several sessions may
 * share one model from different threads. */
VLM_API vlm_status vlm_session_init(vlm_model *model, const vlm_session_params *params,
                                    vlm_session **out, vlm_error *err);
VLM_API void vlm_session_free(vlm_session *session);
/* Forgets the conversation (history and cache); the next generate starts afresh. */
VLM_API void vlm_session_clear(vlm_session *session);

typedef struct vlm_generate_params {
    int max_tokens;            /* default 256 */
    float temperature;         /* 0: greedy (default) */
    float top_p;               /* 1: off */
    int top_k;                 /* 0: off */
    float min_p;               /* 0: off */
    float repetition_penalty;  /* 1: off */
    uint64_t seed;             /* sampling seed */
    int ignore_eos;            /* 1: do not stop at end-of-sequence tokens */
    const char *const *stop;   /* NULL-terminated stop strings, or NULL */
    int64_t min_pixels;        /* image/video pixel budget overrides; 0: the processor's */
    int64_t max_pixels;
    double fps;                /* video sampling rate; 0: the processor's default */
    int64_t num_frames;        /* videos to decode (file, buffer): sample this many frames,
                                  rounded to a multiple of the temporal patch size as the
                                  processor does; -1: every frame; 0 (default): by fps.
                                  Setting both this and fps is an error. */
    const char *system_prompt; /* NULL: the template's default */
} vlm_generate_params;

VLM_API vlm_generate_params vlm_generate_params_default(void);

/* Receives the text as it is generated, in pieces that are always whole UTF-8 sequences,
 * with the id of the token that completed the piece. Return nonzero to stop. */
typedef int (*vlm_piece_fn)(const char *piece, size_t len, int32_t token, void *user);

typedef struct vlm_generate_result {
    char *text;                /* the whole answer (free with vlm_generate_result_free) */
    int32_t *prompt_ids;       /* the prompt as token ids */
    int64_t n_prompt;
    int32_t *tokens;           /* generated ids (the stop token included when it fired) */
    int64_t n_tokens;
    int64_t n_prompt_computed; /* prompt positions actually computed (cache reuse skips some) */
    double prompt_seconds, generate_seconds, prompt_tps, generation_tps;
    uint64_t peak_memory;      /* bytes: peak resident set of the process */
    const char *stop_reason;   /* "eos", "stop_string", "max_tokens", "callback" */
} vlm_generate_result;

VLM_API void vlm_generate_result_free(vlm_generate_result *result); /* zeroes it */

/* Appends the request's messages to the session's conversation, builds the prompt with the
 * model's chat template and processor, computes what the cache does not already hold,
 * generates the answer (streamed to `on_piece` when not NULL), and appends the answer to
 * the conversation as an assistant message. `result` may be NULL. */
VLM_API vlm_status vlm_session_generate(vlm_session *session, const vlm_request *request,
                                        const vlm_generate_params *params, vlm_piece_fn on_piece,
                                        void *user, vlm_generate_result *result,
                                        vlm_error *err);

#ifdef __cplusplus
}
#endif

#endif /* VLM_H */
