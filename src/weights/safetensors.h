/* safetensors reader: one file or a sharded set (model.safetensors.index.json), mapped
 * read-only, every header validated before any tensor is used (header length cap, valid
 * JSON, known dtype, shape product x dtype size == byte span, spans inside the data area
 * and not overlapping, no duplicate names, no unknown fields; see safetensors_header.h for
 * the full list). `__metadata__` is kept. Reading a header touches no tensor data. Errors
 * name the file and the tensor or field at fault. As with any mmap reader, a file that
 * another process truncates while the set is open faults (SIGBUS) when its data is read.
 * The writer is in safetensors_write.h. */
#ifndef VLM_WEIGHTS_SAFETENSORS_H
#define VLM_WEIGHTS_SAFETENSORS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vlm.h"

#define VLM_ST_MAX_DIMS 8
/* The cap on the JSON header of one file: 100,000,000 bytes, the reference implementation's
 * MAX_HEADER_SIZE (huggingface/safetensors, safetensors/src/tensor.rs). */
#define VLM_ST_MAX_HEADER_BYTES 100000000u
/* The cap on a model.safetensors.index.json (100k names at ~100 bytes each is 10 MB). */
#define VLM_ST_MAX_INDEX_BYTES (256u << 20)

/* Every dtype the safetensors format defines (tensor.rs `Dtype`, 2026). The FNUZ pair came
 * last to the format and sits last here, so the older values keep their numbers. */
typedef enum vlm_st_dtype {
    VLM_ST_BOOL = 0,
    VLM_ST_U8, VLM_ST_I8, VLM_ST_F8_E5M2, VLM_ST_F8_E4M3, VLM_ST_F8_E8M0, VLM_ST_F4,
    VLM_ST_F6_E2M3, VLM_ST_F6_E3M2,
    VLM_ST_I16, VLM_ST_U16, VLM_ST_F16, VLM_ST_BF16,
    VLM_ST_I32, VLM_ST_U32, VLM_ST_F32,
    VLM_ST_I64, VLM_ST_U64, VLM_ST_F64,
    VLM_ST_C64,
    VLM_ST_F8_E4M3FNUZ, VLM_ST_F8_E5M2FNUZ,
    VLM_ST_DTYPE_COUNT
} vlm_st_dtype;

const char *vlm_st_dtype_name(vlm_st_dtype dt); /* "BF16", ... as in the file */
/* Size of one element in bits (4 for F4, 6 for F6_*, 8 for U8, ...). */
int vlm_st_dtype_bits(vlm_st_dtype dt);
/* The dtype named s[0..len) exactly as the format spells it; false when unknown. */
bool vlm_st_dtype_parse(const char *s, size_t len, vlm_st_dtype *out);
/* Total bits of a tensor: product(shape) * bits. False when a dimension is negative or the
 * product overflows 64 bits. A valid tensor's bits are a multiple of 8 (sub-byte dtypes
 * must fill whole bytes, as in the reference). */
bool vlm_st_tensor_bits(vlm_st_dtype dt, int ndim, const int64_t *shape, uint64_t *out);

typedef struct vlm_st_tensor {
    const char *name;       /* owned by the set */
    vlm_st_dtype dtype;
    int ndim;
    int64_t shape[VLM_ST_MAX_DIMS];
    uint64_t nbytes;        /* == product(shape) * bits / 8 */
    const uint8_t *data;    /* inside the mapping; NULL if the set was opened header-only */
    int file_index;         /* which shard */
    uint64_t offset;        /* where the data starts, in bytes from the start of its file */
} vlm_st_tensor;

typedef struct vlm_st_set vlm_st_set; /* one or more files, one name space */

enum {
    VLM_ST_HEADER_ONLY = 1 /* read and validate headers; do not map tensor data */
};

/* Opens `path`: a .safetensors file, or (a name ending in .json) a
 * model.safetensors.index.json: its weight_map names the shards, relative to the index's
 * directory; every shard named must exist and hold exactly the tensors the map gives it
 * (the index's "metadata" is ignored); shard names must stay inside that directory (no
 * absolute paths, no ".."). Shards come in name order. On failure *out is NULL and err
 * names the file and the tensor or field at fault; the status says what kind of fault:
 * VLM_ERR_NOT_FOUND (a file is missing), VLM_ERR_IO (not a regular file: a FIFO or a
 * directory fails at once; unreadable), VLM_ERR_FORMAT (malformed: truncated, bad JSON,
 * bad entry, spans, names), VLM_ERR_UNSUPPORTED (a dtype the format does not define),
 * VLM_ERR_LIMIT (header over VLM_ST_MAX_HEADER_BYTES, more than VLM_ST_MAX_DIMS dims).
 * The set is read-only and may be shared between threads. */
vlm_status vlm_st_open(const char *path, int flags, vlm_st_set **out, vlm_error *err);
/* Opens the weights of a checkpoint directory: model.safetensors.index.json when present,
 * else model.safetensors, else every *.safetensors in the directory (sorted by name,
 * hidden files skipped; a name in two files is an error). A directory with none of them
 * fails with VLM_ERR_NOT_FOUND. */
vlm_status vlm_st_open_dir(const char *dir, int flags, vlm_st_set **out, vlm_error *err);
void vlm_st_close(vlm_st_set *set); /* NULL is a no-op */

size_t vlm_st_count(const vlm_st_set *set);
const vlm_st_tensor *vlm_st_at(const vlm_st_set *set, size_t i); /* in file order */
const vlm_st_tensor *vlm_st_find(const vlm_st_set *set, const char *name); /* NULL if absent */
size_t vlm_st_file_count(const vlm_st_set *set);
const char *vlm_st_file_path(const vlm_st_set *set, size_t i);
/* The string-to-string __metadata__ of file i (NULL-terminated key, value, key, value...);
 * NULL when the file has none. */
const char *const *vlm_st_metadata(const vlm_st_set *set, size_t file_index);

#endif
