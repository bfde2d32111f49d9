/* Pre-tokenizers (HF pre_tokenizers/): Split (literal or regex, five delimiter
 * behaviours, invert), ByteLevel (prefix space, GPT-2 regex, byte -> printable char
 * mapping), Metaspace (replacement, prepend scheme, split), Digits, Whitespace,
 * WhitespaceSplit, Punctuation, CharDelimiterSplit, BertPreTokenizer (as WhitespaceSplit
 * then Punctuation) and Sequence (flattened at load).
 *
 * A step turns one piece into sub-pieces; empty sub-pieces are dropped, as HF's
 * PreTokenizedString::split does. HF's delimiter behaviours work on the list of
 * (span, is_match) that a pattern produces (tokenizer/normalizer.rs, split()). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "text/tok_component.h"
#include "text/tok_internal.h"
#include "text/tok_unicode.h"

/* The GPT-2 pattern the ByteLevel pre-tokenizer uses when use_regex is true. */
static const char GPT2_REGEX[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

void tok_pre_free(tok_pre *steps, size_t n) {
    for (size_t i = 0; i < n; i++)
        tok_pattern_free(&steps[i].pat);
}

void tok_pre_out_free(tok_pre_out *o) {
    free(o->v);
    vlm_strbuf_free(&o->buf);
    vlm_strbuf_free(&o->tmp);
    tok_spans_free(&o->spans);
    free(o->offs);
    memset(o, 0, sizeof *o);
}

/* ---------------------------------------------------------------- parsing */

static vlm_status parse_behavior(const vlm_json *j, const char *where, bool required,
                                 tok_behavior *out, vlm_error *err) {
    const vlm_json *b = vlm_json_get(j, "behavior");
    if (!b && !required) {
        *out = TOK_BEH_ISOLATED;
        return VLM_OK;
    }
    const char *s = vlm_json_string(b);
    static const struct {
        const char *name;
        tok_behavior b;
    } names[] = {{"Removed", TOK_BEH_REMOVED},
                 {"Isolated", TOK_BEH_ISOLATED},
                 {"MergedWithPrevious", TOK_BEH_MERGED_WITH_PREVIOUS},
                 {"MergedWithNext", TOK_BEH_MERGED_WITH_NEXT},
                 {"Contiguous", TOK_BEH_CONTIGUOUS}};
    for (size_t i = 0; s && i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(s, names[i].name)) {
            *out = names[i].b;
            return VLM_OK;
        }
    return vlm_err(err, VLM_ERR_FORMAT,
                   "%s.behavior must be one of Removed, Isolated, "
                   "MergedWithPrevious, MergedWithNext, Contiguous",
                   where);
}

static vlm_status get_bool(const vlm_json *j, const char *key, const char *where, bool dflt,
                           bool *out, vlm_error *err) {
    const vlm_json *v = vlm_json_get(j, key);
    if (!v) {
        *out = dflt;
        return VLM_OK;
    }
    if (!vlm_json_is_bool(v))
        return vlm_err(err, VLM_ERR_FORMAT, "%s.%s must be a boolean", where, key);
    *out = vlm_json_true(v);
    return VLM_OK;
}

/* A JSON string holding exactly one character (serde's char). */
static vlm_status get_char(const vlm_json *j, const char *key, const char *where, uint32_t *cp,
                           vlm_error *err) {
    if (!tok_json_char(vlm_json_get(j, key), cp))
        return vlm_err(err, VLM_ERR_FORMAT, "%s.%s must be a string of one character", where, key);
    return VLM_OK;
}

static vlm_status parse_step(const vlm_json *j, const char *type, const char *where, void *steps_v,
                             size_t *n, vlm_error *err) {
    tok_pre *steps = steps_v, *s = &steps[*n];
    memset(s, 0, sizeof *s);
    vlm_status st = VLM_OK;
    if (!strcmp(type, "Split")) {
        s->kind = TOK_PRE_SPLIT;
        (*n)++;
        char w[256];
        snprintf(w, sizeof w, "%s.pattern", where);
        if ((st = tok_parse_pattern(vlm_json_get(j, "pattern"), w, &s->pat, err)) != VLM_OK ||
            (st = parse_behavior(j, where, true, &s->behavior, err)) != VLM_OK)
            return st;
        return get_bool(j, "invert", where, false, &s->invert, err);
    }
    if (!strcmp(type, "ByteLevel")) {
        s->kind = TOK_PRE_BYTE_LEVEL;
        (*n)++;
        if ((st = get_bool(j, "add_prefix_space", where, true, &s->add_prefix_space, err)) !=
                VLM_OK ||
            (st = get_bool(j, "use_regex", where, true, &s->use_regex, err)) != VLM_OK)
            return st;
        if (s->use_regex)
            return tok_pattern_regex(&s->pat, GPT2_REGEX, strlen(GPT2_REGEX), where, err);
        return VLM_OK;
    }
    if (!strcmp(type, "Metaspace")) {
        s->kind = TOK_PRE_METASPACE;
        (*n)++;
        if ((st = get_char(j, "replacement", where, &s->repl, err)) != VLM_OK ||
            (st = get_bool(j, "split", where, true, &s->split, err)) != VLM_OK)
            return st;
        s->repl_len = tok_utf8_encode(s->repl, s->repl_utf8);
        s->prepend = TOK_PREPEND_ALWAYS;
        const vlm_json *ps = vlm_json_get(j, "prepend_scheme");
        if (ps) {
            const char *p = vlm_json_string(ps);
            if (p && !strcmp(p, "always"))
                s->prepend = TOK_PREPEND_ALWAYS;
            else if (p && !strcmp(p, "first"))
                s->prepend = TOK_PREPEND_FIRST;
            else if (p && !strcmp(p, "never"))
                s->prepend = TOK_PREPEND_NEVER;
            else
                return vlm_err(err, VLM_ERR_FORMAT,
                               "%s.prepend_scheme must be \"always\", \"first\" or \"never\"",
                               where);
        }
        const vlm_json *aps = vlm_json_get(j, "add_prefix_space");
        if (aps && vlm_json_is_bool(aps) && !vlm_json_true(aps)) { /* legacy field */
            if (s->prepend != TOK_PREPEND_NEVER && ps)
                return vlm_err(err, VLM_ERR_FORMAT,
                               "%s: add_prefix_space false does not match "
                               "prepend_scheme",
                               where);
            s->prepend = TOK_PREPEND_NEVER;
        }
        return VLM_OK;
    }
    if (!strcmp(type, "Digits")) {
        s->kind = TOK_PRE_DIGITS;
        (*n)++;
        return get_bool(j, "individual_digits", where, false, &s->individual_digits, err);
    }
    if (!strcmp(type, "Whitespace")) {
        s->kind = TOK_PRE_WHITESPACE;
        (*n)++;
        return VLM_OK;
    }
    if (!strcmp(type, "WhitespaceSplit")) {
        s->kind = TOK_PRE_WHITESPACE_SPLIT;
        (*n)++;
        return VLM_OK;
    }
    if (!strcmp(type, "Punctuation")) {
        s->kind = TOK_PRE_PUNCTUATION;
        (*n)++;
        return parse_behavior(j, where, false, &s->behavior, err);
    }
    if (!strcmp(type, "CharDelimiterSplit")) {
        s->kind = TOK_PRE_DELIMITER;
        (*n)++;
        return get_char(j, "delimiter", where, &s->repl, err);
    }
    if (!strcmp(type, "BertPreTokenizer")) { /* whitespace removed, punctuation isolated */
        s->kind = TOK_PRE_WHITESPACE_SPLIT;
        steps[*n + 1] = (tok_pre){.kind = TOK_PRE_PUNCTUATION, .behavior = TOK_BEH_ISOLATED};
        *n += 2;
        return VLM_OK;
    }
    return vlm_err(err, VLM_ERR_UNSUPPORTED, "%s.type '%s' is not supported", where, type);
}

/* max_new 2: BertPreTokenizer stores two steps. */
static const tok_component_kind PRE_TOKENIZERS = {"pretokenizers", "pre-tokenizer", 2, parse_step};

vlm_status tok_pre_parse(const vlm_json *j, const char *where, tok_pre *steps, size_t *n,
                         vlm_error *err) {
    return tok_component_parse(j, where, &PRE_TOKENIZERS, steps, n, err);
}

/* ---------------------------------------------------------------- applying */

static bool push_piece(tok_pre_out *o, const char *s, size_t len, bool at_start) {
    if (len == 0) return true; /* HF drops empty splits */
    if (o->n == o->cap) {
        size_t cap = o->cap ? 2 * o->cap : 32;
        tok_piece *v = vlm_realloc_array(o->v, cap, sizeof *v);
        if (!v) return false;
        o->v = v;
        o->cap = cap;
    }
    o->v[o->n++] = (tok_piece){s, len, at_start};
    return true;
}

/* Spans of a character predicate: each matching character is its own match. */
static bool pred_spans(const char *s, size_t len, bool (*pred)(uint32_t, uint32_t), uint32_t arg,
                       tok_spans *out) {
    out->n = 0;
    if (len == 0) return tok_spans_push(out, 0, 0, false);
    size_t last = 0;
    for (size_t i = 0; i < len;) {
        size_t adv;
        uint32_t cp = tok_utf8_decode(s + i, &adv);
        if (pred(cp, arg)) {
            if (last < i && !tok_spans_push(out, last, i, false)) return false;
            if (!tok_spans_push(out, i, i + adv, true)) return false;
            last = i + adv;
        }
        i += adv;
    }
    if (last < len && !tok_spans_push(out, last, len, false)) return false;
    return true;
}

static bool p_numeric(uint32_t c, uint32_t a) {
    (void)a;
    return tok_is_numeric(c);
}
static bool p_punct(uint32_t c, uint32_t a) {
    (void)a;
    return tok_is_punctuation(c);
}
static bool p_space(uint32_t c, uint32_t a) {
    (void)a;
    return tok_is_whitespace(c);
}
static bool p_equal(uint32_t c, uint32_t a) {
    return c == a;
}

/* Spans of Rust regex \w+|[^\w\s]+ : maximal runs of word or of other characters. */
static bool whitespace_spans(const char *s, size_t len, tok_spans *out) {
    out->n = 0;
    if (len == 0) return tok_spans_push(out, 0, 0, false);
    size_t prev = 0, i = 0;
    while (i < len) {
        size_t adv;
        uint32_t cp = tok_utf8_decode(s + i, &adv);
        if (tok_is_whitespace(cp)) {
            i += adv;
            continue;
        }
        bool word = tok_is_word(cp);
        size_t j = i + adv;
        while (j < len) {
            uint32_t c2 = tok_utf8_decode(s + j, &adv);
            if (tok_is_whitespace(c2) || tok_is_word(c2) != word) break;
            j += adv;
        }
        if (prev != i && !tok_spans_push(out, prev, i, false)) return false;
        if (!tok_spans_push(out, i, j, true)) return false;
        prev = i = j;
    }
    if (prev != len && !tok_spans_push(out, prev, len, false)) return false;
    return true;
}

/* HF NormalizedString::split: applies a delimiter behaviour to spans over `base`. */
static bool split_by(tok_pre_out *o, const char *base, const tok_spans *sp, tok_behavior beh,
                     bool at_start) {
    size_t n0 = o->n;
    /* acc entries are (start, end) kept in o->spans-independent storage: reuse offs. */
    size_t need = 2 * sp->n + 2;
    if (need > o->offs_cap) {
        size_t *v = vlm_realloc_array(o->offs, need, sizeof *v);
        if (!v) return false;
        o->offs = v;
        o->offs_cap = need;
    }
    size_t *acc = o->offs, na = 0;
    bool prev_match = false;
    switch (beh) {
    case TOK_BEH_ISOLATED:
    case TOK_BEH_REMOVED:
        for (size_t i = 0; i < sp->n; i++) {
            if (beh == TOK_BEH_REMOVED && sp->v[i].match) continue;
            acc[2 * na] = sp->v[i].start;
            acc[2 * na + 1] = sp->v[i].end;
            na++;
        }
        break;
    case TOK_BEH_CONTIGUOUS:
    case TOK_BEH_MERGED_WITH_PREVIOUS:
    case TOK_BEH_MERGED_WITH_NEXT: {
        /* Contiguous: a span joins the one before it when both are matches or both are
         * not; MergedWithPrevious: a match joins the non-match before it. MergedWithNext
         * is MergedWithPrevious built from the end (a match joins the non-match after
         * it), then read backwards. */
        bool back = beh == TOK_BEH_MERGED_WITH_NEXT;
        for (size_t i = 0; i < sp->n; i++) {
            const tok_span *v = &sp->v[back ? sp->n - 1 - i : i];
            bool join =
                beh == TOK_BEH_CONTIGUOUS ? v->match == prev_match : v->match && !prev_match;
            if (join && na) {
                if (back)
                    acc[2 * na - 2] = v->start;
                else
                    acc[2 * na - 1] = v->end;
            } else {
                acc[2 * na] = v->start;
                acc[2 * na + 1] = v->end;
                na++;
            }
            prev_match = v->match;
        }
        for (size_t a = 0, b = na ? na - 1 : 0; back && na && a < b; a++, b--) {
            size_t s0 = acc[2 * a], e0 = acc[2 * a + 1];
            acc[2 * a] = acc[2 * b];
            acc[2 * a + 1] = acc[2 * b + 1];
            acc[2 * b] = s0;
            acc[2 * b + 1] = e0;
        }
        break;
    }
    }
    for (size_t i = 0; i < na; i++)
        if (!push_piece(o, base + acc[2 * i], acc[2 * i + 1] - acc[2 * i],
                        at_start && acc[2 * i] == 0 && o->n == n0))
            return false;
    return true;
}

static vlm_status byte_level(const tok_pre *st, tok_match_scratch *ms, tok_piece in, tok_pre_out *o,
                             vlm_error *err) {
    const char *s = in.s;
    size_t len = in.len;
    if (st->add_prefix_space && !(len && s[0] == ' ')) {
        vlm_strbuf_clear(&o->tmp);
        vlm_strbuf_putc(&o->tmp, ' ');
        vlm_strbuf_append(&o->tmp, s, len);
        if (o->tmp.failed) return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "out of memory");
        s = o->tmp.data;
        len = o->tmp.len;
    }
    o->spans.n = 0;
    if (st->use_regex) {
        vlm_status r = tok_pattern_find_matches(&st->pat, ms, s, len, false, &o->spans, err);
        if (r != VLM_OK) return r;
    } else if (!tok_spans_push(&o->spans, 0, len, false)) {
        return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "out of memory");
    }
    /* Map every byte of every non-empty span to its printable character. */
    vlm_strbuf_clear(&o->buf);
    size_t need = 2 * o->spans.n + 2;
    if (need > o->offs_cap) {
        size_t *v = vlm_realloc_array(o->offs, need, sizeof *v);
        if (!v) return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "out of memory");
        o->offs = v;
        o->offs_cap = need;
    }
    if (!vlm_strbuf_reserve(&o->buf, 2 * len))
        return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "out of memory");
    size_t np = 0;
    for (size_t i = 0; i < o->spans.n; i++) {
        const tok_span *sp = &o->spans.v[i];
        if (sp->end == sp->start) continue;
        o->offs[2 * np] = o->buf.len;
        char *w = o->buf.data + o->buf.len;
        for (size_t k = sp->start; k < sp->end; k++) {
            uint8_t b = (uint8_t)s[k];
            uint32_t cp = tok_bytelevel_cp(b);
            if (cp < 0x80) {
                *w++ = (char)cp;
            } else {
                *w++ = (char)(0xC0 | (cp >> 6));
                *w++ = (char)(0x80 | (cp & 0x3F));
            }
        }
        o->buf.len = (size_t)(w - o->buf.data);
        o->offs[2 * np + 1] = o->buf.len;
        np++;
    }
    o->buf.data[o->buf.len] = '\0';
    for (size_t i = 0; i < np; i++)
        if (!push_piece(o, o->buf.data + o->offs[2 * i], o->offs[2 * i + 1] - o->offs[2 * i],
                        in.at_start && i == 0))
            return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "out of memory");
    return VLM_OK;
}

