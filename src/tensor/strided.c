/* Host-side stride arithmetic shared by the CPU and CUDA backends (see strided.h). */
#include "tensor/strided.h"

int vlm_strided_coalesce(int n_ops, const vlm_tensor *const *ts, int64_t shape[VLM_MAX_DIMS],
                         int64_t stride[3][VLM_MAX_DIMS]) {
    const vlm_tensor *t0 = ts[0];
    int nd = 0;
    for (int o = 0; o < 3; o++)
        for (int d = 0; d < VLM_MAX_DIMS; d++)
            stride[o][d] = 0;
    for (int d = 0; d < t0->ndim; d++) {
        if (t0->shape[d] == 1) continue;
        if (nd > 0) {
            bool merge = true;
            for (int o = 0; o < n_ops; o++)
                merge = merge && stride[o][nd - 1] == ts[o]->stride[d] * t0->shape[d];
            if (merge) {
                shape[nd - 1] *= t0->shape[d];
                for (int o = 0; o < n_ops; o++)
                    stride[o][nd - 1] = ts[o]->stride[d];
                continue;
            }
        }
        shape[nd] = t0->shape[d];
        for (int o = 0; o < n_ops; o++)
            stride[o][nd] = ts[o]->stride[d];
        nd++;
    }
    if (nd == 0) {
        shape[0] = 1;
        nd = 1;
    }
    for (int d = nd; d < VLM_MAX_DIMS; d++)
        shape[d] = 1;
    return nd;
}

bool vlm_strided_flat_rows(const vlm_tensor *t, int64_t *ld) {
    int64_t es = (int64_t)vlm_dtype_size(t->dtype);
    int nd = t->ndim;
    if (nd == 0) {
        *ld = 1;
        return true;
    }
    if (t->shape[nd - 1] > 1 && t->stride[nd - 1] != es) return false;
    int64_t row_stride = -1, expect = -1;
    for (int i = nd - 2; i >= 0; i--) {
        if (t->shape[i] == 1) continue;
        if (row_stride < 0) {
            row_stride = t->stride[i];
        } else if (t->stride[i] != expect) {
            return false;
        }
        expect = t->stride[i] * t->shape[i];
    }
    int64_t cols = t->shape[nd - 1];
    if (row_stride >= 0 && row_stride / es < cols) return false; /* rows overlap (broadcast) */
    *ld = row_stride < 0 ? (cols > 0 ? cols : 1) : row_stride / es;
    return true;
}

int64_t vlm_strided_batch_offset(const vlm_tensor *t, const int64_t *shape, int nd, int64_t b) {
    int64_t off = 0;
    for (int i = nd - 3; i >= 0; i--) {
        int64_t idx = b % shape[i];
        b /= shape[i];
        if (t->shape[i] != 1) off += idx * t->stride[i];
    }
    return off;
}

bool vlm_strided_mat_ok(int64_t col_stride, int64_t row_stride, int64_t rows, int64_t cols) {
    return (cols <= 1 || col_stride == 4) && (rows <= 1 || row_stride >= 4 * cols);
}
