/* The CUDA backend's table and device memory. Each GPU gets one cuda_dev (its table, stream
 * and cuBLAS handle), made on the first vlm_backend_cuda call for it under a lock and kept
 * for the life of the process, as the runtime keeps its per-device context. The memory
 * entries of the table receive no backend argument, so each device has its own instances
 * (a template over the device index) that make the device current first.
 *
 * Transfers are queued on the device's stream and waited for, so a download sees every op
 * queued before it and reports the first error a kernel met. Frees wait for the stream too:
 * a buffer is never returned while a queued kernel may still use it. */
#include <pthread.h>
#include <stdlib.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "tensor/cuda/cuda_internal.cuh"

extern "C" {
#include "tensor/cuda/cuda_backend.h"
}

static cuda_dev g_dev[CUDA_MAX_DEVICES];
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

/* ------------------------------------------------------------ errors */

static vlm_status status_of(cudaError_t e) {
    return e == cudaErrorMemoryAllocation ? VLM_ERR_OUT_OF_MEMORY : VLM_ERR_DEVICE;
}

vlm_status cuda_check(vlm_ctx *ctx, const char *op, cudaError_t e) {
    if (e == cudaSuccess) return VLM_OK;
    if (e == cudaErrorMemoryAllocation) cudaGetLastError(); /* not sticky: clear it */
    return vlm_ctx_fail(ctx, status_of(e), "%s: cuda: %s", op, cudaGetErrorString(e));
}

vlm_status cuda_check_launch(vlm_ctx *ctx, const char *op) {
    return cuda_check(ctx, op, cudaGetLastError());
}

vlm_status cuda_check_blas(vlm_ctx *ctx, const char *op, cublasStatus_t s) {
    if (s == CUBLAS_STATUS_SUCCESS) return VLM_OK;
    return vlm_ctx_fail(ctx,
                        s == CUBLAS_STATUS_ALLOC_FAILED ? VLM_ERR_OUT_OF_MEMORY : VLM_ERR_DEVICE,
                        "%s: cublas: %s", op, cublasGetStatusString(s));
}

vlm_status cuda_begin(vlm_ctx *ctx, const char *op, cuda_dev **dev) {
    cuda_dev *d = cuda_dev_of(ctx);
    *dev = d;
    return cuda_check(ctx, op, cudaSetDevice(d->device));
}

vlm_status cuda_scratch(vlm_ctx *ctx, const char *op, size_t bytes, void **out) {
    if (!ctx->arena) return vlm_ctx_fail(ctx, VLM_ERR_INVALID_ARGUMENT, "%s: no arena", op);
    vlm_buffer *b;
    int64_t off;
    vlm_error e;
    vlm_status st = vlm_arena_alloc(ctx->arena, bytes, &b, &off, &e);
    if (st != VLM_OK) return vlm_ctx_fail(ctx, st, "%s: scratch: %s", op, e.message);
    *out = (char *)b->data + off;
    return VLM_OK;
}

vlm_status cuda_scratch_upload(vlm_ctx *ctx, const char *op, const void *host, size_t n,
                               void **out) {
    if (cuda_capturing(ctx))
        return vlm_ctx_fail(ctx, VLM_ERR_UNSUPPORTED,
                            "%s: host data cannot be uploaded while a graph is recorded", op);
    vlm_status st = cuda_scratch(ctx, op, n, out);
    if (st != VLM_OK) return st;
    /* From pageable memory the call returns once the bytes are staged: host may be freed. */
    return cuda_check(ctx, op,
                      cudaMemcpyAsync(*out, host, n, cudaMemcpyHostToDevice, cuda_stream(ctx)));
}

/* ------------------------------------------------------------ memory entries */

static vlm_status mem_fail(vlm_error *err, const char *what, int device, cudaError_t e) {
    if (e == cudaErrorMemoryAllocation) cudaGetLastError();
    return vlm_err(err, status_of(e), "cuda:%d: %s: %s", device, what, cudaGetErrorString(e));
}

template <int D> static vlm_status mem_alloc(size_t size, void **data, vlm_error *err) {
    cudaError_t e = cudaSetDevice(D);
    if (e != cudaSuccess) return mem_fail(err, "alloc", D, e);
    void *p = NULL;
    e = cudaMalloc(&p, size ? size : 256); /* 256-byte aligned */
    if (e != cudaSuccess) {
        if (e == cudaErrorMemoryAllocation) {
            cudaGetLastError();
            return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "cuda:%d: out of device memory (%zu bytes)",
                           D, size);
        }
        return mem_fail(err, "alloc", D, e);
    }
    *data = p;
    return VLM_OK;
}

template <int D> static void mem_free(void *data) {
    if (cudaSetDevice(D) != cudaSuccess) return;
    cudaStreamSynchronize(g_dev[D].stream); /* queued kernels may still use it */
    cudaFree(data);
}

