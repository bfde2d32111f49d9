/* Entry points of the CPU matrix products (gemm.h) and the driver shared by the SIMD paths.
 * It resolves the thread count and the path; products with few rows (m <= VLM_GEMV_MAX_M)
 * read the weights in place, split by output columns across threads (NT: a GEMV streaming
 * each weight row once; NN: b read row by row). Everything else is a blocked GEMM: y is cut
 * into one task per thread or a few more (a block of rows of x times a range of weight rows,
 * OpenMP dynamic schedule); a task walks k in slices of kc, packs its rows of x once per
 * slice, then packs the weights nb rows at a time into an L2-sized panel and runs the
 * register-tiled micro-kernel over it (gemm_internal.h describes the packed layouts). Blocks
 * of rows are as tall as kr->mb so that weights are packed as few times as possible. */
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
    const vlm_cpu_qmat *q;       /* NT on a quantized weight (w, wdt, ldw unused) */
    const vlm_qgemm_kernels *qk; /* its kernels */
} gemm_problem;

/* Tile rows [i, i + mr) x columns [j, j + nr) of y from one packed x panel and w panel. */
static void run_tile(const gemm_problem *pr, int64_t kc, const float *xpanel, const float *wpanel,
                     int64_t i, int64_t mv, int64_t j, int64_t nv, int load, const float *bias) {
    const vlm_gemm_kernels *kr = pr->kr;
    float *c = pr->y + i * pr->ldy + j;
    if (nv == kr->nr) {
        kr->micro((int)mv, kc, xpanel, wpanel, c, pr->ldy, pr->alpha, bias ? bias + j : NULL, load);
        return;
    }
    _Alignas(64) float tile[VLM_GEMM_MAX_MR * VLM_GEMM_MAX_NR];
    kr->micro((int)mv, kc, xpanel, wpanel, tile, kr->nr, 1.0f, NULL, 0);
    for (int64_t ii = 0; ii < mv; ii++)
        for (int64_t jj = 0; jj < nv; jj++) {
            float *cij = c + ii * pr->ldy + jj;
            float base = load ? *cij : (bias ? bias[j + jj] : 0.0f);
            *cij = base + pr->alpha * tile[ii * kr->nr + jj];
        }
}

/* y[i0..i1, j0..j1] of the product, all of k: for each kc-deep slice, pack the rows of x
 * once (xp: (i1 - i0) rounded up to mr, times kc floats), then for each block of nb weight
 * rows pack them (wp: nb * kc floats, kept in L2) and run the micro-kernel over the block,
 * an x panel (in L1) against every w panel in turn. */
static void run_task(const gemm_problem *pr, int64_t i0, int64_t i1, int64_t j0, int64_t j1,
                     int64_t nb, float *xp, float *wp, float *qtmp) {
    const vlm_gemm_kernels *kr = pr->kr;
    const int mr = kr->mr, nr = kr->nr;
    const size_t es = vlm_dtype_size(pr->wdt);
    for (int64_t pc = 0; pc < pr->k; pc += kr->kc) {
        int64_t kc = min64(kr->kc, pr->k - pc);
        for (int64_t i = i0; i < i1; i += mr)
            kr->pack_x(pr->x + i * pr->ldx + pc, pr->ldx, min64(mr, i1 - i), kc,
                       xp + (i - i0) * kc);
        int load = pc > 0 || (pr->nn && pr->accumulate);
        const float *bias = load ? NULL : pr->bias;
        for (int64_t jb = j0; jb < j1; jb += nb) {
            int64_t je = min64(jb + nb, j1);
            for (int64_t j = jb; j < je; j += nr) {
                float *dst = wp + (j - jb) * kc;
                if (pr->nn) {
                    kr->pack_b((const float *)pr->w + pc * pr->ldw + j, pr->ldw, kc,
                               min64(nr, je - j), dst);
                } else if (pr->q) { /* dequantize the rows' slice, then pack it as f32 */
                    int64_t rows = min64(nr, je - j);
                    for (int64_t r = 0; r < rows; r++)
                        pr->qk->dequant_row(pr->q, j + r, pc, kc, qtmp + r * kc);
                    kr->pack_w[VLM_DTYPE_F32](qtmp, kc, rows, kc, dst);
                } else
                    kr->pack_w[pr->wdt]((const char *)pr->w + (size_t)(j * pr->ldw + pc) * es,
                                        pr->ldw, min64(nr, je - j), kc, dst);
            }
            for (int64_t i = i0; i < i1; i += mr)
                for (int64_t j = jb; j < je; j += nr)
                    run_tile(pr, kc, xp + (i - i0) * kc, wp + (j - jb) * kc, i, min64(mr, i1 - i),
                             j, min64(nr, je - j), load, bias);
        }
    }
}

