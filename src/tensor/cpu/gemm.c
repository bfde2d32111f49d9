/* Entry points of the CPU matrix products (gemm.h) and the driver shared by the SIMD paths:
 * it resolves the thread count and the path, runs small-m NT products as a GEMV that splits
 * the weight rows across threads, and everything else as a blocked GEMM. The GEMM cuts y into
 * tasks of up to mb x nb elements (OpenMP, dynamic schedule); a task walks k in blocks of kc,
 * packs its rows of x and of w into per-thread buffers (gemm_internal.h) and runs the
 * micro-kernel over every MR x NR tile; edge tiles go through a small stack tile. */
#include "tensor/cpu/gemm_internal.h"

#include <omp.h>
#include <stdlib.h>

/* Below this many multiply-adds a product runs on one thread (a fork costs microseconds). */
#define SERIAL_WORK 65536

static int resolve_threads(int n_threads, int64_t m, int64_t n, int64_t k) {
    if (omp_in_parallel()) return 1;
    int t = n_threads > 0 ? n_threads : omp_get_max_threads();
    if (t < 1) t = 1;
    if ((double)m * (double)n * (double)(k > 0 ? k : 1) < SERIAL_WORK) t = 1;
    return t;
}

static const vlm_gemm_kernels *kernels_of(vlm_cpu_isa isa) {
    if (!vlm_cpu_isa_supported(isa)) isa = vlm_cpu_isa_best();
    switch (isa) {
    case VLM_CPU_ISA_AVX512:
        return &vlm_gemm_kernels_avx512;
    case VLM_CPU_ISA_AVX2:
        return &vlm_gemm_kernels_avx2;
    default:
        return NULL;
    }
}

static int64_t round_up(int64_t v, int64_t to) {
    return (v + to - 1) / to * to;
}
static int64_t min64(int64_t a, int64_t b) {
    return a < b ? a : b;
}

/* One product as the driver sees it: NT (w [n, k] of dtype wdt) or NN (b = w, f32 [k, n]). */
typedef struct gemm_problem {
    const vlm_gemm_kernels *kr;
    int64_t m, n, k;
    const float *x;
    int64_t ldx;
    const void *w;
    vlm_dtype wdt;
    int64_t ldw;
    int nn;
    const float *bias; /* NT only */
    float alpha;
    int accumulate; /* NN only */
    float *y;
    int64_t ldy;
} gemm_problem;

/* xp panel: rows (<= mr) rows of x, kc columns; xp[p * mr + i]. */
static void pack_x(const float *x, int64_t ldx, int64_t rows, int64_t kc, int mr, float *xp) {
    for (int64_t i = 0; i < rows; i++)
        for (int64_t p = 0; p < kc; p++)
            xp[p * mr + i] = x[i * ldx + p];
    for (int64_t i = rows; i < mr; i++)
        for (int64_t p = 0; p < kc; p++)
            xp[p * mr + i] = 0.0f;
}

/* y[i0..i1, j0..j1] of the product, all of k. xp holds mb * kc floats, wp nb * kc. */
static void run_task(const gemm_problem *pr, int64_t i0, int64_t i1, int64_t j0, int64_t j1,
                     float *xp, float *wp) {
    const vlm_gemm_kernels *kr = pr->kr;
    const int mr = kr->mr, nr = kr->nr;
    const size_t es = vlm_dtype_size(pr->wdt);
    for (int64_t pc = 0; pc < pr->k; pc += kr->kc) {
        int64_t kc = min64(kr->kc, pr->k - pc);
        for (int64_t i = i0; i < i1; i += mr)
            pack_x(pr->x + i * pr->ldx + pc, pr->ldx, min64(mr, i1 - i), kc, mr,
                   xp + (i - i0) * kc);
        for (int64_t j = j0; j < j1; j += nr) {
            float *dst = wp + (j - j0) * kc;
            if (pr->nn)
                kr->pack_b((const float *)pr->w + pc * pr->ldw + j, pr->ldw, kc, min64(nr, j1 - j),
                           dst);
            else
                kr->pack_w[pr->wdt]((const char *)pr->w + (size_t)(j * pr->ldw + pc) * es, pr->ldw,
                                    min64(nr, j1 - j), kc, dst);
        }
        int load = pc > 0 || (pr->nn && pr->accumulate);
        const float *bias = load ? NULL : pr->bias;
        for (int64_t i = i0; i < i1; i += mr) {
            const float *xpanel = xp + (i - i0) * kc;
            int64_t mv = min64(mr, i1 - i);
            for (int64_t j = j0; j < j1; j += nr) {
                const float *wpanel = wp + (j - j0) * kc;
                int64_t nv = min64(nr, j1 - j);
                float *c = pr->y + i * pr->ldy + j;
                if (mv == mr && nv == nr) {
                    kr->micro(kc, xpanel, wpanel, c, pr->ldy, pr->alpha, bias ? bias + j : NULL,
                              load);
                    continue;
                }
                _Alignas(64) float tile[VLM_GEMM_MAX_MR * VLM_GEMM_MAX_NR];
                kr->micro(kc, xpanel, wpanel, tile, nr, 1.0f, NULL, 0);
                for (int64_t ii = 0; ii < mv; ii++)
                    for (int64_t jj = 0; jj < nv; jj++) {
                        float *cij = c + ii * pr->ldy + jj;
                        float base = load ? *cij : (bias ? bias[j + jj] : 0.0f);
                        *cij = base + pr->alpha * tile[ii * nr + jj];
                    }
            }
        }
    }
}

