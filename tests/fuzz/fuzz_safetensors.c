/* libFuzzer target for the safetensors reader. Each input is written to a file and opened
 * mapped and header-only; every tensor of a set that opens is checked against the file's
 * bounds and read in full (so ASan sees any pointer outside the mapping). The same bytes
 * are also tried as a model.safetensors.index.json beside two small valid shards, which
 * fuzzes the shard-index checks. Not a ctest program (CMake does not glob tests/fuzz/).
 *
 * Build and run (from the repository root; clang with libFuzzer, e.g. Debian's clang-14
 * with libclang-rt-14-dev):
 *   clang-14 -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Iinclude -Isrc \
 *     tests/fuzz/fuzz_safetensors.c src/weights/safetensors*.c src/core/?*.c \
 *     -ljansson -lutf8proc -o /tmp/fuzz_safetensors
 *   mkdir -p /tmp/st_corpus && /tmp/fuzz_safetensors -max_total_time=60 /tmp/st_corpus
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "weights/safetensors.h"
#include "weights/safetensors_write.h"

/* The harness's scratch directory, made once per process (harness state, not library). */
static char *scratch_dir(void) {
    static char dir[256];
    if (!dir[0]) {
        const char *base = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/vlm-fuzz-st-XXXXXX", base ? base : "/tmp");
        if (!mkdtemp(dir)) abort();
        /* two valid shards for index inputs: "a" in a.safetensors, "b" in b.safetensors */
        static const uint8_t one = 7;
        const char *names[2] = {"a", "b"};
        for (int i = 0; i < 2; i++) {
            char path[300];
            snprintf(path, sizeof path, "%s/%s.safetensors", dir, names[i]);
            vlm_st_writer *w;
            if (vlm_st_writer_init(&w, path, NULL) != VLM_OK) abort();
            vlm_st_writer_add(w, names[i], VLM_ST_U8, 1, (int64_t[]){1}, &one, 1, NULL);
            if (vlm_st_writer_write(w, NULL) != VLM_OK) abort();
            vlm_st_writer_free(w);
        }
    }
    return dir;
}

static void write_file(const char *path, const uint8_t *data, size_t size) {
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (size && fwrite(data, 1, size, f) != size) abort();
    fclose(f);
}

/* Invariants of an opened set; reads every byte of every tensor. */
static void check_set(const vlm_st_set *set, int header_only) {
    volatile uint8_t sink = 0;
    for (size_t i = 0; i < vlm_st_count(set); i++) {
        const vlm_st_tensor *t = vlm_st_at(set, i);
        if (!t || vlm_st_find(set, t->name) != t) abort();
        if (t->ndim < 0 || t->ndim > VLM_ST_MAX_DIMS) abort();
        if ((unsigned)t->dtype >= VLM_ST_DTYPE_COUNT) abort();
        uint64_t bits;
        if (!vlm_st_tensor_bits(t->dtype, t->ndim, t->shape, &bits) || bits / 8 != t->nbytes)
            abort();
        const char *path = vlm_st_file_path(set, (size_t)t->file_index);
        struct stat st;
        if (!path || stat(path, &st) != 0) abort();
        if (t->offset > (uint64_t)st.st_size || t->nbytes > (uint64_t)st.st_size - t->offset)
            abort();
        if (header_only != (t->data == NULL)) abort();
        if (t->data)
            for (uint64_t k = 0; k < t->nbytes; k++)
                sink ^= t->data[k];
    }
    for (size_t f = 0; f < vlm_st_file_count(set); f++) {
        const char *const *md = vlm_st_metadata(set, f);
        for (; md && *md; md += 2)
            if (!md[1]) abort(); /* keys and values come in pairs */
    }
    (void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *dir = scratch_dir();
    char path[300];
    snprintf(path, sizeof path, "%s/input.safetensors", dir);
    write_file(path, data, size);
    for (int m = 0; m < 2; m++) {
        vlm_st_set *set = NULL;
        vlm_error err;
        if (vlm_st_open(path, m ? VLM_ST_HEADER_ONLY : 0, &set, &err) == VLM_OK) {
            check_set(set, m);
            vlm_st_close(set);
        } else if (set != NULL || err.message[0] == '\0' ||
                   !strstr(err.message, "input.safetensors")) {
            abort(); /* errors must name the file */
        }
    }
    /* the same bytes as a shard index */
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    write_file(path, data, size);
    vlm_st_set *set = NULL;
    vlm_error err;
    if (vlm_st_open(path, 0, &set, &err) == VLM_OK) {
        check_set(set, 0);
        vlm_st_close(set);
    } else if (set != NULL || !strstr(err.message, "model.safetensors.index.json")) {
        abort();
    }
    unlink(path);
    return 0;
}
