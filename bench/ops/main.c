/* bench_ops: speed of the CPU matrix products against their natural yardsticks, in one run.
 *   GEMM (prefill shapes, m x n x k): GFLOP/s of vlm_cpu_gemm_nt with f32, bf16 and f16
 *   weights on each SIMD path, beside OpenBLAS cblas_sgemm (row-major x * w^T) on the same
 *   shapes and thread count.
 *   GEMV (decode, m = 1 and a few small m): effective GB/s of weight bytes streamed, beside a
 *   plain read (a vector sum with software prefetch) of the same bytes with the same threads. The
 * weights cycle through a pool (--pool-mb, default 256 MB) so that most reads come from DRAM. Every
 * figure is the best of --reps timed runs after one warm-up; the median is printed too, since the
 * machine may be shared. Usage: bench_ops [--threads N] [--reps R] [--pool-mb MB]. */
#include "tensor/cpu/gemm.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifdef VLM_BENCH_OPENBLAS
#include <cblas.h>
#endif

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct timing {
    double best, median; /* seconds */
} timing;

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static timing summarize(double *t, int n) {
    qsort(t, (size_t)n, sizeof(double), cmp_double);
    return (timing){t[0], t[n / 2]};
}

static uint64_t rng = 88172645463325252ull;
static float frand(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((double)(rng >> 40) / (double)(1ull << 23) - 1.0);
}

static void *xmalloc(size_t bytes) {
    void *p = aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (!p) {
        fprintf(stderr, "bench_ops: out of memory (%zu bytes)\n", bytes);
        exit(1);
    }
    return p;
}

/* ------------------------------------------------------------------ plain read */

#if defined(__x86_64__) && defined(__GNUC__)
/* Software prefetch 8 KB ahead: a little faster than the hardware prefetcher alone here, so
 * the baseline is the best plain read we found, not a weak one. */
#define READ_AHEAD 2048
__attribute__((target("avx512f"))) static float sum_avx512(const float *p, size_t n) {
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        _mm_prefetch((const char *)(p + i + READ_AHEAD), _MM_HINT_T1);
        a0 = _mm512_add_ps(a0, _mm512_load_ps(p + i));
        a1 = _mm512_add_ps(a1, _mm512_load_ps(p + i + 16));
        a2 = _mm512_add_ps(a2, _mm512_load_ps(p + i + 32));
        a3 = _mm512_add_ps(a3, _mm512_load_ps(p + i + 48));
    }
    float s = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
    for (; i < n; i++)
        s += p[i];
    return s;
}
__attribute__((target("avx2"))) static float sum_avx2(const float *p, size_t n) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        if (i % 64 == 0) _mm_prefetch((const char *)(p + i + READ_AHEAD), _MM_HINT_T1);
        a0 = _mm256_add_ps(a0, _mm256_load_ps(p + i));
        a1 = _mm256_add_ps(a1, _mm256_load_ps(p + i + 8));
        a2 = _mm256_add_ps(a2, _mm256_load_ps(p + i + 16));
        a3 = _mm256_add_ps(a3, _mm256_load_ps(p + i + 24));
    }
    float t[8];
    _mm256_storeu_ps(t, _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    float s = 0;
    for (int l = 0; l < 8; l++)
        s += t[l];
    for (; i < n; i++)
        s += p[i];
    return s;
}
#endif

static float sum_plain(const float *p, size_t n) {
#if defined(__x86_64__) && defined(__GNUC__)
    vlm_cpu_isa isa = vlm_cpu_isa_selected();
    if (isa == VLM_CPU_ISA_AVX512) return sum_avx512(p, n);
    if (isa == VLM_CPU_ISA_AVX2) return sum_avx2(p, n);
#endif
    float s = 0;
    for (size_t i = 0; i < n; i++)
        s += p[i];
    return s;
}

/* Sum of `bytes` bytes at p, one contiguous chunk per thread (as the GEMV splits rows). */
static float read_all(const void *p, size_t bytes, int nt) {
    size_t nf = bytes / 4, chunk = (nf + (size_t)nt - 1) / (size_t)nt;
    chunk = (chunk + 15) / 16 * 16;
    float total = 0;
#pragma omp parallel for num_threads(nt) reduction(+ : total) schedule(static, 1)
    for (int t = 0; t < nt; t++) {
        size_t a = (size_t)t * chunk, b = a + chunk < nf ? a + chunk : nf;
        if (a < b) total += sum_plain((const float *)p + a, b - a);
    }
    return total;
}

