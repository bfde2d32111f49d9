/* `vlm convert`'s weights (see convert_weights.h): plan, then stream into shards. */
#include "convert_weights.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/strbuf.h"
#include "tensor/dtype.h"
#include "weights/mlx_quant.h"
#include "weights/safetensors_write.h"

/* Checkpoint name prefixes and their mlx-vlm names, per input layout (the same layouts
 * src/models/qwen2_vl/weights.c reads). */
typedef struct prefix_map {
    const char *from, *to;
} prefix_map;

typedef struct layout {
    const char *name, *embed; /* the token embedding that identifies the layout */
    prefix_map map[3];
    bool channels_last;
} layout;

static const layout layouts[] = {
    {"Hub",
     "model.embed_tokens.weight",
     {{"visual.", "vision_tower."},
      {"model.", "language_model.model."},
      {"lm_head.", "language_model.lm_head."}},
     false},
    {"transformers-5",
     "model.language_model.embed_tokens.weight",
     {{"model.visual.", "vision_tower."},
      {"model.language_model.", "language_model.model."},
      {"lm_head.", "language_model.lm_head."}},
     false},
    {"mlx",
     "language_model.model.embed_tokens.weight",
     {{"vision_tower.", "vision_tower."}, {"language_model.", "language_model."}, {NULL, NULL}},
     true},
};

typedef enum cv_kind { CV_COPY, CV_PATCH, CV_QWEIGHT, CV_QSCALES, CV_QBIASES } cv_kind;

/* One quantized module, shared by its weight / scales / biases outputs: the weight's fill
 * computes all three and keeps scales and biases (in the output dtype) for the others. */
typedef struct cv_quant {
    const vlm_st_tensor *src;
    int64_t n, k;
    int bits, group;
    vlm_st_dtype odt;
    uint8_t *scales, *biases; /* [n, k / group] of odt, after the weight was filled */
} cv_quant;

typedef struct cv_tensor {
    char *name;   /* output */
    char *module; /* sort key: the name without its last component */
    int rank;     /* weight, scales, biases, bias, others: mlx's parameter order */
    cv_kind kind;
    const vlm_st_tensor *src;
    vlm_st_dtype dtype;
    int ndim;
    int64_t shape[VLM_ST_MAX_DIMS];
    uint64_t nbytes;
    cv_quant *q;
    size_t shard;
} cv_tensor;

typedef struct cv_plan {
    cv_tensor *t;
    size_t n;
    cv_quant **quants;
    size_t n_quants;
} cv_plan;

static void plan_free(cv_plan *p) {
    for (size_t i = 0; i < p->n; i++) {
        free(p->t[i].name);
        free(p->t[i].module);
    }
    for (size_t i = 0; i < p->n_quants; i++) {
        free(p->quants[i]->scales);
        free(p->quants[i]->biases);
        free(p->quants[i]);
    }
    free(p->t);
    free(p->quants);
    memset(p, 0, sizeof *p);
}

static size_t st_esize(vlm_st_dtype dt) {
    return dt == VLM_ST_F32 ? 4 : 2;
}

static float load_f(const uint8_t *p, vlm_st_dtype dt) {
    uint16_t h;
    if (dt == VLM_ST_F32) {
        float f;
        memcpy(&f, p, 4);
        return f;
    }
    memcpy(&h, p, 2);
    return dt == VLM_ST_BF16 ? vlm_bf16_to_f32(h) : vlm_f16_to_f32(h);
}

/* Stores f in dtype dt (round to nearest even) and returns the value stored, as f32. */
static float store_f(uint8_t *p, vlm_st_dtype dt, float f) {
    uint16_t h;
    switch (dt) {
    case VLM_ST_F32:
        memcpy(p, &f, 4);
        return f;
    case VLM_ST_BF16:
        h = vlm_f32_to_bf16(f);
        memcpy(p, &h, 2);
        return vlm_bf16_to_f32(h);
    default:
        h = vlm_f32_to_f16(f);
        memcpy(p, &h, 2);
        return vlm_f16_to_f32(h);
    }
}

/* f rounded to dtype dt, as f32 (what mlx quantizes after casting the weights). */
static float round_to(float f, vlm_st_dtype dt) {
    uint8_t tmp[4];
    return store_f(tmp, dt, f);
}

