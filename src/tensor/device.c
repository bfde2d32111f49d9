/* Device names to backend tables (see device.h). */
#include "tensor/device.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/backend.h"
#include "tensor/cuda/cuda_backend.h"

/* "cuda" -> 0, "cuda:N" -> N; -1 when `name` is not of that form. */
static int cuda_index(const char *name) {
    if (strncmp(name, "cuda", 4) != 0) return -1;
    if (name[4] == '\0') return 0;
    if (name[4] != ':' || name[5] < '0' || name[5] > '9') return -1;
    char *end;
    errno = 0;
    long n = strtol(name + 5, &end, 10);
    if (errno || *end || n < 0 || n > 1023) return -1;
    return (int)n;
}

vlm_status vlm_device_backend(const char *name, const vlm_backend **out, vlm_error *err) {
    if (!out) return vlm_err(err, VLM_ERR_INVALID_ARGUMENT, "device: out is NULL");
    *out = NULL;
    if (!name || !*name || !strcmp(name, "cpu")) {
        *out = vlm_backend_cpu();
        return vlm_err_ok(err);
    }
    int index = cuda_index(name);
    if (index < 0)
        return vlm_err(err, VLM_ERR_INVALID_ARGUMENT,
                       "device '%s': expected cpu, cuda or cuda:N (N a GPU index)", name);
#ifdef VLM_HAVE_CUDA
    vlm_error e;
    const vlm_backend *be = vlm_backend_cuda(index, &e);
    if (!be) {
        /* the CUDA layer's messages start with "cuda: " or "cuda:N: "; the name is given */
        const char *why = e.message;
        if (!strncmp(why, "cuda:", 5)) {
            const char *sp = strchr(why, ' ');
            if (sp) why = sp + 1;
        }
        return vlm_err(err, VLM_ERR_DEVICE, "device '%s': %s", name, why);
    }
    *out = be;
    return vlm_err_ok(err);
#else
    return vlm_err(err, VLM_ERR_DEVICE,
                   "device '%s': this build of vlm has no CUDA backend (configure with "
                   "-DVLM_CUDA=ON where nvcc is installed)",
                   name);
#endif
}

vlm_status vlm_device_compute(const vlm_backend *backend, const char *name, int *bf16,
                              vlm_error *err) {
    if (!name || !*name) {
        *bf16 = backend && !backend->host_memory;
        return vlm_err_ok(err);
    }
    if (!strcmp(name, "f32") || !strcmp(name, "bf16")) {
        *bf16 = !strcmp(name, "bf16");
        return vlm_err_ok(err);
    }
    return vlm_err(err, VLM_ERR_INVALID_ARGUMENT, "compute '%s': expected f32 or bf16", name);
}
