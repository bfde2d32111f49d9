/* The CPU matrix products (src/tensor/cpu/gemm.h) on every path this CPU can run, against a
 * float64 reference computed here by naive loops, on random data of odd sizes: m = 1 (decode
 * GEMV) to a few hundred (packed GEMM with several blocks along m, n and k), strided rows,
 * bias on and off, f32/f16/bf16 weights, 1-3 threads.
 *
 * Weights in f16/bf16 are made from random bit patterns (f16 subnormals included) and their
 * reference values computed independently with ldexp, not with the library's conversions.
 * Inputs are allocated to their exact extent ((rows-1)*ld + cols elements) so that ASan sees
 * any read past the last row; y gets sentinel values in the row gaps (ldy > n) and after the
 * array, checked bit-for-bit after the call, and NaN in the written area to prove every
 * element is written (NT, NN without accumulate).
 *
 * Tolerance: the rounding-error bound of any summation order in f32,
 * |y - ref| <= (k + 2) * 2^-24 * (sum_p |x_p * w_p| + |bias|)  (NN: times |alpha|, + |y0|),
 * which all paths must meet; a dropped or doubled term is larger by a factor ~1/(k u). */
#include "tensor/cpu/gemm.h"
#include "test.h"

#include <stdint.h>

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng_next(void) { /* splitmix64 */
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static float rng_uniform(void) { /* [-1, 1) */
    return (float)((double)(rng_next() >> 40) / (double)(1ull << 23) - 1.0);
}

static const uint32_t SENTINEL_BITS = 0x7fc0beefu; /* a NaN no kernel produces */

static float sentinel(void) {
    float f;
    memcpy(&f, &SENTINEL_BITS, 4);
    return f;
}

static int is_sentinel(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u == SENTINEL_BITS;
}

/* Random weights of dtype wdt at w[j*ldw + p]; their exact values into ref[j*k + p]. */
static void *make_weights(vlm_dtype wdt, int64_t n, int64_t k, int64_t ldw, double *ref) {
    int64_t count = n > 0 ? (n - 1) * ldw + k : 0;
    size_t es = vlm_dtype_size(wdt);
    void *w = malloc((size_t)(count > 0 ? count : 1) * es);
    for (int64_t j = 0; j < n; j++)
        for (int64_t p = 0; p < k; p++) {
            int64_t at = j * ldw + p;
            uint64_t r = rng_next();
            double v;
            if (wdt == VLM_DTYPE_F32) {
                float f = rng_uniform();
                ((float *)w)[at] = f;
                v = f;
            } else if (wdt == VLM_DTYPE_BF16) {
                /* sign, exponent 2^-8 .. 2^1, 7 mantissa bits */
                uint32_t s = r & 1, e = 119 + (uint32_t)((r >> 1) % 10), man = (r >> 8) & 0x7f;
                ((uint16_t *)w)[at] = (uint16_t)(s << 15 | e << 7 | man);
                v = ldexp(128.0 + man, (int)e - 127 - 7) * (s ? -1 : 1);
            } else {
                /* sign, exponent field 0 (subnormal) .. 16, 10 mantissa bits */
                uint32_t s = r & 1, e = (uint32_t)((r >> 1) % 17), man = (r >> 8) & 0x3ff;
                ((uint16_t *)w)[at] = (uint16_t)(s << 15 | e << 10 | man);
                v = (e == 0 ? ldexp(man, -24) : ldexp(1024.0 + man, (int)e - 25)) * (s ? -1 : 1);
            }
            ref[j * k + p] = v;
        }
    return w;
}

static float *make_f32(int64_t rows, int64_t cols, int64_t ld) {
    int64_t count = rows > 0 ? (rows - 1) * ld + cols : 0;
    float *a = malloc((size_t)(count > 0 ? count : 1) * sizeof(float));
    for (int64_t i = 0; i < count; i++)
        a[i] = rng_uniform();
    return a;
}

enum { TAIL = 16 };

/* y of m rows, stride ldy, plus TAIL sentinels; the gaps get sentinels, the rows `fill`. */
static float *make_y(int64_t m, int64_t n, int64_t ldy, float fill, int random_fill) {
    size_t count = (size_t)(m * ldy + TAIL);
    float *y = malloc(count * sizeof(float));
    for (size_t i = 0; i < count; i++)
        y[i] = sentinel();
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++)
            y[i * ldy + j] = random_fill ? rng_uniform() : fill;
    return y;
}

