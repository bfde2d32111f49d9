/* How long opening a checkpoint's safetensors takes as the tensor count grows: writes a
 * sharded set (an index and N shards of 10000 small BF16 tensors each, names as long as
 * real Qwen2-VL ones) into a temp directory with the project's writer, then times
 * vlm_st_open_dir header-only and mapped, and one lookup of every name.
 *   bench_safetensors [SHARDS]   (default 10 = 100000 tensors) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/strbuf.h"
#include "weights/safetensors.h"
#include "weights/safetensors_write.h"

#define PER_SHARD 10000

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static void tensor_name(char *buf, size_t n, int shard, int i) {
    snprintf(buf, n, "model.language_model.layers.%d.block.%d.self_attn.q_proj.weight", shard, i);
}

int main(int argc, char **argv) {
    int shards = argc > 1 ? atoi(argv[1]) : 10;
    if (shards < 1 || shards > 100) {
        fprintf(stderr, "usage: bench_safetensors [SHARDS 1..100]\n");
        return 2;
    }
    char dir[] = "/tmp/vlm-bench-st-XXXXXX";
    if (!mkdtemp(dir)) return 1;
    static const uint16_t data[8] = {0};
    vlm_error err;
    vlm_strbuf index;
    vlm_strbuf_init(&index);
    vlm_strbuf_puts(&index, "{\"metadata\":{},\"weight_map\":{");
    for (int s = 0; s < shards; s++) {
        char file[64], path[128], name[128];
        snprintf(file, sizeof file, "model-%05d-of-%05d.safetensors", s + 1, shards);
        snprintf(path, sizeof path, "%s/%s", dir, file);
        vlm_st_writer *w;
        vlm_st_writer_init(&w, path, &err);
        vlm_st_writer_set_metadata(w, "format", "pt", &err);
        for (int i = 0; i < PER_SHARD; i++) {
            tensor_name(name, sizeof name, s, i);
            vlm_st_writer_add(w, name, VLM_ST_BF16, 2, (int64_t[]){4, 2}, data, 16, &err);
            vlm_strbuf_printf(&index, "%s\"%s\":\"%s\"", s || i ? "," : "", name, file);
        }
        if (vlm_st_writer_write(w, &err) != VLM_OK) {
            fprintf(stderr, "%s\n", err.message);
            return 1;
        }
        vlm_st_writer_free(w);
    }
    vlm_strbuf_puts(&index, "}}");
    char ipath[128];
    snprintf(ipath, sizeof ipath, "%s/model.safetensors.index.json", dir);
    FILE *f = fopen(ipath, "w");
    fwrite(index.data, 1, index.len, f);
    fclose(f);
    vlm_strbuf_free(&index);

    int total = shards * PER_SHARD;
    for (int m = 0; m < 2; m++) {
        double best = 1e30, best_find = 1e30;
        for (int rep = 0; rep < 3; rep++) {
            vlm_st_set *set;
            double t0 = now_ms();
            if (vlm_st_open_dir(dir, m ? 0 : VLM_ST_HEADER_ONLY, &set, &err) != VLM_OK) {
                fprintf(stderr, "%s\n", err.message);
                return 1;
            }
            double t1 = now_ms();
            int found = 0;
            char name[128];
            for (int s = 0; s < shards; s++)
                for (int i = 0; i < PER_SHARD; i++) {
                    tensor_name(name, sizeof name, s, i);
                    found += vlm_st_find(set, name) != NULL;
                }
            double t2 = now_ms();
            vlm_st_close(set);
            if (found != total) return 1;
            if (t1 - t0 < best) best = t1 - t0;
            if (t2 - t1 < best_find) best_find = t2 - t1;
        }
        printf("%s open of %d tensors in %d shards + index: %.1f ms (best of 3); %d lookups: "
               "%.1f ms (%.0f ns each)\n",
               m ? "mapped     " : "header-only", total, shards, best, total, best_find,
               best_find * 1e6 / total);
    }
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : 1;
}
