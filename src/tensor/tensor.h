/* Tensors: a dtype, an int64 shape, byte strides and a byte offset into a buffer that some
 * backend owns (host memory for the CPU, device memory for CUDA). A vlm_tensor is a small
 * value: copying it or taking a view (narrow, permute, reshape, ...) never copies data and
 * never allocates. Buffers are not reference-counted: whoever created one (the weight
 * loader, a session's arena, a test) frees it, after every tensor pointing into it is dead.
 *
 * Shapes are row-major in the usual sense (the last dimension varies fastest in a
 * contiguous tensor); strides are in bytes, never negative, and may be 0 (broadcast views
 * made with vlm_tensor_expand). Every size computed here is overflow-checked and every view
 * stays inside its buffer (checked when the tensor is made). */
#ifndef VLM_TENSOR_TENSOR_H
#define VLM_TENSOR_TENSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tensor/dtype.h"
#include "vlm.h"

#define VLM_MAX_DIMS 8

typedef struct vlm_backend vlm_backend; /* a table of functions; see backend.h */

/* A block of memory on one backend. `data` is a host address for the CPU backend and a
 * device address for others; only the backend dereferences it. */
typedef struct vlm_buffer {
    const vlm_backend *backend;
    void *data;
    size_t size;    /* bytes */
    unsigned flags; /* VLM_BUFFER_* */
} vlm_buffer;

enum {
    VLM_BUFFER_OWNED = 1u,    /* vlm_buffer_free returns `data` to the backend */
    VLM_BUFFER_READONLY = 2u, /* ops refuse to write into it (mmapped weights) */
};

typedef struct vlm_tensor {
    vlm_dtype dtype;
    int ndim;                     /* 0..VLM_MAX_DIMS; 0 is a scalar (one element) */
    int64_t shape[VLM_MAX_DIMS];  /* entries past ndim are 1 */
    int64_t stride[VLM_MAX_DIMS]; /* bytes; entries past ndim are 0 */
    vlm_buffer *buf;
    int64_t offset; /* bytes from buf->data to element [0, 0, ...] */
} vlm_tensor;

/* ---------------------------------------------------------------- buffers */

/* The CPU backend (host memory, OpenMP threads). A static table: never freed. */
const vlm_backend *vlm_backend_cpu(void);
const char *vlm_backend_name(const vlm_backend *backend);

/* Allocates `size` bytes on `backend` (64-byte aligned; contents undefined). *out owns
 * them; release with vlm_buffer_free. */
vlm_status vlm_buffer_alloc(const vlm_backend *backend, size_t size, vlm_buffer **out,
                            vlm_error *err);

/* Wraps memory the caller owns (e.g. an mmapped safetensors file) without copying it.
 * `flags` may contain VLM_BUFFER_READONLY; VLM_BUFFER_OWNED is ignored (the memory is
 * never freed by the buffer). Only host-memory backends accept host pointers. */
vlm_status vlm_buffer_wrap(const vlm_backend *backend, void *data, size_t size, unsigned flags,
                           vlm_buffer **out, vlm_error *err);

/* Frees the buffer (and its memory when owned). NULL is a no-op. */
void vlm_buffer_free(vlm_buffer *buf);

/* Copies n bytes between host memory and the buffer at byte `offset` (bounds-checked). */
vlm_status vlm_buffer_upload(vlm_buffer *buf, size_t offset, const void *src, size_t n,
                             vlm_error *err);
vlm_status vlm_buffer_download(const vlm_buffer *buf, size_t offset, void *dst, size_t n,
                               vlm_error *err);

/* ---------------------------------------------------------------- making tensors */

/* A contiguous tensor over `buf` starting at byte `offset`. Fails (naming the shape) if a
 * dimension is negative, the size overflows, the dtype is unknown or it does not fit. */
vlm_status vlm_tensor_init(vlm_tensor *t, vlm_buffer *buf, int64_t offset, vlm_dtype dtype,
                           int ndim, const int64_t *shape, vlm_error *err);

