/* Added tokens, as HF's AddedVocabulary (tokenizer/added_vocabulary.rs):
 *  - loading: tokens are added in file order; a token keeps the id its content already has
 *    (added map, then model vocab) and otherwise takes the next id after the model's vocab
 *    count; the "id" in the file is not used. normalized tokens are matched by their
 *    normalized form (the tokenizer's normalizer applied to the content).
 *  - splitting: leftmost-longest matching of all patterns of one trie over a text
 *    (non-normalized tokens on the original text, normalized ones on normalized text),
 *    with HF's single_word / lstrip / rstrip rules; the scan resumes after each match
 *    (also after one discarded by single_word), exactly like daachorse's iterator. */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "text/tok_internal.h"
#include "text/tok_unicode.h"

/* ---------------------------------------------------------------- trie */

static bool trie_new_node(tok_trie *t, uint32_t *out) {
    if (t->n_nodes == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 256;
        int32_t *v = vlm_realloc_array(t->val, cap, sizeof *v);
        if (!v) return false;
        t->val = v;
        t->cap = cap;
    }
    if (t->n_nodes == 0) t->val[t->n_nodes++] = -1; /* node 0: "none" */
    t->val[t->n_nodes] = -1;
    *out = (uint32_t)t->n_nodes++;
    return true;
}

bool tok_trie_add(tok_trie *t, const char *s, size_t len, int32_t id, int32_t *existing) {
    *existing = -1;
    if (!t->edges.slots && !tok_mergemap_init(&t->edges, 256)) return false;
    uint32_t node = t->root[(uint8_t)s[0]];
    if (!node) {
        if (!trie_new_node(t, &node)) return false;
        t->root[(uint8_t)s[0]] = node;
    }
    for (size_t i = 1; i < len; i++) {
        const tok_merge_slot *e = tok_mergemap_get(&t->edges, (int32_t)node, (uint8_t)s[i]);
        if (e) {
            node = (uint32_t)e->new_id;
            continue;
        }
        uint32_t child;
        if (!trie_new_node(t, &child)) return false;
        if (!tok_mergemap_put(&t->edges, (int32_t)node, (uint8_t)s[i], 0, (int32_t)child))
            return false;
        node = child;
    }
    if (t->val[node] >= 0) {
        *existing = t->val[node];
        return true;
    }
    t->val[node] = id;
    t->n_patterns++;
    return true;
}

void tok_trie_free(tok_trie *t) {
    free(t->val);
    tok_mergemap_free(&t->edges);
    memset(t, 0, sizeof *t);
}

void tok_added_free(tok_added *a) {
    for (size_t i = 0; i < a->n; i++) {
        free(a->tok[i].content);
        free(a->tok[i].norm);
    }
    free(a->tok);
    tok_strmap_free(&a->map);
    tok_strmap_free(&a->special_set);
    tok_trie_free(&a->raw);
    tok_trie_free(&a->normed);
    memset(a, 0, sizeof *a);
}

const tok_added_token *tok_added_get(const tok_added *a, const int32_t *slot_of_id, size_t id_space,
                                     int32_t id) {
    if (id < 0 || (size_t)id >= id_space || slot_of_id[id] < 0) return NULL;
    return &a->tok[slot_of_id[id]];
}

/* ---------------------------------------------------------------- splitting */

static bool ends_with_word(const char *s, size_t n) {
    if (!n) return false;
    size_t adv;
    return tok_is_word(tok_utf8_decode(s + tok_utf8_last_start(s, n), &adv));
}

static bool starts_with_word(const char *s, size_t n) {
    if (!n) return false;
    size_t adv;
    return tok_is_word(tok_utf8_decode(s, &adv));
}

/* Start of the whitespace run that ends s[0..n). */
static size_t space_leftmost_at_end(const char *s, size_t n) {
    while (n > 0) {
        size_t st = tok_utf8_last_start(s, n), adv;
        if (!tok_is_whitespace(tok_utf8_decode(s + st, &adv))) break;
        n = st;
    }
    return n;
}

/* Length of the whitespace run that starts s[0..n). */
static size_t space_rightmost_at_start(const char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        size_t adv;
        if (!tok_is_whitespace(tok_utf8_decode(s + i, &adv))) break;
        i += adv;
    }
    return i;
}

