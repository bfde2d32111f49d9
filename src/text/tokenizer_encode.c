/* Encoding and decoding with a loaded tokenizer, in HF's order (tokenizer/mod.rs,
 * encode_single_sequence / decode):
 *   1. split the input by the non-normalized added tokens (original text);
 *   2. normalize each remaining piece, then split it by the normalized added tokens;
 *   3. run each remaining piece through the pre-tokenizer steps, depth first (every step
 *      works on one piece at a time, so this equals HF's step-by-step passes over the
 *      whole list) and the BPE model;
 *   4. the post-processor (special tokens when add_special_tokens).
 * Decoding maps ids to strings (skipping unknown ids and, when asked, strings that are
 * special tokens) and runs the decoder. All scratch is per call. */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "text/tok_internal.h"
#include "text/tok_unicode.h"

typedef struct enc_ctx {
    const vlm_tokenizer *t;
    tok_match_scratch ms;
    tok_bpe_scratch bpe;
    tok_pre_out lv[TOK_MAX_STEPS];
    vlm_strbuf nbuf, ntmp;
    tok_spans sp1, sp2;
    tok_ids id1, id2;
    tok_ids out;
    vlm_error *err;
} enc_ctx;

static void ctx_free(enc_ctx *c) {
    tok_match_scratch_free(&c->ms);
    tok_bpe_scratch_free(&c->bpe);
    for (size_t i = 0; i < TOK_MAX_STEPS; i++)
        tok_pre_out_free(&c->lv[i]);
    vlm_strbuf_free(&c->nbuf);
    vlm_strbuf_free(&c->ntmp);
    tok_spans_free(&c->sp1);
    tok_spans_free(&c->sp2);
    free(c->id1.v);
    free(c->id2.v);
    free(c->out.v);
}

static vlm_status run_pre(enc_ctx *c, size_t stage, tok_piece p) {
    const vlm_tokenizer *t = c->t;
    if (stage == t->n_pre)
        return tok_bpe_encode_word(&t->bpe, &c->bpe, p.s, p.len, &c->out, c->err);
    tok_pre_out *o = &c->lv[stage];
    vlm_status st = tok_pre_apply(&t->pre[stage], &c->ms, p, o, c->err);
    if (st != VLM_OK) return st;
    for (size_t i = 0; i < o->n; i++) {
        st = run_pre(c, stage + 1, o->v[i]);
        if (st != VLM_OK) return st;
    }
    return VLM_OK;
}

/* Steps 2-3 for one piece of the original text. */
static vlm_status encode_piece(enc_ctx *c, const char *s, size_t len, bool at_start) {
    const vlm_tokenizer *t = c->t;
    bool moved = false;
    vlm_status st =
        tok_normalize(t->norm, t->n_norm, &c->ms, s, len, &c->nbuf, &c->ntmp, &moved, c->err);
    if (st != VLM_OK) return st;
    if (moved) at_start = false;
    const char *ns = c->nbuf.data ? c->nbuf.data : "";
    st = tok_added_split(&t->added, &t->added.normed, t->added_slot, t->id_space, ns, c->nbuf.len,
                         &c->sp2, &c->id2, c->err);
    if (st != VLM_OK) return st;
    for (size_t j = 0; j < c->sp2.n; j++) {
        const tok_span *sp = &c->sp2.v[j];
        if (sp->end == sp->start) continue; /* HF drops empty splits */
        if (c->id2.v[j] >= 0) {
            if (!tok_ids_push(&c->out, c->id2.v[j]))
                return vlm_err(c->err, VLM_ERR_OUT_OF_MEMORY, "out of memory");
            continue;
        }
        tok_piece p = {ns + sp->start, sp->end - sp->start, at_start && sp->start == 0};
        st = run_pre(c, 0, p);
        if (st != VLM_OK) return st;
    }
    return VLM_OK;
}

vlm_status vlm_tokenizer_encode(const vlm_tokenizer *t, const char *text, size_t len,
                                bool add_special_tokens, int32_t **ids, size_t *n_ids,
                                vlm_error *err) {
    if (ids) *ids = NULL;
    if (n_ids) *n_ids = 0;
    if (!t || !ids || !n_ids || (!text && len))
        return vlm_err(err, VLM_ERR_INVALID_ARGUMENT, "vlm_tokenizer_encode: NULL argument");
    if (!text) text = "";
    size_t valid = tok_utf8_valid_prefix(text, len);
    if (valid != len)
        return vlm_err(err, VLM_ERR_INVALID_ARGUMENT,
                       "text to encode is not valid UTF-8 (byte %zu)", valid);
    enc_ctx c;
    memset(&c, 0, sizeof c);
    c.t = t;
    c.err = err;
    vlm_status st = tok_added_split(&t->added, &t->added.raw, t->added_slot, t->id_space, text, len,
                                    &c.sp1, &c.id1, err);
    for (size_t i = 0; st == VLM_OK && i < c.sp1.n; i++) {
        const tok_span *sp = &c.sp1.v[i];
        if (sp->end == sp->start) continue;
        if (c.id1.v[i] >= 0) {
            if (!tok_ids_push(&c.out, c.id1.v[i]))
                st = vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "out of memory");
            continue;
        }
        st = encode_piece(&c, text + sp->start, sp->end - sp->start, sp->start == 0);
    }
    if (st == VLM_OK) st = tok_post_apply(t->post, t->n_post, add_special_tokens, &c.out, err);
    if (st == VLM_OK && !c.out.v) {
        c.out.v = malloc(sizeof(int32_t));
        if (!c.out.v) st = vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "out of memory");
    }
    if (st == VLM_OK) {
        *ids = c.out.v;
        *n_ids = c.out.n;
        c.out.v = NULL;
    }
    ctx_free(&c);
    return st;
}

