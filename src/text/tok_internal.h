/* Internal layout of a loaded tokenizer, shared by the files that build and run it:
 * tokenizer_load.c (tokenizer.json -> these structs), model_bpe.c, added_tokens.c,
 * normalizers.c, pretokenizers.c, postprocessors.c, decoders.c (those four read their
 * JSON through tok_component.h), tokenizer_encode.c, detok.c. Each component is a flat
 * array of steps (JSON "Sequence"s are flattened at load). Everything here is immutable
 * after vlm_tokenizer_load returns. */
#ifndef VLM_TEXT_TOK_INTERNAL_H
#define VLM_TEXT_TOK_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/json.h"
#include "core/strbuf.h"
#include "text/tok_cache.h"
#include "text/tok_hash.h"
#include "text/tok_pattern.h"
#include "text/tokenizer.h"

#define TOK_MAX_STEPS 64 /* steps per component after flattening (hostile nesting bound) */

/* ---------------------------------------------------------------- ids out */

typedef struct tok_ids {
    int32_t *v;
    size_t n, cap;
} tok_ids;
bool tok_ids_push(tok_ids *a, int32_t id);

/* ---------------------------------------------------------------- BPE model */

/* A merge as read from the file, before its tokens are resolved to ids: the texts of
 * a and b are back to back at mtext + off. */
typedef struct tok_bpe_rawmerge {
    uint32_t off, alen, blen, index;
} tok_bpe_rawmerge;

typedef struct tok_bpe {
    tok_strmap vocab;   /* token -> id */
    size_t vocab_count; /* distinct tokens (HF get_vocab_size) */
    int32_t max_id;     /* largest id in vocab, -1 when empty */
    uint32_t *id_off;   /* [max_id + 1] id -> token text in vocab.arena, UINT32_MAX: none */
    uint32_t *id_len;
    tok_mergemap merges; /* (a, b) -> (rank, merged id) */
    char *unk_token;     /* NULL: none */
    size_t unk_len;
    char *prefix, *suffix; /* continuing_subword_prefix / end_of_word_suffix, NULL: none */
    size_t prefix_len, suffix_len;
    bool fuse_unk, byte_fallback, ignore_merges;
    int32_t byte_ids[256]; /* id of "<0xXX>" or -1 */
    int32_t *bmp_ids;      /* [0x10000] single-character token ids, -1 none (no prefix) */
    tok_mergemap cross;    /* character pairs (last of a, first of b) some merge joins */
    bool segmentable;      /* words may be split where no merge crosses (see model_bpe.c) */
    tok_cache cache;       /* shared word -> ids cache */

    /* Load-time only (freed by tok_bpe_finish). */
    bool have_vocab, have_merges;
    tok_strkey *raw_keys; /* vocab entries in file order */
    int32_t *raw_vals;
    size_t n_raw, cap_raw;
    char *mtext;
    size_t mtext_len, mtext_cap;
    tok_bpe_rawmerge *rawm;
    size_t n_rawm, cap_rawm;
} tok_bpe;

/* Per-call BPE scratch. */
typedef struct tok_bpe_sym {
    int32_t id;
    int32_t prev, next;
    uint32_t len; /* bytes; 0 marks a symbol merged into its left neighbour */
} tok_bpe_sym;
typedef struct tok_bpe_merge {
    uint32_t rank, pos;
    int32_t new_id;
} tok_bpe_merge;
typedef struct tok_bpe_scratch {
    tok_bpe_sym *sym;
    size_t sym_cap;
    tok_bpe_merge *heap;
    size_t heap_n, heap_cap;
    uint32_t *seg; /* segment starts: (symbol, byte offset) pairs */
    size_t seg_n, seg_cap;
    vlm_strbuf tmp;
} tok_bpe_scratch;
void tok_bpe_scratch_free(tok_bpe_scratch *s);

struct tok_json_cur;
void tok_bpe_init(tok_bpe *m);
void tok_bpe_free(tok_bpe *m);
/* Read model.vocab / model.merges at the cursor (called by the tokenizer.json scanner). */
vlm_status tok_bpe_read_vocab(tok_bpe *m, struct tok_json_cur *c, const char *origin,
                              vlm_error *err);
vlm_status tok_bpe_read_merges(tok_bpe *m, struct tok_json_cur *c, const char *origin,
                               vlm_error *err);
/* Reads the other BPE fields from the jansson tree of "model", resolves the merges and
 * builds the lookup tables. */
vlm_status tok_bpe_finish(tok_bpe *m, const vlm_json *model, const char *origin, vlm_error *err);
/* Appends the ids of one pre-tokenized word. */
vlm_status tok_bpe_encode_word(const tok_bpe *m, tok_bpe_scratch *s, const char *w, size_t n,
                               tok_ids *out, vlm_error *err);
int32_t tok_bpe_token_to_id(const tok_bpe *m, const char *s, size_t n);
const char *tok_bpe_id_to_token(const tok_bpe *m, int32_t id, size_t *len);

/* ---------------------------------------------------------------- normalizers */

