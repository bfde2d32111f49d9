/* Loading a tokenizer.json: the big model.vocab / model.merges values are read by the
 * single-pass scanner (tok_json_scan.c) straight from the text; a copy of the text with
 * those two values blanked goes through jansson for everything else. Then the components
 * are built in HF's order (normalizer, model, added tokens, pre-tokenizer,
 * post-processor, decoder) and the per-id tables used by decode and the lookups. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/file.h"
#include "text/tok_internal.h"
#include "text/tok_json_scan.h"
#include "text/tok_unicode.h"

void vlm_tokenizer_free(vlm_tokenizer *t) {
    if (!t) return;
    tok_bpe_free(&t->bpe);
    tok_added_free(&t->added);
    tok_norm_free(t->norm, t->n_norm);
    tok_pre_free(t->pre, t->n_pre);
    tok_post_free(t->post, t->n_post);
    tok_dec_free(t->dec, t->n_dec);
    free(t->added_slot);
    free(t->id_str);
    free(t->id_len);
    free(t->id_flags);
    free(t->special_ids);
    free(t->origin);
    free(t);
}

/* Per-id tables: what decode and the lookups read. */
static vlm_status build_id_tables(vlm_tokenizer *t, vlm_error *err) {
    int64_t max_id = t->bpe.max_id;
    for (size_t i = 0; i < t->added.n; i++)
        if (t->added.tok[i].id > max_id) max_id = t->added.tok[i].id;
    t->id_space = (size_t)(max_id + 1);
    size_t n = t->id_space ? t->id_space : 1;
    t->added_slot = vlm_malloc_array(n, sizeof *t->added_slot);
    t->id_str = vlm_calloc_array(n, sizeof *t->id_str);
    t->id_len = vlm_calloc_array(n, sizeof *t->id_len);
    t->id_flags = vlm_calloc_array(n, sizeof *t->id_flags);
    t->special_ids = vlm_malloc_array(t->added.n + 1, sizeof *t->special_ids);
    if (!t->added_slot || !t->id_str || !t->id_len || !t->id_flags || !t->special_ids)
        return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "out of memory");
    for (size_t i = 0; i < n; i++)
        t->added_slot[i] = -1;
    for (size_t i = 0; i < t->added.n; i++)
        t->added_slot[t->added.tok[i].id] = (int32_t)i;
    for (size_t id = 0; id < t->id_space; id++) {
        const char *s = NULL;
        size_t len = 0;
        uint8_t f = 0;
        if (t->added_slot[id] >= 0) {
            const tok_added_token *tk = &t->added.tok[t->added_slot[id]];
            s = tk->norm ? tk->norm : tk->content;
            len = tk->norm ? tk->norm_len : tk->len;
            f |= TOK_ID_ADDED;
            if (tk->special) f |= TOK_ID_SPECIAL;
        } else {
            s = tok_bpe_id_to_token(&t->bpe, (int32_t)id, &len);
        }
        if (!s) continue;
        if (tok_strmap_get(&t->added.special_set, s, len) >= 0) f |= TOK_ID_SKIPPABLE;
        uint8_t b;
        if (tok_dec_byte_token(s, len, &b)) f |= TOK_ID_BYTE;
        t->id_str[id] = s;
        t->id_len[id] = (uint32_t)len;
        t->id_flags[id] = f;
        if (f & TOK_ID_SPECIAL) t->special_ids[t->n_special++] = (int32_t)id;
    }
    return VLM_OK;
}

/* Whether detok.c may stream this decoder chain with a sliding window: steps after a
 * Fuse see the whole text, so a Replace there with a pattern longer than one character
 * (or a regex), or a Strip of more than one leading character, could change text that
 * was already emitted. Such chains are emitted at flush only. */
static bool needs_hold_all(const vlm_tokenizer *t) {
    bool fused = false;
    for (size_t i = 0; i < t->n_dec; i++) {
        const tok_dec *d = &t->dec[i];
        if (d->kind == TOK_DEC_FUSE || d->kind == TOK_DEC_BYTE_LEVEL) fused = true;
        if (!fused) continue;
        if (d->kind == TOK_DEC_REPLACE) {
            if (d->pat.is_regex) return true;
            size_t adv = 0;
            if (d->pat.lit_len) tok_utf8_decode(d->pat.lit, &adv);
            if (adv != d->pat.lit_len) return true;
        }
        if (d->kind == TOK_DEC_STRIP && d->start > 1) return true;
    }
    return false;
}

static vlm_status scan_vocab(tok_json_cur *c, void *user, vlm_error *err) {
    vlm_tokenizer *t = user;
    return tok_bpe_read_vocab(&t->bpe, c, t->origin, err);
}

static vlm_status scan_merges(tok_json_cur *c, void *user, vlm_error *err) {
    vlm_tokenizer *t = user;
    return tok_bpe_read_merges(&t->bpe, c, t->origin, err);
}