template <int D>
static vlm_status mem_upload(void *dst, const void *src, size_t n, vlm_error *err) {
    cudaError_t e = cudaSetDevice(D);
    if (e == cudaSuccess) e = cudaMemcpyAsync(dst, src, n, cudaMemcpyHostToDevice, g_dev[D].stream);
    if (e == cudaSuccess) e = cudaStreamSynchronize(g_dev[D].stream);
    return e == cudaSuccess ? VLM_OK : mem_fail(err, "upload", D, e);
}

/* After a synchronization: the bad-id flag of graph replays, reported once. */
static vlm_status bad_ids_check(cuda_dev *d, vlm_error *err) {
    if (!d->bad_ids || !__atomic_exchange_n((int *)d->bad_ids, 0, __ATOMIC_ACQ_REL)) return VLM_OK;
    return vlm_err(err, VLM_ERR_INVALID_ARGUMENT,
                   "cuda:%d: gather_rows/scatter_rows in a graph replay: an id was out of range "
                   "(its row was skipped)",
                   d->device);
}

template <int D>
static vlm_status mem_download(void *dst, const void *src, size_t n, vlm_error *err) {
    cudaError_t e = cudaSetDevice(D);
    if (e == cudaSuccess) e = cudaMemcpyAsync(dst, src, n, cudaMemcpyDeviceToHost, g_dev[D].stream);
    if (e == cudaSuccess) e = cudaStreamSynchronize(g_dev[D].stream);
    if (e != cudaSuccess) return mem_fail(err, "download (or an op queued before it)", D, e);
    return bad_ids_check(&g_dev[D], err);
}

typedef struct mem_fns {
    vlm_status (*alloc)(size_t, void **, vlm_error *);
    void (*free)(void *);
    vlm_status (*upload)(void *, const void *, size_t, vlm_error *);
    vlm_status (*download)(void *, const void *, size_t, vlm_error *);
} mem_fns;

#define MEM_FNS(d)                                                                                 \
    { mem_alloc<d>, mem_free<d>, mem_upload<d>, mem_download<d> }
static const mem_fns k_mem[CUDA_MAX_DEVICES] = {
    MEM_FNS(0),  MEM_FNS(1),  MEM_FNS(2),  MEM_FNS(3),  MEM_FNS(4),  MEM_FNS(5),
    MEM_FNS(6),  MEM_FNS(7),  MEM_FNS(8),  MEM_FNS(9),  MEM_FNS(10), MEM_FNS(11),
    MEM_FNS(12), MEM_FNS(13), MEM_FNS(14), MEM_FNS(15),
};

/* ------------------------------------------------------------ the table */

/* A kernel that proves this build has machine code (or PTX) the device can run. */
__global__ void cuda_probe_kernel(int *p) {
    if (p) *p = 1;
}

