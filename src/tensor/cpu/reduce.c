/* CPU argmax and top-k along the last dimension. Order: NaN above every number (as torch),
 * then larger values, then smaller indices. top-k keeps a k-entry min-heap per row
 * (O(N log k)) and sorts it at the end; rows are split across threads, each with its own
 * heap in arena scratch. */
#include <math.h>
#include <omp.h>

#include "tensor/cpu/cpu.h"

/* a ranks above b. */
static inline bool above(float av, int64_t ai, float bv, int64_t bi) {
    bool an = isnan(av), bn = isnan(bv);
    if (an != bn) return an;
    if (!an && av != bv) return av > bv;
    return ai < bi;
}

vlm_status cpu_argmax(vlm_ctx *ctx, const vlm_tensor *x, const vlm_tensor *out) {
    int64_t rows = cpu_rows(x), n = cpu_cols(x), xs = cpu_col_stride(x);
    const char *xb = cpu_ptr(x);
    char *ob = cpu_ptr(out);
    int nt = rows * n >= CPU_PAR_MIN ? ctx->n_threads : 1;
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        const float *row = (const float *)(const void *)(xb + cpu_row_offset(x, r));
        int64_t best = 0;
        float bv = row[0];
        for (int64_t i = 1; i < n; i++) {
            float v = row[i * xs];
            if (isnan(bv)) break;
            if (v > bv || isnan(v)) {
                bv = v;
                best = i;
            }
        }
        /* out has x's shape minus the last dim: row r is element r of out. */
        int64_t off = 0, rr = r;
        for (int i = out->ndim - 1; i >= 0 && x->ndim > 1; i--) {
            off += (rr % out->shape[i]) * out->stride[i];
            rr /= out->shape[i];
        }
        cpu_store_index(ob + off, out->dtype, best);
    }
    return VLM_OK;
}

typedef struct topk_entry {
    float v;
    int64_t i;
} topk_entry;

/* Min-heap by rank: the root is the entry ranked lowest. */
static void sift_down(topk_entry *h, int64_t n, int64_t at) {
    for (;;) {
        int64_t l = 2 * at + 1, r = l + 1, low = at;
        if (l < n && above(h[low].v, h[low].i, h[l].v, h[l].i)) low = l;
        if (r < n && above(h[low].v, h[low].i, h[r].v, h[r].i)) low = r;
        if (low == at) return;
        topk_entry t = h[at];
        h[at] = h[low];
        h[low] = t;
        at = low;
    }
}

static void sift_up(topk_entry *h, int64_t at) {
    while (at > 0) {
        int64_t p = (at - 1) / 2;
        if (!above(h[p].v, h[p].i, h[at].v, h[at].i)) return;
        topk_entry t = h[at];
        h[at] = h[p];
        h[p] = t;
        at = p;
    }
}

vlm_status cpu_topk(vlm_ctx *ctx, const vlm_tensor *x, int64_t k, const vlm_tensor *values,
                    const vlm_tensor *indices) {
    int64_t rows = cpu_rows(x), n = cpu_cols(x), xs = cpu_col_stride(x);
    int nt = rows * n >= CPU_PAR_MIN ? ctx->n_threads : 1;
    if (nt > rows) nt = (int)rows;
    if (nt < 1) nt = 1;
    vlm_arena_mark mark = vlm_arena_get_mark(ctx->arena);
    float *mem;
    size_t per = (size_t)k * sizeof(topk_entry) / sizeof(float) + 16;
    vlm_status st = cpu_scratch(ctx, "topk", per * (size_t)nt, &mem);
    if (st != VLM_OK) return st;
    const char *xb = cpu_ptr(x);
#pragma omp parallel num_threads(nt)
    {
        topk_entry *h = (topk_entry *)(void *)(mem + per * (size_t)omp_get_thread_num());
#pragma omp for schedule(static)
        for (int64_t r = 0; r < rows; r++) {
            const float *row = (const float *)(const void *)(xb + cpu_row_offset(x, r));
            int64_t len = 0;
            for (int64_t i = 0; i < n; i++) {
                float v = row[i * xs];
                if (len < k) {
                    h[len].v = v;
                    h[len].i = i;
                    sift_up(h, len);
                    len++;
                } else if (above(v, i, h[0].v, h[0].i)) {
                    h[0].v = v;
                    h[0].i = i;
                    sift_down(h, k, 0);
                }
            }
            /* Pop lowest first into the last slot: descending order results. */
            for (int64_t m = k; m > 0; m--) {
                topk_entry low = h[0];
                h[0] = h[m - 1];
                sift_down(h, m - 1, 0);
                int64_t slot = m - 1;
                if (values) {
                    float *vr = (float *)(void *)(cpu_ptr(values) + cpu_row_offset(values, r));
                    vr[slot * cpu_col_stride(values)] = low.v;
                }
                if (indices) {
                    char *ir = cpu_ptr(indices) + cpu_row_offset(indices, r);
                    cpu_store_index(ir + slot * indices->stride[indices->ndim - 1], indices->dtype,
                                    low.i);
                }
            }
        }
    }
    vlm_arena_release(ctx->arena, mark);
    return VLM_OK;
}
