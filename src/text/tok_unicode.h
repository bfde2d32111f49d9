/* Unicode helpers for the tokenizer: strict UTF-8 validation and decoding, Rust-exact
 * lossy conversion, the character classes the Rust `tokenizers` crate tests with
 * (char::is_whitespace, is_numeric, punctuation, regex \w) and the GPT-2 byte-level
 * alphabet (each byte 0..255 shown as a printable code point). General categories come
 * from utf8proc. */
#ifndef VLM_TEXT_TOK_UNICODE_H
#define VLM_TEXT_TOK_UNICODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/strbuf.h"

/* Length of the valid UTF-8 prefix of s[0..n) (== n when all valid). Strict as Rust's
 * str: no overlong forms, no surrogates, nothing above U+10FFFF. */
size_t tok_utf8_valid_prefix(const char *s, size_t n);

/* Decodes the code point at s (which must be valid UTF-8 with at least one byte left);
 * *adv gets its byte length. */
static inline uint32_t tok_utf8_decode(const char *s, size_t *adv) {
    const uint8_t *p = (const uint8_t *)s;
    if (p[0] < 0x80) {
        *adv = 1;
        return p[0];
    }
    if (p[0] < 0xE0) {
        *adv = 2;
        return ((uint32_t)(p[0] & 0x1F) << 6) | (p[1] & 0x3F);
    }
    if (p[0] < 0xF0) {
        *adv = 3;
        return ((uint32_t)(p[0] & 0x0F) << 12) | ((uint32_t)(p[1] & 0x3F) << 6) | (p[2] & 0x3F);
    }
    *adv = 4;
    return ((uint32_t)(p[0] & 0x07) << 18) | ((uint32_t)(p[1] & 0x3F) << 12) |
           ((uint32_t)(p[2] & 0x3F) << 6) | (p[3] & 0x3F);
}

/* Byte length of the (valid) UTF-8 character starting with byte b. */
static inline size_t tok_utf8_len(uint8_t b) {
    return b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
}

/* Encodes cp into out (4 bytes room); returns the byte count. */
size_t tok_utf8_encode(uint32_t cp, char *out);

/* Byte offset of the start of the last character in s[0..n) (n > 0, valid UTF-8). */
size_t tok_utf8_last_start(const char *s, size_t n);

/* Appends bytes[0..n) to b as Rust's String::from_utf8_lossy does: each maximal invalid
 * subpart becomes one U+FFFD. */
void tok_utf8_append_lossy(vlm_strbuf *b, const uint8_t *bytes, size_t n);

/* Character classes, as Rust's char methods / regex crate define them. */
bool tok_is_whitespace(uint32_t cp);  /* White_Space property (char::is_whitespace) */
bool tok_is_numeric(uint32_t cp);     /* general category Nd, Nl or No (char::is_numeric) */
bool tok_is_punctuation(uint32_t cp); /* ASCII punctuation or category P* */
bool tok_is_word(uint32_t cp);        /* regex \w: Alphabetic, M, Nd, Pc, Join_Control */
bool tok_is_mark(uint32_t cp);        /* category Mn, Mc or Me */

/* Appends the lowercase form of cp (Rust char::to_lowercase; may be 2 chars). */
void tok_append_lower(vlm_strbuf *b, uint32_t cp);

/* GPT-2 byte-level alphabet: printable bytes ('!'..'~', 0xA1..0xAC, 0xAE..0xFF) stand for
 * themselves; the other 68 bytes, in increasing order, become U+0100..U+0143. */
static inline uint32_t tok_bytelevel_cp(uint8_t b) {
    if (b <= 0x20) return 256u + b;
    if (b >= 0x7F && b <= 0xA0) return 256u + 33u + (uint32_t)(b - 0x7F);
    if (b == 0xAD) return 323;
    return b;
}
/* The byte a byte-level code point stands for, or -1. */
static inline int tok_bytelevel_byte(uint32_t cp) {
    if (cp < 256) return (cp > 0x20 && cp < 0x7F) || (cp >= 0xA1 && cp != 0xAD) ? (int)cp : -1;
    if (cp <= 288) return (int)(cp - 256);
    if (cp <= 322) return (int)(0x7F + (cp - 289));
    if (cp == 323) return 0xAD;
    return -1;
}

#endif