vlm_status tok_added_split(const tok_added *a, const tok_trie *trie, const int32_t *slot_of_id,
                           size_t id_space, const char *text, size_t len, tok_spans *spans,
                           tok_ids *ids, vlm_error *err) {
    spans->n = 0;
    ids->n = 0;
    if (len == 0 || trie->n_patterns == 0) {
        if (!tok_spans_push(spans, 0, len, false) || !tok_ids_push(ids, -1)) goto oom;
        return VLM_OK;
    }
    size_t start_offset = 0, i = 0;
    while (i < len) {
        uint32_t node = trie->root[(uint8_t)text[i]];
        if (!node) {
            i++;
            continue;
        }
        size_t best_end = 0, j = i + 1;
        int32_t best = trie->val[node];
        if (best >= 0) best_end = j;
        while (j < len) {
            const tok_merge_slot *e =
                tok_mergemap_get(&trie->edges, (int32_t)node, (uint8_t)text[j]);
            if (!e) break;
            node = (uint32_t)e->new_id;
            j++;
            if (trie->val[node] >= 0) {
                best = trie->val[node];
                best_end = j;
            }
        }
        if (best_end == 0) {
            i++;
            continue;
        }
        size_t start = i, stop = best_end;
        i = best_end;
        const tok_added_token *tk = tok_added_get(a, slot_of_id, id_space, best);
        if (!tk) continue;
        if (tk->single_word) {
            bool start_space = start == 0 || !ends_with_word(text, start);
            bool stop_space = stop == len || !starts_with_word(text + stop, len - stop);
            if (!start_space || !stop_space) continue;
        }
        if (tk->lstrip) {
            size_t ns = space_leftmost_at_end(text, start);
            start = ns > start_offset ? ns : start_offset;
        }
        if (tk->rstrip) stop += space_rightmost_at_start(text + stop, len - stop);
        if (start > stop) start = stop; /* overlapping strips: HF would panic here */
        if (start_offset < start &&
            (!tok_spans_push(spans, start_offset, start, false) || !tok_ids_push(ids, -1)))
            goto oom;
        if (!tok_spans_push(spans, start, stop, true) || !tok_ids_push(ids, best)) goto oom;
        start_offset = stop;
    }
    if (start_offset != len &&
        (!tok_spans_push(spans, start_offset, len, false) || !tok_ids_push(ids, -1)))
        goto oom;
    return VLM_OK;
oom:
    return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "out of memory");
}

/* ---------------------------------------------------------------- loading */

static bool json_flag(const vlm_json *o, const char *key, bool dflt, bool *out) {
    const vlm_json *v = vlm_json_get(o, key);
    if (!v) {
        *out = dflt;
        return true;
    }
    if (!vlm_json_is_bool(v)) return false;
    *out = vlm_json_true(v);
    return true;
}

static bool same_props(const tok_added_token *x, const tok_added_token *y) {
    return x->len == y->len && !memcmp(x->content, y->content, x->len) &&
           x->special == y->special && x->lstrip == y->lstrip && x->rstrip == y->rstrip &&
           x->single_word == y->single_word && x->normalized == y->normalized;
}

