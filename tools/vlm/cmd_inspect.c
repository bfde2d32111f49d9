/* `vlm inspect MODEL_DIR [--json]`: what a checkpoint is, from its configs and
 * safetensors headers alone (no tensor data is read). Bad input: exit 1 and one line on
 * stderr naming the file and what is wrong. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "core/strbuf.h"
#include "models/checkpoint.h"
#include "weights/safetensors.h"

typedef struct weight_stats {
    size_t files, tensors;
    uint64_t parameters, bytes;
    size_t dtype_count[VLM_ST_DTYPE_COUNT];
} weight_stats;

static void collect(const vlm_st_set *set, weight_stats *w) {
    memset(w, 0, sizeof *w);
    w->files = vlm_st_file_count(set);
    w->tensors = vlm_st_count(set);
    for (size_t i = 0; i < w->tensors; i++) {
        const vlm_st_tensor *t = vlm_st_at(set, i);
        uint64_t n = 1;
        for (int d = 0; d < t->ndim; d++) n *= (uint64_t)t->shape[d]; /* validated on open */
        w->parameters += n;
        w->bytes += t->nbytes;
        w->dtype_count[t->dtype]++;
    }
}

static void json_str_or_null(vlm_strbuf *b, const char *s) {
    if (s) vlm_strbuf_json_string(b, s, strlen(s));
    else vlm_strbuf_puts(b, "null");
}

static void print_json(const vlm_checkpoint *ck, const weight_stats *w) {
    vlm_strbuf b;
    vlm_strbuf_init(&b);
    vlm_strbuf_puts(&b, "{\"model_type\":");
    json_str_or_null(&b, ck->model_type);
    vlm_strbuf_puts(&b, ",\"model_type_raw\":");
    json_str_or_null(&b, ck->base.model_type_raw);
    vlm_strbuf_printf(&b, ",\"supported\":%s", ck->model_supported ? "true" : "false");
    vlm_strbuf_puts(&b, ",\"processor_class\":");
    json_str_or_null(&b, ck->processor_class);
    vlm_strbuf_puts(&b, ",\"processor_class_raw\":");
    json_str_or_null(&b, ck->processor_class_raw);
    vlm_strbuf_puts(&b, ",\"processor_config_file\":");
    json_str_or_null(&b, ck->processor_config_file);
    vlm_strbuf_puts(&b, ",\"eos_token_ids\":[");
    for (size_t i = 0; i < ck->base.n_eos; i++)
        vlm_strbuf_printf(&b, "%s%lld", i ? "," : "", (long long)ck->base.eos_ids[i]);
    vlm_strbuf_puts(&b, "],\"quantization\":");
    const vlm_json *q = vlm_json_get(ck->config, "quantization");
    char *qs = (q && !vlm_json_is_null(q)) ? vlm_json_dump(q) : NULL;
    vlm_strbuf_puts(&b, qs ? qs : "null");
    free(qs);
    vlm_strbuf_printf(&b,
                      ",\"weights\":{\"files\":%zu,\"tensors\":%zu,\"parameters\":%llu,"
                      "\"bytes\":%llu,\"dtypes\":{",
                      w->files, w->tensors, (unsigned long long)w->parameters,
                      (unsigned long long)w->bytes);
    int first = 1;
    for (int d = 0; d < VLM_ST_DTYPE_COUNT; d++) {
        if (!w->dtype_count[d]) continue;
        vlm_strbuf_printf(&b, "%s\"%s\":%zu", first ? "" : ",", vlm_st_dtype_name((vlm_st_dtype)d),
                          w->dtype_count[d]);
        first = 0;
    }
    vlm_strbuf_puts(&b, "}}}\n");
    fputs(vlm_strbuf_cstr(&b), stdout);
    vlm_strbuf_free(&b);
}

static void print_text(const vlm_checkpoint *ck, const weight_stats *w) {
    printf("model_type       %s", ck->model_type);
    if (strcmp(ck->model_type, ck->base.model_type_raw)) printf(" (from %s)", ck->base.model_type_raw);
    printf("%s\n", ck->model_supported ? "" : "  [not supported]");
    printf("processor_class  %s", ck->processor_class ? ck->processor_class : "(none)");
    if (ck->processor_class_raw && strcmp(ck->processor_class, ck->processor_class_raw))
        printf(" (checkpoint names %s)", ck->processor_class_raw);
    printf("  [%s]\n", ck->processor_config_file ? ck->processor_config_file : "no processor config");
    printf("eos_token_ids    [");
    for (size_t i = 0; i < ck->base.n_eos; i++)
        printf("%s%lld", i ? ", " : "", (long long)ck->base.eos_ids[i]);
    printf("]%s%s\n", ck->base.eos_source ? "  from " : "",
           ck->base.eos_source ? ck->base.eos_source : "");
    if (ck->base.quant.present)
        printf("quantization     %d-bit, group %d, %s, %zu module override(s)\n",
               ck->base.quant.bits, ck->base.quant.group_size, ck->base.quant.mode,
               ck->base.quant.n_overrides);
    else
        printf("quantization     none\n");
    printf("weights          %zu file(s), %zu tensors, %.3f M parameters, %.1f MiB\n", w->files,
           w->tensors, (double)w->parameters / 1e6, (double)w->bytes / (1024.0 * 1024.0));
    printf("dtypes          ");
    for (int d = 0; d < VLM_ST_DTYPE_COUNT; d++)
        if (w->dtype_count[d])
            printf(" %s:%zu", vlm_st_dtype_name((vlm_st_dtype)d), w->dtype_count[d]);
    printf("\n");
}

int vlm_cmd_inspect(int argc, char **argv) {
    const char *dir = NULL;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: vlm inspect MODEL_DIR [--json]\n"
                   "Describes a checkpoint from its configs and safetensors headers.\n");
            return 0;
        } else if (argv[i][0] == '-' || dir) {
            fprintf(stderr, "vlm inspect: unexpected argument '%s'\n", argv[i]);
            return 2;
        } else {
            dir = argv[i];
        }
    }
    if (!dir) {
        fprintf(stderr, "usage: vlm inspect MODEL_DIR [--json]\n");
        return 2;
    }
    vlm_error err;
    vlm_checkpoint ck;
    vlm_st_set *set = NULL;
    vlm_status s = vlm_checkpoint_probe(dir, &ck, &err);
    if (s == VLM_OK) s = vlm_st_open_dir(dir, VLM_ST_HEADER_ONLY, &set, &err);
    if (s != VLM_OK) {
        fprintf(stderr, "vlm inspect: %s\n", err.message);
        vlm_checkpoint_free(&ck);
        return 1;
    }
    weight_stats w;
    collect(set, &w);
    if (json) print_json(&ck, &w);
    else print_text(&ck, &w);
    vlm_st_close(set);
    vlm_checkpoint_free(&ck);
    return 0;
}
