/* The two hash tables the tokenizer lives on: a string -> int32 map (vocabulary, added
 * tokens) that owns its strings in one arena, and a (left id, right id) -> (rank, new id)
 * map for BPE merges. Open addressing with linear probing, at most half full. Both are
 * filled at load and only read afterwards, so lookups are safe from any number of
 * threads.
 *
 * Loading a 262k-token vocabulary with 515k merges is bound by cache misses, so both
 * tables also have batched operations that prefetch the slots of upcoming keys while
 * resolving earlier ones (a software pipeline, D keys deep). */
#ifndef VLM_TEXT_TOK_HASH_H
#define VLM_TEXT_TOK_HASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline uint64_t tok_hash_bytes(const char *p, size_t n) {
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (n * 0xC2B2AE3D27D4EB4Full);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0xFF51AFD7ED558CCDull;
        h ^= h >> 32;
        p += 8;
        n -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, p, n);
    h = (h ^ w) * 0xC4CEB9FE1A85EC53ull;
    h ^= h >> 29;
    h *= 0x9E3779B97F4A7C15ull;
    return h ^ (h >> 32);
}

/* ---------------------------------------------------------------- string -> int32 */

/* One slot: everything but the key bytes, so a probe touches one cache line. */
typedef struct tok_strslot {
    uint32_t tag; /* (hash >> 32) | 1; 0 = empty */
    uint32_t len;
    uint32_t off; /* key in the arena */
    int32_t val;
} tok_strslot;

typedef struct tok_strmap {
    char *arena; /* keys back to back, each NUL-terminated */
    size_t arena_len, arena_cap;
    tok_strslot *slots;
    size_t mask, n;
} tok_strmap;

void tok_strmap_init(tok_strmap *m);
void tok_strmap_free(tok_strmap *m);
/* Makes room for n keys in total and arena_bytes of key text; false on exhaustion. */
bool tok_strmap_reserve(tok_strmap *m, size_t n, size_t arena_bytes);
/* Sets key -> val; a repeated key takes the new value. False on exhaustion or when the
 * keys would exceed 4 GiB. */
bool tok_strmap_put(tok_strmap *m, const char *key, size_t len, int32_t val);

static inline uint32_t tok_strmap_tag(uint64_t h) {
    return (uint32_t)(h >> 32) | 1u;
}

/* The slot of key, or NULL. */
static inline const tok_strslot *tok_strmap_find_h(const tok_strmap *m, const char *key, size_t len,
                                                   uint64_t h) {
    if (!m->slots) return NULL;
    uint32_t tag = tok_strmap_tag(h);
    for (size_t i = (size_t)h & m->mask;; i = (i + 1) & m->mask) {
        const tok_strslot *s = &m->slots[i];
        if (!s->tag) return NULL;
        if (s->tag == tag && s->len == len && memcmp(m->arena + s->off, key, len) == 0) return s;
    }
}
static inline int32_t tok_strmap_get(const tok_strmap *m, const char *key, size_t len) {
    const tok_strslot *s = tok_strmap_find_h(m, key, len, tok_hash_bytes(key, len));
    return s ? s->val : -1;
}
static inline const char *tok_strmap_key(const tok_strmap *m, const tok_strslot *s) {
    return m->arena + s->off;
}

/* A key for the batched operations: bytes at base + off. */
typedef struct tok_strkey {
    uint32_t off, len;
} tok_strkey;

/* vals[i] = value of the key base[keys[i].off .. +len], or -1; for n keys. */
void tok_strmap_get_many(const tok_strmap *m, const char *base, const tok_strkey *keys, size_t n,
                         int32_t *vals);

/* Inserts keys already appended to the arena (key i at arena + keys[i].off) in order,
 * later values winning; the caller reserved room for them. Keys whose text turns out to
 * be a duplicate leave their arena copy unused. */
void tok_strmap_put_arena_many(tok_strmap *m, const tok_strkey *keys, const int32_t *vals,
                               size_t n);
/* Appends key bytes to the arena (growing it); returns the offset or UINT32_MAX. */
uint32_t tok_strmap_arena_add(tok_strmap *m, const char *key, size_t len);
/* Grows the slot table for n keys in total (keeps the arena). */
bool tok_strmap_grow(tok_strmap *m, size_t n);

/* ---------------------------------------------------------------- (a, b) -> merge */

typedef struct tok_merge_slot {
    uint64_t key; /* (a << 32) | b; UINT64_MAX = empty */
    uint32_t rank;
    int32_t new_id;
} tok_merge_slot;

typedef struct tok_mergemap {
    tok_merge_slot *slots;
    size_t mask, n;
} tok_mergemap;

bool tok_mergemap_init(tok_mergemap *m, size_t expected);
void tok_mergemap_free(tok_mergemap *m);
/* Sets (a, b) -> (rank, new_id); a repeated pair takes the new values (HF builds a hash
 * map from the merges list, so the last occurrence wins). */
bool tok_mergemap_put(tok_mergemap *m, int32_t a, int32_t b, uint32_t rank, int32_t new_id);
/* Inserts n merges with ranks rank0, rank0 + 1, ... in order, prefetching ahead; the
 * table must have been sized for them (tok_mergemap_init). */
void tok_mergemap_put_many(tok_mergemap *m, const int32_t *a, const int32_t *b,
                           const int32_t *new_id, size_t n, uint32_t rank0);

static inline uint64_t tok_merge_key(int32_t a, int32_t b) {
    return ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
}
static inline size_t tok_merge_hash(uint64_t k) {
    k ^= k >> 33;
    k *= 0xFF51AFD7ED558CCDull;
    k ^= k >> 33;
    return (size_t)k;
}
/* The slot of (a, b), or NULL. */
static inline const tok_merge_slot *tok_mergemap_get(const tok_mergemap *m, int32_t a, int32_t b) {
    if (!m->slots) return NULL;
    uint64_t k = tok_merge_key(a, b);
    for (size_t i = tok_merge_hash(k) & m->mask;; i = (i + 1) & m->mask) {
        const tok_merge_slot *s = &m->slots[i];
        if (s->key == k) return s;
        if (s->key == UINT64_MAX) return NULL;
    }
}

#endif
