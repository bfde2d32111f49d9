/* String map and merge map (see tok_hash.h). Tables stay at most half full. The batched
 * operations run a three-stage pipeline: hash key i and prefetch its slot; probe key
 * i - D (its slot is in cache by now) and prefetch its key text; compare key i - 2D. */
#include "text/tok_hash.h"

#include <stdlib.h>

#include "core/alloc.h"
#include "core/checked.h"

#define PIPE_D 16
#define PIPE_R 64 /* ring size, > 2 * PIPE_D */

#if defined(__GNUC__)
#define PREFETCH(p) __builtin_prefetch(p)
#else
#define PREFETCH(p) ((void)0)
#endif

void tok_strmap_init(tok_strmap *m) {
    memset(m, 0, sizeof *m);
}

void tok_strmap_free(tok_strmap *m) {
    free(m->arena);
    free(m->slots);
    tok_strmap_init(m);
}

static size_t slots_for(size_t n) {
    size_t want = 16;
    while (want < 2 * n)
        want *= 2;
    return want;
}

bool tok_strmap_grow(tok_strmap *m, size_t n) {
    if (n > (size_t)UINT32_MAX) return false;
    size_t want = slots_for(n);
    if (m->slots && want <= m->mask + 1) return true;
    tok_strslot *slots = vlm_calloc_array(want, sizeof *slots);
    if (!slots) return false;
    size_t mask = want - 1;
    for (size_t i = 0; m->slots && i <= m->mask; i++) {
        tok_strslot s = m->slots[i];
        if (!s.tag) continue;
        size_t j = (size_t)tok_hash_bytes(m->arena + s.off, s.len) & mask;
        while (slots[j].tag)
            j = (j + 1) & mask;
        slots[j] = s;
    }
    free(m->slots);
    m->slots = slots;
    m->mask = mask;
    return true;
}

bool tok_strmap_reserve(tok_strmap *m, size_t n, size_t arena_bytes) {
    if (arena_bytes > UINT32_MAX) return false;
    if (arena_bytes > m->arena_cap) {
        char *a = realloc(m->arena, arena_bytes);
        if (!a) return false;
        m->arena = a;
        m->arena_cap = arena_bytes;
    }
    return tok_strmap_grow(m, n);
}

uint32_t tok_strmap_arena_add(tok_strmap *m, const char *key, size_t len) {
    size_t need;
    if (!vlm_size_add(m->arena_len, len, &need) || !vlm_size_add(need, 1, &need) ||
        need > UINT32_MAX)
        return UINT32_MAX;
    if (need > m->arena_cap) {
        size_t cap = m->arena_cap < 4096 ? 4096 : m->arena_cap;
        while (cap < need)
            cap *= 2;
        if (cap > UINT32_MAX) cap = UINT32_MAX;
        char *a = realloc(m->arena, cap);
        if (!a) return UINT32_MAX;
        m->arena = a;
        m->arena_cap = cap;
    }
    uint32_t off = (uint32_t)m->arena_len;
    if (len) memcpy(m->arena + off, key, len);
    m->arena[off + len] = '\0';
    m->arena_len = need;
    return off;
}

/* Inserts or updates the key at arena + off (its text is already there). */
static void put_at(tok_strmap *m, uint64_t h, uint32_t off, uint32_t len, int32_t val) {
    uint32_t tag = tok_strmap_tag(h);
    const char *key = m->arena + off;
    for (size_t i = (size_t)h & m->mask;; i = (i + 1) & m->mask) {
        tok_strslot *s = &m->slots[i];
        if (!s->tag) {
            *s = (tok_strslot){tag, len, off, val};
            m->n++;
            return;
        }
        if (s->tag == tag && s->len == len && memcmp(m->arena + s->off, key, len) == 0) {
            s->val = val;
            return;
        }
    }
}

bool tok_strmap_put(tok_strmap *m, const char *key, size_t len, int32_t val) {
    uint64_t h = tok_hash_bytes(key, len);
    const tok_strslot *found = tok_strmap_find_h(m, key, len, h);
    if (found) {
        ((tok_strslot *)found)->val = val;
        return true;
    }
    if (!tok_strmap_grow(m, m->n + 1)) return false;
    uint32_t off = tok_strmap_arena_add(m, key, len);
    if (off == UINT32_MAX) return false;
    put_at(m, h, off, (uint32_t)len, val);
    return true;
}

void tok_strmap_put_arena_many(tok_strmap *m, const tok_strkey *keys, const int32_t *vals,
                               size_t n) {
    uint64_t hs[PIPE_R];
    for (size_t i = 0; i < n + PIPE_D; i++) {
        if (i < n) {
            uint64_t h = tok_hash_bytes(m->arena + keys[i].off, keys[i].len);
            hs[i % PIPE_R] = h;
            PREFETCH(&m->slots[(size_t)h & m->mask]);
        }
        if (i >= PIPE_D) {
            size_t j = i - PIPE_D;
            put_at(m, hs[j % PIPE_R], keys[j].off, keys[j].len, vals[j]);
        }
    }
}