static int sentinels_intact(const float *y, int64_t m, int64_t n, int64_t ldy) {
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = n; j < ldy; j++)
            if (!is_sentinel(y[i * ldy + j])) return 0;
    for (int64_t t = 0; t < TAIL; t++)
        if (!is_sentinel(y[m * ldy + t])) return 0;
    return 1;
}

static const double U = 1.0 / 16777216.0; /* 2^-24, f32 unit roundoff */

static int n_cases = 0;

static void check_nt(vlm_cpu_isa isa, int64_t m, int64_t n, int64_t k, vlm_dtype wdt, int bias_on,
                     int strided, int threads) {
    int64_t ldx = k + (strided ? 5 : 0), ldw = k + (strided ? 3 : 0), ldy = n + (strided ? 7 : 0);
    float *x = make_f32(m, k, ldx);
    double *wref = malloc((size_t)(n * k + 1) * sizeof(double));
    void *w = make_weights(wdt, n, k, ldw, wref);
    float *bias = bias_on ? make_f32(1, n, n) : NULL;
    float *y = make_y(m, n, ldy, nanf(""), 0);
    vlm_cpu_gemm_nt_isa(isa, m, n, k, x, ldx, w, wdt, ldw, bias, y, ldy, threads);
    n_cases++;
    int bad = 0;
    double worst = 0;
    for (int64_t i = 0; i < m && bad < 3; i++)
        for (int64_t j = 0; j < n && bad < 3; j++) {
            double s = bias ? bias[j] : 0.0, mag = bias ? fabs(bias[j]) : 0.0;
            for (int64_t p = 0; p < k; p++) {
                double t = (double)x[i * ldx + p] * wref[j * k + p];
                s += t;
                mag += fabs(t);
            }
            double err = fabs((double)y[i * ldy + j] - s), tol = (double)(k + 2) * U * mag;
            if (!(err <= tol)) {
                fprintf(stderr,
                        "nt %s m=%lld n=%lld k=%lld %s bias=%d strided=%d t=%d: y[%lld,%lld]=%.9g "
                        "ref=%.9g tol=%.3g\n",
                        vlm_cpu_isa_name(isa), (long long)m, (long long)n, (long long)k,
                        vlm_dtype_name(wdt), bias_on, strided, threads, (long long)i, (long long)j,
                        y[i * ldy + j], s, tol);
                bad++;
            }
            if (mag > 0 && err / mag > worst) worst = err / mag;
        }
    CHECK(bad == 0);
    CHECK_MSG(sentinels_intact(y, m, n, ldy), "nt %s m=%lld n=%lld k=%lld: write out of bounds",
              vlm_cpu_isa_name(isa), (long long)m, (long long)n, (long long)k);
    free(x);
    free(wref);
    free(w);
    free(bias);
    free(y);
}

static void check_nn(vlm_cpu_isa isa, int64_t m, int64_t n, int64_t k, float alpha, int accumulate,
                     int strided, int threads) {
    int64_t lda = k + (strided ? 3 : 0), ldb = n + (strided ? 5 : 0), ldy = n + (strided ? 2 : 0);
    float *a = make_f32(m, k, lda);
    float *b = make_f32(k, n, ldb);
    float *y = make_y(m, n, ldy, nanf(""), accumulate);
    float *y0 = malloc((size_t)(m * ldy + TAIL) * sizeof(float));
    memcpy(y0, y, (size_t)(m * ldy + TAIL) * sizeof(float));
    vlm_cpu_gemm_nn_f32_isa(isa, m, n, k, alpha, a, lda, b, ldb, y, ldy, accumulate, threads);
    n_cases++;
    int bad = 0;
    for (int64_t i = 0; i < m && bad < 3; i++)
        for (int64_t j = 0; j < n && bad < 3; j++) {
            double s = 0, mag = 0;
            for (int64_t p = 0; p < k; p++) {
                double t = (double)a[i * lda + p] * b[p * ldb + j];
                s += t;
                mag += fabs(t);
            }
            s *= alpha;
            mag *= fabs(alpha);
            if (accumulate) {
                s += y0[i * ldy + j];
                mag += fabs(y0[i * ldy + j]);
            }
            double err = fabs((double)y[i * ldy + j] - s), tol = (double)(k + 2) * U * mag;
            if (!(err <= tol)) {
                fprintf(stderr,
                        "nn %s m=%lld n=%lld k=%lld acc=%d strided=%d t=%d: y[%lld,%lld]=%.9g "
                        "ref=%.9g tol=%.3g\n",
                        vlm_cpu_isa_name(isa), (long long)m, (long long)n, (long long)k, accumulate,
                        strided, threads, (long long)i, (long long)j, y[i * ldy + j], s, tol);
                bad++;
            }
        }
    CHECK(bad == 0);
    CHECK_MSG(sentinels_intact(y, m, n, ldy), "nn %s m=%lld n=%lld k=%lld: write out of bounds",
              vlm_cpu_isa_name(isa), (long long)m, (long long)n, (long long)k);
    free(a);
    free(b);
    free(y);
    free(y0);
}