vlm_status tok_added_load(vlm_tokenizer *t, const vlm_json *arr, vlm_error *err) {
    tok_added *a = &t->added;
    const char *origin = t->origin;
    vlm_status st = VLM_OK;
    tok_mergemap slot_of; /* id -> slot while loading */
    memset(&slot_of, 0, sizeof slot_of);
    vlm_strbuf nb, tmp;
    vlm_strbuf_init(&nb);
    vlm_strbuf_init(&tmp);
    tok_match_scratch ms = {0};
    if (!arr || vlm_json_is_null(arr)) goto build;
    if (!vlm_json_is_array(arr)) {
        st = vlm_err(err, VLM_ERR_FORMAT, "%s: added_tokens must be an array, not %s", origin,
                     vlm_json_type_name(arr));
        goto done;
    }
    size_t n = vlm_json_array_size(arr);
    if (!tok_mergemap_init(&slot_of, n + 1)) goto oom;
    a->tok = vlm_calloc_array(n + 1, sizeof *a->tok);
    if (!a->tok) goto oom;
    /* HF: the first new id follows the model's vocabulary size (its entry count). */
    int64_t next_id = (int64_t)t->bpe.vocab_count;
    for (size_t i = 0; i < n; i++) {
        const vlm_json *o = vlm_json_array_at(arr, i);
        const vlm_json *c = vlm_json_get(o, "content");
        tok_added_token tk = {0};
        if (!vlm_json_is_object(o) || !vlm_json_is_string(c)) {
            st = vlm_err(err, VLM_ERR_FORMAT, "%s: added_tokens[%zu] needs a string \"content\"",
                         origin, i);
            goto done;
        }
        if (!json_flag(o, "single_word", false, &tk.single_word) ||
            !json_flag(o, "lstrip", false, &tk.lstrip) ||
            !json_flag(o, "rstrip", false, &tk.rstrip) ||
            !json_flag(o, "normalized", true, &tk.normalized) ||
            !json_flag(o, "special", false, &tk.special)) {
            st = vlm_err(err, VLM_ERR_FORMAT,
                         "%s: added_tokens[%zu]: single_word, lstrip, rstrip, normalized and "
                         "special must be booleans",
                         origin, i);
            goto done;
        }
        int64_t file_id;
        const vlm_json *jid = vlm_json_get(o, "id");
        if (!vlm_json_int(jid, &file_id) || file_id < 0 || file_id > VLM_TOKENIZER_MAX_ID) {
            st = vlm_err(err, VLM_ERR_FORMAT,
                         "%s: added_tokens[%zu].id must be an integer in [0, %d]", origin, i,
                         VLM_TOKENIZER_MAX_ID);
            goto done;
        }
        tk.content = (char *)vlm_json_string(c);
        tk.len = vlm_json_string_len(c);
        if (tk.len == 0) continue;
        if (tok_utf8_valid_prefix(tk.content, tk.len) != tk.len) {
            st = vlm_err(err, VLM_ERR_FORMAT, "%s: added_tokens[%zu].content is not UTF-8", origin,
                         i);
            goto done;
        }
        int32_t id = tok_strmap_get(&a->map, tk.content, tk.len);
        if (id >= 0) {
            const tok_merge_slot *sl = tok_mergemap_get(&slot_of, id, 0);
            if (sl && same_props(&a->tok[sl->new_id], &tk)) continue;
        }
        if (id < 0) id = tok_bpe_token_to_id(&t->bpe, tk.content, tk.len);
        if (id < 0) {
            if (next_id > VLM_TOKENIZER_MAX_ID) {
                st = vlm_err(err, VLM_ERR_LIMIT, "%s: added_tokens: too many ids", origin);
                goto done;
            }
            id = (int32_t)next_id++;
        }
        tk.id = id;
        char *norm = NULL;
        size_t norm_len = 0;
        if (tk.normalized && t->n_norm) {
            bool moved;
            st = tok_normalize(t->norm, t->n_norm, &ms, tk.content, tk.len, &nb, &tmp, &moved, err);
            if (st != VLM_OK) goto done;
            if (nb.len != tk.len || memcmp(nb.data, tk.content, tk.len) != 0) {
                norm = vlm_strndup(nb.data ? nb.data : "", nb.len);
                if (!norm) goto oom;
                norm_len = nb.len;
            }
        }
        tk.content = vlm_strndup(tk.content, tk.len);
        if (!tk.content) {
            free(norm);
            goto oom;
        }
        if (!tok_strmap_put(&a->map, tk.content, tk.len, id) ||
            (tk.special && !tok_strmap_put(&a->special_set, tk.content, tk.len, 1))) {
            free(norm);
            free(tk.content);
            goto oom;
        }
        const tok_merge_slot *sl = tok_mergemap_get(&slot_of, id, 0);
        if (sl) { /* redefinition: new properties; an older normalized form stays (HF) */
            tok_added_token *old = &a->tok[sl->new_id];
            free(old->content);
            if (norm) {
                free(old->norm);
                old->norm = norm;
                old->norm_len = norm_len;
            }
            tk.norm = old->norm;
            tk.norm_len = old->norm_len;
            *old = tk;
        } else {
            tk.norm = norm;
            tk.norm_len = norm_len;
            if (!tok_mergemap_put(&slot_of, id, 0, 0, (int32_t)a->n)) {
                free(norm);
                free(tk.content);
                goto oom;
            }
            a->tok[a->n++] = tk;
        }
    }
build:
    for (size_t s = 0; s < a->n; s++) {
        const tok_added_token *tk = &a->tok[s];
        bool use_norm = tk->normalized && tk->norm;
        const char *p = use_norm ? tk->norm : tk->content;
        size_t pl = use_norm ? tk->norm_len : tk->len;
        if (pl == 0) {
            st = vlm_err(err, VLM_ERR_FORMAT, "%s: added token '%s' normalizes to an empty string",
                         origin, tk->content);
            goto done;
        }
        int32_t existing;
        if (!tok_trie_add(tk->normalized ? &a->normed : &a->raw, p, pl, tk->id, &existing))
            goto oom;
        if (existing >= 0) {
            st = vlm_err(err, VLM_ERR_FORMAT, "%s: added tokens %d and %d match the same text '%s'",
                         origin, existing, tk->id, tk->content);
            goto done;
        }
    }
    goto done;
oom:
    st = vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "out of memory reading added_tokens");
done:
    tok_mergemap_free(&slot_of);
    vlm_strbuf_free(&nb);
    vlm_strbuf_free(&tmp);
    tok_match_scratch_free(&ms);
    return st;
}
