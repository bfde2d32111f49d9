/* `vlm convert --model IN --out OUT [--quantize [--bits B] [--group-size G]] [--skip-vision]
 * [--dtype bf16|f16|f32]`: writes a Qwen2-VL / Qwen2.5-VL checkpoint (Hub, transformers-5
 * or mlx layout, float weights) in the layout mlx-vlm's convert writes, which vlm.c and
 * mlx-vlm both load: weights as convert_weights.h says; config.json as mlx-vlm's
 * save_config writes it (the input's config without "_name_or_path" and "torch_dtype",
 * plus "quantization" and "quantization_config" = {"group_size", "bits", "mode": "affine"}
 * when quantizing; top-level keys sorted; json.dump with indent 4); and the tokenizer,
 * chat template and processor files copied (every *.json, *.jinja, *.txt, *.model,
 * *.tiktoken and *.py of IN but config.json and the weight index). Subdirectories are not
 * copied. Bad input: exit 1 and one line on stderr naming the file and what is wrong. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "commands.h"
#include "convert_weights.h"
#include "core/error.h"
#include "core/file.h"
#include "core/strbuf.h"
#include "models/checkpoint.h"
#include "pyjson.h"
#include "weights/mlx_quant.h"

#define COPY_MAX_BYTES ((size_t)1 << 30) /* tokenizer files are megabytes; refuse > 1 GiB */

static void usage(FILE *f) {
    fprintf(f, "usage: vlm convert --model IN --out OUT [--quantize [--bits B] [--group-size G]]\n"
               "                   [--skip-vision] [--dtype bf16|f16|f32]\n"
               "\n"
               "Writes a Qwen2-VL / Qwen2.5-VL checkpoint (Hub, transformers-5 or mlx layout) in\n"
               "the layout mlx-vlm's convert writes (vision_tower.*, language_model.*, Conv3d\n"
               "kernel channels-last, config.json with \"quantization\"), loadable by vlm.c and\n"
               "mlx-vlm. Tokenizer, chat template and processor files are copied.\n"
               "\n"
               "options:\n"
               "  --quantize        MLX affine quantization of every Linear and Embedding weight\n"
               "                    whose input size is a multiple of the group size\n"
               "  --bits B          2, 3, 4, 5, 6 or 8 (4)\n"
               "  --group-size G    32, 64 or 128 (64)\n"
               "  --skip-vision     leave the vision tower (and its merger) unquantized, as\n"
               "                    mlx-vlm's convert does\n"
               "  --dtype D         cast every float tensor (and the scales) to D before\n"
               "                    quantizing (default: keep each tensor's dtype)\n");
}

static int fail(const vlm_error *err) {
    fprintf(stderr, "vlm convert: %s\n", err->message);
    return 1;
}

static bool has_suffix(const char *s, const char *suf) {
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && !strcmp(s + n - m, suf);
}

/* Files mlx-vlm's convert copies (or its processor's save_pretrained rewrites). */
static bool wanted(const char *name) {
    if (name[0] == '.' || !strcmp(name, "config.json") ||
        !strcmp(name, "model.safetensors.index.json"))
        return false;
    static const char *const suf[] = {".json", ".jinja", ".txt", ".model", ".tiktoken", ".py"};
    for (size_t i = 0; i < sizeof suf / sizeof suf[0]; i++)
        if (has_suffix(name, suf[i])) return true;
    return false;
}

static vlm_status write_file(const char *path, const char *data, size_t len, vlm_error *err) {
    char tmp[PATH_MAX + 8];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return vlm_err(err, VLM_ERR_INVALID_ARGUMENT, "%s: path too long", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) return vlm_err(err, VLM_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
    bool ok = fwrite(data, 1, len, f) == len;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        remove(tmp);
        return vlm_err(err, VLM_ERR_IO, "%s: write failed", path);
    }
    return VLM_OK;
}

