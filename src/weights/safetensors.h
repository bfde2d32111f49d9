/* safetensors reader: one file or a sharded set (model.safetensors.index.json), mapped
 * read-only, every header validated before any tensor is used (header length cap, valid
 * JSON, known dtype, shape product x dtype size == byte span, spans inside the data area
 * and not overlapping, no duplicate names). `__metadata__` is kept. Reading a header
 * touches no tensor data. */
#ifndef VLM_WEIGHTS_SAFETENSORS_H
#define VLM_WEIGHTS_SAFETENSORS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vlm.h"

#define VLM_ST_MAX_DIMS 8
#define VLM_ST_MAX_HEADER_BYTES (100u << 20) /* 100 MiB, as the reference implementation */

/* Every dtype the safetensors format defines. */
typedef enum vlm_st_dtype {
    VLM_ST_BOOL = 0,
    VLM_ST_U8, VLM_ST_I8, VLM_ST_F8_E5M2, VLM_ST_F8_E4M3, VLM_ST_F8_E8M0, VLM_ST_F4,
    VLM_ST_F6_E2M3, VLM_ST_F6_E3M2,
    VLM_ST_I16, VLM_ST_U16, VLM_ST_F16, VLM_ST_BF16,
    VLM_ST_I32, VLM_ST_U32, VLM_ST_F32,
    VLM_ST_I64, VLM_ST_U64, VLM_ST_F64,
    VLM_ST_C64,
    VLM_ST_DTYPE_COUNT
} vlm_st_dtype;

const char *vlm_st_dtype_name(vlm_st_dtype dt); /* "BF16", ... as in the file */
/* Size of one element in bits (4 for F4, 6 for F6_*, 8 for U8, ...). */
int vlm_st_dtype_bits(vlm_st_dtype dt);

typedef struct vlm_st_tensor {
    const char *name;       /* owned by the set */
    vlm_st_dtype dtype;
    int ndim;
    int64_t shape[VLM_ST_MAX_DIMS];
    uint64_t nbytes;        /* == product(shape) * bits / 8 */
    const uint8_t *data;    /* inside the mapping; NULL if the set was opened header-only */
    int file_index;         /* which shard */
} vlm_st_tensor;

typedef struct vlm_st_set vlm_st_set; /* one or more files, one name space */

enum {
    VLM_ST_HEADER_ONLY = 1 /* read and validate headers; do not map tensor data */
};

/* Opens `path`: a .safetensors file, or a model.safetensors.index.json (its weight_map
 * names the shards, relative to the index's directory; every shard named must exist and
 * hold exactly the tensors the map gives it). */
vlm_status vlm_st_open(const char *path, int flags, vlm_st_set **out, vlm_error *err);
/* Opens the weights of a checkpoint directory: model.safetensors.index.json when present,
 * else model.safetensors, else every *.safetensors in the directory (sorted by name). */
vlm_status vlm_st_open_dir(const char *dir, int flags, vlm_st_set **out, vlm_error *err);
void vlm_st_close(vlm_st_set *set);

size_t vlm_st_count(const vlm_st_set *set);
const vlm_st_tensor *vlm_st_at(const vlm_st_set *set, size_t i); /* in file order */
const vlm_st_tensor *vlm_st_find(const vlm_st_set *set, const char *name); /* NULL if absent */
size_t vlm_st_file_count(const vlm_st_set *set);
const char *vlm_st_file_path(const vlm_st_set *set, size_t i);
/* The string-to-string __metadata__ of file i (NULL-terminated key, value, key, value...);
 * NULL when the file has none. */
const char *const *vlm_st_metadata(const vlm_st_set *set, size_t file_index);

#endif
