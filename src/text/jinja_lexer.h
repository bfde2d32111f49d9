/* The Jinja lexer: template source -> tokens, with jinja2's whitespace rules as transformers
 * configures them (trim_blocks, lstrip_blocks, keep_trailing_newline=False, "-" and "+"
 * modifiers, comments, raw blocks). Newlines are normalized to "\n" first, as jinja2 does,
 * so lines and columns refer to the normalized text (columns count code points, from 1). */
#ifndef VLM_TEXT_JINJA_LEXER_H
#define VLM_TEXT_JINJA_LEXER_H

#include <stddef.h>
#include <stdint.h>

#include "text/jinja_value.h"
#include "vlm.h"

typedef enum vlm_jtok_type {
    VLM_JTOK_EOF = 0,
    VLM_JTOK_DATA,        /* template text; val is the string */
    VLM_JTOK_VAR_BEGIN,   /* {{ */
    VLM_JTOK_VAR_END,     /* }} */
    VLM_JTOK_BLOCK_BEGIN, /* {% */
    VLM_JTOK_BLOCK_END,   /* %} */
    VLM_JTOK_NAME,        /* val is the name */
    VLM_JTOK_STRING,      /* val is the decoded string */
    VLM_JTOK_INT,
    VLM_JTOK_FLOAT,
    VLM_JTOK_OP /* op is one of the vlm_jop codes */
} vlm_jtok_type;

typedef enum vlm_jop {
    VLM_JOP_ADD = 1,
    VLM_JOP_SUB,
    VLM_JOP_DIV,
    VLM_JOP_FLOORDIV,
    VLM_JOP_MUL,
    VLM_JOP_MOD,
    VLM_JOP_POW,
    VLM_JOP_TILDE,
    VLM_JOP_LBRACKET,
    VLM_JOP_RBRACKET,
    VLM_JOP_LPAREN,
    VLM_JOP_RPAREN,
    VLM_JOP_LBRACE,
    VLM_JOP_RBRACE,
    VLM_JOP_EQ,
    VLM_JOP_NE,
    VLM_JOP_GT,
    VLM_JOP_GTEQ,
    VLM_JOP_LT,
    VLM_JOP_LTEQ,
    VLM_JOP_ASSIGN,
    VLM_JOP_DOT,
    VLM_JOP_COLON,
    VLM_JOP_PIPE,
    VLM_JOP_COMMA,
    VLM_JOP_SEMICOLON
} vlm_jop;

typedef struct vlm_jtok {
    uint8_t type; /* vlm_jtok_type */
    uint8_t op;   /* vlm_jop for VLM_JTOK_OP */
    uint32_t line, col;
    vlm_jv val; /* immortal */
} vlm_jtok;

typedef struct vlm_jtokens {
    vlm_jtok *toks; /* ends with one VLM_JTOK_EOF */
    size_t n;
    vlm_jpool pool; /* the strings the tokens hold; the parser takes it over */
} vlm_jtokens;

/* Tokenizes src[0..len) (valid UTF-8 is checked). `name` prefixes error messages
 * ("name:line:col: ..."). On failure nothing is left to free. */
vlm_status vlm_jinja_lex(const char *src, size_t len, const char *name, vlm_jtokens *out,
                         vlm_error *err);
void vlm_jtokens_free(vlm_jtokens *t);
const char *vlm_jop_text(int op);

#endif
