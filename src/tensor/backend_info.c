/* Backend queries for code outside src/tensor (see backend_info.h). */
#include "tensor/backend_info.h"

#include "tensor/backend.h"

bool vlm_backend_host_memory(const vlm_backend *backend) {
    return backend && backend->host_memory;
}
