/* The CPU backend's table: host memory from aligned_alloc, memcpy transfers, and the
 * kernels of this folder. Also the helpers of cpu.h that are not kernels: parameter
 * widening, arena scratch and the strided elementwise iterator. */
#include <omp.h>
#include <stdlib.h>

#include "core/checked.h"
#include "tensor/cpu/cpu.h"
#include "tensor/strided.h"

static vlm_status cpu_alloc(size_t size, void **data, vlm_error *err) {
    size_t rounded;
    if (!vlm_size_add(size ? size : 1, 63, &rounded))
        return vlm_err(err, VLM_ERR_LIMIT, "cpu: allocation of %zu bytes", size);
    rounded &= ~(size_t)63;
    void *p = aligned_alloc(64, rounded);
    if (!p) return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "cpu: out of memory (%zu bytes)", size);
    *data = p;
    return VLM_OK;
}

static void cpu_free(void *data) {
    free(data);
}

static vlm_status cpu_memcpy(void *dst, const void *src, size_t n, vlm_error *err) {
    (void)err;
    memcpy(dst, src, n);
    return VLM_OK;
}

static const vlm_backend cpu_backend = {
    .name = "cpu",
    .host_memory = 1,
    .alloc = cpu_alloc,
    .free = cpu_free,
    .upload = cpu_memcpy,
    .download = cpu_memcpy,
    .copy = cpu_copy,
    .fill = cpu_fill,
    .binary = cpu_binary,
    .scale = cpu_scale,
    .act = cpu_act,
    .gated_act = cpu_gated_act,
    .rms_norm = cpu_rms_norm,
    .layer_norm = cpu_layer_norm,
    .softmax = cpu_softmax,
    .matmul = cpu_matmul,
    .bmm = cpu_bmm,
    .matmul_q = cpu_matmul_q,
    .rope_table = cpu_rope_table,
    .rope = cpu_rope,
    .attention = cpu_attention,
    .gather_rows = cpu_gather_rows,
    .gather_rows_q = cpu_gather_rows_q,
    .scatter_rows = cpu_scatter_rows,
    .avg_pool2d = cpu_avg_pool2d,
    .interpolate = cpu_interpolate,
    .argmax = cpu_argmax,
    .topk = cpu_topk,
};

const vlm_backend *vlm_backend_cpu(void) {
    return &cpu_backend;
}

vlm_status cpu_scratch(vlm_ctx *ctx, const char *op, size_t n, float **out) {
    vlm_buffer *b;
    int64_t off;
    vlm_error e;
    size_t bytes;
    if (!vlm_size_mul(n, sizeof(float), &bytes))
        return vlm_ctx_fail(ctx, VLM_ERR_LIMIT, "%s: scratch of %zu floats", op, n);
    if (!ctx->arena) return vlm_ctx_fail(ctx, VLM_ERR_INVALID_ARGUMENT, "%s: no arena", op);
    vlm_status st = vlm_arena_alloc(ctx->arena, bytes, &b, &off, &e);
    if (st != VLM_OK) return vlm_ctx_fail(ctx, st, "%s: scratch: %s", op, e.message);
    *out = (float *)((char *)b->data + off);
    return VLM_OK;
}

vlm_status cpu_param_f32(vlm_ctx *ctx, const char *op, const vlm_tensor *p, const float **out) {
    *out = NULL;
    if (!p) return VLM_OK;
    int64_t n = p->shape[0];
    if (p->dtype == VLM_DTYPE_F32 && (n <= 1 || p->stride[0] == 4)) {
        *out = (const float *)cpu_ptr(p);
        return VLM_OK;
    }
    float *f;
    vlm_status st = cpu_scratch(ctx, op, (size_t)n, &f);
    if (st != VLM_OK) return st;
    const char *base = cpu_ptr(p);
    for (int64_t i = 0; i < n; i++)
        f[i] = cpu_load(base + i * p->stride[0], p->dtype);
    *out = f;
    return VLM_OK;
}

void cpu_iter_init(cpu_iter *it, int n_ops, const vlm_tensor *const *ts) {
    it->n_ops = n_ops;
    it->ndim = vlm_strided_coalesce(n_ops, ts, it->shape, it->stride);
    for (int o = 0; o < n_ops; o++)
        it->base[o] = cpu_ptr(ts[o]);
}

/* Runs elements [e0, e1) of the flattened iteration space. */
static void iter_range(const cpu_iter *it, int64_t e0, int64_t e1, cpu_iter_fn fn,
                       const void *arg) {
    int nd = it->ndim;
    int64_t inner = it->shape[nd - 1];
    int64_t idx[VLM_MAX_DIMS];
    int64_t rest = e0;
    for (int d = nd - 1; d >= 0; d--) {
        idx[d] = rest % it->shape[d];
        rest /= it->shape[d];
    }
    int64_t inner_stride[3];
    for (int o = 0; o < it->n_ops; o++)
        inner_stride[o] = it->stride[o][nd - 1];
    int64_t e = e0;
    while (e < e1) {
        char *ptr[3];
        for (int o = 0; o < it->n_ops; o++) {
            int64_t off = 0;
            for (int d = 0; d < nd; d++)
                off += idx[d] * it->stride[o][d];
            ptr[o] = it->base[o] + off;
        }
        int64_t n = inner - idx[nd - 1];
        if (n > e1 - e) n = e1 - e;
        fn(n, ptr, inner_stride, arg);
        e += n;
        idx[nd - 1] += n;
        for (int d = nd - 1; d > 0 && idx[d] == it->shape[d]; d--) {
            idx[d] = 0;
            idx[d - 1]++;
        }
    }
}

void cpu_iter_run(const cpu_iter *it, cpu_iter_fn fn, const void *arg, int n_threads) {
    int64_t total = 1;
    for (int d = 0; d < it->ndim; d++)
        total *= it->shape[d];
    if (total < CPU_PAR_MIN || n_threads <= 1) {
        iter_range(it, 0, total, fn, arg);
        return;
    }
    int64_t chunks = (int64_t)n_threads * 4;
    if (chunks > total / (CPU_PAR_MIN / 4)) chunks = total / (CPU_PAR_MIN / 4);
    if (chunks < 1) chunks = 1;
#pragma omp parallel for num_threads(n_threads) schedule(static)
    for (int64_t c = 0; c < chunks; c++) {
        int64_t e0 = total * c / chunks, e1 = total * (c + 1) / chunks;
        iter_range(it, e0, e1, fn, arg);
    }
}