static vlm_status dev_init(cuda_dev *d, int device, vlm_error *err) {
    cudaError_t e = cudaSetDevice(device);
    if (e != cudaSuccess) return mem_fail(err, "set device", device, e);
    cudaDeviceProp prop;
    if ((e = cudaGetDeviceProperties(&prop, device)) != cudaSuccess)
        return mem_fail(err, "device properties", device, e);
    cudaFuncAttributes fa;
    if ((e = cudaFuncGetAttributes(&fa, cuda_probe_kernel)) != cudaSuccess) {
        cudaGetLastError();
        return vlm_err(err, VLM_ERR_DEVICE,
                       "cuda:%d: %s is sm_%d%d and this build has no kernels for it (%s); "
                       "rebuild with CMAKE_CUDA_ARCHITECTURES=%d%d",
                       device, prop.name, prop.major, prop.minor, cudaGetErrorString(e), prop.major,
                       prop.minor);
    }
    memset(d, 0, sizeof *d);
    d->device = device;
    d->n_sm = prop.multiProcessorCount;
    d->smem_optin = prop.sharedMemPerBlockOptin;
    d->cc_major = prop.major;
    d->cc_minor = prop.minor;
    const char *pdl = getenv("VLM_CUDA_PDL");
    d->pdl = prop.major >= 9 && !(pdl && !strcmp(pdl, "0"));
    const char *flash = getenv("VLM_CUDA_FLASH");
    d->flash = prop.major >= 8 && !(flash && !strcmp(flash, "0"));
    const char *grid = getenv("VLM_GEMV_GRID"), *gnorm = getenv("VLM_GEMV_NORM");
    d->gemv_full_grid = grid && !strcmp(grid, "full");
    d->gemv_norm_apart = gnorm && !strcmp(gnorm, "0");
    snprintf(d->name, sizeof d->name, "cuda:%d", device);
    snprintf(d->gpu, sizeof d->gpu, "%.96s, sm_%d%d, %d SMs", prop.name, prop.major, prop.minor,
             prop.multiProcessorCount);
    if ((e = cudaStreamCreateWithFlags(&d->stream, cudaStreamNonBlocking)) != cudaSuccess)
        return mem_fail(err, "stream", device, e);
    cublasStatus_t s = cublasCreate(&d->blas);
    if (s == CUBLAS_STATUS_SUCCESS) s = cublasSetStream(d->blas, d->stream);
    /* Default math: f32 products stay f32 (TF32 only with CUBLAS_TF32_TENSOR_OP_MATH). */
    if (s == CUBLAS_STATUS_SUCCESS) s = cublasSetMathMode(d->blas, CUBLAS_DEFAULT_MATH);
    if (s != CUBLAS_STATUS_SUCCESS) {
        if (d->blas) cublasDestroy(d->blas);
        cudaStreamDestroy(d->stream);
        return vlm_err(err, VLM_ERR_DEVICE, "cuda:%d: cublas: %s", device,
                       cublasGetStatusString(s));
    }
    void *flag = NULL;
    if ((e = cudaHostAlloc(&flag, sizeof(int), cudaHostAllocMapped)) != cudaSuccess ||
        (e = cudaHostGetDevicePointer((void **)&d->bad_ids_dev, flag, 0)) != cudaSuccess) {
        if (flag) cudaFreeHost(flag);
        cublasDestroy(d->blas);
        cudaStreamDestroy(d->stream);
        return mem_fail(err, "mapped flag", device, e);
    }
    d->bad_ids = (volatile int *)flag;
    *d->bad_ids = 0;
    vlm_backend *b = &d->base;
    b->name = d->name;
    b->host_memory = 0;
    b->alloc = k_mem[device].alloc;
    b->free = k_mem[device].free;
    b->upload = k_mem[device].upload;
    b->download = k_mem[device].download;
    b->copy = cuda_copy;
    b->fill = cuda_fill;
    b->binary = cuda_binary;
    b->scale = cuda_scale;
    b->act = cuda_act;
    b->gated_act = cuda_gated_act;
    b->rms_norm = cuda_rms_norm;
    b->layer_norm = cuda_layer_norm;
    b->softmax = cuda_softmax;
    b->matmul = cuda_matmul;
    b->matmul_many = cuda_matmul_many;
    b->matmul_add = cuda_matmul_add;
    b->matmul_gated = cuda_matmul_gated;
    b->bmm = cuda_bmm;
    b->matmul_q = cuda_matmul_q;
    b->rope_table = cuda_rope_table;
    b->rope = cuda_rope;
    b->attention = cuda_attention;
    b->gather_rows = cuda_gather_rows;
    b->gather_rows_q = cuda_gather_rows_q;
    b->scatter_rows = cuda_scatter_rows;
    b->avg_pool2d = cuda_avg_pool2d;
    b->interpolate = cuda_interpolate;
    b->argmax = cuda_argmax;
    b->topk = cuda_topk;
    b->graph_begin = cuda_graph_begin;
    b->graph_end = cuda_graph_end;
    b->graph_launch = cuda_graph_launch;
    b->graph_free = cuda_graph_free;
    d->ready = 1;
    return VLM_OK;
}

extern "C" const vlm_backend *vlm_backend_cuda(int device, vlm_error *err) {
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        cudaGetLastError();
        vlm_err(err, VLM_ERR_DEVICE, "cuda: no usable GPU (%s)", cudaGetErrorString(e));
        return NULL;
    }
    if (device < 0 || device >= n || device >= CUDA_MAX_DEVICES) {
        vlm_err(err, VLM_ERR_DEVICE, "cuda: device %d does not exist (%d device%s)", device, n,
                n == 1 ? "" : "s");
        return NULL;
    }
    pthread_mutex_lock(&g_lock);
    cuda_dev *d = &g_dev[device];
    vlm_status st = d->ready ? VLM_OK : dev_init(d, device, err);
    pthread_mutex_unlock(&g_lock);
    return st == VLM_OK ? &d->base : NULL;
}

extern "C" bool vlm_backend_is_cuda(const vlm_backend *backend) {
    const char *p = (const char *)backend;
    return p && p >= (const char *)&g_dev[0] && p < (const char *)&g_dev[CUDA_MAX_DEVICES];
}

extern "C" vlm_status vlm_cuda_synchronize(const vlm_backend *backend, vlm_error *err) {
    if (!vlm_backend_is_cuda(backend))
        return vlm_err(err, VLM_ERR_INVALID_ARGUMENT, "cuda_synchronize: not a CUDA backend");
    cuda_dev *d = (cuda_dev *)(void *)backend;
    cudaError_t e = cudaSetDevice(d->device);
    if (e == cudaSuccess) e = cudaStreamSynchronize(d->stream);
    if (e != cudaSuccess) return mem_fail(err, "synchronize", d->device, e);
    return bad_ids_check(d, err);
}

extern "C" const char *vlm_cuda_describe(const vlm_backend *backend) {
    if (!vlm_backend_is_cuda(backend)) return "(not a CUDA backend)";
    return ((const cuda_dev *)(const void *)backend)->gpu;
}