/* The blocked GEMM. Returns 0 when the packing buffers cannot be allocated. */
static int run_gemm(const gemm_problem *pr, int nt) {
    const vlm_gemm_kernels *kr = pr->kr;
    /* Tasks: pm blocks of rows of x times pn ranges of weight rows, pm * pn a multiple of the
     * thread count so that the tasks come out even. A task packs its weight rows once per
     * block of rows and its rows of x once per range of weight rows, so the split minimizes
     * n * pm + m * pn (elements packed, per k), with blocks no taller than kr->mb. */
    int64_t panels = (pr->m + kr->mr - 1) / kr->mr, n_panels = (pr->n + kr->nr - 1) / kr->nr;
    int64_t pm_min = (pr->m + kr->mb - 1) / kr->mb;
    int64_t pm = pm_min, pn = 1;
    if (nt > 1) {
        double best = -1;
        for (int64_t q = 1; q <= nt; q++) {
            if (nt % q != 0 || q > n_panels) continue;
            int64_t step = nt / q, p = round_up(pm_min, step); /* pm * q multiple of nt */
            if (p > panels) continue;
            double cost = (double)pr->n * (double)p + (double)pr->m * (double)q;
            if (best < 0 || cost < best) best = cost, pm = p, pn = q;
        }
        if (best < 0) { /* too small to split evenly: split the longer side */
            if (panels >= n_panels)
                pm = panels < nt ? panels : nt;
            else
                pn = n_panels < nt ? n_panels : nt;
        }
    }
    int64_t mb = round_up((pr->m + pm - 1) / pm, kr->mr);
    int64_t nrange = round_up((pr->n + pn - 1) / pn, kr->nr);
    int64_t nb = min64(kr->nb, nrange);
    int64_t tm = (pr->m + mb - 1) / mb, tn = (pr->n + nrange - 1) / nrange;
    int64_t tasks = tm * tn;
    if (nt > tasks) nt = (int)tasks;
    int64_t kc = min64(kr->kc, pr->k); /* deepest slice */
    /* floats per thread: xp, then wp on a 64-byte boundary (its panels are read aligned) */
    int64_t xp_size = round_up(mb * kc, 16), wp_size = round_up(nb * kc, 16);
    size_t per_thread = (size_t)(xp_size + wp_size + (pr->q ? round_up(kr->nr * kc, 16) : 0));
    float *buf = aligned_alloc(64, per_thread * sizeof(float) * (size_t)nt);
    if (!buf) return 0;
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        float *xp = buf + per_thread * (size_t)omp_get_thread_num();
        float *wp = xp + xp_size;
        float *qtmp = pr->q ? wp + wp_size : NULL;
#pragma omp for schedule(dynamic, 1)
        for (int64_t t = 0; t < tasks; t++) {
            int64_t i0 = (t / tn) * mb, j0 = (t % tn) * nrange;
            run_task(pr, i0, min64(i0 + mb, pr->m), j0, min64(j0 + nrange, pr->n), nb, xp, wp,
                     qtmp);
        }
    }
    free(buf);
    return 1;
}

void vlm_cpu_q4_permute_x(int64_t m, int64_t k, const float *x, int64_t ldx, float *xp) {
    for (int64_t i = 0; i < m; i++)
        for (int64_t b = 0; b < k; b += 32)
            for (int t = 0; t < 16; t++) {
                xp[i * k + b + t] = x[i * ldx + b + 2 * t];
                xp[i * k + b + 16 + t] = x[i * ldx + b + 2 * t + 1];
            }
}

/* Decode: split the n weight rows into one contiguous range per thread (multiples of 16
 * rows), so that each thread streams its own part of w once. A 4-bit quantized weight
 * takes x permuted (vlm_cpu_q4_permute_x) when the path has such a kernel. */
static void run_gemv(const gemm_problem *pr, int nt) {
    vlm_gemv_fn fn = pr->q ? NULL : pr->kr->gemv[pr->wdt];
    vlm_qgemv_fn qfn = pr->q ? pr->qk->gemv : NULL;
    const float *x = pr->x;
    int64_t ldx = pr->ldx;
    float *xp = NULL;
    if (pr->q && pr->q->bits == 4 && pr->qk->gemv_q4p &&
        (xp = aligned_alloc(64, (size_t)round_up(pr->m * pr->k, 16) * sizeof(float)))) {
        vlm_cpu_q4_permute_x(pr->m, pr->k, pr->x, pr->ldx, xp);
        qfn = pr->qk->gemv_q4p;
        x = xp;
        ldx = pr->k;
    }
    int64_t chunk = round_up((pr->n + nt - 1) / nt, 16);
    int64_t parts = (pr->n + chunk - 1) / chunk;
#pragma omp parallel for num_threads((int)parts) schedule(static, 1) if (parts > 1)
    for (int64_t t = 0; t < parts; t++) {
        int64_t j0 = t * chunk, j1 = min64(j0 + chunk, pr->n);
        if (qfn)
            qfn(pr->m, j0, j1, pr->k, x, ldx, pr->q, pr->bias, pr->y, pr->ldy);
        else
            fn(pr->m, j0, j1, pr->k, x, ldx, pr->w, pr->ldw, pr->bias, pr->y, pr->ldy);
    }
    free(xp);
}