/* Same with explicit byte strides. Strides and the offset are non-negative multiples of the
 * element size, every element lies inside the buffer, and on host-memory backends the
 * address of element 0 is aligned to the element size (a wrapped file mapping whose tensor
 * data is misaligned is refused: copy it). */
vlm_status vlm_tensor_init_strided(vlm_tensor *t, vlm_buffer *buf, int64_t offset, vlm_dtype dtype,
                                   int ndim, const int64_t *shape, const int64_t *stride,
                                   vlm_error *err);

/* Number of elements (product of the shape; 1 for a scalar). */
int64_t vlm_tensor_numel(const vlm_tensor *t);
/* numel * element size: the bytes of a contiguous copy. */
int64_t vlm_tensor_nbytes(const vlm_tensor *t);
/* True when the tensor is row-major contiguous (size-1 dimensions' strides ignored). */
bool vlm_tensor_is_contiguous(const vlm_tensor *t);
/* Same shape (ndim and every extent). */
bool vlm_tensor_same_shape(const vlm_tensor *a, const vlm_tensor *b);
/* The address of element [0, ...]: a host pointer on the CPU backend, a device address
 * elsewhere (never dereference it on the host then). */
void *vlm_tensor_data(const vlm_tensor *t);
/* Writes e.g. "f32[3,4]" or "bf16[8,2,16] strides(64,2048,4)" (non-contiguous) into buf. */
const char *vlm_tensor_describe(const vlm_tensor *t, char *buf, size_t n);

/* Contiguous tensors only: copy all nbytes between host memory and the tensor. */
vlm_status vlm_tensor_upload(const vlm_tensor *t, const void *src, size_t nbytes, vlm_error *err);
vlm_status vlm_tensor_download(const vlm_tensor *t, void *dst, size_t nbytes, vlm_error *err);

/* ---------------------------------------------------------------- views (no copies)
 * Every view function reads *x and writes *out (out may equal x). A negative `dim` counts
 * from the end (-1 is the last dimension). */

/* Elements start .. start+len-1 of dimension dim. */
vlm_status vlm_tensor_narrow(const vlm_tensor *x, int dim, int64_t start, int64_t len,
                             vlm_tensor *out, vlm_error *err);
/* Python-style x[..., start:stop:step, ...] on dimension dim (0 <= start <= stop <= size,
 * step >= 1; no negative indices). */
vlm_status vlm_tensor_slice(const vlm_tensor *x, int dim, int64_t start, int64_t stop, int64_t step,
                            vlm_tensor *out, vlm_error *err);
/* x[..., index, ...]: drops dimension dim. */
vlm_status vlm_tensor_select(const vlm_tensor *x, int dim, int64_t index, vlm_tensor *out,
                             vlm_error *err);
/* out dimension i is x dimension perm[i] (perm is a permutation of 0..ndim-1). */
vlm_status vlm_tensor_permute(const vlm_tensor *x, const int *perm, vlm_tensor *out,
                              vlm_error *err);
/* Swaps two dimensions. */
vlm_status vlm_tensor_transpose(const vlm_tensor *x, int d0, int d1, vlm_tensor *out,
                                vlm_error *err);
/* New shape with the same number of elements; one entry may be -1 (inferred). Succeeds
 * only when the strides allow a view (as torch.Tensor.view); otherwise returns
 * VLM_ERR_UNSUPPORTED and the caller makes a contiguous copy first (vlm_op_contiguous). */
vlm_status vlm_tensor_reshape(const vlm_tensor *x, int ndim, const int64_t *shape, vlm_tensor *out,
                              vlm_error *err);
/* Inserts a size-1 dimension at position dim (0..ndim). */
vlm_status vlm_tensor_unsqueeze(const vlm_tensor *x, int dim, vlm_tensor *out, vlm_error *err);
/* Broadcast view: size-1 dimensions of x (right-aligned against `shape`, missing leading
 * ones added) become stride-0 dimensions of the given extent. Read-only use only. */
vlm_status vlm_tensor_expand(const vlm_tensor *x, int ndim, const int64_t *shape, vlm_tensor *out,
                             vlm_error *err);

#endif