static vlm_status load_text(const char *text, size_t len, const char *origin, vlm_tokenizer **out,
                            vlm_error *err) {
    *out = NULL;
    vlm_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "out of memory");
    tok_bpe_init(&t->bpe);
    vlm_json *root = NULL;
    vlm_status st;
    if (!(t->origin = vlm_strdup(origin))) goto oom;
    /* One pass over the text reads model.vocab and model.merges; jansson reads the rest
     * from a copy without them. */
    tok_json_range rv, rm;
    bool syntax;
    st = tok_json_scan_model(text, len, scan_vocab, scan_merges, t, &rv, &rm, &syntax, err);
    if (st != VLM_OK) {
        if (syntax) { /* let jansson describe it (line, column) */
            vlm_error scan_err = err ? *err : (vlm_error){0};
            if (vlm_json_parse(text, len, origin, 0, &root, err) == VLM_OK)
                st = vlm_err(err, st, "%s: %s", origin, scan_err.message);
            else
                st = err ? err->status : VLM_ERR_FORMAT;
        }
        goto fail;
    }
    size_t clen;
    char *copy = rv.start <= rm.start ? tok_json_cut(text, len, rv, rm, &clen)
                                      : tok_json_cut(text, len, rm, rv, &clen);
    if (!copy) goto oom;
    st = vlm_json_parse(copy, clen, origin, 0, &root, err);
    free(copy);
    if (st != VLM_OK) {
        /* Line and column in the cut copy are off: report them for the whole text. */
        vlm_json *whole = NULL;
        if (st != VLM_ERR_OUT_OF_MEMORY) st = vlm_json_parse(text, len, origin, 0, &whole, err);
        vlm_json_free(whole);
        if (st == VLM_OK) st = vlm_err(err, VLM_ERR_INTERNAL, "%s: JSON scan disagrees", origin);
        goto fail;
    }

    char w[300];
    const vlm_json *model, *version;
    if (!vlm_json_is_object(root)) {
        st = vlm_err(err, VLM_ERR_FORMAT, "%s: the top level must be an object", origin);
        goto fail;
    }
    version = vlm_json_get(root, "version");
    if (version && !(vlm_json_string(version) && !strcmp(vlm_json_string(version), "1.0"))) {
        st = vlm_err(err, VLM_ERR_UNSUPPORTED, "%s: version must be \"1.0\"", origin);
        goto fail;
    }
    model = vlm_json_get(root, "model");
    if (!model) {
        st = vlm_err(err, VLM_ERR_FORMAT, "%s: no \"model\"", origin);
        goto fail;
    }
    snprintf(w, sizeof w, "%s: normalizer", origin);
    if ((st = tok_norm_parse(vlm_json_get(root, "normalizer"), w, t->norm, &t->n_norm, err)) !=
        VLM_OK)
        goto fail;
    if ((st = tok_bpe_finish(&t->bpe, model, origin, err)) != VLM_OK) goto fail;
    if ((st = tok_added_load(t, vlm_json_get(root, "added_tokens"), err)) != VLM_OK) goto fail;
    snprintf(w, sizeof w, "%s: pre_tokenizer", origin);
    if ((st = tok_pre_parse(vlm_json_get(root, "pre_tokenizer"), w, t->pre, &t->n_pre, err)) !=
        VLM_OK)
        goto fail;
    snprintf(w, sizeof w, "%s: post_processor", origin);
    if ((st = tok_post_parse(vlm_json_get(root, "post_processor"), w, t, t->post, &t->n_post,
                             err)) != VLM_OK)
        goto fail;
    snprintf(w, sizeof w, "%s: decoder", origin);
    const vlm_json *dec = vlm_json_get(root, "decoder");
    t->has_decoder = dec && !vlm_json_is_null(dec);
    if ((st = tok_dec_parse(dec, w, t->dec, &t->n_dec, err)) != VLM_OK) goto fail;
    if ((st = build_id_tables(t, err)) != VLM_OK) goto fail;
    t->stream_hold_all = needs_hold_all(t);
    vlm_json_free(root);
    *out = t;
    return VLM_OK;
oom:
    st = vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "out of memory");
fail:
    vlm_json_free(root);
    vlm_tokenizer_free(t);
    return st;
}

vlm_status vlm_tokenizer_load_json(const char *json, size_t len, const char *origin,
                                   vlm_tokenizer **out, vlm_error *err) {
    if (!out) return vlm_err(err, VLM_ERR_INVALID_ARGUMENT, "vlm_tokenizer_load_json: out is NULL");
    *out = NULL;
    if (!json) return vlm_err(err, VLM_ERR_INVALID_ARGUMENT, "vlm_tokenizer_load_json: no text");
    return load_text(json, len, origin ? origin : "tokenizer.json", out, err);
}

vlm_status vlm_tokenizer_load(const char *path, vlm_tokenizer **out, vlm_error *err) {
    if (!out) return vlm_err(err, VLM_ERR_INVALID_ARGUMENT, "vlm_tokenizer_load: out is NULL");
    *out = NULL;
    if (!path) return vlm_err(err, VLM_ERR_INVALID_ARGUMENT, "vlm_tokenizer_load: path is NULL");
    char *file = NULL;
    if (vlm_path_kind_of(path) == VLM_PATH_DIR) {
        file = vlm_path_join(path, "tokenizer.json");
        if (!file) return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "out of memory");
    }
    const char *f = file ? file : path;
    char *text;
    size_t len;
    vlm_status st = vlm_file_read(f, VLM_TOKENIZER_MAX_BYTES, &text, &len, err);
    if (st == VLM_OK) {
        st = load_text(text, len, f, out, err);
        free(text);
    }
    free(file);
    return st;
}
