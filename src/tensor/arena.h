/* Scratch arena: the memory of one forward pass (activations, temporaries of ops), taken
 * from a backend in large blocks and handed out by bumping an offset. reset() makes all of
 * it free again in O(1). When a pass needed more than one block, the next reset replaces
 * the blocks with a single one of the peak size (plus headroom), so after one warm-up pass
 * a repeated pass of the same shapes takes nothing more from the system: `stats` counts
 * the backend allocations to prove it.
 *
 * mark()/release() give stack discipline inside a pass: an op takes temporaries above a
 * mark and gives them back before returning. Tensors allocated from the arena are valid
 * until the release below them or the next reset. Not thread-safe: one arena per session
 * (or per thread). */
#ifndef VLM_TENSOR_ARENA_H
#define VLM_TENSOR_ARENA_H

#include <stddef.h>
#include <stdint.h>

#include "tensor/tensor.h"

#define VLM_ARENA_ALIGN 64 /* every allocation starts on a 64-byte boundary */

typedef struct vlm_arena vlm_arena;

typedef struct vlm_arena_stats {
    uint64_t n_system_allocs; /* backend allocations (blocks) since creation */
    uint64_t n_system_frees;
    size_t reserved; /* bytes held in blocks now */
    size_t used;     /* bytes handed out now (alignment included) */
    size_t peak;     /* most bytes handed out at once since creation */
    int n_blocks;
} vlm_arena_stats;

typedef struct vlm_arena_mark {
    int block;
    size_t used;
} vlm_arena_mark;

/* `initial` bytes are reserved at once (0: the first allocation decides). */
vlm_status vlm_arena_create(const vlm_backend *backend, size_t initial, vlm_arena **out,
                            vlm_error *err);
void vlm_arena_free(vlm_arena *a); /* NULL is a no-op */

const vlm_backend *vlm_arena_backend(const vlm_arena *a);

/* `size` bytes (rounded up to VLM_ARENA_ALIGN) as a buffer and a byte offset in it. */
vlm_status vlm_arena_alloc(vlm_arena *a, size_t size, vlm_buffer **buf, int64_t *offset,
                           vlm_error *err);
/* A contiguous tensor of the given shape. */
vlm_status vlm_arena_tensor(vlm_arena *a, vlm_dtype dtype, int ndim, const int64_t *shape,
                            vlm_tensor *out, vlm_error *err);

vlm_arena_mark vlm_arena_get_mark(const vlm_arena *a);
/* Frees everything allocated after the mark (the blocks stay reserved). */
void vlm_arena_release(vlm_arena *a, vlm_arena_mark mark);

/* Frees every allocation. If the pass used more than one block, the blocks are replaced
 * by one of peak * 5/4 bytes (rounded to 1 MiB); that is the only time memory moves. */
vlm_status vlm_arena_reset(vlm_arena *a, vlm_error *err);

vlm_arena_stats vlm_arena_get_stats(const vlm_arena *a);

#endif
