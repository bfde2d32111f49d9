/* A word -> ids cache shared by all threads that encode with one tokenizer, like the BPE
 * word cache of HF tokenizers. Direct-mapped slots, each guarded by a sequence lock:
 * a writer takes a slot with a compare-and-swap (or gives up), a reader copies the slot
 * and keeps the copy only if the sequence did not move. Every shared field is a C11
 * atomic, so concurrent encodes are race-free; a lost or skipped write only costs a
 * later recomputation, never a wrong answer. */
#ifndef VLM_TEXT_TOK_CACHE_H
#define VLM_TEXT_TOK_CACHE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TOK_CACHE_WORD_MAX 24 /* bytes of word text a slot holds */
#define TOK_CACHE_IDS_MAX 4   /* ids a slot holds */
#define TOK_CACHE_SLOTS 16384

typedef struct tok_cache_slot {
    _Atomic uint64_t seq;  /* even: stable; odd: being written */
    _Atomic uint64_t hash; /* 0: empty */
    _Atomic uint64_t meta; /* word length | n_ids << 8 */
    _Atomic uint64_t word[3];
    _Atomic uint64_t ids[2];
} tok_cache_slot;

typedef struct tok_cache {
    tok_cache_slot *slots; /* TOK_CACHE_SLOTS, or NULL: caching off */
} tok_cache;

bool tok_cache_init(tok_cache *c);
void tok_cache_free(tok_cache *c);
/* Copies the ids of word w (len <= TOK_CACHE_WORD_MAX) to ids[]; returns their count, or
 * -1 when absent. */
int tok_cache_get(const tok_cache *c, const char *w, size_t len, uint64_t h, int32_t *ids);
/* Stores ids (n <= TOK_CACHE_IDS_MAX) for w; may silently do nothing. */
void tok_cache_put(const tok_cache *c, const char *w, size_t len, uint64_t h, const int32_t *ids,
                   int n);

#endif
