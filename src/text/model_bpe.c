/* The BPE model of HF `tokenizers` (models/bpe/model.rs, word.rs): vocabulary and merges
 * loading with HF's checks, and the encoding of one pre-tokenized word:
 *   1. each character (with continuing_subword_prefix / end_of_word_suffix where HF adds
 *      them) becomes its vocab id; unknown characters become byte tokens "<0xXX>" when
 *      byte_fallback is on and all their bytes exist, else the unk token (fused when
 *      fuse_unk), else they are dropped;
 *   2. merges are applied lowest rank first, leftmost first among equal ranks, with HF's
 *      priority queue and its staleness test (the pair at the popped position must still
 *      merge into the popped id).
 * ignore_merges returns a word found whole in the vocabulary as one token. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "text/tok_internal.h"
#include "text/tok_json_scan.h"
#include "text/tok_unicode.h"

bool tok_ids_push(tok_ids *a, int32_t id) {
    if (a->n == a->cap) {
        size_t cap = a->cap ? 2 * a->cap : 64;
        int32_t *v = vlm_realloc_array(a->v, cap, sizeof *v);
        if (!v) return false;
        a->v = v;
        a->cap = cap;
    }
    a->v[a->n++] = id;
    return true;
}

static void free_raw(tok_bpe *m);

void tok_bpe_free(tok_bpe *m) {
    free_raw(m);
    tok_mergemap_free(&m->cross);
    tok_cache_free(&m->cache);
    tok_strmap_free(&m->vocab);
    free(m->id_off);
    free(m->id_len);
    tok_mergemap_free(&m->merges);
    free(m->unk_token);
    free(m->prefix);
    free(m->suffix);
    free(m->bmp_ids);
    memset(m, 0, sizeof *m);
}

void tok_bpe_scratch_free(tok_bpe_scratch *s) {
    free(s->seg);
    free(s->sym);
    free(s->heap);
    vlm_strbuf_free(&s->tmp);
    memset(s, 0, sizeof *s);
}

int32_t tok_bpe_token_to_id(const tok_bpe *m, const char *s, size_t n) {
    return tok_strmap_get(&m->vocab, s, n);
}

const char *tok_bpe_id_to_token(const tok_bpe *m, int32_t id, size_t *len) {
    if (id < 0 || id > m->max_id || !m->id_off || m->id_off[id] == UINT32_MAX) return NULL;
    if (len) *len = m->id_len[id];
    return m->vocab.arena + m->id_off[id];
}

/* ---------------------------------------------------------------- loading */

void tok_bpe_init(tok_bpe *m) {
    memset(m, 0, sizeof *m);
    tok_strmap_init(&m->vocab);
    m->max_id = -1;
    for (int i = 0; i < 256; i++)
        m->byte_ids[i] = -1;
}

static void free_raw(tok_bpe *m) {
    free(m->raw_keys);
    free(m->raw_vals);
    free(m->mtext);
    free(m->rawm);
    m->raw_keys = NULL;
    m->raw_vals = NULL;
    m->mtext = NULL;
    m->rawm = NULL;
    m->n_raw = m->cap_raw = m->mtext_len = m->mtext_cap = m->n_rawm = m->cap_rawm = 0;
}

/* An optional string member: absent or null -> *out NULL; a string -> a copy. */
static vlm_status opt_string(const vlm_json *model, const char *key, const char *origin, char **out,
                             size_t *len, vlm_error *err) {
    *out = NULL;
    *len = 0;
    const vlm_json *v = vlm_json_get(model, key);
    if (!v || vlm_json_is_null(v)) return VLM_OK;
    if (!vlm_json_is_string(v))
        return vlm_err(err, VLM_ERR_FORMAT, "%s: model.%s must be a string or null, not %s", origin,
                       key, vlm_json_type_name(v));
    *len = vlm_json_string_len(v);
    *out = vlm_strndup(vlm_json_string(v), *len);
    if (!*out) return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "out of memory");
    return VLM_OK;
}

static vlm_status opt_bool(const vlm_json *model, const char *key, const char *origin, bool *out,
                           vlm_error *err) {
    *out = false;
    const vlm_json *v = vlm_json_get(model, key);
    if (!v || vlm_json_is_null(v)) return VLM_OK;
    if (!vlm_json_is_bool(v))
        return vlm_err(err, VLM_ERR_FORMAT, "%s: model.%s must be a boolean or null, not %s",
                       origin, key, vlm_json_type_name(v));
    *out = vlm_json_true(v);
    return VLM_OK;
}

