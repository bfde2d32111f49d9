/* The streaming detokenizer. It follows HF's DecodeStream (tokenizer/mod.rs): keep a
 * window of ids whose first part (the context) produced the text already emitted; decode
 * the window, and when the result starts with the context's own decode, the difference
 * is the new text. Decoders that act on neighbouring tokens (ByteLevel's byte joining,
 * ByteFallback's byte runs, Metaspace's first-token rule, Strip) see the same context
 * in both decodes, so their effects cancel out.
 *
 * Differences from HF, so that the pieces always concatenate to decode(all ids):
 *  - text is held back while it ends with U+FFFD (an incomplete UTF-8 sequence may
 *    still complete, as HF) and while the last token is a byte token of an open
 *    ByteFallback run (a later byte can turn the whole run into U+FFFDs);
 *  - a window whose decode does not extend the context's is held rather than an error;
 *  - flush emits what is held;
 *  - decoder chains that cannot be windowed (see needs_hold_all in tokenizer_load.c)
 *    emit everything at flush. */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "text/tok_internal.h"

struct vlm_detok {
    const vlm_tokenizer *t;
    bool skip;
    bool has_byte_fallback;
    int32_t *ids; /* window: [0, ctx) context, [ctx, n) not yet emitted */
    size_t n, cap, ctx;
    vlm_strbuf prefix; /* decode(ids[0, ctx)) */
    vlm_strbuf cur;    /* decode(ids[0, n)) */
    vlm_strbuf piece;  /* what the last call returned */
    tok_decode_scratch ds;
};

vlm_status vlm_detok_init(const vlm_tokenizer *t, bool skip_special_tokens, vlm_detok **out,
                          vlm_error *err) {
    if (out) *out = NULL;
    if (!t || !out) return vlm_err(err, VLM_ERR_INVALID_ARGUMENT, "vlm_detok_init: NULL argument");
    vlm_detok *d = calloc(1, sizeof *d);
    if (!d) return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "out of memory");
    d->t = t;
    d->skip = skip_special_tokens;
    for (size_t i = 0; i < t->n_dec; i++)
        if (t->dec[i].kind == TOK_DEC_BYTE_FALLBACK) d->has_byte_fallback = true;
    *out = d;
    return VLM_OK;
}

void vlm_detok_free(vlm_detok *d) {
    if (!d) return;
    free(d->ids);
    vlm_strbuf_free(&d->prefix);
    vlm_strbuf_free(&d->cur);
    vlm_strbuf_free(&d->piece);
    tok_decode_scratch_free(&d->ds);
    free(d);
}

static bool ends_with_fffd(const vlm_strbuf *b) {
    return b->len >= 3 && !memcmp(b->data + b->len - 3, "\xEF\xBF\xBD", 3);
}

/* The last id the decoder will see is a byte token (an open ByteFallback run). */
static bool open_byte_run(const vlm_detok *d) {
    const vlm_tokenizer *t = d->t;
    for (size_t i = d->n; i-- > 0;) {
        int32_t id = d->ids[i];
        if (id < 0 || (size_t)id >= t->id_space || !t->id_str[id]) continue;
        if (d->skip && (t->id_flags[id] & TOK_ID_SKIPPABLE)) continue;
        return (t->id_flags[id] & TOK_ID_BYTE) != 0;
    }
    return false;
}

static vlm_status set_piece(vlm_detok *d, const char *s, size_t n, const char **piece, size_t *len,
                            vlm_error *err) {
    vlm_strbuf_clear(&d->piece);
    vlm_strbuf_append(&d->piece, s, n);
    vlm_strbuf_append(&d->piece, "", 0);
    if (d->piece.failed) return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "out of memory");
    if (piece) *piece = d->piece.data;
    if (len) *len = d->piece.len;
    return VLM_OK;
}

vlm_status vlm_detok_push(vlm_detok *d, int32_t id, const char **piece, size_t *len,
                          vlm_error *err) {
    if (piece) *piece = "";
    if (len) *len = 0;
    if (!d) return vlm_err(err, VLM_ERR_INVALID_ARGUMENT, "vlm_detok_push: NULL detokenizer");
    if (d->n == d->cap) {
        size_t cap = d->cap ? 2 * d->cap : 64;
        int32_t *v = vlm_realloc_array(d->ids, cap, sizeof *v);
        if (!v) return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "out of memory");
        d->ids = v;
        d->cap = cap;
    }
    d->ids[d->n++] = id;
    if (d->t->stream_hold_all) return set_piece(d, "", 0, piece, len, err);
    vlm_status st = tok_decode_into(d->t, d->ids, d->n, d->skip, &d->ds, &d->cur, err);
    if (st != VLM_OK) return st;
    const vlm_strbuf *c = &d->cur, *p = &d->prefix;
    bool extends = c->len > p->len && (p->len == 0 || !memcmp(c->data, p->data, p->len));
    if (!extends || ends_with_fffd(c) || (d->has_byte_fallback && open_byte_run(d)))
        return set_piece(d, "", 0, piece, len, err);
    st = set_piece(d, c->data + p->len, c->len - p->len, piece, len, err);
    if (st != VLM_OK) return st;
    /* The ids since the old context become the new context. */
    memmove(d->ids, d->ids + d->ctx, (d->n - d->ctx) * sizeof *d->ids);
    d->n -= d->ctx;
    d->ctx = d->n;
    return tok_decode_into(d->t, d->ids, d->n, d->skip, &d->ds, &d->prefix, err);
}

vlm_status vlm_detok_flush(vlm_detok *d, const char **piece, size_t *len, vlm_error *err) {
    if (piece) *piece = "";
    if (len) *len = 0;
    if (!d) return vlm_err(err, VLM_ERR_INVALID_ARGUMENT, "vlm_detok_flush: NULL detokenizer");
    vlm_status st = tok_decode_into(d->t, d->ids, d->n, d->skip, &d->ds, &d->cur, err);
    if (st != VLM_OK) return st;
    const vlm_strbuf *c = &d->cur, *p = &d->prefix;
    size_t common = 0; /* normally all of the prefix */
    while (common < p->len && common < c->len && c->data[common] == p->data[common])
        common++;
    while (common > 0 && common < c->len && ((uint8_t)c->data[common] & 0xC0) == 0x80)
        common--;
    st = set_piece(d, c->data ? c->data + common : "", c->len - common, piece, len, err);
    d->n = d->ctx = 0;
    vlm_strbuf_clear(&d->prefix);
    return st;
}