/* ------------------------------------------------------------------ GEMM */

typedef struct gemm_case {
    const char *label;
    vlm_cpu_isa isa;
    vlm_dtype wdt;
    int blas;    /* OpenBLAS sgemm instead */
    int bf16dot; /* vlm_cpu_gemm_nt_bf16dot (x rounded to bf16) */
} gemm_case;

/* OpenBLAS's idle workers spin for about 2^28 cycles (~0.1 s) before sleeping; wait that
 * long after its calls so that they do not take a core from the next measurement. */
#define BLAS_QUIET_US 150000

/* One timed call of case c. */
static double time_gemm_once(const gemm_case *c, int64_t m, int64_t n, int64_t k, const float *x,
                             const void *w, float *y, int nt) {
    double t0 = now_s();
    if (c->blas) {
#ifdef VLM_BENCH_OPENBLAS
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)n, (int)k, 1.0f, x,
                    (int)k, (const float *)w, (int)k, 0.0f, y, (int)n);
#endif
    } else if (c->bf16dot) {
        vlm_cpu_gemm_nt_bf16dot(m, n, k, x, k, w, c->wdt, k, NULL, y, n, nt);
    } else {
        vlm_cpu_gemm_nt_isa(c->isa, m, n, k, x, k, w, c->wdt, k, NULL, y, n, nt);
    }
    return now_s() - t0;
}

static void bench_gemm(int nt, int reps) {
    static const int64_t shapes[][3] = {{1024, 2048, 2048}, {1024, 1280, 3420}, {1024, 3420, 1280}};
    gemm_case cases[8];
    int nc = 0;
    for (int isa = VLM_CPU_ISA_COUNT - 1; isa >= VLM_CPU_ISA_AVX2; isa--) {
        if (!vlm_cpu_isa_supported((vlm_cpu_isa)isa)) continue;
        static char labels[VLM_CPU_ISA_COUNT][3][32];
        const vlm_dtype dts[3] = {VLM_DTYPE_F32, VLM_DTYPE_BF16, VLM_DTYPE_F16};
        for (int d = 0; d < 3; d++) {
            snprintf(labels[isa][d], sizeof labels[isa][d], "%s %s", vlm_cpu_isa_name(isa),
                     vlm_dtype_name(dts[d]));
            cases[nc++] = (gemm_case){labels[isa][d], (vlm_cpu_isa)isa, dts[d], 0, 0};
        }
    }
    if (vlm_cpu_has_avx512_bf16())
        cases[nc++] = (gemm_case){"bf16dot (x->bf16)", VLM_CPU_ISA_AVX512, VLM_DTYPE_BF16, 0, 1};
#ifdef VLM_BENCH_OPENBLAS
    cases[nc++] = (gemm_case){"openblas sgemm", VLM_CPU_ISA_PORTABLE, VLM_DTYPE_F32, 1, 0};
#endif
    printf("\nGEMM y[m,n] = x[m,k] w[n,k]^T, GFLOP/s best (median) of %d, %d thread(s)\n", reps,
           nt);
    printf("%-18s", "m x n x k");
    for (int c = 0; c < nc; c++)
        printf(" %17s", cases[c].label);
    printf(" %11s\n", "f32/blas");
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int64_t m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
        float *x = xmalloc((size_t)(m * k) * 4), *w = xmalloc((size_t)(n * k) * 4);
        uint16_t *wb = xmalloc((size_t)(n * k) * 2), *wh = xmalloc((size_t)(n * k) * 2);
        float *y = xmalloc((size_t)(m * n) * 4), *yref = xmalloc((size_t)(m * n) * 4);
        for (int64_t i = 0; i < m * k; i++)
            x[i] = frand();
        for (int64_t i = 0; i < n * k; i++) {
            w[i] = frand();
            wb[i] = vlm_f32_to_bf16(w[i]);
            wh[i] = vlm_f32_to_f16(w[i]);
        }
        char label[32];
        snprintf(label, sizeof label, "%lldx%lldx%lld", (long long)m, (long long)n, (long long)k);
        printf("%-18s", label);
        double flop = 2.0 * (double)m * (double)n * (double)k, best_vlm_f32 = 0, blas = 0;
        /* The cases take turns within each repetition, so that a busy spell of the (shared)
         * machine hits all of them alike; around OpenBLAS calls the program sleeps so that one
         * library's spinning worker threads do not steal the cores from the other. */
        static double t[16][64];
        for (int r = -1; r < reps; r++)
            for (int c = 0; c < nc; c++) {
                const void *wc = cases[c].wdt == VLM_DTYPE_BF16  ? (const void *)wb
                                 : cases[c].wdt == VLM_DTYPE_F16 ? (const void *)wh
                                                                 : (const void *)w;
                if (cases[c].blas) usleep(BLAS_QUIET_US);
                double tc = time_gemm_once(&cases[c], m, n, k, x, wc, y, nt);
                if (cases[c].blas) {
                    memcpy(yref, y, (size_t)(m * n) * 4);
                    usleep(BLAS_QUIET_US);
                }
                if (r >= 0) t[c][r] = tc;
            }
        for (int c = 0; c < nc; c++) {
            timing tm = summarize(t[c], reps);
            double gf = flop / tm.best * 1e-9;
            printf(" %8.1f (%6.1f)", gf, flop / tm.median * 1e-9);
            if (cases[c].blas)
                blas = gf;
            else if (cases[c].wdt == VLM_DTYPE_F32 && !cases[c].bf16dot && gf > best_vlm_f32)
                best_vlm_f32 = gf;
        }
        if (blas > 0) {
            /* sanity: the f32 result of the best path against OpenBLAS's */
            vlm_cpu_gemm_nt(m, n, k, x, k, w, VLM_DTYPE_F32, k, NULL, y, n, nt);
            double maxd = 0, maxv = 0;
            for (int64_t i = 0; i < m * n; i++) {
                maxd = fmax(maxd, fabs((double)y[i] - yref[i]));
                maxv = fmax(maxv, fabs((double)yref[i]));
            }
            printf(" %10.2fx   (max |vlm-blas| / max|y| = %.1e)", best_vlm_f32 / blas, maxd / maxv);
        }
        printf("\n");
        free(x), free(w), free(wb), free(wh), free(y), free(yref);
    }
}