/* Grows the array p (capacity *cap elements) to hold `need`; returns the (possibly moved)
 * array, or NULL on exhaustion (p is then still valid). */
static void *grow(void *p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return p;
    size_t c = *cap ? *cap : 1024;
    while (c < need)
        c *= 2;
    void *v = vlm_realloc_array(p, c, elem);
    if (v) *cap = c;
    return v;
}

vlm_status tok_bpe_read_vocab(tok_bpe *m, tok_json_cur *c, const char *origin, vlm_error *err) {
    /* A repeated "vocab" key: the last one counts. */
    tok_strmap_free(&m->vocab);
    m->n_raw = 0;
    m->max_id = -1;
    vlm_strbuf scratch;
    vlm_strbuf_init(&scratch);
    vlm_status st = VLM_OK;
    const char *text = c->base;
    if (c->p >= c->end || *c->p != '{') {
        st = vlm_err(err, VLM_ERR_FORMAT, "%s: model.vocab must be an object", origin);
        goto done;
    }
    c->p++;
    tok_json_skip_ws(c);
    if (c->p < c->end && *c->p == '}') {
        c->p++;
        goto done;
    }
    for (;;) {
        tok_json_skip_ws(c);
        const char *k;
        size_t kl;
        if (!tok_json_string(c, &scratch, &k, &kl)) {
            st = vlm_err(err, VLM_ERR_FORMAT, "%s: model.vocab: bad token string near byte %zu",
                         origin, (size_t)(c->p - text));
            goto done;
        }
        tok_json_skip_ws(c);
        if (c->p >= c->end || *c->p != ':') {
            st = vlm_err(err, VLM_ERR_FORMAT, "%s: model.vocab: expected ':' near byte %zu", origin,
                         (size_t)(c->p - text));
            goto done;
        }
        c->p++;
        tok_json_skip_ws(c);
        long long id;
        int r = tok_json_uint(c, VLM_TOKENIZER_MAX_ID, &id);
        if (r) {
            int kw = (int)(kl > 60 ? 60 : kl);
            if (r == 3)
                st = vlm_err(err, VLM_ERR_LIMIT, "%s: model.vocab: id of token '%.*s' is above %d",
                             origin, kw, k, VLM_TOKENIZER_MAX_ID);
            else
                st = vlm_err(err, VLM_ERR_FORMAT,
                             "%s: model.vocab: id of token '%.*s' must be a non-negative integer",
                             origin, kw, k);
            goto done;
        }
        uint32_t off = tok_strmap_arena_add(&m->vocab, k, kl);
        size_t cap_v = m->cap_raw;
        int32_t *nv =
            off == UINT32_MAX ? NULL : grow(m->raw_vals, &cap_v, m->n_raw + 1, sizeof *nv);
        if (nv) m->raw_vals = nv;
        tok_strkey *nk = nv ? grow(m->raw_keys, &m->cap_raw, m->n_raw + 1, sizeof *nk) : NULL;
        if (!nk) {
            st = vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "out of memory reading model.vocab");
            goto done;
        }
        m->raw_keys = nk;
        m->raw_keys[m->n_raw] = (tok_strkey){off, (uint32_t)kl};
        m->raw_vals[m->n_raw] = (int32_t)id;
        m->n_raw++;
        if (id > m->max_id) m->max_id = (int32_t)id;
        tok_json_skip_ws(c);
        if (c->p < c->end && *c->p == '}') {
            c->p++;
            break;
        }
        if (c->p >= c->end || *c->p != ',') {
            st = vlm_err(err, VLM_ERR_FORMAT, "%s: model.vocab: expected ',' or '}' near byte %zu",
                         origin, (size_t)(c->p - text));
            goto done;
        }
        c->p++;
    }
    /* Insert all keys, prefetching (the text is already in the arena). */
    if (!tok_strmap_grow(&m->vocab, m->n_raw)) {
        st = vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "out of memory reading model.vocab");
        goto done;
    }
    tok_strmap_put_arena_many(&m->vocab, m->raw_keys, m->raw_vals, m->n_raw);
    m->have_vocab = true;
done:
    vlm_strbuf_free(&scratch);
    return st;
}

/* Appends s to the merge text; false on exhaustion or past 4 GiB. */
static bool mtext_add(tok_bpe *m, const char *s, size_t n) {
    if (m->mtext_len + n > UINT32_MAX) return false;
    char *t = grow(m->mtext, &m->mtext_cap, m->mtext_len + n + 1, 1);
    if (!t) return false;
    m->mtext = t;
    memcpy(m->mtext + m->mtext_len, s, n);
    m->mtext_len += n;
    return true;
}

