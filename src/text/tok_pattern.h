/* Patterns for Split, Replace and the byte-level pre-tokenizer: a literal string or a
 * regex. HF compiles both with Oniguruma (`onig` crate) and iterates matches with
 * rust-onig's find_iter; this module runs PCRE2 (UTF, UCP, JIT) on a translation of the
 * Oniguruma pattern (\s, \w, \d, \h and \uHHHH rewritten to Oniguruma's meaning) and
 * reproduces that iteration, empty matches included.
 *
 * Compiled patterns are read-only and shared between threads; the per-call match state
 * (tok_match_scratch) is not. */
#ifndef VLM_TEXT_TOK_PATTERN_H
#define VLM_TEXT_TOK_PATTERN_H

#include <stdbool.h>
#include <stddef.h>

#include "vlm.h"

typedef struct tok_pattern {
    bool is_regex;
    char *lit; /* literal bytes (is_regex false) */
    size_t lit_len;
    void *code; /* pcre2_code_8 * (is_regex true) */
} tok_pattern;

/* Per-call PCRE2 state (match data, JIT stack), created on first use. */
typedef struct tok_match_scratch {
    void *md;   /* pcre2_match_data_8 * */
    void *mctx; /* pcre2_match_context_8 * */
    void *jit;  /* pcre2_jit_stack_8 * */
} tok_match_scratch;
void tok_match_scratch_free(tok_match_scratch *s);

/* One span of a text: [start, end) and whether it is a match. */
typedef struct tok_span {
    size_t start, end;
    bool match;
} tok_span;

typedef struct tok_spans {
    tok_span *v;
    size_t n, cap;
} tok_spans;
void tok_spans_free(tok_spans *s);
bool tok_spans_push(tok_spans *s, size_t start, size_t end, bool match);

vlm_status tok_pattern_literal(tok_pattern *p, const char *s, size_t len, vlm_error *err);
/* Compiles an Oniguruma-syntax regex; errors name `where` (file: JSON path). */
vlm_status tok_pattern_regex(tok_pattern *p, const char *re, size_t len, const char *where,
                             vlm_error *err);
void tok_pattern_free(tok_pattern *p);

/* HF's Pattern::find_matches: spans covering text[0..len) in order, alternating between
 * non-matches and matches (an empty text gives one empty non-match span). `invert`
 * flips every span's flag. Appends to *out (cleared first). */
vlm_status tok_pattern_find_matches(const tok_pattern *p, tok_match_scratch *ms, const char *text,
                                    size_t len, bool invert, tok_spans *out, vlm_error *err);

/* Translates an Oniguruma pattern to PCRE2 syntax (exposed for tests). Returns a fresh
 * string (free()) or NULL with err set. */
char *tok_regex_translate(const char *re, size_t len, const char *where, vlm_error *err);

#endif
