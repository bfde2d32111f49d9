/* Sessions and generation (vlm_session_* in vlm.h): the conversation so far, the family's
 * per-session state (KV cache), and the generation loop — build the prompt of the whole
 * chat (engine/prompt.h: template, tokenizer, the family's media step), reuse the cached
 * prefix, prefill the rest, then sample token by token with EOS and stop-string rules,
 * streaming UTF-8-safe pieces. Multi-turn: the next turn's prompt shares its prefix with
 * what the cache holds, so only the new part is computed and the result equals a fresh run. */
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/strbuf.h"
#include "engine/prompt.h"
#include "engine/request.h"
#include "engine/sampler.h"
#include "models/family.h"
#include "models/model.h"
#include "text/tokenizer.h"

struct vlm_session {
    vlm_model *model;
    void *state;
    vlm_request history;
    int32_t *cached_ids; /* the tokens whose keys and values the cache holds */
    int64_t n_cached, cap_cached;
    float *logits;       /* [vocab] */
};

void vlm_prompt_free(vlm_prompt *p) {
    if (!p) return;
    free(p->ids);
    free(p->pos);
    if (p->media_free) p->media_free(p->media);
    memset(p, 0, sizeof *p);
}

vlm_session_params vlm_session_params_default(void) {
    vlm_session_params p = {.context_size = 4096, .n_threads = 0};
    return p;
}

vlm_generate_params vlm_generate_params_default(void) {
    vlm_generate_params p;
    memset(&p, 0, sizeof p);
    p.max_tokens = 256;
    p.top_p = 1.0f;
    p.repetition_penalty = 1.0f;
    return p;
}

void vlm_generate_result_free(vlm_generate_result *r) {
    if (!r) return;
    free(r->text);
    free(r->prompt_ids);
    free(r->tokens);
    memset(r, 0, sizeof *r);
}

vlm_status vlm_session_init(vlm_model *model, const vlm_session_params *params,
                            vlm_session **out, vlm_error *err) {
    if (!out) return vlm_err(err, VLM_ERR_INVALID_ARGUMENT, "vlm_session_init: out is NULL");
    *out = NULL;
    if (!model || !model->family || !model->tokenizer)
        return vlm_err(err, VLM_ERR_INVALID_ARGUMENT,
                       "vlm_session_init: the model was not fully loaded (load_tensors = 0?)");
    vlm_session_params defaults = vlm_session_params_default();
    const vlm_session_params *p = params ? params : &defaults;
    if (p->context_size < 16 || p->n_threads < 0)
        return vlm_err(err, VLM_ERR_INVALID_ARGUMENT,
                       "vlm_session_init: context_size must be >= 16 and n_threads >= 0");
    vlm_session *s = calloc(1, sizeof *s);
    if (!s) return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "session: out of memory");
    s->model = model;
    s->logits = vlm_malloc_array((size_t)model->family->vocab_size(model), sizeof *s->logits);
    vlm_status st = s->logits ? model->family->state_init(model, p, &s->state, err)
                              : vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "session: out of memory");
    if (st != VLM_OK) {
        vlm_session_free(s);
        return st;
    }
    *out = s;
    return VLM_OK;
}

void vlm_session_clear(vlm_session *s) {
    if (!s) return;
    vlm_request_clear(&s->history);
    s->n_cached = 0;
    if (s->state) s->model->family->truncate(s->state, 0);
}

