/* The per-forward scratch arena (see arena.h): a list of backend blocks, bump allocation in
 * the last one, consolidation into a single block at reset. */
#include "tensor/arena.h"

#include <stdlib.h>
#include <string.h>

#include "core/checked.h"
#include "core/error.h"
#include "tensor/backend.h"

#define ARENA_MAX_BLOCKS 64
#define ARENA_MIN_BLOCK ((size_t)1 << 20)

struct vlm_arena {
    const vlm_backend *backend;
    vlm_buffer *blocks[ARENA_MAX_BLOCKS];
    size_t used[ARENA_MAX_BLOCKS]; /* bytes handed out in each block */
    int n_blocks;
    int cur;          /* the block allocations come from */
    size_t in_use;    /* sum of used[] over blocks 0..cur */
    size_t pass_peak; /* most in_use since the last reset */
    vlm_arena_stats stats;
};

static size_t round_up(size_t n, size_t a, bool *ok) {
    size_t r;
    if (!vlm_size_add(n, a - 1, &r)) {
        *ok = false;
        return 0;
    }
    return r / a * a;
}

static vlm_status add_block(vlm_arena *a, size_t size, vlm_error *err) {
    if (a->n_blocks >= ARENA_MAX_BLOCKS)
        return vlm_err(err, VLM_ERR_LIMIT, "arena: more than %d blocks", ARENA_MAX_BLOCKS);
    vlm_buffer *b;
    vlm_status st = vlm_buffer_alloc(a->backend, size, &b, err);
    if (st != VLM_OK) {
        vlm_err_prefix(err, "arena: block of %zu bytes", size);
        return st;
    }
    a->blocks[a->n_blocks] = b;
    a->used[a->n_blocks] = 0;
    a->n_blocks++;
    a->stats.n_system_allocs++;
    a->stats.reserved += size;
    return VLM_OK;
}

vlm_status vlm_arena_create(const vlm_backend *backend, size_t initial, vlm_arena **out,
                            vlm_error *err) {
    if (out) *out = NULL;
    if (!backend || !out) return vlm_err(err, VLM_ERR_INVALID_ARGUMENT, "arena_create: NULL");
    vlm_arena *a = calloc(1, sizeof *a);
    if (!a) return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "arena_create: out of memory");
    a->backend = backend;
    if (initial > 0) {
        bool ok = true;
        size_t size = round_up(initial, VLM_ARENA_ALIGN, &ok);
        vlm_status st = ok ? add_block(a, size, err)
                           : vlm_err(err, VLM_ERR_LIMIT, "arena_create: %zu bytes", initial);
        if (st != VLM_OK) {
            free(a);
            return st;
        }
    }
    *out = a;
    return VLM_OK;
}

static void free_blocks(vlm_arena *a) {
    for (int i = 0; i < a->n_blocks; i++) {
        a->stats.reserved -= a->blocks[i]->size;
        vlm_buffer_free(a->blocks[i]);
        a->stats.n_system_frees++;
        a->blocks[i] = NULL;
        a->used[i] = 0;
    }
    a->n_blocks = 0;
    a->cur = 0;
    a->in_use = 0;
}

void vlm_arena_free(vlm_arena *a) {
    if (!a) return;
    free_blocks(a);
    free(a);
}

const vlm_backend *vlm_arena_backend(const vlm_arena *a) {
    return a->backend;
}

vlm_status vlm_arena_alloc(vlm_arena *a, size_t size, vlm_buffer **buf, int64_t *offset,
                           vlm_error *err) {
    bool ok = true;
    size_t need = round_up(size ? size : 1, VLM_ARENA_ALIGN, &ok);
    if (!ok || need > (size_t)INT64_MAX / 2)
        return vlm_err(err, VLM_ERR_LIMIT, "arena: allocation of %zu bytes is too large", size);
    /* Move forward through blocks already reserved, then grow. Space left at the end of a
     * block that was skipped counts as used until the next reset. */
    while (a->n_blocks == 0 || a->blocks[a->cur]->size - a->used[a->cur] < need) {
        if (a->n_blocks > 0 && a->cur + 1 < a->n_blocks) {
            a->in_use += a->blocks[a->cur]->size - a->used[a->cur];
            a->used[a->cur] = a->blocks[a->cur]->size;
            a->cur++;
            continue;
        }
        size_t size_new = need > ARENA_MIN_BLOCK ? need : ARENA_MIN_BLOCK;
        if (a->n_blocks > 0) {
            size_t twice = a->blocks[a->cur]->size * 2; /* geometric growth */
            if (twice > size_new && twice / 2 == a->blocks[a->cur]->size) size_new = twice;
            a->in_use += a->blocks[a->cur]->size - a->used[a->cur];
            a->used[a->cur] = a->blocks[a->cur]->size;
        }
        vlm_status st = add_block(a, size_new, err);
        if (st != VLM_OK) return st;
        a->cur = a->n_blocks - 1;
    }
    *buf = a->blocks[a->cur];
    *offset = (int64_t)a->used[a->cur];
    a->used[a->cur] += need;
    a->in_use += need;
    if (a->in_use > a->pass_peak) a->pass_peak = a->in_use;
    if (a->in_use > a->stats.peak) a->stats.peak = a->in_use;
    return VLM_OK;
}

vlm_status vlm_arena_tensor(vlm_arena *a, vlm_dtype dtype, int ndim, const int64_t *shape,
                            vlm_tensor *out, vlm_error *err) {
    vlm_tensor t;
    vlm_status st = vlm_tensor_init(&t, NULL, 0, dtype, ndim, shape, err);
    if (st != VLM_OK) return st;
    vlm_buffer *buf;
    int64_t off;
    st = vlm_arena_alloc(a, (size_t)vlm_tensor_nbytes(&t), &buf, &off, err);
    if (st != VLM_OK) return st;
    t.buf = buf;
    t.offset = off;
    *out = t;
    return VLM_OK;
}

vlm_arena_mark vlm_arena_get_mark(const vlm_arena *a) {
    vlm_arena_mark m = {a->cur, a->n_blocks ? a->used[a->cur] : 0};
    return m;
}

void vlm_arena_release(vlm_arena *a, vlm_arena_mark m) {
    if (a->n_blocks == 0 || m.block < 0 || m.block > a->cur) return;
    for (int i = a->cur; i > m.block; i--) {
        a->in_use -= a->used[i];
        a->used[i] = 0;
    }
    /* Blocks skipped when the mark was taken were filled to the end; restore the mark's
     * block to its level then. */
    if (m.used <= a->used[m.block]) {
        a->in_use -= a->used[m.block] - m.used;
        a->used[m.block] = m.used;
    }
    a->cur = m.block;
}

vlm_status vlm_arena_reset(vlm_arena *a, vlm_error *err) {
    size_t peak = a->pass_peak;
    a->pass_peak = 0;
    if (a->n_blocks > 1) {
        free_blocks(a);
        bool ok = true;
        size_t size = peak + peak / 4;
        size = round_up(size > ARENA_MIN_BLOCK ? size : ARENA_MIN_BLOCK, ARENA_MIN_BLOCK, &ok);
        if (!ok) return vlm_err(err, VLM_ERR_LIMIT, "arena_reset: %zu bytes", peak);
        return add_block(a, size, err);
    }
    if (a->n_blocks == 1) a->used[0] = 0;
    a->cur = 0;
    a->in_use = 0;
    return VLM_OK;
}

vlm_arena_stats vlm_arena_get_stats(const vlm_arena *a) {
    vlm_arena_stats s = a->stats;
    s.used = a->in_use;
    s.n_blocks = a->n_blocks;
    return s;
}