vlm_status tok_bpe_read_merges(tok_bpe *m, tok_json_cur *c, const char *origin, vlm_error *err) {
    m->n_rawm = 0;
    m->mtext_len = 0;
    vlm_strbuf s1, s2;
    vlm_strbuf_init(&s1);
    vlm_strbuf_init(&s2);
    vlm_status st = VLM_OK;
    const char *text = c->base;
    int kind = 0; /* 1: "a b" strings, 2: [a, b] pairs */
    size_t index = 0;
    if (c->p >= c->end || *c->p != '[') {
        st = vlm_err(err, VLM_ERR_FORMAT, "%s: model.merges must be an array", origin);
        goto done;
    }
    c->p++;
    tok_json_skip_ws(c);
    if (c->p < c->end && *c->p == ']') {
        c->p++;
        m->have_merges = true;
        goto done;
    }
    for (;; index++) {
        tok_json_skip_ws(c);
        if (c->p >= c->end) goto bad;
        int k = *c->p == '"' ? 1 : *c->p == '[' ? 2 : 0;
        if (!k || (kind && k != kind)) {
            st = vlm_err(err, VLM_ERR_FORMAT, "%s: model.merges[%zu] must be %s", origin, index,
                         kind == 2   ? "a [left, right] pair like the others"
                         : kind == 1 ? "a \"left right\" string like the others"
                                     : "a string or a pair of strings");
            goto done;
        }
        kind = k;
        const char *a, *b;
        size_t al, bl;
        if (k == 1) {
            const char *s;
            size_t sl;
            if (!tok_json_string(c, &s1, &s, &sl)) goto bad;
            if (sl >= 8 && !memcmp(s, "#version", 8)) goto next; /* merges.txt header */
            const char *sp = memchr(s, ' ', sl);
            if (!sp || memchr(sp + 1, ' ', sl - (size_t)(sp + 1 - s))) {
                st = vlm_err(err, VLM_ERR_FORMAT,
                             "%s: model.merges[%zu] '%.*s' is not two tokens "
                             "separated by one space",
                             origin, index, (int)(sl > 60 ? 60 : sl), s);
                goto done;
            }
            a = s;
            al = (size_t)(sp - s);
            b = sp + 1;
            bl = sl - al - 1;
        } else {
            c->p++;
            tok_json_skip_ws(c);
            if (!tok_json_string(c, &s1, &a, &al)) goto bad;
            tok_json_skip_ws(c);
            if (c->p >= c->end || *c->p != ',') goto bad_pair;
            c->p++;
            tok_json_skip_ws(c);
            if (!tok_json_string(c, &s2, &b, &bl)) goto bad;
            tok_json_skip_ws(c);
            if (c->p >= c->end || *c->p != ']') goto bad_pair;
            c->p++;
        }
        tok_bpe_rawmerge *nr = grow(m->rawm, &m->cap_rawm, m->n_rawm + 1, sizeof *nr);
        if (!nr) goto oom;
        m->rawm = nr;
        m->rawm[m->n_rawm] =
            (tok_bpe_rawmerge){(uint32_t)m->mtext_len, (uint32_t)al, (uint32_t)bl, (uint32_t)index};
        if (index > UINT32_MAX || !mtext_add(m, a, al) || !mtext_add(m, b, bl)) goto oom;
        m->n_rawm++;
    next:
        tok_json_skip_ws(c);
        if (c->p < c->end && *c->p == ']') {
            c->p++;
            break;
        }
        if (c->p >= c->end || *c->p != ',') goto bad;
        c->p++;
    }
    m->have_merges = true;
    goto done;
oom:
    st = vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "out of memory reading model.merges");
    goto done;
bad_pair:
    st = vlm_err(err, VLM_ERR_FORMAT, "%s: model.merges[%zu] must be a pair of two strings", origin,
                 index);
    goto done;
bad:
    st = vlm_err(err, VLM_ERR_FORMAT, "%s: model.merges: invalid JSON near byte %zu", origin,
                 (size_t)(c->p - text));
done:
    vlm_strbuf_free(&s1);
    vlm_strbuf_free(&s2);
    return st;
}

