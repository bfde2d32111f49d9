/* safetensors writer: one .safetensors file from tensors held in memory (or produced on
 * demand by a callback, so a converter need not hold every output tensor at once), written
 * in the order added, with optional string metadata. The layout is the reference
 * implementation's: 8-byte little-endian header length, compact JSON header
 * ({"__metadata__":{...},"name":{"dtype":..,"shape":[..],"data_offsets":[b,e]},...})
 * padded with spaces to a multiple of 8 bytes, then the tensors back to back. The file is
 * written under a temporary name in the same directory, synced and renamed into place, so
 * no reader ever sees half a file. Used by `vlm preprocess` and `vlm convert`.
 *
 *   vlm_st_writer *w;
 *   vlm_st_writer_init(&w, "out.safetensors", &err);
 *   vlm_st_writer_set_metadata(w, "format", "pt", &err);
 *   vlm_st_writer_add(w, "w", VLM_ST_F32, 2, (int64_t[]){2, 3}, data, 24, &err);
 *   vlm_st_writer_write(w, &err);
 *   vlm_st_writer_free(w);
 *
 * Every error names the output path. A writer is not thread-safe. */
#ifndef VLM_WEIGHTS_SAFETENSORS_WRITE_H
#define VLM_WEIGHTS_SAFETENSORS_WRITE_H

#include "weights/safetensors.h"

typedef struct vlm_st_writer vlm_st_writer;

/* Produces one tensor's bytes into buf[0..nbytes) while the file is written. */
typedef vlm_status (*vlm_st_fill_fn)(void *user, uint8_t *buf, uint64_t nbytes, vlm_error *err);

/* A writer for the file `path` (copied). Nothing touches the disk before _write. */
vlm_status vlm_st_writer_init(vlm_st_writer **out, const char *path, vlm_error *err);
void vlm_st_writer_free(vlm_st_writer *w); /* NULL is a no-op */

/* Adds a tensor whose bytes (little-endian, row-major) are data[0..nbytes); the writer keeps
 * the pointer, not a copy, so data must live until _write returns. nbytes must equal
 * product(shape) * bits / 8 (data may be NULL when it is 0). The name must be valid UTF-8
 * and not "__metadata__"; a repeated name is reported by _write. */
vlm_status vlm_st_writer_add(vlm_st_writer *w, const char *name, vlm_st_dtype dtype, int ndim,
                             const int64_t *shape, const void *data, uint64_t nbytes,
                             vlm_error *err);
/* Adds a tensor whose bytes `fill` produces during _write, into a buffer the writer owns. */
vlm_status vlm_st_writer_add_fill(vlm_st_writer *w, const char *name, vlm_st_dtype dtype, int ndim,
                                  const int64_t *shape, vlm_st_fill_fn fill, void *user,
                                  vlm_error *err);
/* Adds a __metadata__ entry (both strings copied, valid UTF-8; a key set twice is an
 * error). Entries are written in the order set. */
vlm_status vlm_st_writer_set_metadata(vlm_st_writer *w, const char *key, const char *value,
                                      vlm_error *err);

/* Writes the file. On failure nothing is left at `path` that was not there before (an
 * existing file there is replaced only on success). */
vlm_status vlm_st_writer_write(vlm_st_writer *w, vlm_error *err);

#endif
