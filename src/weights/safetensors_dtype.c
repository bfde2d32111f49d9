/* The safetensors dtype table: each dtype's name as spelled in a header and its width in
 * bits (from the reference implementation's Dtype::bitsize), plus the tensor size rule
 * shared by the reader and the writer. */
#include <string.h>

#include "core/checked.h"
#include "weights/safetensors.h"

typedef struct st_dtype_info {
    const char *name;
    int bits;
} st_dtype_info;

static const st_dtype_info ST_DTYPES[VLM_ST_DTYPE_COUNT] = {
    [VLM_ST_BOOL] = {"BOOL", 8},
    [VLM_ST_U8] = {"U8", 8},
    [VLM_ST_I8] = {"I8", 8},
    [VLM_ST_F8_E5M2] = {"F8_E5M2", 8},
    [VLM_ST_F8_E4M3] = {"F8_E4M3", 8},
    [VLM_ST_F8_E8M0] = {"F8_E8M0", 8},
    [VLM_ST_F4] = {"F4", 4},
    [VLM_ST_F6_E2M3] = {"F6_E2M3", 6},
    [VLM_ST_F6_E3M2] = {"F6_E3M2", 6},
    [VLM_ST_I16] = {"I16", 16},
    [VLM_ST_U16] = {"U16", 16},
    [VLM_ST_F16] = {"F16", 16},
    [VLM_ST_BF16] = {"BF16", 16},
    [VLM_ST_I32] = {"I32", 32},
    [VLM_ST_U32] = {"U32", 32},
    [VLM_ST_F32] = {"F32", 32},
    [VLM_ST_I64] = {"I64", 64},
    [VLM_ST_U64] = {"U64", 64},
    [VLM_ST_F64] = {"F64", 64},
    [VLM_ST_C64] = {"C64", 64}, /* two F32 parts */
    [VLM_ST_F8_E4M3FNUZ] = {"F8_E4M3FNUZ", 8},
    [VLM_ST_F8_E5M2FNUZ] = {"F8_E5M2FNUZ", 8},
};

const char *vlm_st_dtype_name(vlm_st_dtype dt) {
    return ((unsigned)dt < VLM_ST_DTYPE_COUNT) ? ST_DTYPES[dt].name : "?";
}

int vlm_st_dtype_bits(vlm_st_dtype dt) {
    return ((unsigned)dt < VLM_ST_DTYPE_COUNT) ? ST_DTYPES[dt].bits : 0;
}

bool vlm_st_dtype_parse(const char *s, size_t len, vlm_st_dtype *out) {
    for (int i = 0; i < VLM_ST_DTYPE_COUNT; i++) {
        const char *n = ST_DTYPES[i].name;
        if (strlen(n) == len && memcmp(n, s, len) == 0) {
            *out = (vlm_st_dtype)i;
            return true;
        }
    }
    return false;
}

bool vlm_st_tensor_bits(vlm_st_dtype dt, int ndim, const int64_t *shape, uint64_t *out) {
    if ((unsigned)dt >= VLM_ST_DTYPE_COUNT || ndim < 0) return false;
    /* Elements first, then bits, left to right: overflow is judged as the reference does
     * (a zero dimension after an overflowing prefix still overflows). */
    uint64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0 || !vlm_u64_mul(n, (uint64_t)shape[i], &n)) return false;
    }
    return vlm_u64_mul(n, (uint64_t)ST_DTYPES[dt].bits, out);
}
