/* The shared word cache (see tok_cache.h): the sequence-lock pattern with C11 atomics
 * (writer: seq odd, release fence, relaxed payload stores, seq even with release;
 * reader: seq with acquire, relaxed payload loads, acquire fence, seq again). */
#include "text/tok_cache.h"

#include <stdlib.h>
#include <string.h>

bool tok_cache_init(tok_cache *c) {
    c->slots = calloc(TOK_CACHE_SLOTS, sizeof *c->slots);
    if (!c->slots) return false;
    for (size_t i = 0; i < TOK_CACHE_SLOTS; i++) {
        tok_cache_slot *s = &c->slots[i];
        atomic_init(&s->seq, 0);
        atomic_init(&s->hash, 0);
        atomic_init(&s->meta, 0);
        for (int k = 0; k < 3; k++)
            atomic_init(&s->word[k], 0);
        for (int k = 0; k < 2; k++)
            atomic_init(&s->ids[k], 0);
    }
    return true;
}

void tok_cache_free(tok_cache *c) {
    free(c->slots);
    c->slots = NULL;
}

static inline uint64_t nonzero(uint64_t h) {
    return h ? h : 1;
}

int tok_cache_get(const tok_cache *c, const char *w, size_t len, uint64_t h, int32_t *ids) {
    if (!c->slots || len > TOK_CACHE_WORD_MAX) return -1;
    h = nonzero(h);
    tok_cache_slot *s = &c->slots[(h >> 17) & (TOK_CACHE_SLOTS - 1)];
    uint64_t s1 = atomic_load_explicit(&s->seq, memory_order_acquire);
    if (s1 & 1) return -1;
    uint64_t hh = atomic_load_explicit(&s->hash, memory_order_relaxed);
    uint64_t meta = atomic_load_explicit(&s->meta, memory_order_relaxed);
    uint64_t word[3], idw[2];
    for (int k = 0; k < 3; k++)
        word[k] = atomic_load_explicit(&s->word[k], memory_order_relaxed);
    for (int k = 0; k < 2; k++)
        idw[k] = atomic_load_explicit(&s->ids[k], memory_order_relaxed);
    atomic_thread_fence(memory_order_acquire);
    if (atomic_load_explicit(&s->seq, memory_order_relaxed) != s1) return -1;
    if (hh != h || (meta & 0xFF) != len) return -1;
    if (memcmp(word, w, len) != 0) return -1;
    int n = (int)((meta >> 8) & 0xFF);
    if (n > TOK_CACHE_IDS_MAX) return -1;
    memcpy(ids, idw, (size_t)n * sizeof *ids);
    return n;
}

void tok_cache_put(const tok_cache *c, const char *w, size_t len, uint64_t h, const int32_t *ids,
                   int n) {
    if (!c->slots || len > TOK_CACHE_WORD_MAX || n < 0 || n > TOK_CACHE_IDS_MAX) return;
    h = nonzero(h);
    tok_cache_slot *s = &c->slots[(h >> 17) & (TOK_CACHE_SLOTS - 1)];
    uint64_t s0 = atomic_load_explicit(&s->seq, memory_order_relaxed);
    if ((s0 & 1) || !atomic_compare_exchange_strong_explicit(
                        &s->seq, &s0, s0 + 1, memory_order_acquire, memory_order_relaxed))
        return; /* another writer has it: skip */
    atomic_thread_fence(memory_order_release);
    uint64_t word[3] = {0, 0, 0}, idw[2] = {0, 0};
    memcpy(word, w, len);
    memcpy(idw, ids, (size_t)n * sizeof *ids);
    atomic_store_explicit(&s->hash, h, memory_order_relaxed);
    atomic_store_explicit(&s->meta, (uint64_t)len | ((uint64_t)n << 8), memory_order_relaxed);
    for (int k = 0; k < 3; k++)
        atomic_store_explicit(&s->word[k], word[k], memory_order_relaxed);
    for (int k = 0; k < 2; k++)
        atomic_store_explicit(&s->ids[k], idw[k], memory_order_relaxed);
    atomic_store_explicit(&s->seq, s0 + 2, memory_order_release);
}
