/* bench_image: a 1920x1080 JPEG decoded and preprocessed to Qwen2.5-VL pixel values (Hub
 * defaults: min_pixels 3136, max_pixels 12845056 -> 1092x1932, 10764 rows of 1176 floats),
 * timed as median of N runs, single-threaded and with all OpenMP threads. Compare with
 * tools/refgen/bench_qwen_processor.py (transformers' PIL processor) on the same file and
 * CPU.
 *
 *   bench_image [--runs N] [--threads T] [FILE.jpg]      (default bench/image/photo_1920x1080.jpg)
 */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/file.h"
#include "media/image.h"
#include "media/qwen_vision.h"

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

typedef struct figures {
    double decode, preprocess, total, total_min;
} figures;

static int run(const char *path, const char *data, size_t len, int runs, int threads, figures *f) {
    double *dec = calloc((size_t)runs, sizeof(double)), *pre = calloc((size_t)runs, sizeof(double)),
           *tot = calloc((size_t)runs, sizeof(double));
    vlm_qwen_vision_params p = vlm_qwen_vision_params_default();
    p.n_threads = threads;
    int64_t rows = 0, grid[3] = {0, 0, 0};
    double checksum = 0;
    for (int r = 0; r < runs; r++) {
        vlm_error err;
        vlm_image img;
        double t0 = now_ms();
        if (vlm_image_decode_memory(data, len, path, NULL, &img, NULL, &err) != VLM_OK) {
            fprintf(stderr, "bench_image: %s\n", err.message);
            return 1;
        }
        double t1 = now_ms();
        float *pv = NULL;
        if (vlm_qwen_preprocess(&img, 1, &p, &pv, &rows, grid, &err) != VLM_OK) {
            fprintf(stderr, "bench_image: %s\n", err.message);
            return 1;
        }
        double t2 = now_ms();
        checksum += pv[rows * 1176 / 2];
        free(pv);
        vlm_image_free(&img);
        dec[r] = t1 - t0, pre[r] = t2 - t1, tot[r] = t2 - t0;
    }
    f->decode = median(dec, runs);
    f->preprocess = median(pre, runs);
    f->total = median(tot, runs);
    f->total_min = tot[0]; /* sorted by median() */
    printf("threads %-3d decode %7.2f ms  preprocess %7.2f ms  total %7.2f ms (min %7.2f)  "
           "(pixel_values [%lld, 1176], grid %lld x %lld x %lld, check %.4f)\n",
           threads, f->decode, f->preprocess, f->total, f->total_min, (long long)rows,
           (long long)grid[0], (long long)grid[1], (long long)grid[2], checksum / runs);
    free(dec);
    free(pre);
    free(tot);
    return 0;
}

int main(int argc, char **argv) {
    const char *path = "bench/image/photo_1920x1080.jpg";
    int runs = 20, threads = omp_get_max_threads();
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc)
            runs = atoi(argv[++i]);
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
            threads = atoi(argv[++i]);
        else
            path = argv[i];
    }
    if (runs < 1) runs = 1;
    char *data;
    size_t len;
    vlm_error err;
    if (vlm_file_read(path, 1u << 28, &data, &len, &err) != VLM_OK) {
        fprintf(stderr, "bench_image: %s\n", err.message);
        return 1;
    }
    printf("bench_image: %s (%zu bytes), median of %d runs, Qwen2.5-VL defaults\n", path, len,
           runs);
    figures one, many;
    if (run(path, data, len, runs, 1, &one)) return 1;
    if (threads > 1 && run(path, data, len, runs, threads, &many)) return 1;
    free(data);
    return 0;
}