/* The blocked GEMM. Returns 0 when the packing buffers cannot be allocated. */
static int run_gemm(const gemm_problem *pr, int nt) {
    const vlm_gemm_kernels *kr = pr->kr;
    int64_t mb = min64(kr->mb, round_up(pr->m, kr->mr));
    int64_t nb = min64(kr->nb, round_up(pr->n, kr->nr));
    /* Enough tasks to keep every thread busy: halve the larger block while too few. */
    for (;;) {
        int64_t tasks = ((pr->m + mb - 1) / mb) * ((pr->n + nb - 1) / nb);
        if (tasks >= 3 * (int64_t)nt) break;
        if (nb >= 4 * kr->nr && nb >= mb)
            nb = round_up(nb / 2, kr->nr);
        else if (mb >= 2 * kr->mr)
            mb = round_up(mb / 2, kr->mr);
        else if (nb >= 2 * kr->nr)
            nb = round_up(nb / 2, kr->nr);
        else
            break;
    }
    int64_t tm = (pr->m + mb - 1) / mb, tn = (pr->n + nb - 1) / nb;
    int64_t tasks = tm * tn;
    if (nt > tasks) nt = (int)tasks;
    size_t per_thread = (size_t)round_up((mb + nb) * kr->kc, 16); /* floats, 64-byte multiple */
    float *buf = aligned_alloc(64, per_thread * sizeof(float) * (size_t)nt);
    if (!buf) return 0;
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        float *xp = buf + per_thread * (size_t)omp_get_thread_num();
        float *wp = xp + mb * kr->kc;
#pragma omp for schedule(dynamic, 1)
        for (int64_t t = 0; t < tasks; t++) {
            int64_t i0 = (t / tn) * mb, j0 = (t % tn) * nb;
            run_task(pr, i0, min64(i0 + mb, pr->m), j0, min64(j0 + nb, pr->n), xp, wp);
        }
    }
    free(buf);
    return 1;
}

/* Decode: split the n weight rows into one contiguous range per thread (multiples of 16
 * rows), so that each thread streams its own part of w once. */
static void run_gemv(const gemm_problem *pr, int nt) {
    vlm_gemv_fn fn = pr->kr->gemv[pr->wdt];
    int64_t chunk = round_up((pr->n + nt - 1) / nt, 16);
    int64_t parts = (pr->n + chunk - 1) / chunk;
#pragma omp parallel for num_threads((int)parts) schedule(static, 1) if (parts > 1)
    for (int64_t t = 0; t < parts; t++) {
        int64_t j0 = t * chunk, j1 = min64(j0 + chunk, pr->n);
        fn(pr->m, j0, j1, pr->k, pr->x, pr->ldx, pr->w, pr->ldw, pr->bias, pr->y, pr->ldy);
    }
}

void vlm_cpu_gemm_nt_isa(vlm_cpu_isa isa, int64_t m, int64_t n, int64_t k, const float *x,
                         int64_t ldx, const void *w, vlm_dtype wdt, int64_t ldw, const float *bias,
                         float *y, int64_t ldy, int n_threads) {
    if (m <= 0 || n <= 0) return;
    if (k <= 0) {
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++)
                y[i * ldy + j] = bias ? bias[j] : 0.0f;
        return;
    }
    int nt = resolve_threads(n_threads, m, n, k);
    const vlm_gemm_kernels *kr = kernels_of(isa);
    if (kr) {
        gemm_problem pr = {kr, m, n, k, x, ldx, w, wdt, ldw, 0, bias, 1.0f, 0, y, ldy};
        if (m <= VLM_GEMV_MAX_M) {
            run_gemv(&pr, nt);
            return;
        }
        if (run_gemm(&pr, nt)) return;
    }
    vlm_cpu_gemm_nt_portable(m, n, k, x, ldx, w, wdt, ldw, bias, y, ldy, nt);
}

void vlm_cpu_gemm_nn_f32_isa(vlm_cpu_isa isa, int64_t m, int64_t n, int64_t k, float alpha,
                             const float *a, int64_t lda, const float *b, int64_t ldb, float *y,
                             int64_t ldy, int accumulate, int n_threads) {
    if (m <= 0 || n <= 0) return;
    if (k <= 0) {
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++)
                y[i * ldy + j] = accumulate ? y[i * ldy + j] : 0.0f;
        return;
    }
    int nt = resolve_threads(n_threads, m, n, k);
    const vlm_gemm_kernels *kr = kernels_of(isa);
    if (kr) {
        gemm_problem pr = {kr,  m, n,    k,     a,          lda, b,  VLM_DTYPE_F32,
                           ldb, 1, NULL, alpha, accumulate, y,   ldy};
        if (run_gemm(&pr, nt)) return;
    }
    vlm_cpu_gemm_nn_portable(m, n, k, alpha, a, lda, b, ldb, y, ldy, accumulate, nt);
}

void vlm_cpu_gemm_nt(int64_t m, int64_t n, int64_t k, const float *x, int64_t ldx, const void *w,
                     vlm_dtype wdt, int64_t ldw, const float *bias, float *y, int64_t ldy,
                     int n_threads) {
    vlm_cpu_gemm_nt_isa(vlm_cpu_isa_selected(), m, n, k, x, ldx, w, wdt, ldw, bias, y, ldy,
                        n_threads);
}

void vlm_cpu_gemm_nn_f32(int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
                         const float *b, int64_t ldb, float *y, int64_t ldy, int accumulate,
                         int n_threads) {
    vlm_cpu_gemm_nn_f32_isa(vlm_cpu_isa_selected(), m, n, k, alpha, a, lda, b, ldb, y, ldy,
                            accumulate, n_threads);
}