/* Resolves the raw merges to ids (batched lookups) and fills the merge map. */
static vlm_status resolve_merges(tok_bpe *m, const char *origin, vlm_error *err) {
    size_t n = m->n_rawm;
    vlm_status st = VLM_OK;
    tok_strkey *keys = vlm_malloc_array(n + 1, sizeof *keys);
    int32_t *ia = vlm_malloc_array(n + 1, sizeof *ia);
    int32_t *ib = vlm_malloc_array(n + 1, sizeof *ib);
    int32_t *inew = vlm_malloc_array(n + 1, sizeof *inew);
    char *cat = NULL;
    if (!keys || !ia || !ib || !inew) goto oom;
    for (size_t i = 0; i < n; i++)
        keys[i] = (tok_strkey){m->rawm[i].off, m->rawm[i].alen};
    tok_strmap_get_many(&m->vocab, m->mtext, keys, n, ia);
    for (size_t i = 0; i < n; i++)
        keys[i] = (tok_strkey){m->rawm[i].off + m->rawm[i].alen, m->rawm[i].blen};
    tok_strmap_get_many(&m->vocab, m->mtext, keys, n, ib);
    /* The merged token is a + b without the continuing_subword_prefix; with no prefix it
     * is the a and b text as stored, back to back. */
    const char *base = m->mtext;
    if (m->prefix_len) {
        cat = malloc(m->mtext_len + 1);
        if (!cat) goto oom;
        size_t o = 0;
        for (size_t i = 0; i < n; i++) {
            const tok_bpe_rawmerge *r = &m->rawm[i];
            size_t tail = r->blen >= m->prefix_len ? r->blen - m->prefix_len : 0;
            keys[i] = (tok_strkey){(uint32_t)o, (uint32_t)(r->alen + tail)};
            memcpy(cat + o, m->mtext + r->off, r->alen);
            memcpy(cat + o + r->alen, m->mtext + r->off + r->alen + (r->blen - tail), tail);
            o += r->alen + tail;
        }
        base = cat;
    } else {
        for (size_t i = 0; i < n; i++)
            keys[i] = (tok_strkey){m->rawm[i].off, m->rawm[i].alen + m->rawm[i].blen};
    }
    tok_strmap_get_many(&m->vocab, base, keys, n, inew);
    for (size_t i = 0; i < n; i++) { /* the first failure in file order, as HF reports */
        const tok_bpe_rawmerge *r = &m->rawm[i];
        const char *a = m->mtext + r->off, *b = a + r->alen;
        if (ia[i] < 0 || ib[i] < 0) {
            const char *bad = ia[i] < 0 ? a : b;
            uint32_t badl = ia[i] < 0 ? r->alen : r->blen;
            st = vlm_err(err, VLM_ERR_FORMAT,
                         "%s: model.merges[%u]: token '%.*s' is not in the "
                         "vocabulary",
                         origin, r->index, (int)(badl > 60 ? 60 : badl), bad);
            goto done;
        }
        if (r->blen < m->prefix_len) {
            st = vlm_err(err, VLM_ERR_FORMAT,
                         "%s: model.merges[%u]: '%.*s' is shorter than the "
                         "continuing_subword_prefix",
                         origin, r->index, (int)(r->blen > 60 ? 60 : r->blen), b);
            goto done;
        }
        if (inew[i] < 0) {
            st = vlm_err(err, VLM_ERR_FORMAT,
                         "%s: model.merges[%u]: merged token '%.*s%.*s' is "
                         "not in the vocabulary",
                         origin, r->index, (int)(r->alen > 40 ? 40 : r->alen), a,
                         (int)(r->blen - m->prefix_len > 40 ? 40 : r->blen - m->prefix_len),
                         b + m->prefix_len);
            goto done;
        }
    }
    if (n > UINT32_MAX || !tok_mergemap_init(&m->merges, n)) goto oom;
    tok_mergemap_put_many(&m->merges, ia, ib, inew, n, 0);
    /* The character pairs a merge can join across: (last of a, first of b). */
    if (!tok_mergemap_init(&m->cross, 4096)) goto oom;
    for (size_t i = 0; i < n; i++) {
        const tok_bpe_rawmerge *r = &m->rawm[i];
        const char *a = m->mtext + r->off, *b = a + r->alen;
        if (!r->alen || !r->blen) continue;
        size_t adv;
        uint32_t last = tok_utf8_decode(a + tok_utf8_last_start(a, r->alen), &adv);
        uint32_t first = tok_utf8_decode(b, &adv);
        if (!tok_mergemap_get(&m->cross, (int32_t)last, (int32_t)first) &&
            !tok_mergemap_put(&m->cross, (int32_t)last, (int32_t)first, 0, 0))
            goto oom;
    }
    goto done;
oom:
    st = vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "out of memory reading model.merges");
