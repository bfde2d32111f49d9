/* CUDA row gather (embedding lookup, reordering) and row scatter (splicing image embeddings
 * into text embeddings). As on the CPU, every id is checked before anything is written (a
 * bad id fails naming it and leaves the output untouched) and scatter refuses duplicate
 * ids. The checks read the ids on the host, so these ops wait for the stream once; the
 * copy itself is one thread per element with the copy op's dtype conversions.
 * While a graph is recorded (graph.h) nothing may wait: the kernel checks each id itself,
 * skips a bad one and raises the device's bad-id flag, which the next download or
 * synchronization reports (duplicates are not detected there). */
#include <stdlib.h>

#include "tensor/cuda/cuda_internal.cuh"

/* The ids as int64 on the host (caller frees), after the queued work that writes them. */
static vlm_status ids_to_host(vlm_ctx *ctx, const char *op, const vlm_tensor *ids, int64_t **out) {
    int64_t m = ids->shape[0], es = (int64_t)vlm_dtype_size(ids->dtype);
    int64_t *h = (int64_t *)malloc((size_t)(m > 0 ? m : 1) * sizeof(int64_t));
    if (!h) return vlm_ctx_fail(ctx, VLM_ERR_OUT_OF_MEMORY, "%s: out of memory", op);
    cudaStream_t s = cuda_stream(ctx);
    /* Strided ids: rows of one element each, into a packed buffer; a broadcast view
     * (stride 0) is one element repeated. */
    bool bcast = m > 1 && ids->stride[0] == 0;
    size_t rows = bcast ? 1 : (size_t)m;
    cudaError_t e = cudaMemcpy2DAsync(h, (size_t)es, cuda_ptr(ids),
                                      (size_t)(m > 1 && !bcast ? ids->stride[0] : es), (size_t)es,
                                      rows, cudaMemcpyDeviceToHost, s);
    if (e == cudaSuccess) e = cudaStreamSynchronize(s);
    if (e != cudaSuccess) {
        free(h);
        return cuda_check(ctx, op, e);
    }
    if (ids->dtype == VLM_DTYPE_I32) { /* widen in place, from the end */
        for (int64_t i = (int64_t)rows - 1; i >= 0; i--) {
            int32_t v;
            memcpy(&v, (const char *)h + 4 * i, 4);
            h[i] = v;
        }
    }
    for (int64_t i = (int64_t)rows; i < m; i++)
        h[i] = h[0];
    *out = h;
    return VLM_OK;
}

static vlm_status check_ids(vlm_ctx *ctx, const char *op, const int64_t *ids, int64_t m,
                            int64_t limit) {
    for (int64_t i = 0; i < m; i++)
        if (ids[i] < 0 || ids[i] >= limit)
            return vlm_ctx_fail(ctx, VLM_ERR_INVALID_ARGUMENT,
                                "%s: ids[%lld] = %lld is out of range [0, %lld)", op, (long long)i,
                                (long long)ids[i], (long long)limit);
    return VLM_OK;
}

typedef struct rows_args {
    const char *src;
    char *dst;
    const char *ids;
    int64_t ids_stride;
    int ids_dt;
    int64_t m, d;
    int64_t ss0, ss1, ds0, ds1; /* bytes */
    int sd, dd, esz;            /* esz: size of the source element */
    int scatter;                /* 0: dst[i] = src[ids[i]]; 1: dst[ids[i]] = src[i] */
    int64_t limit;              /* ids must be in [0, limit) */
    int *bad;                   /* device-side check (recording): raised on a bad id; or NULL */
} rows_args;

__global__ void rows_kernel(rows_args a) {
    cu_pdl_wait();
    cu_pdl_trigger();
    int64_t total = a.m * a.d;
    for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < total;
         e += (int64_t)gridDim.x * blockDim.x) {
        int64_t i = e / a.d, c = e % a.d;
        int64_t id = cu_load_index(a.ids + i * a.ids_stride, a.ids_dt);
        if (a.bad && (id < 0 || id >= a.limit)) {
            *a.bad = 1;
            continue;
        }
        int64_t sr = a.scatter ? i : id, dr = a.scatter ? id : i;
        cu_convert(a.dst + dr * a.ds0 + c * a.ds1, a.dd, a.src + sr * a.ss0 + c * a.ss1, a.sd,
                   a.esz);
    }
}

