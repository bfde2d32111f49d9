/* Parsing and validation of one safetensors header: the JSON text that follows a file's
 * 8-byte length. Internal to src/weights: the reader turns the result into a vlm_st_set.
 * Every rule of the format is checked here, and every error names the file and the tensor
 * or field at fault. */
#ifndef VLM_WEIGHTS_SAFETENSORS_HEADER_H
#define VLM_WEIGHTS_SAFETENSORS_HEADER_H

#include "weights/safetensors.h"

typedef struct vlm_st_header {
    /* In header order. Names are owned here; data is NULL, file_index 0, and offset is
     * counted from the start of the file. */
    vlm_st_tensor *tensors;
    size_t count;
    /* __metadata__ as key, value, key, value, ..., NULL (owned); NULL when the header has
     * none (absent or null). */
    char **metadata;
} vlm_st_header;

/* Parses and validates text[0..len), the header of the file `path` (named in errors), whose
 * data area starts at byte data_start of the file and holds data_size bytes:
 * - a JSON object without duplicate keys;
 * - "__metadata__": null or an object of string -> string;
 * - every other member a tensor {"dtype", "shape", "data_offsets"} and nothing more, with a
 *   known dtype, at most VLM_ST_MAX_DIMS non-negative integer dimensions, offsets
 *   [begin, end] with begin <= end <= data_size, and end - begin == product(shape) * bits / 8
 *   (a whole number of bytes);
 * - no two tensors with bytes sharing a byte (empty tensors may sit anywhere in range).
 * Gaps between tensors and bytes after the last one are accepted (the reference rejects
 * them; they are harmless to a reader). Names and metadata may not hold NUL bytes. On
 * failure *out is empty. */
vlm_status vlm_st_header_parse(const char *path, const char *text, size_t len, uint64_t data_start,
                               uint64_t data_size, vlm_st_header *out, vlm_error *err);
void vlm_st_header_free(vlm_st_header *h);

/* Writes "[2, 3]" (or "[]") into buf, truncated to size. */
void vlm_st_shape_format(const int64_t *shape, int ndim, char *buf, size_t size);

/* Tensor names are cut to this many bytes in error messages, so the file name and the
 * reason always fit. */
#define VLM_ST_NAME_IN_ERR "%.200s"

#endif
