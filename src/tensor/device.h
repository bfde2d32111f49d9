/* The compute device named by a string, as users give it (vlm_model_params.device, the
 * CLI's --device): "cpu" (or NULL / ""), "cuda" (GPU 0) or "cuda:N". Resolves to a backend
 * table; a CUDA device that is absent, or a library built without CUDA, is a clear
 * VLM_ERR_DEVICE naming the device, never an abort. */
#ifndef VLM_TENSOR_DEVICE_H
#define VLM_TENSOR_DEVICE_H

#include "core/error.h"
#include "tensor/tensor.h"

/* *out: the backend of `name`; NULL on failure. Malformed names ("gpu", "cuda:x",
 * "cuda:-1") are VLM_ERR_INVALID_ARGUMENT. */
vlm_status vlm_device_backend(const char *name, const vlm_backend **out, vlm_error *err);

/* The compute mode named by `name` (vlm_model_params.compute: "f32", "bf16", or NULL / ""
 * for the backend's default: bf16 on a device backend, f32 on the host) as the value of
 * vlm_ctx.bf16_compute. */
vlm_status vlm_device_compute(const vlm_backend *backend, const char *name, int *bf16,
                              vlm_error *err);

#endif
