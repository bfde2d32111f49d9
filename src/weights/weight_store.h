/* Model weights as tensors: looks tensors up in a safetensors set by name, checks dtype
 * and shape against what the model expects (errors name the file, the tensor and both
 * shapes), and makes vlm_tensors over them on the model's backend — wrapping the mapped
 * file without a copy on the CPU, uploading elsewhere. The store owns every buffer it
 * makes; tensors it returns live as long as it does. Shared by all model families. */
#ifndef VLM_WEIGHTS_WEIGHT_STORE_H
#define VLM_WEIGHTS_WEIGHT_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/error.h"
#include "tensor/ops.h"
#include "tensor/tensor.h"
#include "weights/safetensors.h"

typedef struct vlm_weight_store vlm_weight_store;

vlm_status vlm_weight_store_create(const vlm_st_set *set, const vlm_backend *backend,
                                   vlm_weight_store **out, vlm_error *err);
void vlm_weight_store_free(vlm_weight_store *ws);

/* True when the set has a tensor of that name. */
bool vlm_weight_store_has(const vlm_weight_store *ws, const char *name);

/* The tensor `name` as a float tensor (f32, f16 or bf16 in the file), of exactly `ndim`
 * dimensions equal to `shape` (an entry of -1 accepts any extent). Missing: VLM_ERR_NOT_FOUND;
 * wrong dtype or shape: VLM_ERR_FORMAT; both messages name the tensor and its file. */
vlm_status vlm_weight_store_get(vlm_weight_store *ws, const char *name, int ndim,
                                const int64_t *shape, vlm_tensor *out, vlm_error *err);

/* A Linear or Embedding weight [n, k] of module `module` (its checkpoint name without
 * ".weight"), MLX-quantized when "<module>.scales" exists: then "<module>.weight" is u32
 * [n, k * bits / 32] and "<module>.scales", "<module>.biases" are [n, k / group_size] of one
 * float dtype (bits and group_size from the config: vlm_quant_config_lookup). Otherwise the
 * float "<module>.weight" [n, k] (bits 0 in *out). Scales with bits == 0 (the config does
 * not quantize the module), unsupported bits / group sizes and shapes that do not fit are
 * VLM_ERR_FORMAT naming the module, its file and the quantization. */
vlm_status vlm_weight_store_get_linear(vlm_weight_store *ws, const char *module, int bits,
                                       int group_size, int64_t n, int64_t k, vlm_qweight *out,
                                       vlm_error *err);

/* printf-style name, then as vlm_weight_store_get. */
vlm_status vlm_weight_store_getf(vlm_weight_store *ws, vlm_tensor *out, vlm_error *err, int ndim,
                                 const int64_t *shape, const char *fmt, ...) VLM_PRINTF(6, 7);

/* A new tensor owned by the store (contents uploaded from host memory `src`, f32): for
 * weights the loader must rearrange, e.g. a channels-last convolution kernel. */
vlm_status vlm_weight_store_new(vlm_weight_store *ws, const char *what, int ndim,
                                const int64_t *shape, const float *src, vlm_tensor *out,
                                vlm_error *err);

/* Reads any float tensor of the set (f32/f16/bf16) into a fresh f32 host array
 * (free()), e.g. to rearrange it before vlm_weight_store_new. */
vlm_status vlm_weight_store_read_f32(const vlm_weight_store *ws, const char *name, float **out,
                                     vlm_error *err);

#endif