done:
    free(keys);
    free(ia);
    free(ib);
    free(inew);
    free(cat);
    return st;
}

vlm_status tok_bpe_finish(tok_bpe *m, const vlm_json *model, const char *origin, vlm_error *err) {
    vlm_status st = VLM_OK;
    if (!vlm_json_is_object(model)) {
        st = vlm_err(err, VLM_ERR_FORMAT, "%s: model must be an object, not %s", origin,
                     vlm_json_type_name(model));
        goto done;
    }
    const vlm_json *type = vlm_json_get(model, "type");
    if (type) {
        const char *ts = vlm_json_string(type);
        if (!ts) {
            st = vlm_err(err, VLM_ERR_FORMAT, "%s: model.type must be a string", origin);
            goto done;
        }
        if (strcmp(ts, "BPE") != 0) {
            st = vlm_err(err, VLM_ERR_UNSUPPORTED,
                         "%s: model.type '%s' is not supported (only "
                         "BPE)",
                         origin, ts);
            goto done;
        }
    }
    if (!m->have_vocab || !m->have_merges) {
        st = vlm_err(err, VLM_ERR_FORMAT,
                     "%s: model needs both \"vocab\" (an object) and "
                     "\"merges\" (an array)%s",
                     origin, type ? "" : " (only BPE models are supported)");
        goto done;
    }
    const vlm_json *dropout = vlm_json_get(model, "dropout");
    if (dropout && !vlm_json_is_null(dropout)) {
        double d = vlm_json_number(dropout);
        if (!vlm_json_is_number(dropout) || !(d >= 0.0 && d <= 1.0)) {
            st = vlm_err(err, VLM_ERR_FORMAT,
                         "%s: model.dropout must be null or a number in "
                         "[0, 1]",
                         origin);
            goto done;
        }
        if (d > 0.0) {
            st = vlm_err(err, VLM_ERR_UNSUPPORTED,
                         "%s: model.dropout %g is not supported (BPE "
                         "dropout is random; only null or 0)",
                         origin, d);
            goto done;
        }
    }
    if ((st = opt_string(model, "unk_token", origin, &m->unk_token, &m->unk_len, err)) != VLM_OK ||
        (st = opt_string(model, "continuing_subword_prefix", origin, &m->prefix, &m->prefix_len,
                         err)) != VLM_OK ||
        (st = opt_string(model, "end_of_word_suffix", origin, &m->suffix, &m->suffix_len, err)) !=
            VLM_OK ||
        (st = opt_bool(model, "fuse_unk", origin, &m->fuse_unk, err)) != VLM_OK ||
        (st = opt_bool(model, "byte_fallback", origin, &m->byte_fallback, err)) != VLM_OK ||
        (st = opt_bool(model, "ignore_merges", origin, &m->ignore_merges, err)) != VLM_OK)
        goto done;
    /* An empty prefix or suffix changes nothing; treat it as absent. */
    if (m->prefix && !m->prefix_len) {
        free(m->prefix);
        m->prefix = NULL;
    }
    if (m->suffix && !m->suffix_len) {
        free(m->suffix);
        m->suffix = NULL;
    }
    m->vocab_count = m->vocab.n;
    /* id -> token (HF's vocab_r; with duplicate ids any one of them). */
    size_t nid = (size_t)(m->max_id + 1);
    m->id_off = vlm_malloc_array(nid + 1, sizeof *m->id_off);
    m->id_len = vlm_malloc_array(nid + 1, sizeof *m->id_len);
    if (!m->id_off || !m->id_len) goto oom;
    for (size_t i = 0; i < nid; i++)
        m->id_off[i] = UINT32_MAX;
    for (size_t i = 0; m->vocab.slots && i <= m->vocab.mask; i++) {
        const tok_strslot *sl = &m->vocab.slots[i];
        if (!sl->tag) continue;
        m->id_off[sl->val] = sl->off;
        m->id_len[sl->val] = sl->len;
    }
    if ((st = resolve_merges(m, origin, err)) != VLM_OK) goto done;
    /* Segmenting words (tok_bpe_encode_word) needs symbols that are plain characters of
     * the text: no prefix / suffix, and one string per id. */
    size_t distinct_ids = 0;
    for (size_t i = 0; i < nid; i++)
        distinct_ids += m->id_off[i] != UINT32_MAX;
    m->segmentable = !m->prefix && !m->suffix && distinct_ids == m->vocab_count;
    if (!tok_cache_init(&m->cache)) goto oom;
    for (int b = 0; b < 256; b++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", b);
        m->byte_ids[b] = tok_strmap_get(&m->vocab, name, 6);
    }
    if (!m->prefix && !m->suffix) {
        m->bmp_ids = vlm_malloc_array(0x10000, sizeof *m->bmp_ids);
        if (!m->bmp_ids) goto oom;
        for (size_t i = 0; i < 0x10000; i++)
            m->bmp_ids[i] = -1;
        for (size_t i = 0; i <= m->vocab.mask; i++) {
            const tok_strslot *sl = &m->vocab.slots[i];
            if (!sl->tag || sl->len == 0 || sl->len > 3) continue;
            size_t adv;
            uint32_t cp = tok_utf8_decode(m->vocab.arena + sl->off, &adv);
            if (adv == sl->len && cp < 0x10000) m->bmp_ids[cp] = sl->val;
        }
    }
    goto done;
oom:
    st = vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "out of memory");
