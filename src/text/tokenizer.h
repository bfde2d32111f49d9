/* The tokenizer.json engine: loads a Hugging Face `tokenizers` file and encodes/decodes
 * exactly as the Rust library does (BPE models, byte-level and SentencePiece-style with
 * byte_fallback; normalizers, pre-tokenizers, post-processors, decoders, added tokens),
 * plus a streaming detokenizer for generation.
 *
 *   vlm_tokenizer *tok;
 *   if (vlm_tokenizer_load("model_dir", &tok, &err) != VLM_OK) ...
 *   int32_t *ids; size_t n;
 *   vlm_tokenizer_encode(tok, text, strlen(text), true, &ids, &n, &err);
 *   char *s; vlm_tokenizer_decode(tok, ids, n, false, &s, &err);
 *   free(ids); free(s); vlm_tokenizer_free(tok);
 *
 * Thread safety: a loaded tokenizer is read-only. encode, decode, the lookups and any
 * number of detokenizers may run concurrently on one tokenizer from many threads (all
 * scratch memory is per call or per detokenizer). A vlm_detok is used by one thread.
 *
 * What is not modelled: truncation and padding in tokenizer.json (transformers overrides
 * them per call), offsets, pairs of sequences, models other than BPE (WordPiece,
 * WordLevel, Unigram) and BPE dropout > 0: loading such a file fails with an error naming
 * the JSON path. */
#ifndef VLM_TEXT_TOKENIZER_H
#define VLM_TEXT_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vlm.h"

typedef struct vlm_tokenizer vlm_tokenizer;

/* Token ids above this are refused at load (they size id-indexed tables). */
#define VLM_TOKENIZER_MAX_ID ((1 << 24) - 1)

/* Loads `path`, a tokenizer.json file or a directory holding one. On success *out owns
 * the tokenizer. Errors name the file and the JSON path ("pre_tokenizer.pretokenizers[2]
 * .type 'Foo' is not supported"). */
vlm_status vlm_tokenizer_load(const char *path, vlm_tokenizer **out, vlm_error *err);

/* Same, from JSON text already in memory; `origin` names it in errors. */
vlm_status vlm_tokenizer_load_json(const char *json, size_t len, const char *origin,
                                   vlm_tokenizer **out, vlm_error *err);

void vlm_tokenizer_free(vlm_tokenizer *t); /* NULL is a no-op */

/* Encodes text[0..len) (UTF-8; invalid UTF-8 is VLM_ERR_INVALID_ARGUMENT naming the byte
 * offset). add_special_tokens applies the post-processor as HF's add_special_tokens=True.
 * *ids is a fresh array (free()); with n == 0 it is still a valid pointer. */
vlm_status vlm_tokenizer_encode(const vlm_tokenizer *t, const char *text, size_t len,
                                bool add_special_tokens, int32_t **ids, size_t *n_ids,
                                vlm_error *err);

/* Decodes ids to a fresh NUL-terminated UTF-8 string (free()). Unknown ids are skipped,
 * as HF does. skip_special_tokens drops tokens whose string is a special added token. */
vlm_status vlm_tokenizer_decode(const vlm_tokenizer *t, const int32_t *ids, size_t n,
                                bool skip_special_tokens, char **text, vlm_error *err);
/* Same, also giving the byte length (the text may contain U+0000). */
vlm_status vlm_tokenizer_decode_len(const vlm_tokenizer *t, const int32_t *ids, size_t n,
                                    bool skip_special_tokens, char **text, size_t *len,
                                    vlm_error *err);

/* ---------------------------------------------------------------- lookups */

/* One past the largest id in use (model vocab and added tokens): the size an embedding
 * table must have at least. */
size_t vlm_tokenizer_vocab_size(const vlm_tokenizer *t);

/* The id of a token string (added tokens first, then the model vocab), or -1. */
int32_t vlm_tokenizer_token_to_id(const vlm_tokenizer *t, const char *token, size_t len);

/* The string of an id as HF's id_to_token gives it (for a normalized added token, its
 * normalized form), or NULL for an unused id. *len may be NULL. Owned by t. */
const char *vlm_tokenizer_id_to_token(const vlm_tokenizer *t, int32_t id, size_t *len);

/* True when id is an added token declared "special": true. */
bool vlm_tokenizer_is_special(const vlm_tokenizer *t, int32_t id);

/* True when id is any added token (special or not). */
bool vlm_tokenizer_is_added(const vlm_tokenizer *t, int32_t id);

/* The ids of all special added tokens, ascending; *n gets the count. Owned by t. */
const int32_t *vlm_tokenizer_special_ids(const vlm_tokenizer *t, size_t *n);

/* ---------------------------------------------------------------- streaming detokenizer */

/* Turns ids into text one at a time, for generation. Each piece is valid UTF-8 that never
 * ends inside a character, and the concatenation of all pieces (pushes, then flush) is
 * exactly vlm_tokenizer_decode of the whole sequence with the same skip_special_tokens.
 * A push may return an empty piece when the id does not complete any text yet (a partial
 * UTF-8 sequence from byte tokens, or a special token being skipped). */
typedef struct vlm_detok vlm_detok;

vlm_status vlm_detok_init(const vlm_tokenizer *t, bool skip_special_tokens, vlm_detok **out,
                          vlm_error *err);
/* *piece points into the detokenizer and stays valid until the next call on it. */
vlm_status vlm_detok_push(vlm_detok *d, int32_t id, const char **piece, size_t *len,
                          vlm_error *err);
/* Emits whatever was held back; the detokenizer may then be reused for a new sequence. */
vlm_status vlm_detok_flush(vlm_detok *d, const char **piece, size_t *len, vlm_error *err);
void vlm_detok_free(vlm_detok *d);

#endif
