/* Logits processors and sampling (see sampler.h). Order and formulas as transformers'
 * RepetitionPenaltyLogitsProcessor, TemperatureLogitsWarper, TopKLogitsWarper,
 * TopPLogitsWarper and MinPLogitsWarper (min_tokens_to_keep = 1). */
#include "engine/sampler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"

static uint64_t rotl(uint64_t x, int k) {
    return (x << k) | (x >> (64 - k));
}

static uint64_t next_u64(uint64_t s[4]) {
    uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return r;
}

static void seed_rng(uint64_t s[4], uint64_t seed) {
    for (int i = 0; i < 4; i++) { /* splitmix64 */
        seed += 0x9e3779b97f4a7c15ull;
        uint64_t z = seed;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        s[i] = z ^ (z >> 31);
    }
}

vlm_status vlm_sampler_init(vlm_sampler *s, const vlm_generate_params *p, int64_t vocab,
                            vlm_error *err) {
    memset(s, 0, sizeof *s);
    if (vocab < 1) return vlm_err(err, VLM_ERR_INVALID_ARGUMENT, "sampler: empty vocabulary");
    if (!(p->temperature >= 0) || !(p->top_p > 0 && p->top_p <= 1) || p->top_k < 0 ||
        !(p->min_p >= 0 && p->min_p <= 1) || !(p->repetition_penalty > 0))
        return vlm_err(err, VLM_ERR_INVALID_ARGUMENT,
                       "sampler: need temperature >= 0, 0 < top_p <= 1, top_k >= 0, "
                       "0 <= min_p <= 1, repetition_penalty > 0");
    s->temperature = p->temperature;
    s->top_p = p->top_p;
    s->top_k = p->top_k;
    s->min_p = p->min_p;
    s->repetition_penalty = p->repetition_penalty;
    s->vocab = vocab;
    seed_rng(s->rng, p->seed);
    s->probs = vlm_malloc_array((size_t)vocab, sizeof *s->probs);
    s->order = vlm_malloc_array((size_t)vocab, sizeof *s->order);
    s->seen = vlm_calloc_array((size_t)vocab, 1);
    if (!s->probs || !s->order || !s->seen) {
        vlm_sampler_free(s);
        return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "sampler: out of memory");
    }
    return VLM_OK;
}

void vlm_sampler_free(vlm_sampler *s) {
    free(s->probs);
    free(s->order);
    free(s->seen);
    memset(s, 0, sizeof *s);
}

void vlm_sampler_observe(vlm_sampler *s, int32_t token) {
    if (token >= 0 && token < s->vocab) s->seen[token] = 1;
}

void vlm_sampler_reset_observed(vlm_sampler *s) {
    memset(s->seen, 0, (size_t)s->vocab);
}

/* Descending by value; ties by ascending index (a stable order, as torch.sort's). */
static int cmp_desc(const void *a, const void *b, void *keys) {
    int32_t i = *(const int32_t *)a, j = *(const int32_t *)b;
    float x = ((const float *)keys)[i], y = ((const float *)keys)[j];
    if (x > y) return -1;
    if (x < y) return 1;
    return (i > j) - (i < j);
}

/* Ascending by value; ties by ascending index (torch.sort's stable order). */
static int cmp_asc(const void *a, const void *b, void *keys) {
    int32_t i = *(const int32_t *)a, j = *(const int32_t *)b;
    float x = ((const float *)keys)[i], y = ((const float *)keys)[j];
    if (x < y) return -1;
    if (x > y) return 1;
    return (i > j) - (i < j);
}

static void apply(vlm_sampler *s, float *logits) {
    const int64_t V = s->vocab;
    if (s->repetition_penalty != 1.0f)
        for (int64_t i = 0; i < V; i++)
            if (s->seen[i])
                logits[i] = logits[i] < 0 ? logits[i] * s->repetition_penalty
                                          : logits[i] / s->repetition_penalty;
    if (s->temperature == 0) return; /* greedy: the warpers do not change the argmax */
    if (s->temperature != 1.0f)
        for (int64_t i = 0; i < V; i++) logits[i] /= s->temperature;
    if (s->top_k > 0 && s->top_k < V) {
        /* keep values >= the k-th largest (ties at the threshold kept, as torch.topk[-1]) */
        for (int64_t i = 0; i < V; i++) s->order[i] = (int32_t)i;
        qsort_r(s->order, (size_t)V, sizeof *s->order, cmp_desc, logits);
        float kth = logits[s->order[s->top_k - 1]];
        for (int64_t i = 0; i < V; i++)
            if (logits[i] < kth) logits[i] = -INFINITY;
    }
    if (s->top_p < 1.0f || s->min_p > 0) {
        float mx = -INFINITY;
        for (int64_t i = 0; i < V; i++) mx = fmaxf(mx, logits[i]);
        double sum = 0;
        for (int64_t i = 0; i < V; i++) sum += (s->probs[i] = expf(logits[i] - mx));
        for (int64_t i = 0; i < V; i++) s->probs[i] = (float)(s->probs[i] / sum);
        if (s->top_p < 1.0f) {
            /* HF: sort ascending (stable: equal values by ascending index), remove tokens
             * while the cumulative probability stays <= 1 - top_p, always keeping the most
             * probable one */
            for (int64_t i = 0; i < V; i++) s->order[i] = (int32_t)i;
            qsort_r(s->order, (size_t)V, sizeof *s->order, cmp_asc, s->probs);
            float cum = 0;
            for (int64_t r = 0; r < V - 1; r++) {
                cum += s->probs[s->order[r]];
                if (cum <= 1.0f - s->top_p) logits[s->order[r]] = -INFINITY;
                else break;
            }
        }
        if (s->min_p > 0) {
            float top = 0;
            for (int64_t i = 0; i < V; i++)
                if (logits[i] != -INFINITY) top = fmaxf(top, s->probs[i]);
            float thr = s->min_p * top;
            for (int64_t i = 0; i < V; i++)
                if (s->probs[i] < thr) logits[i] = -INFINITY;
        }
    }
}

static int32_t argmax(const float *x, int64_t n) {
    int64_t best = 0;
    for (int64_t i = 1; i < n; i++)
        if (x[i] > x[best] || (isnan(x[i]) && !isnan(x[best]))) best = i;
    return (int32_t)best;
}

void vlm_sampler_distribution(vlm_sampler *s, float *logits, float *probs) {
    apply(s, logits);
    const int64_t V = s->vocab;
    if (s->temperature == 0) {
        memset(probs, 0, (size_t)V * sizeof *probs);
        probs[argmax(logits, V)] = 1;
        return;
    }
    float mx = -INFINITY;
    for (int64_t i = 0; i < V; i++) mx = fmaxf(mx, logits[i]);
    double sum = 0;
    for (int64_t i = 0; i < V; i++) sum += (probs[i] = logits[i] == -INFINITY ? 0 : expf(logits[i] - mx));
    for (int64_t i = 0; i < V; i++) probs[i] = (float)(probs[i] / sum);
}

int32_t vlm_sampler_sample(vlm_sampler *s, float *logits) {
    if (s->temperature == 0) {
        apply(s, logits);
        return argmax(logits, s->vocab);
    }
    vlm_sampler_distribution(s, logits, s->probs);
    double u = (double)(next_u64(s->rng) >> 11) * (1.0 / 9007199254740992.0), cum = 0;
    int32_t last = 0;
    for (int64_t i = 0; i < s->vocab; i++) {
        if (s->probs[i] <= 0) continue;
        last = (int32_t)i;
        cum += s->probs[i];
        if (u < cum) return (int32_t)i;
    }
    return last;
}