/* ---------------------------------------------------------------- decoding */

void tok_decode_scratch_free(tok_decode_scratch *s) {
    tok_strlist_free(&s->in);
    tok_strlist_free(&s->a);
    tok_strlist_free(&s->b);
    tok_match_scratch_free(&s->ms);
}

vlm_status tok_decode_into(const vlm_tokenizer *t, const int32_t *ids, size_t n, bool skip_special,
                           tok_decode_scratch *s, vlm_strbuf *out, vlm_error *err) {
    vlm_strbuf_clear(out);
    tok_strlist_clear(&s->in);
    for (size_t i = 0; i < n; i++) {
        int32_t id = ids[i];
        if (id < 0 || (size_t)id >= t->id_space || !t->id_str[id]) continue;
        if (skip_special && (t->id_flags[id] & TOK_ID_SKIPPABLE)) continue;
        if (!tok_strlist_push(&s->in, t->id_str[id], t->id_len[id]))
            return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "out of memory decoding");
    }
    return tok_dec_run(t, &s->ms, &s->in, &s->a, &s->b, out, err);
}

vlm_status vlm_tokenizer_decode(const vlm_tokenizer *t, const int32_t *ids, size_t n,
                                bool skip_special_tokens, char **text, vlm_error *err) {
    return vlm_tokenizer_decode_len(t, ids, n, skip_special_tokens, text, NULL, err);
}

vlm_status vlm_tokenizer_decode_len(const vlm_tokenizer *t, const int32_t *ids, size_t n,
                                    bool skip_special_tokens, char **text, size_t *len,
                                    vlm_error *err) {
    if (text) *text = NULL;
    if (len) *len = 0;
    if (!t || !text || (!ids && n))
        return vlm_err(err, VLM_ERR_INVALID_ARGUMENT, "vlm_tokenizer_decode: NULL argument");
    tok_decode_scratch s;
    memset(&s, 0, sizeof s);
    vlm_strbuf out;
    vlm_strbuf_init(&out);
    vlm_status st = tok_decode_into(t, ids, n, skip_special_tokens, &s, &out, err);
    tok_decode_scratch_free(&s);
    if (st == VLM_OK) {
        vlm_strbuf_append(&out, "", 0);
        if (len) *len = out.len;
        *text = vlm_strbuf_take(&out);
        if (!*text) st = vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "out of memory");
    }
    vlm_strbuf_free(&out);
    return st;
}

/* ---------------------------------------------------------------- lookups */

size_t vlm_tokenizer_vocab_size(const vlm_tokenizer *t) {
    return t ? t->id_space : 0;
}

int32_t vlm_tokenizer_token_to_id(const vlm_tokenizer *t, const char *token, size_t len) {
    if (!t || !token) return -1;
    int32_t id = tok_strmap_get(&t->added.map, token, len);
    return id >= 0 ? id : tok_bpe_token_to_id(&t->bpe, token, len);
}

const char *vlm_tokenizer_id_to_token(const vlm_tokenizer *t, int32_t id, size_t *len) {
    if (!t || id < 0 || (size_t)id >= t->id_space || !t->id_str[id]) return NULL;
    if (len) *len = t->id_len[id];
    return t->id_str[id];
}

bool vlm_tokenizer_is_special(const vlm_tokenizer *t, int32_t id) {
    return t && id >= 0 && (size_t)id < t->id_space && (t->id_flags[id] & TOK_ID_SPECIAL);
}

bool vlm_tokenizer_is_added(const vlm_tokenizer *t, int32_t id) {
    return t && id >= 0 && (size_t)id < t->id_space && (t->id_flags[id] & TOK_ID_ADDED);
}

const int32_t *vlm_tokenizer_special_ids(const vlm_tokenizer *t, size_t *n) {
    if (n) *n = t ? t->n_special : 0;
    return t ? t->special_ids : NULL;
}