/* ------------------------------------------------------------------ GEMV */

static void bench_gemv(int nt, int reps, size_t pool_bytes) {
    static const int64_t shapes[][2] = {{2048, 2048}, {8960, 1536}, {1536, 8960}};
    printf("\nGEMV y[m,n] = x[m,k] w[n,k]^T, m = 1, weights cycled through a %.0f MB pool; "
           "GB/s of weight bytes, best (median) of %d, %d thread(s)\n",
           (double)pool_bytes / 1e6, reps, nt);
    printf("%-12s %6s %18s %18s %8s\n", "n x k", "dtype", "plain read", "vlm gemv", "ratio");
    unsigned char *pool = xmalloc(pool_bytes);
    float *x = xmalloc(4 * 64 * 16384), *y = xmalloc(4 * 64 * 16384);
    for (int i = 0; i < 64 * 16384; i++)
        x[i] = frand();
    volatile float sink = 0;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int64_t n = shapes[s][0], k = shapes[s][1];
        const vlm_dtype dts[3] = {VLM_DTYPE_F32, VLM_DTYPE_BF16, VLM_DTYPE_F16};
        for (int d = 0; d < 3; d++) {
            vlm_dtype dt = dts[d];
            size_t mat = (size_t)(n * k) * vlm_dtype_size(dt);
            size_t copies = pool_bytes / mat > 0 ? pool_bytes / mat : 1;
            if (copies * mat > pool_bytes) copies = 1, mat = pool_bytes; /* not reached */
            size_t count = copies * (size_t)(n * k);
            for (size_t i = 0; i < count; i++) {
                float v = frand();
                if (dt == VLM_DTYPE_F32)
                    ((float *)pool)[i] = v;
                else if (dt == VLM_DTYPE_BF16)
                    ((uint16_t *)pool)[i] = vlm_f32_to_bf16(v);
                else
                    ((uint16_t *)pool)[i] = vlm_f32_to_f16(v);
            }
            double tr[64], tg[64];
            for (int r = -1; r < reps; r++) {
                double t0 = now_s();
                for (size_t c = 0; c < copies; c++)
                    sink += read_all(pool + c * mat, mat, nt);
                double t1 = now_s();
                for (size_t c = 0; c < copies; c++)
                    vlm_cpu_gemm_nt(1, n, k, x, k, pool + c * mat, dt, k, NULL, y, n, nt);
                double t2 = now_s();
                if (r >= 0) tr[r] = t1 - t0, tg[r] = t2 - t1;
            }
            timing a = summarize(tr, reps), b = summarize(tg, reps);
            double bytes = (double)copies * (double)mat;
            char label[32];
            snprintf(label, sizeof label, "%lldx%lld", (long long)n, (long long)k);
            printf("%-12s %6s %8.1f (%7.1f) %8.1f (%7.1f) %7.0f%%\n", label, vlm_dtype_name(dt),
                   bytes / a.best * 1e-9, bytes / a.median * 1e-9, bytes / b.best * 1e-9,
                   bytes / b.median * 1e-9, 100.0 * a.best / b.best);
            fflush(stdout);
        }
    }
    /* small m (a few decode streams, or a short prompt): GEMV below VLM_GEMV_MAX_M, GEMM above */
    for (int d = 0; d < 2; d++) {
        int64_t n = 8960, k = 1536;
        vlm_dtype dt = d ? VLM_DTYPE_F32 : VLM_DTYPE_BF16;
        size_t mat = (size_t)(n * k) * vlm_dtype_size(dt);
        size_t copies = pool_bytes / mat ? pool_bytes / mat : 1;
        for (size_t i = 0; i < copies * (size_t)(n * k); i++) {
            float v = frand();
            if (d)
                ((float *)pool)[i] = v;
            else
                ((uint16_t *)pool)[i] = vlm_f32_to_bf16(v);
        }
        printf("small m, %s %lldx%lld, GB/s of weights (GFLOP/s), best of %d:", vlm_dtype_name(dt),
               (long long)n, (long long)k, reps);
        static const int ms[] = {1, 2, 4, 8, 16, 24, 32, 64};
        for (size_t q = 0; q < sizeof ms / sizeof ms[0]; q++) {
            double t[64];
            for (int r = -1; r < reps; r++) {
                double t0 = now_s();
                for (size_t c = 0; c < copies; c++)
                    vlm_cpu_gemm_nt(ms[q], n, k, x, k, pool + c * mat, dt, k, NULL, y, n, nt);
                if (r >= 0) t[r] = now_s() - t0;
            }
            timing a = summarize(t, reps);
            printf(" m=%d %.1f (%.0f)", ms[q], (double)(copies * mat) / a.best * 1e-9,
                   2.0 * ms[q] * (double)n * (double)k * (double)copies / a.best * 1e-9);
            fflush(stdout);
        }
        printf("\n");
    }
    free(pool), free(x), free(y);
    (void)sink;
}

