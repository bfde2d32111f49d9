/* The CUDA backend as seen from C: a backend table (backend.h) per GPU, for contexts and
 * arenas made on it, plus the two things that only a device backend needs (waiting for the
 * queued work, and the device's name for messages and benchmark logs).
 *
 * Ops on this backend are queued on one stream per device and return before the GPU has
 * finished; errors a kernel meets while running surface at the next transfer
 * (vlm_buffer_download) or vlm_cuda_synchronize. Buffers hold device memory: they cannot wrap
 * host pointers (vlm_buffer_wrap refuses), and data moves with vlm_buffer_upload/download,
 * which wait for the stream.
 *
 * The table of a device is made on the first call for it and lives until the process ends
 * (like the CUDA runtime's own per-device context); the calls are thread-safe. Only this
 * header is available when the library was built without CUDA (VLM_HAVE_CUDA undefined);
 * then vlm_backend_cuda does not exist and callers test the macro. */
#ifndef VLM_TENSOR_CUDA_BACKEND_H
#define VLM_TENSOR_CUDA_BACKEND_H

#include "tensor/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The backend of GPU `device` (0-based), or NULL with *err set (VLM_ERR_DEVICE) when there is
 * no driver, no such device, or this build has no kernels for its architecture. Never
 * aborts. */
const vlm_backend *vlm_backend_cuda(int device, vlm_error *err);

/* True when the backend is one returned by vlm_backend_cuda. */
bool vlm_backend_is_cuda(const vlm_backend *backend);

/* Waits until every op queued on the backend's device has finished; reports an error a
 * kernel met (VLM_ERR_DEVICE). */
vlm_status vlm_cuda_synchronize(const vlm_backend *backend, vlm_error *err);

/* "NVIDIA H100 80GB HBM3, sm_90, 132 SMs" (a static string of the device's table). */
const char *vlm_cuda_describe(const vlm_backend *backend);

#ifdef __cplusplus
}
#endif

#endif