/* NN with few rows: split the columns into one contiguous range of chunks per thread. */
static void run_nn_small(const gemm_problem *pr, int nt) {
    int64_t cols = pr->kr->nn_cols;
    int64_t chunk = round_up((pr->n + nt - 1) / nt, cols);
    int64_t parts = (pr->n + chunk - 1) / chunk;
#pragma omp parallel for num_threads((int)parts) schedule(static, 1) if (parts > 1)
    for (int64_t t = 0; t < parts; t++) {
        int64_t j0 = t * chunk, j1 = min64(j0 + chunk, pr->n);
        pr->kr->nn_small(pr->m, j0, j1, pr->k, pr->alpha, pr->x, pr->ldx, (const float *)pr->w,
                         pr->ldw, pr->y, pr->ldy, pr->accumulate);
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
        gemm_problem pr = {.kr = kr,
                           .m = m,
                           .n = n,
                           .k = k,
                           .x = x,
                           .ldx = ldx,
                           .w = w,
                           .wdt = wdt,
                           .ldw = ldw,
                           .bias = bias,
                           .alpha = 1.0f,
                           .y = y,
                           .ldy = ldy};
        if (m <= VLM_GEMV_MAX_M) {
            run_gemv(&pr, nt);
            return;
        }
        if (run_gemm(&pr, nt)) return;
    }
    vlm_cpu_gemm_nt_portable(m, n, k, x, ldx, w, wdt, ldw, bias, y, ldy, nt);
}

void vlm_cpu_gemm_nt_bf16dot(int64_t m, int64_t n, int64_t k, const float *x, int64_t ldx,
                             const void *w, vlm_dtype wdt, int64_t ldw, const float *bias, float *y,
                             int64_t ldy, int n_threads) {
    if (wdt == VLM_DTYPE_BF16 && m > VLM_GEMV_MAX_M && k > 0 && n > 0 &&
        vlm_cpu_has_avx512_bf16()) {
        gemm_problem pr = {.kr = &vlm_gemm_kernels_avx512_bf16dot,
                           .m = m,
                           .n = n,
                           .k = k,
                           .x = x,
                           .ldx = ldx,
                           .w = w,
                           .wdt = wdt,
                           .ldw = ldw,
                           .bias = bias,
                           .alpha = 1.0f,
                           .y = y,
                           .ldy = ldy};
        if (run_gemm(&pr, resolve_threads(n_threads, m, n, k))) return;
    }
    vlm_cpu_gemm_nt(m, n, k, x, ldx, w, wdt, ldw, bias, y, ldy, n_threads);
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
        gemm_problem pr = {.kr = kr,
                           .m = m,
                           .n = n,
                           .k = k,
                           .x = a,
                           .ldx = lda,
                           .w = b,
                           .wdt = VLM_DTYPE_F32,
                           .ldw = ldb,
                           .nn = 1,
                           .alpha = alpha,
                           .accumulate = accumulate,
                           .y = y,
                           .ldy = ldy};
        if (m <= VLM_GEMV_MAX_M) {
            run_nn_small(&pr, nt);
            return;
        }
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

static const vlm_qgemm_kernels *qkernels_of(vlm_cpu_isa isa) {
    if (!vlm_cpu_isa_supported(isa)) isa = vlm_cpu_isa_best();
    switch (isa) {
    case VLM_CPU_ISA_AVX512:
        return &vlm_qgemm_kernels_avx512;
    case VLM_CPU_ISA_AVX2:
        return &vlm_qgemm_kernels_avx2;
    default:
        return &vlm_qgemm_kernels_portable;
    }
}

void vlm_cpu_gemm_nt_q_isa(vlm_cpu_isa isa, int64_t m, int64_t n, int64_t k, const float *x,
                           int64_t ldx, const vlm_cpu_qmat *w, const float *bias, float *y,
                           int64_t ldy, int n_threads) {
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
        gemm_problem pr = {.kr = kr,
                           .m = m,
                           .n = n,
                           .k = k,
                           .x = x,
                           .ldx = ldx,
                           .wdt = VLM_DTYPE_F32,
                           .bias = bias,
                           .alpha = 1.0f,
                           .y = y,
                           .ldy = ldy,
                           .q = w,
                           .qk = qkernels_of(isa)};
        if (m <= VLM_GEMV_MAX_M) {
            run_gemv(&pr, nt);
            return;
        }
        if (kr->kc % 128 == 0 && run_gemm(&pr, nt)) return; /* slices start on group bounds */
    }
    vlm_cpu_gemm_nt_q_portable(m, n, k, x, ldx, w, bias, y, ldy, nt);
}

void vlm_cpu_gemm_nt_q(int64_t m, int64_t n, int64_t k, const float *x, int64_t ldx,
                       const vlm_cpu_qmat *w, const float *bias, float *y, int64_t ldy,
                       int n_threads) {
    vlm_cpu_gemm_nt_q_isa(vlm_cpu_isa_selected(), m, n, k, x, ldx, w, bias, y, ldy, n_threads);
}

void vlm_cpu_qmat_dequant_row(vlm_cpu_isa isa, const vlm_cpu_qmat *w, int64_t row, int64_t c0,
                              int64_t cols, float *dst) {
    if (cols > 0) qkernels_of(isa)->dequant_row(w, row, c0, cols, dst);
}