int main(int argc, char **argv) {
    int nt = omp_get_max_threads(), reps = 5;
    double pool_mb = 256;
    int do_gemm = 1, do_gemv = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            nt = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--pool-mb") && i + 1 < argc)
            pool_mb = atof(argv[++i]);
        else if (!strcmp(argv[i], "--gemm-only"))
            do_gemv = 0;
        else if (!strcmp(argv[i], "--gemv-only"))
            do_gemm = 0;
        else {
            fprintf(stderr,
                    "usage: %s [--threads N] [--reps R] [--pool-mb MB] [--gemm-only|--gemv-only]\n",
                    argv[0]);
            return 2;
        }
    }
    if (nt < 1) nt = 1;
    if (reps < 1) reps = 1;
    if (reps > 64) reps = 64;
    if (pool_mb < 1) pool_mb = 1;
    printf("bench_ops: %d thread(s), best path %s%s, VLM_CPU_ISA=%s\n", nt,
           vlm_cpu_isa_name(vlm_cpu_isa_best()), vlm_cpu_has_avx512_bf16() ? " (+avx512_bf16)" : "",
           getenv("VLM_CPU_ISA") ? getenv("VLM_CPU_ISA") : "(unset)");
#ifdef VLM_BENCH_OPENBLAS
    openblas_set_num_threads(nt);
    printf("OpenBLAS: %s\n", openblas_get_config());
#else
    printf("OpenBLAS: not linked\n");
#endif
    if (do_gemm) bench_gemm(nt, reps);
    usleep(2 * BLAS_QUIET_US);
    if (do_gemv) bench_gemv(nt, reps, (size_t)(pool_mb * 1e6));
    return 0;
}
