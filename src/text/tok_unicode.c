/* UTF-8 and character-class helpers for the tokenizer (see tok_unicode.h). The classes
 * follow the Rust definitions the `tokenizers` crate relies on; general categories come
 * from utf8proc, so characters assigned after utf8proc's Unicode version read as
 * unassigned. */
#include "text/tok_unicode.h"

#include <string.h>
#include <utf8proc.h>

/* Length of the valid UTF-8 sequence at p[0..n), or 0 when it is invalid or truncated. */
static size_t seq_len(const uint8_t *p, size_t n) {
    uint8_t b = p[0];
    if (b < 0x80) return 1;
    if (b < 0xC2) return 0;
    if (b < 0xE0) return (n >= 2 && (p[1] & 0xC0) == 0x80) ? 2 : 0;
    if (b < 0xF0) {
        if (n < 3) return 0;
        uint8_t lo = 0x80, hi = 0xBF;
        if (b == 0xE0) lo = 0xA0;
        if (b == 0xED) hi = 0x9F; /* no surrogates */
        if (p[1] < lo || p[1] > hi || (p[2] & 0xC0) != 0x80) return 0;
        return 3;
    }
    if (b < 0xF5) {
        if (n < 4) return 0;
        uint8_t lo = 0x80, hi = 0xBF;
        if (b == 0xF0) lo = 0x90;
        if (b == 0xF4) hi = 0x8F; /* nothing above U+10FFFF */
        if (p[1] < lo || p[1] > hi || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80) return 0;
        return 4;
    }
    return 0;
}

size_t tok_utf8_valid_prefix(const char *s, size_t n) {
    const uint8_t *p = (const uint8_t *)s;
    size_t i = 0;
    while (i < n) {
        /* ASCII fast path, 8 bytes at a time. */
        while (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, p + i, 8);
            if (w & 0x8080808080808080ull) break;
            i += 8;
        }
        if (i >= n) break;
        size_t k = seq_len(p + i, n - i);
        if (!k) return i;
        i += k;
    }
    return n;
}

size_t tok_utf8_encode(uint32_t cp, char *out) {
    uint8_t *o = (uint8_t *)out;
    if (cp < 0x80) {
        o[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (uint8_t)(0xC0 | (cp >> 6));
        o[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (uint8_t)(0xE0 | (cp >> 12));
        o[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (uint8_t)(0xF0 | (cp >> 18));
    o[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

size_t tok_utf8_last_start(const char *s, size_t n) {
    size_t i = n - 1;
    while (i > 0 && ((uint8_t)s[i] & 0xC0) == 0x80)
        i--;
    return i;
}

/* Rust's Utf8Chunks rule: an invalid sequence is replaced by one U+FFFD per maximal
 * prefix of a valid sequence (at least one byte), a truncated tail by one U+FFFD. */
void tok_utf8_append_lossy(vlm_strbuf *b, const uint8_t *p, size_t n) {
    static const char fffd[3] = {(char)0xEF, (char)0xBF, (char)0xBD};
    size_t i = 0, run = 0; /* run: start of the pending valid span */
    while (i < n) {
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        size_t k = seq_len(p + i, n - i);
        if (k) {
            i += k;
            continue;
        }
        /* Invalid: how many bytes form a valid prefix (lead byte + good continuations). */
        size_t bad = 1;
        uint8_t c = p[i];
        size_t want = (c >= 0xC2 && c < 0xE0)   ? 2
                      : (c >= 0xE0 && c < 0xF0) ? 3
                      : (c >= 0xF0 && c < 0xF5) ? 4
                                                : 1;
        if (want > 1) {
            for (size_t j = 1; j < want && i + j < n; j++) {
                uint8_t lo = 0x80, hi = 0xBF;
                if (j == 1) {
                    if (c == 0xE0) lo = 0xA0;
                    if (c == 0xED) hi = 0x9F;
                    if (c == 0xF0) lo = 0x90;
                    if (c == 0xF4) hi = 0x8F;
                }
                if (p[i + j] < lo || p[i + j] > hi) break;
                bad = j + 1;
            }
        }
        vlm_strbuf_append(b, (const char *)p + run, i - run);
        vlm_strbuf_append(b, fffd, 3);
        i += bad;
        run = i;
    }
    vlm_strbuf_append(b, (const char *)p + run, n - run);
}

bool tok_is_whitespace(uint32_t cp) {
    if (cp < 0x80) return cp == ' ' || (cp >= 0x09 && cp <= 0x0D);
    return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) ||
           cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

bool tok_is_numeric(uint32_t cp) {
    if (cp < 0x80) return cp >= '0' && cp <= '9';
    utf8proc_category_t c = utf8proc_category((utf8proc_int32_t)cp);
    return c == UTF8PROC_CATEGORY_ND || c == UTF8PROC_CATEGORY_NL || c == UTF8PROC_CATEGORY_NO;
}

bool tok_is_punctuation(uint32_t cp) {
    if (cp < 0x80)
        return (cp >= 0x21 && cp <= 0x2F) || (cp >= 0x3A && cp <= 0x40) ||
               (cp >= 0x5B && cp <= 0x60) || (cp >= 0x7B && cp <= 0x7E);
    utf8proc_category_t c = utf8proc_category((utf8proc_int32_t)cp);
    return c >= UTF8PROC_CATEGORY_PC && c <= UTF8PROC_CATEGORY_PO;
}

bool tok_is_mark(uint32_t cp) {
    if (cp < 0x300) return false;
    utf8proc_category_t c = utf8proc_category((utf8proc_int32_t)cp);
    return c == UTF8PROC_CATEGORY_MN || c == UTF8PROC_CATEGORY_MC || c == UTF8PROC_CATEGORY_ME;
}

bool tok_is_word(uint32_t cp) {
    if (cp < 0x80)
        return (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') ||
               cp == '_';
    if (cp == 0x200C || cp == 0x200D) return true; /* Join_Control */
    /* Other_Alphabetic symbols (circled / squared Latin letters) outside L and M. */
    if ((cp >= 0x24B6 && cp <= 0x24E9) || (cp >= 0x1F130 && cp <= 0x1F149) ||
        (cp >= 0x1F150 && cp <= 0x1F169) || (cp >= 0x1F170 && cp <= 0x1F189))
        return true;
    utf8proc_category_t c = utf8proc_category((utf8proc_int32_t)cp);
    switch (c) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC:
    case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_PC:
        return true;
    default:
        return false;
    }
}

void tok_append_lower(vlm_strbuf *b, uint32_t cp) {
    char u[8];
    if (cp < 0x80) {
        vlm_strbuf_putc(b, (char)((cp >= 'A' && cp <= 'Z') ? cp + 32 : cp));
        return;
    }
    if (cp == 0x130) { /* the one unconditional multi-char lowercase: i + combining dot */
        vlm_strbuf_append(b, "i\xCC\x87", 3);
        return;
    }
    uint32_t lc = (uint32_t)utf8proc_tolower((utf8proc_int32_t)cp);
    vlm_strbuf_append(b, u, tok_utf8_encode(lc, u));
}
