/* Choosing the next token from logits, with the logits processors in transformers'
 * order: repetition penalty, then temperature, top-k, top-p, min-p, then a draw from the
 * remaining distribution (or argmax when temperature is 0). Deterministic for a seed. */
#ifndef VLM_ENGINE_SAMPLER_H
#define VLM_ENGINE_SAMPLER_H

#include <stdint.h>

#include "vlm.h"

typedef struct vlm_sampler {
    float temperature, top_p, min_p, repetition_penalty;
    int top_k;
    uint64_t rng[4];    /* xoshiro256** state */
    int64_t vocab;
    float *probs;       /* [vocab] scratch */
    int32_t *order;     /* [vocab] scratch */
    uint8_t *seen;      /* [vocab] tokens in the context (repetition penalty) */
} vlm_sampler;

vlm_status vlm_sampler_init(vlm_sampler *s, const vlm_generate_params *p, int64_t vocab,
                            vlm_error *err);
void vlm_sampler_free(vlm_sampler *s);

/* Marks a token as present in the context (prompt or generated). */
void vlm_sampler_observe(vlm_sampler *s, int32_t token);
void vlm_sampler_reset_observed(vlm_sampler *s);

/* Applies the processors to logits in place ([vocab]; filtered entries become -inf) and
 * returns the chosen token. */
int32_t vlm_sampler_sample(vlm_sampler *s, float *logits);

/* The distribution after the processors, for tests: probs[vocab] sums to 1 over the kept
 * tokens (0 elsewhere). Greedy settings give a one-hot vector. */
void vlm_sampler_distribution(vlm_sampler *s, float *logits, float *probs);

#endif