/* x rounded to bf16, nearest even, computed independently of the library: 8 significant bits. */
static double round_bf16(float f) {
    int e;
    double mant = frexp((double)f, &e); /* |mant| in [0.5, 1) */
    return ldexp(nearbyint(mant * 256.0), e - 8);
}

/* vlm_cpu_gemm_nt_bf16dot: with AVX512_BF16, x is rounded to bf16 first, so the reference
 * rounds x too and the float-rounding bound applies to it; against the exact product the
 * extra error is at most 2^-8 * sum |x w| (half an ulp of bf16 per x). Without AVX512_BF16
 * (or in the GEMV range) the call is the exact product. */
static void check_bf16dot(int64_t m, int64_t n, int64_t k, int bias_on, int strided, int threads) {
    int64_t ldx = k + (strided ? 1 : 0), ldw = k + (strided ? 9 : 0), ldy = n + (strided ? 3 : 0);
    float *x = make_f32(m, k, ldx);
    double *wref = malloc((size_t)(n * k + 1) * sizeof(double));
    void *w = make_weights(VLM_DTYPE_BF16, n, k, ldw, wref);
    float *bias = bias_on ? make_f32(1, n, n) : NULL;
    float *y = make_y(m, n, ldy, nanf(""), 0);
    vlm_cpu_gemm_nt_bf16dot(m, n, k, x, ldx, w, VLM_DTYPE_BF16, ldw, bias, y, ldy, threads);
    n_cases++;
    int rounded = vlm_cpu_has_avx512_bf16() && m > 16, bad = 0;
    for (int64_t i = 0; i < m && bad < 3; i++)
        for (int64_t j = 0; j < n && bad < 3; j++) {
            double s = bias ? bias[j] : 0.0, se = s, mag = bias ? fabs(bias[j]) : 0.0;
            for (int64_t p = 0; p < k; p++) {
                double xv = x[i * ldx + p], xr = rounded ? round_bf16(x[i * ldx + p]) : xv;
                s += xr * wref[j * k + p];
                se += xv * wref[j * k + p];
                mag += fabs(xv * wref[j * k + p]);
            }
            double tol = (double)(k + 2) * U * mag * 1.01;
            double err = fabs((double)y[i * ldy + j] - s);
            double err_exact = fabs((double)y[i * ldy + j] - se);
            if (!(err <= tol) || !(err_exact <= tol + (rounded ? mag / 256.0 : 0.0))) {
                fprintf(stderr,
                        "bf16dot m=%lld n=%lld k=%lld: y[%lld,%lld]=%.9g ref=%.9g exact=%.9g "
                        "tol=%.3g\n",
                        (long long)m, (long long)n, (long long)k, (long long)i, (long long)j,
                        y[i * ldy + j], s, se, tol);
                bad++;
            }
        }
    CHECK(bad == 0);
    CHECK_MSG(sentinels_intact(y, m, n, ldy), "bf16dot m=%lld n=%lld k=%lld: write out of bounds",
              (long long)m, (long long)n, (long long)k);
    free(x);
    free(wref);
    free(w);
    free(bias);
    free(y);
}

/* Shapes: decode (m = 1..8 around the GEMV/GEMM switch), edges of every register tile,
 * and a few larger ones that cross the cache blocks along m, n and k. */
static const int64_t SHAPES[][3] = {
    {1, 1, 1},      {1, 17, 7},   {1, 64, 64},   {1, 65, 129},    {1, 129, 300},
    {1, 300, 1000}, {2, 63, 65},  {3, 17, 63},   {4, 33, 130},    {5, 129, 64},
    {7, 65, 17},    {8, 64, 257}, {9, 31, 33},   {16, 48, 96},    {17, 129, 65},
    {63, 64, 65},   {64, 63, 2},  {65, 129, 64}, {129, 65, 129},  {100, 200, 0},
    {30, 7, 300},   {13, 1, 40},  {200, 100, 3}, {300, 520, 700}, {520, 270, 400},
};

