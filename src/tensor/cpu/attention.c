/* CPU attention: blocked online softmax on top of the gemm kernels (flash-attention
 * style). A work item is a set of query rows that share one kv head: a block of up to
 * ATT_BQ queries of one head (prefill), or the Hq/Hkv heads of one query (decode, so the
 * keys are read once for the whole group). For each block of ATT_BK keys that some row
 * can see: S = Q K^T (gemm NT), scale, softcap, mask, running max / sum update, O += P V
 * (gemm NN). Work items run in parallel, each gemm on one thread. Scratch per thread comes
 * from the arena and does not depend on the key length, so decode steps of growing length
 * reuse the same memory.
 *
 * Visibility of key j to a query at position p is the union of at most two intervals:
 * the base interval (causal / window / segment) and the span containing p (see
 * vlm_attn_params). */
#include <math.h>
#include <omp.h>

#include "tensor/cpu/cpu.h"
#include "tensor/cpu/gemm.h"
#include "tensor/cpu/simd.h"

#define ATT_BQ 64
#define ATT_BK 128

typedef struct att_iv {
    int64_t lo, hi;   /* base interval [lo, hi) */
    int64_t slo, shi; /* span interval, empty when slo == shi */
} att_iv;

/* Index of the segment holding position p: the last i with b[i] <= p < b[i + 1]. */
static int64_t find_segment(const int64_t *b, int64_t n, int64_t p) {
    int64_t lo = 0, hi = n; /* answer in [lo, hi) */
    while (hi - lo > 1) {
        int64_t mid = lo + (hi - lo) / 2;
        if (b[mid] <= p)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

static att_iv visible(const vlm_attn_params *p, int64_t sk, int64_t pos) {
    att_iv v = {0, sk, 0, 0};
    if (p->causal && v.hi > pos + 1) v.hi = pos + 1;
    if (p->window > 0) {
        if (v.lo < pos - p->window + 1) v.lo = pos - p->window + 1;
        if (!p->causal && v.hi > pos + p->window) v.hi = pos + p->window;
    }
    if (p->segments) {
        int64_t s = find_segment(p->segments, p->n_segments, pos);
        if (v.lo < p->segments[s]) v.lo = p->segments[s];
        if (v.hi > p->segments[s + 1]) v.hi = p->segments[s + 1];
    }
    if (v.hi < v.lo) v.hi = v.lo;
    if (p->spans && p->n_spans > 0) {
        int64_t lo = 0, hi = p->n_spans; /* last span with start <= pos */
        while (hi - lo > 1) {
            int64_t mid = lo + (hi - lo) / 2;
            if (p->spans[2 * mid] <= pos)
                lo = mid;
            else
                hi = mid;
        }
        if (p->spans[2 * lo] <= pos && pos < p->spans[2 * lo + 1]) {
            v.slo = p->spans[2 * lo];
            v.shi = p->spans[2 * lo + 1];
        }
    }
    return v;
}

static inline bool iv_hits(const att_iv *v, int64_t j0, int64_t j1) {
    return (v->lo < j1 && j0 < v->hi) || (v->slo < j1 && j0 < v->shi);
}

static inline bool iv_covers(const att_iv *v, int64_t j0, int64_t j1) {
    return (v->lo <= j0 && j1 <= v->hi) || (v->slo <= j0 && j1 <= v->shi);
}

static inline bool iv_has(const att_iv *v, int64_t j) {
    return (v->lo <= j && j < v->hi) || (v->slo <= j && j < v->shi);
}

/* One row of one key block: scores s[0..nb) of keys j0.. -> scaled, soft-capped, masked
 * (invisible keys -inf), then exp(s - m_new) in place with m_new = max(m_old, block max).
 * Returns m_new (and the block's sum in *sum); when m_new is -inf, s is zeroed. */
CPU_CLONES static float block_probs(float *s, int64_t nb, int64_t j0, const att_iv *v, bool full,
                                    float scale, float softcap, float m_old, float *sum) {
    float bmax = -INFINITY;
    if (softcap > 0.0f) {
        for (int64_t c = 0; c < nb; c++)
            s[c] = softcap * tanhf(s[c] * scale / softcap);
        scale = 1.0f;
    }
    const int64_t lo = v->lo, hi = v->hi, slo = v->slo, shi = v->shi;
    if (full) {
#pragma omp simd reduction(max : bmax)
        for (int64_t c = 0; c < nb; c++) {
            s[c] *= scale;
            bmax = fmaxf(bmax, s[c]);
        }
    } else {
#pragma omp simd reduction(max : bmax)
        for (int64_t c = 0; c < nb; c++) {
            int64_t jj = j0 + c;
            bool vis = (jj >= lo && jj < hi) || (jj >= slo && jj < shi);
            float x = vis ? s[c] * scale : -INFINITY;
            s[c] = x;
            bmax = fmaxf(bmax, x);
        }
    }
    float m_new = fmaxf(m_old, bmax);
    float acc = 0.0f;
    if (m_new == -INFINITY) {
        memset(s, 0, (size_t)nb * sizeof(float));
    } else {
#pragma omp simd reduction(+ : acc)
        for (int64_t c = 0; c < nb; c++) {
            float e = cpu_expf(s[c] - m_new);
            s[c] = e;
            acc += e;
        }
    }
    *sum = acc;
    return m_new;
}

typedef struct att_job {
    const vlm_attn_params *p;
    int64_t sk, d, dv;
    const float *k, *v; /* this kv head's row 0 */
    int64_t ldk, ldv;   /* elements */
} att_job;

typedef struct att_scratch {
    float *s;   /* [rows, ATT_BK] scores, then probabilities */
    float *o;   /* [rows, dv] unnormalized output */
    float *m;   /* [rows] running max */
    float *l;   /* [rows] running sum */
    att_iv *iv; /* [rows] */
} att_scratch;

/* Attention for `rows` query rows: q row r at q + r * ldq, position pos0 + r * pos_step,
 * output row r at out + r * ldo. */
static void att_rows(const att_job *j, int64_t rows, const float *q, int64_t ldq, int64_t pos0,
                     int64_t pos_step, float *out, int64_t ldo, att_scratch *w) {
    const vlm_attn_params *p = j->p;
    int64_t kmin = j->sk, kmax = 0;
    for (int64_t r = 0; r < rows; r++) {
        att_iv v = visible(p, j->sk, pos0 + r * pos_step);
        w->iv[r] = v;
        if (v.hi > v.lo) {
            if (v.lo < kmin) kmin = v.lo;
            if (v.hi > kmax) kmax = v.hi;
        }
        if (v.shi > v.slo) {
            if (v.slo < kmin) kmin = v.slo;
            if (v.shi > kmax) kmax = v.shi;
        }
        w->m[r] = -INFINITY;
        w->l[r] = 0.0f;
    }
    memset(w->o, 0, (size_t)(rows * j->dv) * sizeof(float));
    const float softcap = p->softcap;
    for (int64_t j0 = kmin; j0 < kmax; j0 += ATT_BK) {
        int64_t j1 = j0 + ATT_BK < kmax ? j0 + ATT_BK : kmax, nb = j1 - j0;
        bool any = false;
        for (int64_t r = 0; r < rows && !any; r++)
            any = iv_hits(&w->iv[r], j0, j1);
        if (!any) continue;
        vlm_cpu_gemm_nt(rows, nb, j->d, q, ldq, j->k + j0 * j->ldk, VLM_DTYPE_F32, j->ldk, NULL,
                        w->s, ATT_BK, 1);
        for (int64_t r = 0; r < rows; r++) {
            float *s = w->s + r * ATT_BK;
            const att_iv *v = &w->iv[r];
            float sum, m_new = block_probs(s, nb, j0, v, iv_covers(v, j0, j1), p->scale, softcap,
                                           w->m[r], &sum);
            if (m_new == -INFINITY) continue; /* nothing visible yet: s is all zeros */
            float alpha = w->m[r] == -INFINITY ? 0.0f : expf(w->m[r] - m_new);
            w->l[r] = w->l[r] * alpha + sum;
            w->m[r] = m_new;
            if (alpha != 1.0f) {
                float *o = w->o + r * j->dv;
                for (int64_t c = 0; c < j->dv; c++)
                    o[c] *= alpha;
            }
        }
        vlm_cpu_gemm_nn_f32(rows, j->dv, nb, 1.0f, w->s, ATT_BK, j->v + j0 * j->ldv, j->ldv, w->o,
                            j->dv, 1, 1);
    }
    for (int64_t r = 0; r < rows; r++) {
        float *o = out + r * ldo;
        const float *acc = w->o + r * j->dv;
        float inv = w->l[r] > 0.0f ? 1.0f / w->l[r] : 0.0f;
        for (int64_t c = 0; c < j->dv; c++)
            o[c] = acc[c] * inv;
    }
}

vlm_status cpu_attention(vlm_ctx *ctx, const vlm_tensor *q, const vlm_tensor *k,
                         const vlm_tensor *v, const vlm_attn_params *p, const vlm_tensor *out) {
    int64_t sq = q->shape[0], hq = q->shape[1], d = q->shape[2];
    int64_t sk = k->shape[0], hkv = k->shape[1], dv = v->shape[2];
    int64_t group = hq / hkv;
    /* Decode-like calls stack the heads of a group as rows; prefill stacks queries. */
    bool by_head = group > 1 && sq <= 4;
    int64_t rows_max = by_head ? group : (sq < ATT_BQ ? sq : ATT_BQ);
    int64_t qblocks = (sq + ATT_BQ - 1) / ATT_BQ;
    int64_t items = by_head ? hkv * sq : hq * qblocks;
    int nt = ctx->n_threads;
    if (items < nt) nt = (int)items;
    if (nt < 1) nt = 1;

    vlm_arena_mark mark = vlm_arena_get_mark(ctx->arena);
    size_t per = (size_t)(rows_max * ATT_BK + rows_max * dv + 2 * rows_max) +
                 (size_t)rows_max * sizeof(att_iv) / sizeof(float) + 64;
    float *scratch;
    vlm_status st = cpu_scratch(ctx, "attention", per * (size_t)nt, &scratch);
    if (st != VLM_OK) return st;

    const char *qb = cpu_ptr(q), *kb = cpu_ptr(k), *vb = cpu_ptr(v);
    char *ob = cpu_ptr(out);
#pragma omp parallel num_threads(nt)
    {
        float *base = scratch + per * (size_t)omp_get_thread_num();
        att_scratch w;
        w.s = base;
        w.o = w.s + rows_max * ATT_BK;
        w.m = w.o + rows_max * dv;
        w.l = w.m + rows_max;
        w.iv = (att_iv *)(void *)(((uintptr_t)(w.l + rows_max) + 15) & ~(uintptr_t)15);
#pragma omp for schedule(dynamic)
        for (int64_t it = 0; it < items; it++) {
            att_job j = {p, sk, d, dv, NULL, NULL, k->stride[0] / 4, v->stride[0] / 4};
            if (by_head) {
                int64_t g = it / sq, i = it % sq;
                j.k = (const float *)(const void *)(kb + g * k->stride[1]);
                j.v = (const float *)(const void *)(vb + g * v->stride[1]);
                const float *qp =
                    (const float *)(const void *)(qb + i * q->stride[0] + g * group * q->stride[1]);
                float *op = (float *)(void *)(ob + i * out->stride[0] + g * group * out->stride[1]);
                att_rows(&j, group, qp, q->stride[1] / 4, p->q_pos0 + i, 0, op, out->stride[1] / 4,
                         &w);
            } else {
                int64_t h = it / qblocks, i0 = (it % qblocks) * ATT_BQ;
                int64_t rows = sq - i0 < ATT_BQ ? sq - i0 : ATT_BQ;
                j.k = (const float *)(const void *)(kb + (h / group) * k->stride[1]);
                j.v = (const float *)(const void *)(vb + (h / group) * v->stride[1]);
                const float *qp =
                    (const float *)(const void *)(qb + i0 * q->stride[0] + h * q->stride[1]);
                float *op = (float *)(void *)(ob + i0 * out->stride[0] + h * out->stride[1]);
                att_rows(&j, rows, qp, q->stride[0] / 4, p->q_pos0 + i0, 1, op, out->stride[0] / 4,
                         &w);
            }
        }
    }
    vlm_arena_release(ctx->arena, mark);
    return VLM_OK;
}
