// Proves include/vlm.h compiles as C++ and links from C++ (extern "C" is right).
#include "vlm.h"

#include <cstdio>
#include <cstring>

int main() {
    vlm_model_params p = vlm_model_params_default();
    vlm_error err;
    vlm_model *m = nullptr;
    vlm_status s = vlm_model_load("/nonexistent/vlm-test", &p, &m, &err);
    if (s == VLM_OK || m != nullptr || std::strlen(vlm_status_str(s)) == 0) return 1;
    if (VLM_VERSION_NUMBER != VLM_VERSION_MAJOR * 10000 + VLM_VERSION_MINOR * 100 + VLM_VERSION_PATCH)
        return 1;
    if (std::strcmp(vlm_version(), VLM_VERSION_STRING) != 0) return 1;
    std::printf("C++ ok: %s\n", err.message);
    return 0;
}