int main(void) {
    /* VLM_CPU_ISA lowers the path, never raises it, and unknown names are ignored. */
    vlm_cpu_isa best = vlm_cpu_isa_best();
    setenv("VLM_CPU_ISA", "portable", 1);
    CHECK_EQ_INT(vlm_cpu_isa_selected(), VLM_CPU_ISA_PORTABLE);
    setenv("VLM_CPU_ISA", "avx512", 1);
    CHECK_EQ_INT(vlm_cpu_isa_selected(), best);
    setenv("VLM_CPU_ISA", "bogus", 1);
    CHECK_EQ_INT(vlm_cpu_isa_selected(), best);
    unsetenv("VLM_CPU_ISA");
    CHECK_EQ_INT(vlm_cpu_isa_selected(), best);
    fprintf(stderr, "best path: %s%s\n", vlm_cpu_isa_name(best),
            vlm_cpu_has_avx512_bf16() ? " (+avx512_bf16)" : "");

    const vlm_dtype dts[3] = {VLM_DTYPE_F32, VLM_DTYPE_F16, VLM_DTYPE_BF16};
    size_t n_shapes = sizeof SHAPES / sizeof SHAPES[0];
    for (int isa = 0; isa < VLM_CPU_ISA_COUNT; isa++) {
        if (!vlm_cpu_isa_supported((vlm_cpu_isa)isa)) {
            fprintf(stderr, "path %s: not supported here, skipped\n", vlm_cpu_isa_name(isa));
            continue;
        }
        int before = vlm_test_failures;
        for (size_t s = 0; s < n_shapes; s++) {
            int64_t m = SHAPES[s][0], n = SHAPES[s][1], k = SHAPES[s][2];
            int big = m * n * k > 2000000;
            for (int d = 0; d < 3; d++)
                for (int v = 0; v < (big ? 1 : 4); v++) {
                    int bias_on = big ? d != 1 : v & 1, strided = big ? d != 0 : v >> 1;
                    int threads = 1 + (int)((s + d + v) % 3);
                    check_nt((vlm_cpu_isa)isa, m, n, k, dts[d], bias_on, strided, threads);
                }
            for (int v = 0; v < (big ? 1 : 4); v++) {
                float alpha = (v & 1) ? 0.125f : -0.7f;
                check_nn((vlm_cpu_isa)isa, m, n, k, alpha, big ? 1 : v & 1, big ? 1 : v >> 1,
                         1 + (int)((s + v) % 3));
            }
        }
        /* many threads (oversubscribed here): the split of the work into tasks */
        check_nt((vlm_cpu_isa)isa, 300, 520, 700, VLM_DTYPE_BF16, 1, 1, 7);
        check_nt((vlm_cpu_isa)isa, 20, 64, 33, VLM_DTYPE_F32, 0, 0, 16);
        check_nn((vlm_cpu_isa)isa, 129, 200, 70, 0.5f, 1, 1, 12);
        fprintf(stderr, "path %s: %s\n", vlm_cpu_isa_name(isa),
                vlm_test_failures == before ? "ok" : "FAILED");
    }
    for (size_t s = 0; s < n_shapes; s++) {
        int64_t m = SHAPES[s][0], n = SHAPES[s][1], k = SHAPES[s][2];
        check_bf16dot(m, n, k, (int)(s & 1), (int)((s >> 1) & 1), 1 + (int)(s % 3));
    }
    check_bf16dot(40, 70, 1030, 1, 1, 2); /* odd k across a 1024-deep block: a lone last pair */
    /* The public entry points follow the environment variable. */
    {
        float x[3] = {1, 2, 3}, w[6] = {1, 0, 0, 0, 1, -1}, y[2];
        setenv("VLM_CPU_ISA", "portable", 1);
        vlm_cpu_gemm_nt(1, 2, 3, x, 3, w, VLM_DTYPE_F32, 3, NULL, y, 2, 0);
        CHECK(y[0] == 1.0f && y[1] == -1.0f);
        unsetenv("VLM_CPU_ISA");
        vlm_cpu_gemm_nn_f32(1, 2, 3, 2.0f, x, 3, w, 2, y, 2, 0, 0); /* b = [[1,0],[0,0],[1,-1]] */
        CHECK(y[0] == 8.0f && y[1] == -6.0f);
    }
    fprintf(stderr, "%d products checked\n", n_cases);
    TEST_DONE();
}
