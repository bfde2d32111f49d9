/* The sampler against transformers' logits processors (tests/fixtures/sampler/refs.json,
 * made by tools/refgen/sampler_refs.py): for every case the distribution after repetition
 * penalty, temperature, top-k, top-p and min-p equals transformers' within 2e-6 absolute
 * (float32 softmax), the same tokens are filtered, and draws follow the distribution
 * (5000 draws, every kept token's frequency within 5 standard deviations). Greedy picks
 * the penalized argmax. */
#include <math.h>

#include "core/json.h"
#include "engine/sampler.h"
#include "test.h"

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static void check_case(const vlm_json *c, int idx) {
    const vlm_json *st = vlm_json_get(c, "settings");
    int64_t vocab = 0, top_k = 0;
    vlm_json_int(vlm_json_get(c, "vocab"), &vocab);
    vlm_json_int(vlm_json_get(st, "top_k"), &top_k);
    vlm_generate_params p = vlm_generate_params_default();
    p.temperature = (float)vlm_json_number(vlm_json_get(st, "temperature"));
    p.top_k = (int)top_k;
    p.top_p = (float)vlm_json_number(vlm_json_get(st, "top_p"));
    p.min_p = (float)vlm_json_number(vlm_json_get(st, "min_p"));
    p.repetition_penalty = (float)vlm_json_number(vlm_json_get(st, "repetition_penalty"));
    p.seed = (uint64_t)idx;
    vlm_sampler s;
    vlm_error err;
    CHECK(vlm_sampler_init(&s, &p, vocab, &err) == VLM_OK);
    const vlm_json *ctx = vlm_json_get(c, "context");
    for (size_t i = 0; i < vlm_json_array_size(ctx); i++) {
        int64_t t;
        vlm_json_int(vlm_json_array_at(ctx, i), &t);
        vlm_sampler_observe(&s, (int32_t)t);
    }
    float *logits = malloc((size_t)vocab * sizeof *logits), *probs = malloc((size_t)vocab * sizeof *probs);
    float *want = malloc((size_t)vocab * sizeof *want);
    const vlm_json *L = vlm_json_get(c, "logits"), *P = vlm_json_get(c, "probs");
    for (int64_t i = 0; i < vocab; i++) {
        logits[i] = (float)vlm_json_number(vlm_json_array_at(L, (size_t)i));
        want[i] = (float)vlm_json_number(vlm_json_array_at(P, (size_t)i));
    }
    /* torch.sort is not stable: when a filter's boundary cuts through tokens of exactly
     * equal logits, which of them transformers keeps is arbitrary. Such cases compare the
     * sorted probabilities (same number kept, same values); all others token by token. */
    int tie_cut = 0;
    for (int64_t i = 0; i < vocab && !tie_cut; i++)
        for (int64_t j = 0; j < vocab; j++)
            if (i != j && logits[i] == logits[j] && (want[i] == 0) != (want[j] == 0)) tie_cut = 1;
    vlm_sampler_distribution(&s, logits, probs);
    double worst = 0;
    if (tie_cut) {
        float *a = malloc((size_t)vocab * sizeof *a), *b = malloc((size_t)vocab * sizeof *b);
        memcpy(a, probs, (size_t)vocab * sizeof *a);
        memcpy(b, want, (size_t)vocab * sizeof *b);
        qsort(a, (size_t)vocab, sizeof *a, cmp_float);
        qsort(b, (size_t)vocab, sizeof *b, cmp_float);
        for (int64_t i = 0; i < vocab; i++) worst = fmax(worst, fabs(a[i] - b[i]));
        free(a);
        free(b);
    } else {
        for (int64_t i = 0; i < vocab; i++) {
            worst = fmax(worst, fabs(probs[i] - want[i]));
            CHECK_MSG((probs[i] == 0) == (want[i] == 0), "case %d token %lld kept differently (%g vs %g)",
                      idx, (long long)i, probs[i], want[i]);
        }
    }
    CHECK_MSG(worst <= 2e-6, "case %d: max |p - p_hf| = %g", idx, worst);
    if (tie_cut) memcpy(want, probs, (size_t)vocab * sizeof *want); /* draws follow ours */

    /* draws follow the distribution */
    enum { N = 5000 };
    int *count = calloc((size_t)vocab, sizeof *count);
    for (int d = 0; d < N; d++) {
        for (int64_t i = 0; i < vocab; i++)
            logits[i] = (float)vlm_json_number(vlm_json_array_at(L, (size_t)i));
        int32_t t = vlm_sampler_sample(&s, logits);
        CHECK(t >= 0 && t < vocab);
        if (t >= 0 && t < vocab) count[t]++;
    }
    for (int64_t i = 0; i < vocab; i++) {
        double e = want[i] * N, sd = sqrt(N * want[i] * (1 - want[i])) + 1;
        CHECK_MSG(fabs(count[i] - e) <= 5 * sd, "case %d token %lld: %d draws, expected %.1f", idx,
                  (long long)i, count[i], e);
    }
    free(count);
    free(logits);
    free(probs);
    free(want);
    vlm_sampler_free(&s);
}

static void test_greedy(void) {
    vlm_generate_params p = vlm_generate_params_default();
    p.repetition_penalty = 2.0f;
    vlm_sampler s;
    vlm_error err;
    CHECK(vlm_sampler_init(&s, &p, 4, &err) == VLM_OK);
    float l[4] = {1.0f, 3.0f, 2.0f, -1.0f};
    CHECK_EQ_INT(vlm_sampler_sample(&s, l), 1);
    vlm_sampler_observe(&s, 1); /* 3 / 2 = 1.5 < 2 */
    float l2[4] = {1.0f, 3.0f, 2.0f, -1.0f};
    CHECK_EQ_INT(vlm_sampler_sample(&s, l2), 2);
    vlm_sampler_free(&s);
    p = vlm_generate_params_default();
    p.top_p = 0;
    CHECK_EQ_INT(vlm_sampler_init(&s, &p, 4, &err), VLM_ERR_INVALID_ARGUMENT);
}

int main(void) {
    test_greedy();
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/fixtures/sampler/refs.json", vlm_test_source_dir());
    vlm_json *root;
    vlm_error err;
    if (vlm_json_load_file(path, 64u << 20, 0, &root, &err) != VLM_OK) {
        if (vlm_test_failures) TEST_DONE();
        SKIP("%s (made by tools/refgen/sampler_refs.py on a machine with transformers)", err.message);
    }
    const vlm_json *cases = vlm_json_get(root, "cases");
    CHECK(vlm_json_array_size(cases) >= 30);
    for (size_t i = 0; i < vlm_json_array_size(cases); i++) check_case(vlm_json_array_at(cases, i), (int)i);
    vlm_json_free(root);
    TEST_DONE();
}
