/* Names of element types (see dtype.h). */
#include "tensor/dtype.h"

const char *vlm_dtype_name(vlm_dtype t) {
    static const char *const names[VLM_DTYPE_COUNT] = {"f32", "f16", "bf16", "f64",
                                                       "i32", "i64", "u8",   "u32"};
    return (t >= 0 && t < VLM_DTYPE_COUNT) ? names[t] : "unknown";
}
