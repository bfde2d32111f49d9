/* Tokenizer benchmark: tokenizer.json load time and single-thread encode throughput of
 * the Qwen3 and Gemma 3 tokenizers on a deterministic multi-script corpus (corpus.c),
 * plus a digest of all ids so that tools/refgen/bench_tokenizers.py (HF tokenizers on
 * the same corpus, written with --write-corpus) can confirm both produced the same ids.
 *
 *   bench_tokenizer [--dir DIR] [--mb 4] [--repeat 3] [--write-corpus corpus.json]
 *                   [--only qwen3|gemma3]
 *
 * DIR holds qwen3/ and gemma3/ (default $VLM_CACHE_DIR/tokenizers, else .cache/tokenizers).
 * Digest: FNV-1a 64 over the ids of all documents in order, each id as 4 little-endian
 * bytes, encoded without special tokens. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/strbuf.h"
#include "corpus.h"
#include "text/tokenizer.h"

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int write_corpus(const char *path, const corpus_doc *docs, size_t n) {
    vlm_strbuf b;
    vlm_strbuf_init(&b);
    vlm_strbuf_putc(&b, '[');
    for (size_t i = 0; i < n; i++) {
        if (i) vlm_strbuf_puts(&b, ",\n");
        vlm_strbuf_json_string(&b, docs[i].text, docs[i].len);
    }
    vlm_strbuf_puts(&b, "]\n");
    FILE *f = fopen(path, "wb");
    int ok = f && !b.failed && fwrite(b.data, 1, b.len, f) == b.len;
    if (f && fclose(f) != 0) ok = 0;
    vlm_strbuf_free(&b);
    if (!ok) fprintf(stderr, "bench_tokenizer: cannot write %s\n", path);
    return ok ? 0 : 1;
}

static int bench_one(const char *dir, const char *name, const corpus_doc *docs, size_t n_docs,
                     size_t bytes, int repeat) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s/tokenizer.json", dir, name);
    vlm_error err;
    vlm_tokenizer *t = NULL;
    double loads[5];
    for (int i = 0; i < 5; i++) {
        double t0 = now_s();
        if (vlm_tokenizer_load(path, &t, &err) != VLM_OK) {
            fprintf(stderr, "%s: %s\n", name, err.message);
            return 1;
        }
        loads[i] = now_s() - t0;
        if (i < 4) vlm_tokenizer_free(t);
    }
    qsort(loads, 5, sizeof loads[0], cmp_double);
    double best = 1e30;
    uint64_t digest = 0;
    size_t total_ids = 0;
    for (int r = 0; r < repeat; r++) {
        uint64_t h = 0xCBF29CE484222325ull;
        size_t count = 0;
        double t0 = now_s();
        for (size_t i = 0; i < n_docs; i++) {
            int32_t *ids;
            size_t n;
            if (vlm_tokenizer_encode(t, docs[i].text, docs[i].len, false, &ids, &n, &err) !=
                VLM_OK) {
                fprintf(stderr, "%s: %s\n", name, err.message);
                vlm_tokenizer_free(t);
                return 1;
            }
            for (size_t k = 0; k < n; k++) {
                uint32_t v = (uint32_t)ids[k];
                for (int b = 0; b < 4; b++) {
                    h ^= (v >> (8 * b)) & 0xFF;
                    h *= 0x100000001B3ull;
                }
            }
            count += n;
            free(ids);
        }
        double dt = now_s() - t0;
        if (dt < best) best = dt;
        digest = h;
        total_ids = count;
    }
    printf("%-7s load %7.1f ms (median of 5, min %.1f) | encode %7.2f MB/s (%.2f MB, %zu docs, "
           "best of %d, 1 thread) | %zu ids, digest %016llx\n",
           name, loads[2] * 1e3, loads[0] * 1e3, (double)bytes / best / 1e6, (double)bytes / 1e6,
           n_docs, repeat, total_ids, (unsigned long long)digest);
    vlm_tokenizer_free(t);
    return 0;
}

int main(int argc, char **argv) {
    const char *dir = NULL, *corpus_out = NULL, *only = NULL;
    double mb = 4.0;
    int repeat = 3;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--dir") && i + 1 < argc)
            dir = argv[++i];
        else if (!strcmp(argv[i], "--mb") && i + 1 < argc)
            mb = atof(argv[++i]);
        else if (!strcmp(argv[i], "--repeat") && i + 1 < argc)
            repeat = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--write-corpus") && i + 1 < argc)
            corpus_out = argv[++i];
        else if (!strcmp(argv[i], "--only") && i + 1 < argc)
            only = argv[++i];
        else {
            fprintf(stderr, "usage: bench_tokenizer [--dir DIR] [--mb 4] [--repeat 3] "
                            "[--write-corpus FILE] [--only qwen3|gemma3]\n");
            return 2;
        }
    }
    if (mb <= 0 || mb > 1024 || repeat < 1) {
        fprintf(stderr, "bench_tokenizer: bad --mb or --repeat\n");
        return 2;
    }
    char def[1024];
    if (!dir) {
        const char *cache = getenv("VLM_CACHE_DIR");
        snprintf(def, sizeof def, "%s/tokenizers", cache ? cache : ".cache");
        dir = def;
    }
    size_t n_docs;
    corpus_doc *docs = corpus_build((size_t)(mb * 1e6), &n_docs);
    size_t bytes = 0;
    for (size_t i = 0; i < n_docs; i++)
        bytes += docs[i].len;
    int rc = 0;
    if (corpus_out) {
        rc = write_corpus(corpus_out, docs, n_docs);
        printf("corpus: %zu docs, %zu bytes -> %s\n", n_docs, bytes, corpus_out);
    } else {
        if (!only || !strcmp(only, "qwen3"))
            rc |= bench_one(dir, "qwen3", docs, n_docs, bytes, repeat);
        if (!only || !strcmp(only, "gemma3"))
            rc |= bench_one(dir, "gemma3", docs, n_docs, bytes, repeat);
    }
    corpus_free(docs, n_docs);
    return rc;
}
