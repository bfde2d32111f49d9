/* Per-axis tap tables of torch.nn.functional.interpolate (bilinear / bicubic, with or
 * without antialias) for one resized axis, made on the host and shared by the CPU and
 * CUDA backends so both read the very same source indices and weights. Output i of an
 * axis `in` -> `out` is sum_j x[idx[i * taps + j]] * w[i * taps + j] over j < n[i]. The
 * numbers follow aten's UpSample.h / UpSampleKernel.cpp including where they compute in
 * f32 and where in f64:
 * - without antialias: source position scale * (i + 0.5) - 0.5 (align_corners: scale * i),
 *   linear taps clamped at the border, cubic taps with A = -0.75 and clamped indices;
 * - with antialias: PIL-style separable filters (triangle, Keys cubic a = -0.5) whose
 *   support widens by the scale when downsampling, weights normalized per output.
 * Plain C, callable from C++ (the .cu files). Tables hold no state beyond their memory. */
#ifndef VLM_TENSOR_INTERP_TAPS_H
#define VLM_TENSOR_INTERP_TAPS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#include "tensor/ops.h"

/* One axis's table. idx, w and n lie back to back in one block that starts at idx (so
 * the whole table moves with one copy of vlm_interp_taps_plan's byte count). */
typedef struct vlm_interp_taps {
    int64_t in, out; /* axis sizes */
    vlm_interp_mode mode;
    int align_corners, antialias;
    int taps;     /* slots per output */
    int64_t *idx; /* [out * taps] source indices; unused slots 0 */
    float *w;     /* [out * taps] weights; unused slots 0 */
    int *n;       /* [out] slots used */
} vlm_interp_taps;

/* Records the axis in *t (in >= 1, out >= 1) and returns the bytes its table needs, a
 * multiple of sizeof(float); SIZE_MAX when that does not fit in size_t. */
size_t vlm_interp_taps_plan(vlm_interp_taps *t, int64_t in, int64_t out, vlm_interp_mode mode,
                            int align_corners, int antialias);

/* Points t->idx, t->w, t->n into mem (the planned byte count, aligned for int64_t; the
 * caller owns it) and fills the table. */
void vlm_interp_taps_fill(vlm_interp_taps *t, void *mem);

#ifdef __cplusplus
}
#endif

#endif