done:
    free_raw(m);
    return st;
}

/* ---------------------------------------------------------------- encoding */

static bool heap_less(const tok_bpe_merge *a, const tok_bpe_merge *b) {
    return a->rank != b->rank ? a->rank < b->rank : a->pos < b->pos;
}

static bool heap_push(tok_bpe_scratch *s, uint32_t rank, uint32_t pos, int32_t new_id) {
    if (s->heap_n == s->heap_cap) {
        size_t cap = s->heap_cap ? 2 * s->heap_cap : 64;
        tok_bpe_merge *h = vlm_realloc_array(s->heap, cap, sizeof *h);
        if (!h) return false;
        s->heap = h;
        s->heap_cap = cap;
    }
    size_t i = s->heap_n++;
    tok_bpe_merge x = {rank, pos, new_id};
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!heap_less(&x, &s->heap[p])) break;
        s->heap[i] = s->heap[p];
        i = p;
    }
    s->heap[i] = x;
    return true;
}

static tok_bpe_merge heap_pop(tok_bpe_scratch *s) {
    tok_bpe_merge top = s->heap[0];
    tok_bpe_merge x = s->heap[--s->heap_n];
    size_t n = s->heap_n, i = 0;
    for (;;) {
        size_t l = 2 * i + 1;
        if (l >= n) break;
        size_t m = (l + 1 < n && heap_less(&s->heap[l + 1], &s->heap[l])) ? l + 1 : l;
        if (!heap_less(&s->heap[m], &x)) break;
        s->heap[i] = s->heap[m];
        i = m;
    }
    if (n) s->heap[i] = x;
    return top;
}

static bool sym_add(tok_bpe_scratch *s, size_t *n, int32_t id, uint32_t len) {
    if (*n == s->sym_cap) {
        size_t cap = s->sym_cap ? 2 * s->sym_cap : 64;
        if (cap > INT32_MAX) return false;
        tok_bpe_sym *v = vlm_realloc_array(s->sym, cap, sizeof *v);
        if (!v) return false;
        s->sym = v;
        s->sym_cap = cap;
    }
    size_t i = (*n)++;
    s->sym[i] = (tok_bpe_sym){id, (int32_t)i - 1, -1, len};
    if (i > 0) s->sym[i - 1].next = (int32_t)i;
    return true;
}

/* Records that a segment starts at symbol `sym`, byte `off` of the word. */
static bool seg_add(tok_bpe_scratch *s, uint32_t sym, uint32_t off) {
    if (s->seg_n == s->seg_cap) {
        size_t cap = s->seg_cap ? 2 * s->seg_cap : 64;
        uint32_t *v = vlm_realloc_array(s->seg, cap, 2 * sizeof *v);
        if (!v) return false;
        s->seg = v;
        s->seg_cap = cap;
    }
    s->seg[2 * s->seg_n] = sym;
    s->seg[2 * s->seg_n + 1] = off;
    s->seg_n++;
    return true;
}

