/* Speed of the CPU products on MLX-quantized weights (vlm_cpu_gemm_nt_q) beside the same
 * product on bf16 weights (vlm_cpu_gemm_nt), for one weight shape:
 *
 *   bench_quant [--n N] [--k K] [--m M] [--group-size G] [--threads T] [--seconds S]
 *               [--bits B]...
 *
 * Defaults: the MLP gate projection of Qwen2-VL-2B (n 8960, k 1536), m 1 (decode), group 64,
 * bits 2 3 4 5 6 8, all threads, 1 s per measurement. Several copies of the weights (about
 * 256 MB of bf16 in all) are cycled through so that they come from memory, not cache, as in
 * a model's decode. Prints ms per product, weights per second and the bytes of weights read
 * per second (packed words + scales + biases; bf16 matrix). */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tensor/cpu/gemm.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint32_t next(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

static void *must(size_t bytes) {
    void *p = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
    if (!p) {
        fprintf(stderr, "bench_quant: out of memory\n");
        exit(1);
    }
    return p;
}

int main(int argc, char **argv) {
    int64_t n = 8960, k = 1536, m = 1;
    int group = 64, threads = 0, nbits = 0, bits_list[8];
    double seconds = 1.0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--n"))
            n = atoll(argv[i + 1]);
        else if (!strcmp(argv[i], "--k"))
            k = atoll(argv[i + 1]);
        else if (!strcmp(argv[i], "--m"))
            m = atoll(argv[i + 1]);
        else if (!strcmp(argv[i], "--group-size"))
            group = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--threads"))
            threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--seconds"))
            seconds = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--bits") && nbits < 8)
            bits_list[nbits++] = atoi(argv[i + 1]);
        else {
            fprintf(stderr, "bench_quant: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (!nbits) {
        const int def[6] = {2, 3, 4, 5, 6, 8};
        memcpy(bits_list, def, sizeof def);
        nbits = 6;
    }
    if (threads <= 0) threads = omp_get_max_threads();
    if (k % group || k % 32) {
        fprintf(stderr, "bench_quant: k must be a multiple of the group size and of 32\n");
        return 2;
    }
    int copies = (int)((256ull << 20) / (uint64_t)(n * k * 2)) + 1;
    if (copies > 64) copies = 64;
    float *x = must((size_t)(m * k) * 4), *y = must((size_t)(m * n) * 4);
    for (int64_t i = 0; i < m * k; i++)
        x[i] = (float)(next() % 2000) / 1000.0f - 1.0f;
    printf("n %lld, k %lld, m %lld, group %d, %d threads, %d weight copies\n", (long long)n,
           (long long)k, (long long)m, group, threads, copies);

    /* bf16 reference */
    uint16_t **wf = malloc((size_t)copies * sizeof *wf);
    for (int c = 0; c < copies; c++) {
        wf[c] = must((size_t)(n * k) * 2);
        for (int64_t i = 0; i < n * k; i++)
            wf[c][i] = vlm_f32_to_bf16((float)(next() % 2000) / 50000.0f - 0.02f);
    }
    int it = 0;
    double t0 = now();
    do {
        vlm_cpu_gemm_nt(m, n, k, x, k, wf[it % copies], VLM_DTYPE_BF16, k, NULL, y, n, threads);
        it++;
    } while (now() - t0 < seconds);
    double tb = (now() - t0) / it;
    printf("bf16        %8.3f ms  %6.2f Gweights/s  %5.1f GB/s\n", tb * 1e3,
           (double)(n * k) / tb / 1e9, (double)(n * k * 2) / tb / 1e9);
    for (int c = 0; c < copies; c++)
        free(wf[c]);
    free(wf);

    for (int b = 0; b < nbits; b++) {
        int bits = bits_list[b];
        int64_t words = k * bits / 32, groups = k / group;
        vlm_cpu_qmat *q = calloc((size_t)copies, sizeof *q);
        for (int c = 0; c < copies; c++) {
            uint32_t *w = must((size_t)(n * words) * 4);
            uint16_t *s = must((size_t)(n * groups) * 2), *bi = must((size_t)(n * groups) * 2);
            for (int64_t i = 0; i < n * words; i++)
                w[i] = next();
            for (int64_t i = 0; i < n * groups; i++) {
                s[i] = vlm_f32_to_bf16(0.002f);
                bi[i] = vlm_f32_to_bf16(-0.02f);
            }
            q[c] = (vlm_cpu_qmat){.w = w,
                                  .ldw = words,
                                  .scales = s,
                                  .biases = bi,
                                  .lds = groups,
                                  .sdt = VLM_DTYPE_BF16,
                                  .bits = bits,
                                  .group = group};
        }
        it = 0;
        t0 = now();
        do {
            vlm_cpu_gemm_nt_q(m, n, k, x, k, &q[it % copies], NULL, y, n, threads);
            it++;
        } while (now() - t0 < seconds);
        double tq = (now() - t0) / it;
        double bytes = (double)(n * words * 4 + n * groups * 4);
        printf("%d-bit       %8.3f ms  %6.2f Gweights/s  %5.1f GB/s  (%.2fx bf16)\n", bits,
               tq * 1e3, (double)(n * k) / tq / 1e9, bytes / tq / 1e9, tb / tq);
        for (int c = 0; c < copies; c++) {
            free((void *)q[c].w);
            free((void *)q[c].scales);
            free((void *)q[c].biases);
        }
        free(q);
    }
    free(x);
    free(y);
    return 0;
}
