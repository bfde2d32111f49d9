/* Safe file access for untrusted checkpoints: bounded whole-file reads and read-only
 * mappings. Both open with O_NONBLOCK|O_CLOEXEC and fstat the descriptor, refusing
 * anything that is not a regular file, so a FIFO or device named config.json fails at
 * once instead of hanging the load. Errors name the path. */
#ifndef VLM_CORE_FILE_H
#define VLM_CORE_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vlm.h"

/* Default caps for the small files a checkpoint carries. */
#define VLM_CONFIG_MAX_BYTES (16u << 20)     /* config.json and friends: 16 MiB */
#define VLM_TOKENIZER_MAX_BYTES (256u << 20) /* tokenizer.json: 256 MiB */

/* Reads the whole regular file at `path` into a fresh NUL-terminated buffer (*out, free
 * with free()). Fails with VLM_ERR_LIMIT when the file is larger than max_bytes,
 * VLM_ERR_NOT_FOUND when it does not exist, VLM_ERR_IO otherwise. *len may be NULL. */
vlm_status vlm_file_read(const char *path, size_t max_bytes, char **out, size_t *len,
                         vlm_error *err);

/* A read-only private mapping of a whole regular file. An empty file maps to data ==
 * NULL, size == 0. */
typedef struct vlm_mapped_file {
    const uint8_t *data;
    size_t size;
} vlm_mapped_file;

vlm_status vlm_file_map(const char *path, vlm_mapped_file *out, vlm_error *err);
void vlm_file_unmap(vlm_mapped_file *m); /* zeroed or already-unmapped is a no-op */

/* Opens a regular file for reading with the same checks (a FIFO, directory or device fails
 * at once, naming the path) and hands back a blocking, close-on-exec descriptor (*fd_out,
 * the caller closes it) and the file's size. For callers that read only part of a file,
 * such as a safetensors header. */
vlm_status vlm_file_open(const char *path, int *fd_out, uint64_t *size_out, vlm_error *err);

/* What is at a path, without following it into a read. */
typedef enum vlm_path_kind {
    VLM_PATH_MISSING = 0,
    VLM_PATH_FILE,
    VLM_PATH_DIR,
    VLM_PATH_OTHER /* FIFO, socket, device */
} vlm_path_kind;
vlm_path_kind vlm_path_kind_of(const char *path);

/* "dir/name" in a fresh buffer (free()); NULL on exhaustion. */
char *vlm_path_join(const char *dir, const char *name);

#endif