static int rank_of(const char *last) {
    static const char *const order[] = {"weight", "scales", "biases", "bias"};
    for (int i = 0; i < 4; i++)
        if (!strcmp(last, order[i])) return i;
    return 4;
}

static int tensor_cmp(const void *a, const void *b) {
    const cv_tensor *x = a, *y = b;
    int c = strcmp(x->module, y->module);
    if (c) return c;
    if (x->rank != y->rank) return x->rank - y->rank;
    return strcmp(x->name, y->name);
}

static vlm_status plan_add(cv_plan *p, const char *name, cv_kind kind, const vlm_st_tensor *src,
                           vlm_st_dtype dt, int ndim, const int64_t *shape, cv_quant *q,
                           vlm_error *err) {
    cv_tensor *t = vlm_realloc_array(p->t, p->n + 1, sizeof *t);
    if (!t) return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "convert: out of memory");
    p->t = t;
    t = &p->t[p->n];
    memset(t, 0, sizeof *t);
    t->name = vlm_strdup(name);
    t->module = vlm_strdup(name);
    if (!t->name || !t->module) {
        free(t->name);
        free(t->module);
        return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "convert: out of memory");
    }
    char *dot = strrchr(t->module, '.');
    t->rank = rank_of(dot ? dot + 1 : t->module);
    if (dot) *dot = '\0';
    t->kind = kind;
    t->src = src;
    t->dtype = dt;
    t->ndim = ndim;
    memcpy(t->shape, shape, (size_t)ndim * sizeof *shape);
    uint64_t bits;
    vlm_st_tensor_bits(dt, ndim, shape, &bits); /* shapes derive from validated inputs */
    t->nbytes = bits / 8;
    t->q = q;
    p->n++;
    return VLM_OK;
}

static const layout *detect(const vlm_st_set *in) {
    for (size_t i = 0; i < sizeof layouts / sizeof layouts[0]; i++)
        if (vlm_st_find(in, layouts[i].embed)) return &layouts[i];
    return NULL;
}

static const char *file_of(const vlm_st_set *in, const vlm_st_tensor *t) {
    const char *path = vlm_st_file_path(in, (size_t)t->file_index);
    const char *slash = path ? strrchr(path, '/') : NULL;
    return slash ? slash + 1 : (path ? path : "?");
}