void tok_strmap_get_many(const tok_strmap *m, const char *base, const tok_strkey *keys, size_t n,
                         int32_t *vals) {
    if (!m->slots) {
        for (size_t i = 0; i < n; i++)
            vals[i] = -1;
        return;
    }
    uint64_t hs[PIPE_R];
    long cand[PIPE_R]; /* slot index of the first tag/len match, or -1 */
    for (size_t i = 0; i < n + 2 * PIPE_D; i++) {
        if (i < n) {
            uint64_t h = tok_hash_bytes(base + keys[i].off, keys[i].len);
            hs[i % PIPE_R] = h;
            PREFETCH(&m->slots[(size_t)h & m->mask]);
        }
        if (i >= PIPE_D && i - PIPE_D < n) {
            size_t j = i - PIPE_D;
            uint64_t h = hs[j % PIPE_R];
            uint32_t tag = tok_strmap_tag(h);
            long c = -1;
            for (size_t s = (size_t)h & m->mask;; s = (s + 1) & m->mask) {
                const tok_strslot *sl = &m->slots[s];
                if (!sl->tag) break;
                if (sl->tag == tag && sl->len == keys[j].len) {
                    c = (long)s;
                    PREFETCH(m->arena + sl->off);
                    break;
                }
            }
            cand[j % PIPE_R] = c;
        }
        if (i >= 2 * PIPE_D) {
            size_t k = i - 2 * PIPE_D;
            long c = cand[k % PIPE_R];
            const char *key = base + keys[k].off;
            if (c < 0) {
                vals[k] = -1;
            } else if (memcmp(m->arena + m->slots[c].off, key, keys[k].len) == 0) {
                vals[k] = m->slots[c].val;
            } else { /* a 32-bit tag collision: probe the slow way */
                const tok_strslot *s = tok_strmap_find_h(m, key, keys[k].len, hs[k % PIPE_R]);
                vals[k] = s ? s->val : -1;
            }
        }
    }
}

/* ---------------------------------------------------------------- merges */

bool tok_mergemap_init(tok_mergemap *m, size_t expected) {
    size_t n = 16;
    while (n < 2 * expected) {
        if (n > ((size_t)1 << 40)) return false;
        n *= 2;
    }
    m->slots = vlm_malloc_array(n, sizeof *m->slots);
    if (!m->slots) return false;
    memset(m->slots, 0xFF, n * sizeof *m->slots); /* key UINT64_MAX: empty */
    m->mask = n - 1;
    m->n = 0;
    return true;
}

void tok_mergemap_free(tok_mergemap *m) {
    free(m->slots);
    memset(m, 0, sizeof *m);
}

static void merge_put_at(tok_mergemap *m, uint64_t k, uint32_t rank, int32_t new_id) {
    size_t i = tok_merge_hash(k) & m->mask;
    while (m->slots[i].key != UINT64_MAX && m->slots[i].key != k)
        i = (i + 1) & m->mask;
    if (m->slots[i].key == UINT64_MAX) m->n++;
    m->slots[i] = (tok_merge_slot){k, rank, new_id};
}

bool tok_mergemap_put(tok_mergemap *m, int32_t a, int32_t b, uint32_t rank, int32_t new_id) {
    if (!m->slots || 2 * (m->n + 1) > m->mask + 1) {
        tok_mergemap bigger;
        if (!tok_mergemap_init(&bigger, 2 * (m->n + 1))) return false;
        for (size_t i = 0; m->slots && i <= m->mask; i++)
            if (m->slots[i].key != UINT64_MAX)
                merge_put_at(&bigger, m->slots[i].key, m->slots[i].rank, m->slots[i].new_id);
        free(m->slots);
        *m = bigger;
    }
    merge_put_at(m, tok_merge_key(a, b), rank, new_id);
    return true;
}

void tok_mergemap_put_many(tok_mergemap *m, const int32_t *a, const int32_t *b,
                           const int32_t *new_id, size_t n, uint32_t rank0) {
    for (size_t i = 0; i < n + PIPE_D; i++) {
        if (i < n) PREFETCH(&m->slots[tok_merge_hash(tok_merge_key(a[i], b[i])) & m->mask]);
        if (i >= PIPE_D) {
            size_t j = i - PIPE_D;
            merge_put_at(m, tok_merge_key(a[j], b[j]), rank0 + (uint32_t)j, new_id[j]);
        }
    }
}