static vlm_status rows_run(vlm_ctx *ctx, const char *op, cuda_dev *dev, const vlm_tensor *src,
                           const vlm_tensor *ids, const vlm_tensor *dst, int scatter) {
    rows_args a;
    a.src = cuda_ptr(src);
    a.dst = cuda_ptr(dst);
    a.ids = cuda_ptr(ids);
    a.ids_stride = ids->stride[0];
    a.ids_dt = ids->dtype;
    a.m = ids->shape[0];
    a.d = src->shape[1];
    a.ss0 = src->stride[0];
    a.ss1 = src->stride[1];
    a.ds0 = dst->stride[0];
    a.ds1 = dst->stride[1];
    a.sd = src->dtype;
    a.dd = dst->dtype;
    a.esz = (int)vlm_dtype_size(src->dtype);
    a.scatter = scatter;
    a.limit = scatter ? dst->shape[0] : src->shape[0];
    a.bad = cuda_capturing(ctx) ? dev->bad_ids_dev : NULL;
    cudaError_t e =
        cuda_launch(ctx, rows_kernel, dim3(cuda_blocks(a.m * a.d, 256, dev)), dim3(256), 0, a);
    if (e != cudaSuccess) return cuda_check(ctx, op, e);
    return cuda_check_launch(ctx, op);
}

extern "C" vlm_status cuda_gather_rows(vlm_ctx *ctx, const vlm_tensor *table, const vlm_tensor *ids,
                                       const vlm_tensor *out) {
    const char *op = "gather_rows";
    cuda_dev *dev;
    vlm_status st = cuda_begin(ctx, op, &dev);
    if (st != VLM_OK) return st;
    if (cuda_capturing(ctx)) return rows_run(ctx, op, dev, table, ids, out, 0);
    int64_t *h;
    if ((st = ids_to_host(ctx, op, ids, &h)) != VLM_OK) return st;
    st = check_ids(ctx, op, h, ids->shape[0], table->shape[0]);
    free(h);
    if (st != VLM_OK) return st;
    return rows_run(ctx, op, dev, table, ids, out, 0);
}

extern "C" vlm_status cuda_scatter_rows(vlm_ctx *ctx, const vlm_tensor *src, const vlm_tensor *ids,
                                        const vlm_tensor *out) {
    const char *op = "scatter_rows";
    cuda_dev *dev;
    vlm_status st = cuda_begin(ctx, op, &dev);
    if (st != VLM_OK) return st;
    int64_t m = ids->shape[0], n = out->shape[0];
    if (cuda_capturing(ctx)) return rows_run(ctx, op, dev, src, ids, out, 1);
    int64_t *h;
    if ((st = ids_to_host(ctx, op, ids, &h)) != VLM_OK) return st;
    st = check_ids(ctx, op, h, m, n);
    unsigned char *seen = NULL;
    if (st == VLM_OK) {
        seen = (unsigned char *)calloc((size_t)(n > 0 ? n : 1), 1);
        if (!seen) st = vlm_ctx_fail(ctx, VLM_ERR_OUT_OF_MEMORY, "%s: out of memory", op);
    }
    for (int64_t i = 0; st == VLM_OK && i < m; i++) {
        if (seen[h[i]])
            st = vlm_ctx_fail(ctx, VLM_ERR_INVALID_ARGUMENT,
                              "%s: row %lld is written twice (ids[%lld])", op, (long long)h[i],
                              (long long)i);
        seen[h[i]] = 1;
    }
    free(seen);
    free(h);
    if (st != VLM_OK) return st;
    return rows_run(ctx, op, dev, src, ids, out, 1);
}
