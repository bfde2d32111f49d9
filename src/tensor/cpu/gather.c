/* CPU row gather (embedding lookup, reordering) and row scatter (splicing image embeddings
 * into text embeddings). Every id is checked before anything is written, so a bad id leaves
 * the output untouched; scatter also refuses duplicate ids (two writers to one row). */
#include "tensor/cpu/cpu.h"

/* Copies one row of n elements, converting src dtype to dst dtype (f32 or the same). */
static void copy_row(char *d, vlm_dtype dd, int64_t ds, const char *s, vlm_dtype sd, int64_t ss,
                     int64_t n) {
    size_t es = vlm_dtype_size(sd);
    if (dd == sd) {
        if (ds == (int64_t)es && ss == (int64_t)es)
            memcpy(d, s, (size_t)n * es);
        else
            for (int64_t i = 0; i < n; i++)
                memcpy(d + i * ds, s + i * ss, es);
        return;
    }
    for (int64_t i = 0; i < n; i++) { /* to f32 (checked by the front end) */
        float f = cpu_load(s + i * ss, sd);
        memcpy(d + i * ds, &f, 4);
    }
}

static vlm_status check_ids(vlm_ctx *ctx, const char *op, const vlm_tensor *ids, int64_t limit) {
    const char *b = cpu_ptr(ids);
    for (int64_t i = 0; i < ids->shape[0]; i++) {
        int64_t id = cpu_load_index(b + i * ids->stride[0], ids->dtype);
        if (id < 0 || id >= limit)
            return vlm_ctx_fail(ctx, VLM_ERR_INVALID_ARGUMENT,
                                "%s: ids[%lld] = %lld is out of range [0, %lld)", op, (long long)i,
                                (long long)id, (long long)limit);
    }
    return VLM_OK;
}

vlm_status cpu_gather_rows(vlm_ctx *ctx, const vlm_tensor *table, const vlm_tensor *ids,
                           const vlm_tensor *out) {
    vlm_status st = check_ids(ctx, "gather_rows", ids, table->shape[0]);
    if (st != VLM_OK) return st;
    int64_t m = ids->shape[0], d = table->shape[1];
    const char *tb = cpu_ptr(table), *ib = cpu_ptr(ids);
    char *ob = cpu_ptr(out);
    int nt = m * d >= CPU_PAR_MIN ? ctx->n_threads : 1;
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t i = 0; i < m; i++) {
        int64_t id = cpu_load_index(ib + i * ids->stride[0], ids->dtype);
        copy_row(ob + i * out->stride[0], out->dtype, out->stride[1], tb + id * table->stride[0],
                 table->dtype, table->stride[1], d);
    }
    return VLM_OK;
}

vlm_status cpu_scatter_rows(vlm_ctx *ctx, const vlm_tensor *src, const vlm_tensor *ids,
                            const vlm_tensor *out) {
    const char *op = "scatter_rows";
    int64_t m = ids->shape[0], n = out->shape[0], d = src->shape[1];
    vlm_status st = check_ids(ctx, op, ids, n);
    if (st != VLM_OK) return st;
    vlm_arena_mark mark = vlm_arena_get_mark(ctx->arena);
    float *scratch;
    if ((st = cpu_scratch(ctx, op, (size_t)(n / 4 + 1), &scratch)) != VLM_OK) return st;
    unsigned char *seen = (unsigned char *)scratch;
    memset(seen, 0, (size_t)n);
    const char *ib = cpu_ptr(ids);
    for (int64_t i = 0; i < m; i++) {
        int64_t id = cpu_load_index(ib + i * ids->stride[0], ids->dtype);
        if (seen[id]) {
            vlm_arena_release(ctx->arena, mark);
            return vlm_ctx_fail(ctx, VLM_ERR_INVALID_ARGUMENT,
                                "%s: row %lld is written twice (ids[%lld])", op, (long long)id,
                                (long long)i);
        }
        seen[id] = 1;
    }
    vlm_arena_release(ctx->arena, mark);
    const char *sb = cpu_ptr(src);
    char *ob = cpu_ptr(out);
    int nt = m * d >= CPU_PAR_MIN ? ctx->n_threads : 1;
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t i = 0; i < m; i++) {
        int64_t id = cpu_load_index(ib + i * ids->stride[0], ids->dtype);
        char *drow = ob + id * out->stride[0];
        const char *srow = sb + i * src->stride[0];
        if (src->dtype == out->dtype || out->dtype == VLM_DTYPE_F32) {
            copy_row(drow, out->dtype, out->stride[1], srow, src->dtype, src->stride[1], d);
        } else { /* f32/f64 -> f16/bf16 etc.: through the general copy */
            vlm_tensor s1 = *src, d1 = *out;
            s1.ndim = d1.ndim = 1;
            s1.offset += i * src->stride[0];
            d1.offset += id * out->stride[0];
            s1.shape[0] = d1.shape[0] = d;
            s1.stride[0] = src->stride[1];
            d1.stride[0] = out->stride[1];
            vlm_ctx one = *ctx;
            one.n_threads = 1;
            cpu_copy(&one, &s1, &d1);
        }
    }
    return VLM_OK;
}