static vlm_status metaspace(const tok_pre *st, tok_piece in, tok_pre_out *o, vlm_error *err) {
    vlm_strbuf *b = &o->tmp;
    vlm_strbuf_clear(b);
    /* HF replaces ' ' first, then tests for a leading replacement character. */
    bool starts = (in.len && in.s[0] == ' ') ||
                  (in.len >= st->repl_len && !memcmp(in.s, st->repl_utf8, st->repl_len));
    bool prepend = !starts && (st->prepend == TOK_PREPEND_ALWAYS ||
                               (st->prepend == TOK_PREPEND_FIRST && in.at_start));
    if (prepend && in.len) vlm_strbuf_append(b, st->repl_utf8, st->repl_len);
    for (size_t i = 0; i < in.len; i++) {
        if (in.s[i] == ' ')
            vlm_strbuf_append(b, st->repl_utf8, st->repl_len);
        else
            vlm_strbuf_putc(b, in.s[i]);
    }
    if (b->failed) return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "out of memory");
    const char *s = b->data ? b->data : "";
    if (!st->split) {
        if (!push_piece(o, s, b->len, in.at_start))
            return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "out of memory");
        return VLM_OK;
    }
    if (!pred_spans(s, b->len, p_equal, st->repl, &o->spans) ||
        !split_by(o, s, &o->spans, TOK_BEH_MERGED_WITH_NEXT, in.at_start))
        return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "out of memory");
    return VLM_OK;
}