static vlm_status build_plan(const vlm_st_set *in, const vlm_convert_opts *o, cv_plan *p,
                             vlm_error *err) {
    const layout *L = detect(in);
    if (!L)
        return vlm_err(err, VLM_ERR_NOT_FOUND,
                       "convert: no token embedding found (looked for "
                       "model.embed_tokens.weight, model.language_model.embed_tokens.weight, "
                       "language_model.model.embed_tokens.weight)");
    for (size_t i = 0; i < vlm_st_count(in); i++) {
        const vlm_st_tensor *s = vlm_st_at(in, i);
        const char *name = s->name;
        /* buffers mlx-vlm's sanitize drops (not parameters of the MLX model) */
        if (strstr(name, "position_ids") || strstr(name, "rotary_emb.inv_freq")) continue;
        if (s->dtype != VLM_ST_F32 && s->dtype != VLM_ST_F16 && s->dtype != VLM_ST_BF16)
            return vlm_err(err, s->dtype == VLM_ST_U32 ? VLM_ERR_UNSUPPORTED : VLM_ERR_FORMAT,
                           "%s: tensor '%s' has dtype %s; convert reads float checkpoints (F32, "
                           "F16, BF16)%s",
                           file_of(in, s), name, vlm_st_dtype_name(s->dtype),
                           s->dtype == VLM_ST_U32 ? ", not already quantized ones" : "");
        char out[512];
        const prefix_map *m = NULL;
        for (int k = 0; k < 3 && !m; k++)
            if (L->map[k].from && !strncmp(name, L->map[k].from, strlen(L->map[k].from)))
                m = &L->map[k];
        if (!m ||
            snprintf(out, sizeof out, "%s%s", m->to, name + strlen(m->from)) >= (int)sizeof out)
            return vlm_err(err, VLM_ERR_FORMAT,
                           "%s: tensor '%s' is not a Qwen2-VL weight name of the %s layout",
                           file_of(in, s), name, L->name);
        vlm_st_dtype odt = o->dtype >= 0 ? (vlm_st_dtype)o->dtype : s->dtype;
        vlm_status st;
        if (!strcmp(out, "vision_tower.patch_embed.proj.weight") && !L->channels_last &&
            s->ndim == 5) {
            /* torch Conv3d [out, in, t, h, w] -> MLX [out, t, h, w, in] */
            int64_t sh[5] = {s->shape[0], s->shape[2], s->shape[3], s->shape[4], s->shape[1]};
            st = plan_add(p, out, CV_PATCH, s, odt, 5, sh, NULL, err);
        } else if (o->quantize && s->ndim == 2 && s->shape[0] > 0 && s->shape[1] > 0 &&
                   strlen(out) > 7 && !strcmp(out + strlen(out) - 7, ".weight") &&
                   s->shape[1] % o->group_size == 0 && (s->shape[0] * s->shape[1]) % 64 == 0 &&
                   !(o->skip_vision && !strncmp(out, "vision_tower.", 13))) {
            /* a Linear or Embedding (every 2-D weight of the family is one); mlx-vlm's
             * loader quantizes a module only when its weight size is a multiple of 64 */
            cv_quant *q = calloc(1, sizeof *q);
            cv_quant **qs = q ? vlm_realloc_array(p->quants, p->n_quants + 1, sizeof *qs) : NULL;
            if (!qs) {
                free(q);
                return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "convert: out of memory");
            }
            p->quants = qs;
            p->quants[p->n_quants++] = q;
            *q = (cv_quant){.src = s,
                            .n = s->shape[0],
                            .k = s->shape[1],
                            .bits = o->bits,
                            .group = o->group_size,
                            .odt = odt};
            char module[512], nm[530];
            snprintf(module, sizeof module, "%.*s", (int)(strlen(out) - 7), out);
            int64_t wsh[2] = {q->n, q->k * q->bits / 32}, ssh[2] = {q->n, q->k / q->group};
            snprintf(nm, sizeof nm, "%s.weight", module);
            st = plan_add(p, nm, CV_QWEIGHT, s, VLM_ST_U32, 2, wsh, q, err);
            snprintf(nm, sizeof nm, "%s.scales", module);
            if (st == VLM_OK) st = plan_add(p, nm, CV_QSCALES, s, odt, 2, ssh, q, err);
            snprintf(nm, sizeof nm, "%s.biases", module);
            if (st == VLM_OK) st = plan_add(p, nm, CV_QBIASES, s, odt, 2, ssh, q, err);
        } else {
            st = plan_add(p, out, CV_COPY, s, odt, s->ndim, s->shape, NULL, err);
        }
        if (st != VLM_OK) return st;
    }
    qsort(p->t, p->n, sizeof *p->t, tensor_cmp);
    for (size_t i = 1; i < p->n; i++)
        if (!strcmp(p->t[i].name, p->t[i - 1].name))
            return vlm_err(err, VLM_ERR_FORMAT, "convert: two input tensors both become '%s'",
                           p->t[i].name);
    return VLM_OK;
}

/* ------------------------------------------------------------------ filling */

static vlm_status quantize_module(cv_quant *q, uint8_t *packed, vlm_error *err) {
    const int64_t groups = q->k / q->group, words = vlm_mlx_row_words(q->k, q->bits);
    const size_t es = st_esize(q->odt), srcs = st_esize(q->src->dtype);
    float *row = malloc((size_t)q->k * sizeof *row);
    uint32_t *wrow = malloc((size_t)words * sizeof *wrow);
    float *s = malloc((size_t)groups * sizeof *s), *b = malloc((size_t)groups * sizeof *b);
    if (!q->scales) q->scales = malloc((size_t)(q->n * groups) * es);
    if (!q->biases) q->biases = malloc((size_t)(q->n * groups) * es);
    vlm_status st = VLM_OK;
    if (!row || !wrow || !s || !b || !q->scales || !q->biases) {
        st = vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "convert: out of memory quantizing '%s'",
                     q->src->name);
        goto done;
    }
    for (int64_t r = 0; r < q->n; r++) {
        const uint8_t *src = q->src->data + (size_t)(r * q->k) * srcs;
        for (int64_t c = 0; c < q->k; c++) /* mlx casts to the output dtype first */
            row[c] = round_to(load_f(src + (size_t)c * srcs, q->src->dtype), q->odt);
        vlm_mlx_quantize(row, 1, q->k, q->bits, q->group, wrow, s, b);
        for (int64_t g = 0; g < groups; g++) {
            store_f(q->scales + (size_t)(r * groups + g) * es, q->odt, s[g]);
            store_f(q->biases + (size_t)(r * groups + g) * es, q->odt, b[g]);
        }
        if (packed)
            for (int64_t i = 0; i < words; i++) /* little-endian words, on any host */
                for (int byte = 0; byte < 4; byte++)
                    packed[(size_t)(r * words + i) * 4 + (size_t)byte] =
                        (uint8_t)(wrow[i] >> (8 * byte));
    }