static vlm_status copy_files(const char *in, const char *out, int *copied, vlm_error *err) {
    DIR *d = opendir(in);
    if (!d) return vlm_err(err, VLM_ERR_IO, "%s: cannot list: %s", in, strerror(errno));
    vlm_status st = VLM_OK;
    struct dirent *e;
    *copied = 0;
    while (st == VLM_OK && (e = readdir(d))) {
        if (!wanted(e->d_name)) continue;
        char *src = vlm_path_join(in, e->d_name), *dst = vlm_path_join(out, e->d_name);
        if (!src || !dst) {
            st = vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "convert: out of memory");
        } else if (vlm_path_kind_of(src) == VLM_PATH_FILE) {
            char *data = NULL;
            size_t len = 0;
            st = vlm_file_read(src, COPY_MAX_BYTES, &data, &len, err);
            if (st == VLM_OK) st = write_file(dst, data, len, err);
            if (st == VLM_OK) (*copied)++;
            free(data);
        }
        free(src);
        free(dst);
    }
    closedir(d);
    return st;
}

/* config.json as mlx-vlm's convert + save_config write it. */
static vlm_status write_config(const vlm_checkpoint *ck, const char *out, const vlm_convert_opts *o,
                               vlm_error *err) {
    vlm_json *q = NULL;
    vlm_status st = VLM_OK;
    if (o->quantize) {
        char text[128];
        snprintf(text, sizeof text, "{\"group_size\": %d, \"bits\": %d, \"mode\": \"affine\"}",
                 o->group_size, o->bits);
        st = vlm_json_parse(text, strlen(text), "quantization", 0, &q, err);
        if (st != VLM_OK) return st;
    }
    static const char *const skip[] = {"_name_or_path", "torch_dtype", NULL};
    const char *keys[2] = {"quantization", "quantization_config"};
    const vlm_json *vals[2] = {q, q};
    vlm_strbuf b;
    vlm_strbuf_init(&b);
    bool ok = vlm_pyjson_dump(&b, ck->config, 4, true, skip, keys, vals, q ? 2 : 0);
    char *path = vlm_path_join(out, "config.json");
    if (!ok || !path)
        st = vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "convert: out of memory");
    else
        st = write_file(path, b.data ? b.data : "", b.len, err);
    free(path);
    vlm_strbuf_free(&b);
    vlm_json_free(q);
    return st;
}