void vlm_session_free(vlm_session *s) {
    if (!s) return;
    if (s->state) s->model->family->state_free(s->state);
    vlm_request_clear(&s->history);
    free(s->cached_ids);
    free(s->logits);
    free(s);
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t peak_rss(void) {
    struct rusage ru;
    return getrusage(RUSAGE_SELF, &ru) == 0 ? (uint64_t)ru.ru_maxrss * 1024u : 0;
}

/* Where the text stops: the earliest stop string in text[from..len), or -1. */
static int64_t find_stop(const char *text, size_t len, size_t from,
                         const char *const *stop) {
    int64_t best = -1;
    for (size_t i = 0; stop && stop[i]; i++) {
        size_t sl = strlen(stop[i]);
        if (!sl) continue;
        size_t start = from > sl ? from - sl : 0; /* a match may straddle the last piece */
        const char *hit = memmem(text + start, len - start, stop[i], sl);
        if (hit && (best < 0 || hit - text < best)) best = hit - text;
    }
    return best;
}

static size_t max_stop_len(const char *const *stop) {
    size_t m = 0;
    for (size_t i = 0; stop && stop[i]; i++)
        if (strlen(stop[i]) > m) m = strlen(stop[i]);
    return m;
}

/* Start of a UTF-8 sequence at or before `at` (never splits a character). */
static size_t utf8_floor(const char *text, size_t at) {
    while (at > 0 && ((unsigned char)text[at] & 0xC0) == 0x80) at--;
    return at;
}

static int is_eos(const vlm_model *m, int32_t tok) {
    for (size_t i = 0; i < m->ckpt.base.n_eos; i++)
        if (m->ckpt.base.eos_ids[i] == tok) return 1;
    return 0;
}

static vlm_status remember_cache(vlm_session *s, const int32_t *ids, int64_t n, vlm_error *err) {
    if (n > s->cap_cached) {
        int32_t *c = vlm_realloc_array(s->cached_ids, (size_t)n, sizeof *c);
        if (!c) return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "session: out of memory");
        s->cached_ids = c;
        s->cap_cached = n;
    }
    memmove(s->cached_ids, ids, (size_t)n * sizeof *ids);
    s->n_cached = n;
    return VLM_OK;
}

static vlm_status push_cached(vlm_session *s, int32_t tok, vlm_error *err) {
    if (s->n_cached == s->cap_cached) {
        int64_t cap = s->cap_cached ? 2 * s->cap_cached : 256;
        int32_t *c = vlm_realloc_array(s->cached_ids, (size_t)cap, sizeof *c);
        if (!c) return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "session: out of memory");
        s->cached_ids = c;
        s->cap_cached = cap;
    }
    s->cached_ids[s->n_cached++] = tok;
    return VLM_OK;
}