typedef enum tok_norm_kind {
    TOK_NORM_NFC,
    TOK_NORM_NFD,
    TOK_NORM_NFKC,
    TOK_NORM_NFKD,
    TOK_NORM_LOWERCASE,
    TOK_NORM_PREPEND,
    TOK_NORM_REPLACE,
    TOK_NORM_STRIP,
    TOK_NORM_STRIP_ACCENTS,
    TOK_NORM_NMT,
    TOK_NORM_BYTE_LEVEL
} tok_norm_kind;

typedef struct tok_norm {
    tok_norm_kind kind;
    char *str; /* Prepend: prefix; Replace: content */
    size_t str_len;
    tok_pattern pat;  /* Replace */
    bool left, right; /* Strip */
} tok_norm;

/* Applies all steps to in[0..len) into *out (overwritten). *lead_moved is set when the
 * first character no longer comes from the start of the input (HF's alignments: a
 * Metaspace "first" prepend then no longer applies). `tmp` is scratch. */
vlm_status tok_normalize(const tok_norm *steps, size_t n, tok_match_scratch *ms, const char *in,
                         size_t len, vlm_strbuf *out, vlm_strbuf *tmp, bool *lead_moved,
                         vlm_error *err);
vlm_status tok_norm_parse(const vlm_json *j, const char *where, tok_norm *steps, size_t *n,
                          vlm_error *err);
void tok_norm_free(tok_norm *steps, size_t n);

/* ---------------------------------------------------------------- pre-tokenizers */

typedef enum tok_behavior {
    TOK_BEH_REMOVED,
    TOK_BEH_ISOLATED,
    TOK_BEH_MERGED_WITH_PREVIOUS,
    TOK_BEH_MERGED_WITH_NEXT,
    TOK_BEH_CONTIGUOUS
} tok_behavior;

typedef enum tok_pre_kind {
    TOK_PRE_SPLIT,
    TOK_PRE_BYTE_LEVEL,
    TOK_PRE_METASPACE,
    TOK_PRE_DIGITS,
    TOK_PRE_WHITESPACE,
    TOK_PRE_WHITESPACE_SPLIT,
    TOK_PRE_PUNCTUATION,
    TOK_PRE_DELIMITER
} tok_pre_kind;

typedef enum tok_prepend { TOK_PREPEND_ALWAYS, TOK_PREPEND_FIRST, TOK_PREPEND_NEVER } tok_prepend;

typedef struct tok_pre {
    tok_pre_kind kind;
    tok_pattern pat; /* Split; ByteLevel with use_regex (the GPT-2 regex) */
    tok_behavior behavior;
    bool invert;
    bool add_prefix_space, use_regex; /* ByteLevel */
    uint32_t repl;                    /* Metaspace replacement; Delimiter char */
    char repl_utf8[4];
    size_t repl_len;
    tok_prepend prepend;    /* Metaspace */
    bool split;             /* Metaspace */
    bool individual_digits; /* Digits */
} tok_pre;

vlm_status tok_pre_parse(const vlm_json *j, const char *where, tok_pre *steps, size_t *n,
                         vlm_error *err);
void tok_pre_free(tok_pre *steps, size_t n);

/* One piece of text moving through the pipeline. at_start: it begins at offset 0 of
 * the original input (HF: offsets_original().0 == 0). */
typedef struct tok_piece {
    const char *s;
    size_t len;
    bool at_start;
} tok_piece;

/* Output of one pre-tokenizer step on one piece: sub-pieces, their text either inside
 * the input or in `buf`. */
typedef struct tok_pre_out {
    tok_piece *v;
    size_t n, cap;
    vlm_strbuf buf, tmp;
    tok_spans spans;
    size_t *offs; /* scratch: piece offsets while buf grows */
    size_t offs_cap;
} tok_pre_out;
void tok_pre_out_free(tok_pre_out *o);
vlm_status tok_pre_apply(const tok_pre *step, tok_match_scratch *ms, tok_piece in, tok_pre_out *out,
                         vlm_error *err);

/* ---------------------------------------------------------------- added tokens */

typedef struct tok_added_token {
    char *content;
    size_t len;
    char *norm; /* normalized content when it differs (normalized tokens), else NULL */
    size_t norm_len;
    int32_t id;
    bool special, lstrip, rstrip, single_word, normalized;
} tok_added_token;

/* A byte trie of patterns -> id: a 256-way root and a hash of (node, byte) -> child. */
typedef struct tok_trie {
    int32_t *val; /* per node: id or -1 */
    size_t n_nodes, cap;
    uint32_t root[256];
    tok_mergemap edges; /* key (node, byte) -> new_id = child node */
    size_t n_patterns;
} tok_trie;

typedef struct tok_added {
    tok_added_token *tok; /* properties by slot (one per id, latest definition) */
    size_t n;
    tok_strmap map;         /* content -> id */
    tok_strmap special_set; /* contents of special tokens */
    tok_trie raw, normed;   /* matched on the original / on normalized text */
} tok_added;

