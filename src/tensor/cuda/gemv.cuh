/* The CUDA GEMV engine (gemv.cu): out = x @ w^T for a few rows of x (a decode step), for
 * plain float weights (f32 / f16 / bf16) and MLX affine-quantized ones (bits 2..8), with
 * what a decoder layer fuses around its products:
 * - up to GEMV_MAX_PARTS weights that share x in one launch (q/k/v), each with its bias;
 * - an RMSNorm of x first (vlm_prenorm), computed by every block as it stages x;
 * - gated: act(x wg^T + bg) * (x wu^T + bu) in the epilogue;
 * - accumulate: out += x w^T + b (the residual add) in the epilogue.
 * x (normalized) is staged in shared memory once per block; weights are streamed once with
 * 16-byte loads. Every launch is programmatic-dependent (cuda_launch): the next kernel's
 * blocks may start while this one drains (they wait in cu_pdl_wait). */
#ifndef VLM_TENSOR_CUDA_GEMV_CUH
#define VLM_TENSOR_CUDA_GEMV_CUH

#include "tensor/cuda/cuda_internal.cuh"

#define GEMV_MAX_PARTS 4
#define GEMV_MAX_M 8   /* float weights: rows of x up to which the GEMV beats cuBLAS */
#define QGEMV_MAX_M 32 /* quantized weights: the GEMV (in passes of 8 rows) up to this */

/* One product of a launch: rows start .. start + n - 1 of the launch's output rows. */
typedef struct gv_part {
    int64_t start, n;
    const char *w; /* row 0 (floats, or packed u32 words) */
    int64_t ldw;   /* bytes between rows */
    const char *s; /* quantized: scales and biases of row 0 */
    const char *b;
    int64_t lds; /* elements between their rows */
    const char *bias;
    int64_t bias_stride;
    int bias_dt;
    float *y;
    int64_t ldy;
} gv_part;

typedef struct gv_args {
    int64_t n, k; /* n: output rows of all parts (gated: of one part) */
    int64_t m;    /* rows of x (all passes) */
    const float *x;
    int64_t ldx;
    int xvec; /* x rows 16-byte aligned */
    int n_parts;
    gv_part part[GEMV_MAX_PARTS];
    int wdt;  /* float weights: their dtype */
    int bits; /* 0: float weights; else quantized */
    int sdt;  /* quantized: dtype of scales and biases */
    int gshift;
    int vec;        /* every part's rows 16-byte aligned */
    int accumulate; /* y += product */
    int gated;      /* two parts, gate and up: part 0's y = act(gate) * up */
    int act;
    int nseg; /* warps per row (set by the launcher) */
    int lpr;  /* lanes per row: 32, or 16 for short quantized rows (launcher) */
    int kp;   /* floats per staged row of x (k rounded up to 32) */
    int mp;   /* rows of x in this pass (set by the launcher) */
    int sx;   /* x staged in shared memory, else read through L1 (launcher) */
    /* RMSNorm of x before the product (norm != 0): x / sqrt(mean(x^2) + eps) * (w + off) */
    int norm;
    const char *nw;
    int64_t nw_stride;
    int nw_dt;
    float eps, w_offset;
} gv_args;

/* Starts a launch over x (rows [m, k], f32) with an optional RMSNorm of x first: false when
 * x's layout or size does not suit the engine (then the caller runs its general path). */
bool cuda_gemv_begin(vlm_ctx *ctx, gv_args *a, const vlm_tensor *x, int64_t k,
                     const vlm_prenorm *norm);
/* Adds out = x @ w^T (+ bias) as the next part: false when it cannot join (out's rows not
 * one stride, weights not of part 0's kind, misaligned quantized rows, too many parts). */
bool cuda_gemv_add(gv_args *a, const vlm_qweight *w, const vlm_tensor *bias, const vlm_tensor *out);
/* Queues the launch(es): passes of up to 8 rows of x. */
vlm_status cuda_gemv_run(vlm_ctx *ctx, const char *op, gv_args *a);

#endif
