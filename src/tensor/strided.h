/* Host-side stride arithmetic that the CPU and CUDA backends share (plain C, callable from
 * .cu files): coalescing the dimensions of up to 3 same-shape operands for the strided
 * element iterators (cpu_iter, cu_iter), whether a matmul operand is rows with one leading
 * dimension, and the batch layout of a batched matmul (where each [m, n] product of a
 * broadcast batch starts, and whether a strided matrix can go to a GEMM as it is). Strides
 * are in bytes, as in vlm_tensor. */
#ifndef VLM_TENSOR_STRIDED_H
#define VLM_TENSOR_STRIDED_H

#include <stdbool.h>
#include <stdint.h>

#include "tensor/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The shape of ts[0] (all n_ops <= 3 operands have it) with size-1 dimensions dropped and
 * neighbours merged where every operand is contiguous across them, so contiguous tensors
 * become one dimension. Writes shape[0..nd) and stride[o][0..nd); entries past nd are
 * shape 1 / stride 0 (and stride[o] is all zeros for o >= n_ops). Returns nd >= 1 (one
 * dimension of extent 1 when every extent is 1). */
int vlm_strided_coalesce(int n_ops, const vlm_tensor *const *ts, int64_t shape[VLM_MAX_DIMS],
                         int64_t stride[3][VLM_MAX_DIMS]);

/* Whether all dimensions of t but the last collapse into one with a uniform stride and the
 * last is contiguous, rows not overlapping: then row r starts at r * *ld elements (a matmul
 * operand or output a GEMM can take as it is). */
bool vlm_strided_flat_rows(const vlm_tensor *t, int64_t *ld);

/* Byte offset of batch b (row-major over the leading nd - 2 dims of `shape`) in t, with
 * broadcast (extent-1) dimensions of t contributing nothing. */
int64_t vlm_strided_batch_offset(const vlm_tensor *t, const int64_t *shape, int nd, int64_t b);

/* Whether an f32 matrix [rows, cols] with these byte strides can go to a GEMM as it is:
 * its rows are contiguous and do not overlap. */
bool vlm_strided_mat_ok(int64_t col_stride, int64_t row_stride, int64_t rows, int64_t cols);

#ifdef __cplusplus
}
#endif

#endif