/* The id of one character of the word, with prefix / suffix as HF adds them. */
static int32_t char_id(const tok_bpe *m, tok_bpe_scratch *s, const char *c, size_t cl, bool first,
                       bool last) {
    if (m->bmp_ids && cl <= 3) {
        size_t adv;
        return m->bmp_ids[tok_utf8_decode(c, &adv)];
    }
    bool pre = !first && m->prefix, suf = last && m->suffix;
    if (!pre && !suf) return tok_strmap_get(&m->vocab, c, cl);
    vlm_strbuf_clear(&s->tmp);
    if (pre) vlm_strbuf_append(&s->tmp, m->prefix, m->prefix_len);
    vlm_strbuf_append(&s->tmp, c, cl);
    if (suf) vlm_strbuf_append(&s->tmp, m->suffix, m->suffix_len);
    if (s->tmp.failed) return -2;
    return tok_strmap_get(&m->vocab, s->tmp.data, s->tmp.len);
}

/* HF's Word::merge_all on the symbols [a, b), which form a word of their own. */
static bool merge_range(const tok_bpe *m, tok_bpe_scratch *s, size_t a, size_t b) {
    tok_bpe_sym *sym = s->sym;
    sym[a].prev = -1;
    sym[b - 1].next = -1;
    s->heap_n = 0;
    for (size_t i = a; i + 1 < b; i++) {
        const tok_merge_slot *mg = tok_mergemap_get(&m->merges, sym[i].id, sym[i + 1].id);
        if (mg && !heap_push(s, mg->rank, (uint32_t)i, mg->new_id)) return false;
    }
    while (s->heap_n) {
        tok_bpe_merge top = heap_pop(s);
        tok_bpe_sym *cur = &sym[top.pos];
        if (cur->len == 0 || cur->next == -1) continue;
        int32_t next_pos = cur->next;
        tok_bpe_sym right = sym[next_pos];
        const tok_merge_slot *mg = tok_mergemap_get(&m->merges, cur->id, right.id);
        if (!mg || mg->new_id != top.new_id) continue;
        cur->id = top.new_id;
        cur->len += right.len;
        cur->next = right.next;
        sym[next_pos].len = 0;
        if (right.next > -1) sym[right.next].prev = (int32_t)top.pos;
        if (cur->prev >= 0) {
            mg = tok_mergemap_get(&m->merges, sym[cur->prev].id, cur->id);
            if (mg && !heap_push(s, mg->rank, (uint32_t)cur->prev, mg->new_id)) return false;
        }
        if (cur->next >= 0) {
            mg = tok_mergemap_get(&m->merges, cur->id, sym[cur->next].id);
            if (mg && !heap_push(s, mg->rank, top.pos, mg->new_id)) return false;
        }
    }
    return true;
}

/* Merges symbols [a, b) (the word text w[0..len)) and appends their ids, through the
 * shared cache when the text is short enough. */
static bool encode_segment(const tok_bpe *m, tok_bpe_scratch *s, size_t a, size_t b, const char *w,
                           size_t len, bool use_cache, tok_ids *out) {
    uint64_t h = 0;
    int32_t cached[TOK_CACHE_IDS_MAX];
    use_cache = use_cache && len <= TOK_CACHE_WORD_MAX;
    if (use_cache) {
        h = tok_hash_bytes(w, len);
        int nc = tok_cache_get(&m->cache, w, len, h, cached);
        if (nc >= 0) {
            for (int k = 0; k < nc; k++)
                if (!tok_ids_push(out, cached[k])) return false;
            return true;
        }
    }
    if (b - a > 1 && !merge_range(m, s, a, b)) return false;
    size_t n0 = out->n;
    for (size_t i = a; i < b; i++)
        if (s->sym[i].len && !tok_ids_push(out, s->sym[i].id)) return false;
    if (use_cache && out->n - n0 <= TOK_CACHE_IDS_MAX)
        tok_cache_put(&m->cache, w, len, h, out->v + n0, (int)(out->n - n0));
    return true;
}