/* mkdir -p (as mlx-vlm's save_weights: parents=True, exist_ok=True). */
static int make_dirs(const char *path) {
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    return mkdir(buf, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

static const char *dtype_arg(const char *s, int *out) {
    if (!strcmp(s, "bf16") || !strcmp(s, "bfloat16"))
        *out = VLM_ST_BF16;
    else if (!strcmp(s, "f16") || !strcmp(s, "float16"))
        *out = VLM_ST_F16;
    else if (!strcmp(s, "f32") || !strcmp(s, "float32"))
        *out = VLM_ST_F32;
    else
        return "expected bf16, f16 or f32";
    return NULL;
}

int vlm_cmd_convert(int argc, char **argv) {
    const char *in = NULL, *out = NULL;
    vlm_convert_opts o = {.bits = 0, .group_size = 0, .dtype = -1, .shard_bytes = 5ull << 30};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--quantize") || !strcmp(a, "-q")) {
            o.quantize = true;
        } else if (!strcmp(a, "--skip-vision")) {
            o.skip_vision = true;
        } else if (v && (!strcmp(a, "--model") || !strcmp(a, "--hf-path"))) {
            in = v, i++;
        } else if (v && (!strcmp(a, "--out") || !strcmp(a, "--mlx-path"))) {
            out = v, i++;
        } else if (v && (!strcmp(a, "--bits") || !strcmp(a, "--q-bits"))) {
            o.bits = atoi(v), i++;
        } else if (v && (!strcmp(a, "--group-size") || !strcmp(a, "--q-group-size"))) {
            o.group_size = atoi(v), i++;
        } else if (v && !strcmp(a, "--dtype")) {
            const char *why = dtype_arg(v, &o.dtype);
            if (why) {
                fprintf(stderr, "vlm convert: --dtype %s: %s\n", v, why);
                return 2;
            }
            i++;
        } else if (v && !strcmp(a, "--shard-mb")) { /* undocumented: tests of sharding */
            o.shard_bytes = (uint64_t)strtoull(v, NULL, 10) << 20, i++;
        } else {
            fprintf(stderr, "vlm convert: unknown or incomplete option '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!in || !out) {
        usage(stderr);
        return 2;
    }
    if ((o.bits || o.group_size) && !o.quantize) {
        fprintf(stderr, "vlm convert: --bits and --group-size need --quantize\n");
        return 2;
    }
    if (!o.bits) o.bits = 4;
    if (!o.group_size) o.group_size = 64;
    if (o.quantize && !vlm_mlx_quant_supported(o.bits, o.group_size)) {
        fprintf(stderr,
                "vlm convert: %d bits with group size %d: MLX affine quantization takes bits 2, "
                "3, 4, 5, 6, 8 and group sizes 32, 64, 128\n",
                o.bits, o.group_size);
        return 2;
    }

    vlm_error err = {0};
    vlm_checkpoint ck;
    vlm_status st = vlm_checkpoint_probe(in, &ck, &err);
    if (st != VLM_OK) {
        vlm_checkpoint_free(&ck);
        return fail(&err);
    }
    if (strcmp(ck.model_type, "qwen2_vl") && strcmp(ck.model_type, "qwen2_5_vl")) {
        vlm_err(&err, VLM_ERR_UNSUPPORTED,
                "%s: model_type '%s': convert knows the Qwen2-VL and Qwen2.5-VL layouts only",
                ck.config_path, ck.model_type);
        vlm_checkpoint_free(&ck);
        return fail(&err);
    }
    if (ck.base.quant.present) {
        vlm_err(&err, VLM_ERR_UNSUPPORTED,
                "%s: the checkpoint is already quantized (\"quantization\"); convert reads float "
                "checkpoints",
                ck.config_path);
        vlm_checkpoint_free(&ck);
        return fail(&err);
    }
    /* the output must not be the input: its files would be replaced while mapped */
    char rin[PATH_MAX], rout[PATH_MAX];
    if (make_dirs(out) != 0) {
        vlm_err(&err, VLM_ERR_IO, "%s: cannot create: %s", out, strerror(errno));
    } else if (vlm_path_kind_of(out) != VLM_PATH_DIR) {
        vlm_err(&err, VLM_ERR_IO, "%s: not a directory", out);
    } else if (realpath(in, rin) && realpath(out, rout) && !strcmp(rin, rout)) {
        vlm_err(&err, VLM_ERR_INVALID_ARGUMENT, "%s: the output directory is the input", out);
    }
    if (err.message[0]) {
        vlm_checkpoint_free(&ck);
        return fail(&err);
    }
    vlm_st_set *set = NULL;
    st = vlm_st_open_dir(in, 0, &set, &err);
    vlm_convert_stats stats = {0};
    int copied = 0;
    if (st == VLM_OK) st = vlm_convert_weights(set, out, &o, &stats, &err);
    if (st == VLM_OK) st = write_config(&ck, out, &o, &err);
    if (st == VLM_OK) st = copy_files(in, out, &copied, &err);
    vlm_st_close(set);
    vlm_checkpoint_free(&ck);
    if (st != VLM_OK) return fail(&err);
    if (o.quantize)
        fprintf(stderr, "vlm convert: %zu modules quantized (%d-bit, group size %d)\n",
                stats.quantized, o.bits, o.group_size);
    fprintf(stderr, "vlm convert: %zu tensors, %.1f MB in %zu shard%s, %d files copied -> %s\n",
            stats.tensors, (double)stats.bytes / 1e6, stats.shards, stats.shards == 1 ? "" : "s",
            copied, out);
    return 0;
}