vlm_status vlm_session_generate(vlm_session *s, const vlm_request *request,
                                const vlm_generate_params *params, vlm_piece_fn on_piece,
                                void *user, vlm_generate_result *result, vlm_error *err) {
    if (result) memset(result, 0, sizeof *result);
    if (!s || !request)
        return vlm_err(err, VLM_ERR_INVALID_ARGUMENT, "vlm_session_generate: session and request required");
    vlm_generate_params defaults = vlm_generate_params_default();
    const vlm_generate_params *gp = params ? params : &defaults;
    if (gp->max_tokens < 0)
        return vlm_err(err, VLM_ERR_INVALID_ARGUMENT, "max_tokens must be >= 0");
    const vlm_model *m = s->model;
    const vlm_family *fam = m->family;
    const int64_t vocab = fam->vocab_size(m);
    double t0 = now();

    /* the conversation with this request appended; it replaces the history on success */
    vlm_request chat = {0};
    int32_t *gen = NULL;
    vlm_prompt prompt = {0};
    vlm_sampler sampler = {0};
    vlm_detok *detok = NULL;
    vlm_strbuf text;
    vlm_strbuf_init(&text);
    int64_t n_gen = 0;
    const char *reason = "max_tokens";
    int cut_short = 0; /* stopped by a stop string or the callback: no detokenizer tail */
    double t1 = t0, t2 = t0;
    int64_t computed = 0;

    vlm_status st = vlm_request_append(&chat, &s->history, err);
    if (st == VLM_OK) st = vlm_request_append(&chat, request, err);
    if (st == VLM_OK) st = vlm_engine_build_prompt(m, &chat, gp, &prompt, err);
    if (st == VLM_OK && prompt.n < 1) st = vlm_err(err, VLM_ERR_INVALID_ARGUMENT, "the prompt is empty");
    if (st == VLM_OK) st = vlm_sampler_init(&sampler, gp, vocab, err);
    if (st == VLM_OK) st = vlm_detok_init(m->tokenizer, true, &detok, err);
    gen = vlm_malloc_array((size_t)gp->max_tokens + 1, sizeof *gen);
    if (st == VLM_OK && !gen) st = vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "session: out of memory");

    /* reuse the cached prefix; at least the last prompt position is computed */
    if (st == VLM_OK) {
        int64_t k = 0, lim = s->n_cached < prompt.n - 1 ? s->n_cached : prompt.n - 1;
        int64_t have = fam->cached(s->state);
        if (lim > have) lim = have;
        while (k < lim && s->cached_ids[k] == prompt.ids[k]) k++;
        fam->truncate(s->state, k);
        computed = prompt.n - k;
        for (int64_t i = 0; i < prompt.n; i++) vlm_sampler_observe(&sampler, prompt.ids[i]);
        st = fam->prefill(m, s->state, &prompt, s->logits, err);
        /* the cache now holds the prompt (or an unknown part of it after a failure) */
        if (st == VLM_OK) st = remember_cache(s, prompt.ids, prompt.n, err);
        else s->n_cached = 0;
        t1 = now();
    }

    size_t emitted = 0, hold = max_stop_len(gp->stop);
    while (st == VLM_OK && n_gen < gp->max_tokens) {
        int32_t tok = vlm_sampler_sample(&sampler, s->logits);
        gen[n_gen++] = tok;
        vlm_sampler_observe(&sampler, tok);
        if (!gp->ignore_eos && is_eos(m, tok)) {
            reason = "eos";
            break;
        }
        const char *piece;
        size_t plen;
        if ((st = vlm_detok_push(detok, tok, &piece, &plen, err)) != VLM_OK) break;
        size_t before = text.len;
        vlm_strbuf_append(&text, piece, plen);
        if (text.failed) {
            st = vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "session: out of memory");
            break;
        }
        int64_t cut = find_stop(vlm_strbuf_cstr(&text), text.len, before, gp->stop);
        size_t safe = cut >= 0 ? (size_t)cut
                               : utf8_floor(text.data, text.len > hold ? text.len - (hold ? hold - 1 : 0) : 0);
        if (cut < 0 && hold == 0) safe = text.len;
        if (on_piece && safe > emitted) {
            if (on_piece(text.data + emitted, safe - emitted, tok, user)) {
                emitted = safe;
                reason = "callback";
                cut_short = 1;
                break;
            }
            emitted = safe;
        }
        if (cut >= 0) {
            text.len = (size_t)cut;
            text.data[cut] = '\0';
            reason = "stop_string";
            cut_short = 1;
            break;
        }
        if (n_gen == gp->max_tokens) break;
        /* feed the token: its position follows the prompt's */
        st = fam->decode(m, s->state, tok, prompt.next_pos + n_gen - 1, s->logits, err);
        if (st == VLM_OK) st = push_cached(s, tok, err);
        else s->n_cached = 0; /* the cache state is unknown after a failed step */
    }
    /* the rest of the text (the detokenizer's tail, held-back stop-string bytes) */
    if (st == VLM_OK && !cut_short) {
        const char *piece;
        size_t plen;
        st = vlm_detok_flush(detok, &piece, &plen, err);
        if (st == VLM_OK) vlm_strbuf_append(&text, piece, plen);
        if (st == VLM_OK && on_piece && text.len > emitted)
            on_piece(text.data + emitted, text.len - emitted, n_gen ? gen[n_gen - 1] : -1, user);
    }
    t2 = now();

    if (st == VLM_OK) st = vlm_request_add_assistant(&chat, vlm_strbuf_cstr(&text), err);
    if (st == VLM_OK) {
        vlm_request_clear(&s->history);
        s->history = chat;
        memset(&chat, 0, sizeof chat);
        if (result) {
            result->text = vlm_strbuf_take(&text);
            result->prompt_ids = prompt.ids;
            result->n_prompt = prompt.n;
            prompt.ids = NULL;
            result->tokens = gen;
            result->n_tokens = n_gen;
            gen = NULL;
            result->n_prompt_computed = computed;
            result->prompt_seconds = t1 - t0;
            result->generate_seconds = t2 - t1;
            result->prompt_tps = t1 > t0 ? (double)computed / (t1 - t0) : 0;
            result->generation_tps = t2 > t1 && n_gen > 1 ? (double)(n_gen - 1) / (t2 - t1) : 0;
            result->peak_memory = peak_rss();
            result->stop_reason = reason;
        }
    }
    vlm_request_clear(&chat);
    vlm_strbuf_free(&text);
    vlm_detok_free(detok);
    vlm_sampler_free(&sampler);
    vlm_prompt_free(&prompt);
    free(gen);
    return st;
}