void tok_added_free(tok_added *a);
/* Reads the "added_tokens" array (may be NULL) after the model and normalizer. */
vlm_status tok_added_load(vlm_tokenizer *t, const vlm_json *arr, vlm_error *err);
/* The properties of an added token id, or NULL. */
const tok_added_token *tok_added_get(const tok_added *a, const int32_t *slot_of_id, size_t id_space,
                                     int32_t id);
/* HF AddedVocabulary::find_matches over text with one trie: spans (match = added token
 * with its id in *ids, parallel to spans). */
vlm_status tok_added_split(const tok_added *a, const tok_trie *trie, const int32_t *slot_of_id,
                           size_t id_space, const char *text, size_t len, tok_spans *spans,
                           tok_ids *ids, vlm_error *err);
bool tok_trie_add(tok_trie *t, const char *s, size_t len, int32_t id, int32_t *existing);
void tok_trie_free(tok_trie *t);

/* ---------------------------------------------------------------- post-processors */

typedef struct tok_post {
    int32_t *tmpl; /* ids to emit, -1 = the sequence itself */
    size_t n;
    bool is_template;
} tok_post;

vlm_status tok_post_parse(const vlm_json *j, const char *where, const vlm_tokenizer *t,
                          tok_post *steps, size_t *n, vlm_error *err);
void tok_post_free(tok_post *steps, size_t n);
vlm_status tok_post_apply(const tok_post *steps, size_t n, bool add_special, tok_ids *ids,
                          vlm_error *err);

/* ---------------------------------------------------------------- decoders */

typedef enum tok_dec_kind {
    TOK_DEC_BYTE_LEVEL,
    TOK_DEC_BYTE_FALLBACK,
    TOK_DEC_FUSE,
    TOK_DEC_STRIP,
    TOK_DEC_REPLACE,
    TOK_DEC_METASPACE,
    TOK_DEC_BPE
} tok_dec_kind;

typedef struct tok_dec {
    tok_dec_kind kind;
    tok_pattern pat; /* Replace */
    char *str;       /* Replace content, BPE suffix */
    size_t str_len;
    uint32_t ch; /* Strip content, Metaspace replacement */
    size_t start, stop;
    tok_prepend prepend;
} tok_dec;

vlm_status tok_dec_parse(const vlm_json *j, const char *where, tok_dec *steps, size_t *n,
                         vlm_error *err);
void tok_dec_free(tok_dec *steps, size_t n);

/* A list of token strings (views into `text`). */
typedef struct tok_strlist {
    vlm_strbuf text;
    size_t *off, *len;
    size_t n, cap;
} tok_strlist;
void tok_strlist_clear(tok_strlist *l);
void tok_strlist_free(tok_strlist *l);
bool tok_strlist_push(tok_strlist *l, const char *s, size_t n);

/* Runs the decoder steps on `in` and appends the joined result to out (no decoder: the
 * tokens joined with spaces, as HF). `a`, `b` are scratch lists. */
vlm_status tok_dec_run(const vlm_tokenizer *t, tok_match_scratch *ms, const tok_strlist *in,
                       tok_strlist *a, tok_strlist *b, vlm_strbuf *out, vlm_error *err);
/* True when a token string is a ByteFallback byte ("<0xXX>"); *byte gets it. */
bool tok_dec_byte_token(const char *s, size_t n, uint8_t *byte);

/* ---------------------------------------------------------------- the tokenizer */

enum {
    TOK_ID_ADDED = 1,     /* an added token */
    TOK_ID_SPECIAL = 2,   /* an added token declared special */
    TOK_ID_SKIPPABLE = 4, /* its decode string is a special token's content */
    TOK_ID_BYTE = 8       /* its string is a byte token "<0xXX>" */
};

struct vlm_tokenizer {
    char *origin; /* the file, for messages */
    tok_bpe bpe;
    tok_added added;
    tok_norm norm[TOK_MAX_STEPS];
    size_t n_norm;
    tok_pre pre[TOK_MAX_STEPS];
    size_t n_pre;
    tok_post post[TOK_MAX_STEPS];
    size_t n_post;
    tok_dec dec[TOK_MAX_STEPS];
    size_t n_dec;
    bool has_decoder;
    bool stream_hold_all; /* the decoder chain cannot be streamed by windows (detok.c) */

    size_t id_space;     /* max id + 1 */
    int32_t *added_slot; /* [id_space] index into added.tok or -1 */
    const char **id_str; /* [id_space] decode / id_to_token string or NULL */
    uint32_t *id_len;
    uint8_t *id_flags;
    int32_t *special_ids;
    size_t n_special;
};

/* Decode scratch (per call or per detokenizer). */
typedef struct tok_decode_scratch {
    tok_strlist in, a, b;
    tok_match_scratch ms;
} tok_decode_scratch;
void tok_decode_scratch_free(tok_decode_scratch *s);
/* Decodes ids into *out (cleared first), as vlm_tokenizer_decode. */
vlm_status tok_decode_into(const vlm_tokenizer *t, const int32_t *ids, size_t n, bool skip_special,
                           tok_decode_scratch *s, vlm_strbuf *out, vlm_error *err);

#endif
