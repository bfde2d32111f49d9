/* Questions about a backend that code outside src/tensor may ask without seeing the
 * backend table (backend.h is private to src/tensor). */
#ifndef VLM_TENSOR_BACKEND_INFO_H
#define VLM_TENSOR_BACKEND_INFO_H

#include <stdbool.h>

#include "tensor/tensor.h"

/* True when the backend's buffers are host memory (mapped files can be wrapped, no copy). */
bool vlm_backend_host_memory(const vlm_backend *backend);

#endif