done:
    free(row);
    free(wrow);
    free(s);
    free(b);
    return st;
}

static vlm_status fill(void *user, uint8_t *buf, uint64_t nbytes, vlm_error *err) {
    const cv_tensor *t = user;
    const vlm_st_tensor *s = t->src;
    const size_t ses = st_esize(s->dtype), oes = st_esize(t->dtype);
    switch (t->kind) {
    case CV_COPY: {
        uint64_t n = s->nbytes / ses;
        if (s->dtype == t->dtype) {
            memcpy(buf, s->data, (size_t)nbytes);
            return VLM_OK;
        }
        for (uint64_t i = 0; i < n; i++)
            store_f(buf + i * oes, t->dtype, load_f(s->data + i * ses, s->dtype));
        return VLM_OK;
    }
    case CV_PATCH: { /* [E, C, T, P, Q] -> [E, T, P, Q, C] */
        int64_t E = s->shape[0], C = s->shape[1], T = s->shape[2], P = s->shape[3];
        int64_t Q = s->shape[4];
        for (int64_t e = 0; e < E; e++)
            for (int64_t c = 0; c < C; c++)
                for (int64_t z = 0; z < T; z++)
                    for (int64_t y = 0; y < P; y++)
                        for (int64_t x = 0; x < Q; x++) {
                            size_t from = (size_t)((((e * C + c) * T + z) * P + y) * Q + x);
                            size_t to = (size_t)((((e * T + z) * P + y) * Q + x) * C + c);
                            store_f(buf + to * oes, t->dtype,
                                    load_f(s->data + from * ses, s->dtype));
                        }
        return VLM_OK;
    }
    case CV_QWEIGHT:
        return quantize_module(t->q, buf, err);
    case CV_QSCALES:
    case CV_QBIASES: {
        cv_quant *q = t->q;
        if (!q->scales || !q->biases) { /* weight not written first: compute, keep these */
            vlm_status st = quantize_module(q, NULL, err);
            if (st != VLM_OK) return st;
        }
        uint8_t **part = t->kind == CV_QSCALES ? &q->scales : &q->biases;
        memcpy(buf, *part, (size_t)nbytes);
        return VLM_OK;
    }
    }
    return vlm_err(err, VLM_ERR_INTERNAL, "convert: unknown tensor kind");
}

/* ------------------------------------------------------------------ writing */

static char *shard_name(size_t i, size_t n) {
    char buf[64];
    if (n == 1)
        snprintf(buf, sizeof buf, "model.safetensors");
    else
        snprintf(buf, sizeof buf, "model-%05zu-of-%05zu.safetensors", i + 1, n);
    return vlm_strdup(buf);
}

static vlm_status write_text_file(const char *path, const char *text, size_t len, vlm_error *err) {
    char tmp[4200];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return vlm_err(err, VLM_ERR_INVALID_ARGUMENT, "%s: path too long", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) return vlm_err(err, VLM_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
    bool ok = fwrite(text, 1, len, f) == len;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        remove(tmp);
        return vlm_err(err, VLM_ERR_IO, "%s: write failed", path);
    }
    return VLM_OK;
}