vlm_status tok_pre_apply(const tok_pre *st, tok_match_scratch *ms, tok_piece in, tok_pre_out *o,
                         vlm_error *err) {
    o->n = 0;
    bool ok = true;
    switch (st->kind) {
    case TOK_PRE_SPLIT: {
        vlm_status r =
            tok_pattern_find_matches(&st->pat, ms, in.s, in.len, st->invert, &o->spans, err);
        if (r != VLM_OK) return r;
        ok = split_by(o, in.s, &o->spans, st->behavior, in.at_start);
        break;
    }
    case TOK_PRE_BYTE_LEVEL:
        return byte_level(st, ms, in, o, err);
    case TOK_PRE_METASPACE:
        return metaspace(st, in, o, err);
    case TOK_PRE_DIGITS:
        ok = pred_spans(in.s, in.len, p_numeric, 0, &o->spans) &&
             split_by(o, in.s, &o->spans,
                      st->individual_digits ? TOK_BEH_ISOLATED : TOK_BEH_CONTIGUOUS, in.at_start);
        break;
    case TOK_PRE_PUNCTUATION:
        ok = pred_spans(in.s, in.len, p_punct, 0, &o->spans) &&
             split_by(o, in.s, &o->spans, st->behavior, in.at_start);
        break;
    case TOK_PRE_WHITESPACE_SPLIT:
        ok = pred_spans(in.s, in.len, p_space, 0, &o->spans) &&
             split_by(o, in.s, &o->spans, TOK_BEH_REMOVED, in.at_start);
        break;
    case TOK_PRE_DELIMITER:
        ok = pred_spans(in.s, in.len, p_equal, st->repl, &o->spans) &&
             split_by(o, in.s, &o->spans, TOK_BEH_REMOVED, in.at_start);
        break;
    case TOK_PRE_WHITESPACE:
        /* Invert + Removed: the whitespace gaps go, the runs stay. */
        ok = whitespace_spans(in.s, in.len, &o->spans);
        for (size_t i = 0; ok && i < o->spans.n; i++)
            o->spans.v[i].match = !o->spans.v[i].match;
        ok = ok && split_by(o, in.s, &o->spans, TOK_BEH_REMOVED, in.at_start);
        break;
    }
    if (!ok) return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "out of memory");
    return VLM_OK;
}