vlm_status tok_bpe_encode_word(const tok_bpe *m, tok_bpe_scratch *s, const char *w, size_t n,
                               tok_ids *out, vlm_error *err) {
    if (n == 0) return VLM_OK;
    if (m->ignore_merges) {
        int32_t id = tok_strmap_get(&m->vocab, w, n);
        if (id >= 0) {
            if (!tok_ids_push(out, id)) goto oom;
            return VLM_OK;
        }
    }
    /* A whole word's ids depend only on its text: look it up first. */
    if (n <= TOK_CACHE_WORD_MAX) {
        int32_t cached[TOK_CACHE_IDS_MAX];
        int nc = tok_cache_get(&m->cache, w, n, tok_hash_bytes(w, n), cached);
        if (nc >= 0) {
            for (int k = 0; k < nc; k++)
                if (!tok_ids_push(out, cached[k])) goto oom;
            return VLM_OK;
        }
    }
    /* Initial symbols. Where no merge joins the last character of one symbol with the
     * first of the next (m->cross), the word splits into segments that BPE handles
     * independently (exactly: merges never cross such a boundary, and the merge order
     * within each side is unchanged). */
    size_t ns = 0;
    int32_t unk_id = -1;
    uint32_t unk_len = 0;
    bool unk_pending = false, had_unk = false;
    bool segment = m->segmentable;
    uint32_t prev_last = 0; /* last character of the previous symbol */
    s->seg_n = 0;
    if (!seg_add(s, 0, 0)) goto oom;
    for (size_t i = 0; i < n;) {
        size_t cl = tok_utf8_len((uint8_t)w[i]);
        if (cl > n - i) cl = n - i;
        int32_t id = char_id(m, s, w + i, cl, i == 0, i + cl == n);
        if (id == -2) goto oom;
        if (id >= 0) {
            if (unk_pending) {
                if (!sym_add(s, &ns, unk_id, unk_len)) goto oom;
                unk_pending = false;
            }
            if (segment && !had_unk) {
                size_t adv;
                uint32_t cp = tok_utf8_decode(w + i, &adv);
                if (ns > 0 && !tok_mergemap_get(&m->cross, (int32_t)prev_last, (int32_t)cp) &&
                    !seg_add(s, (uint32_t)ns, (uint32_t)i))
                    goto oom;
                prev_last = cp;
            }
            if (!sym_add(s, &ns, id, (uint32_t)cl)) goto oom;
            i += cl;
            continue;
        }
        if (m->byte_fallback) {
            /* The bytes of the looked-up string (prefix / suffix included), as HF. */
            bool pre = i != 0 && m->prefix, suf = i + cl == n && m->suffix;
            const char *parts[3] = {pre ? m->prefix : "", w + i, suf ? m->suffix : ""};
            size_t lens[3] = {pre ? m->prefix_len : 0, cl, suf ? m->suffix_len : 0};
            bool all = true;
            for (int p = 0; p < 3 && all; p++)
                for (size_t k = 0; k < lens[p]; k++)
                    if (m->byte_ids[(uint8_t)parts[p][k]] < 0) {
                        all = false;
                        break;
                    }
            if (all) {
                /* Byte tokens read "<0xXX>": they start with '<' and end with '>'. */
                if (segment && !had_unk) {
                    if (ns > 0 && !tok_mergemap_get(&m->cross, (int32_t)prev_last, '<') &&
                        !seg_add(s, (uint32_t)ns, (uint32_t)i))
                        goto oom;
                    prev_last = '>';
                }
                for (int p = 0; p < 3; p++)
                    for (size_t k = 0; k < lens[p]; k++)
                        if (!sym_add(s, &ns, m->byte_ids[(uint8_t)parts[p][k]], 1)) goto oom;
                i += cl;
                continue;
            }
        }
        if (m->unk_token) {
            int32_t uid = tok_strmap_get(&m->vocab, m->unk_token, m->unk_len);
            if (uid < 0)
                return vlm_err(err, VLM_ERR_FORMAT, "unk_token '%s' is not in the vocabulary",
                               m->unk_token);
            had_unk = true; /* unk symbols can leave text order: no segments */
            if (unk_pending && m->fuse_unk) {
                unk_len += (uint32_t)cl;
            } else {
                if (unk_pending && !sym_add(s, &ns, unk_id, unk_len)) goto oom;
                unk_id = uid;
                unk_len = (uint32_t)cl;
                unk_pending = true;
            }
        }
        i += cl;
    }
    if (unk_pending && !sym_add(s, &ns, unk_id, unk_len)) goto oom;
    if (ns == 0) return VLM_OK;
    if (had_unk || s->seg_n == 1) {
        if (!encode_segment(m, s, 0, ns, w, n, true, out)) goto oom;
        return VLM_OK;
    }
    if (!seg_add(s, (uint32_t)ns, (uint32_t)n)) goto oom;
    for (size_t k = 0; k + 1 < s->seg_n; k++) {
        uint32_t a = s->seg[2 * k], b = s->seg[2 * k + 2];
        uint32_t oa = s->seg[2 * k + 1], ob = s->seg[2 * k + 3];
        if (!encode_segment(m, s, a, b, w + oa, ob - oa, true, out)) goto oom;
    }
    return VLM_OK;
oom:
    return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "out of memory encoding");
}