vlm_status vlm_convert_weights(const vlm_st_set *in, const char *out_dir, const vlm_convert_opts *o,
                               vlm_convert_stats *stats, vlm_error *err) {
    cv_plan p = {0};
    memset(stats, 0, sizeof *stats);
    vlm_status st = build_plan(in, o, &p, err);
    if (st != VLM_OK) goto done;
    /* shards as mlx-vlm's make_shards cuts them (a new one when the next tensor would pass
     * the limit), never an empty one */
    size_t n_shards = 1;
    uint64_t size = 0, total = 0;
    for (size_t i = 0; i < p.n; i++) {
        if (size > 0 && size + p.t[i].nbytes > o->shard_bytes) {
            n_shards++;
            size = 0;
        }
        p.t[i].shard = n_shards - 1;
        size += p.t[i].nbytes;
        total += p.t[i].nbytes;
    }
    vlm_strbuf idx;
    vlm_strbuf_init(&idx);
    vlm_strbuf_printf(&idx,
                      "{\n    \"metadata\": {\n        \"total_size\": %llu\n    },\n"
                      "    \"weight_map\": {",
                      (unsigned long long)total);
    for (size_t sh = 0; sh < n_shards && st == VLM_OK; sh++) {
        char *fname = shard_name(sh, n_shards);
        char path[4096];
        vlm_st_writer *w = NULL;
        if (!fname || snprintf(path, sizeof path, "%s/%s", out_dir, fname) >= (int)sizeof path) {
            st = vlm_err(err, VLM_ERR_INVALID_ARGUMENT, "convert: output path too long");
        } else {
            st = vlm_st_writer_init(&w, path, err);
            if (st == VLM_OK) st = vlm_st_writer_set_metadata(w, "format", "mlx", err);
            for (size_t i = 0; i < p.n && st == VLM_OK; i++)
                if (p.t[i].shard == sh)
                    st = vlm_st_writer_add_fill(w, p.t[i].name, p.t[i].dtype, p.t[i].ndim,
                                                p.t[i].shape, fill, &p.t[i], err);
            if (st == VLM_OK) st = vlm_st_writer_write(w, err);
        }
        vlm_st_writer_free(w);
        free(fname);
    }
    /* the index lists every name sorted, as mlx-vlm writes it (json.dump, indent 4) */
    if (st == VLM_OK) {
        const char **names = malloc((p.n ? p.n : 1) * sizeof *names);
        size_t *shard_of = malloc((p.n ? p.n : 1) * sizeof *shard_of);
        if (!names || !shard_of) st = vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "convert: out of memory");
        for (size_t i = 0; st == VLM_OK && i < p.n; i++) {
            /* insertion sort by name: indexes of checkpoints are small enough */
            size_t j = i;
            while (j > 0 && strcmp(names[j - 1], p.t[i].name) > 0) {
                names[j] = names[j - 1];
                shard_of[j] = shard_of[j - 1];
                j--;
            }
            names[j] = p.t[i].name;
            shard_of[j] = p.t[i].shard;
        }
        for (size_t i = 0; st == VLM_OK && i < p.n; i++) {
            char *fname = shard_name(shard_of[i], n_shards);
            vlm_strbuf_puts(&idx, i ? ",\n        " : "\n        ");
            vlm_strbuf_json_string(&idx, names[i], strlen(names[i]));
            vlm_strbuf_puts(&idx, ": ");
            vlm_strbuf_json_string(&idx, fname ? fname : "", fname ? strlen(fname) : 0);
            free(fname);
        }
        vlm_strbuf_puts(&idx, p.n ? "\n    }\n}" : "}\n}");
        free(names);
        free(shard_of);
        char path[4096];
        if (st == VLM_OK && idx.failed)
            st = vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "convert: out of memory");
        if (st == VLM_OK && snprintf(path, sizeof path, "%s/model.safetensors.index.json",
                                     out_dir) >= (int)sizeof path)
            st = vlm_err(err, VLM_ERR_INVALID_ARGUMENT, "convert: output path too long");
        if (st == VLM_OK) st = write_text_file(path, idx.data, idx.len, err);
    }
    vlm_strbuf_free(&idx);
    stats->tensors = p.n;
    stats->quantized = p.n_quants;
    stats->shards = n_shards;
    stats->bytes = total;
done:
    plan_free(&p);
    return st;
}
