/* Qwen2-VL and Qwen2.5-VL against transformers on GPU 0 (device "cuda"), the fixtures and
 * checks of the CPU test (parity_qwen2_vl.h), twice:
 *   - compute "f32": prompt ids, M-RoPE positions and the first 20 greedy tokens identical;
 *     vision embeddings and the last position's logits within 1e-4 relative (max |ours -
 *     ref| / max |ref|; the CUDA matmul widens bf16 weights exactly and sums in f32, no
 *     TF32). Decode steps run as recorded CUDA graphs (decode.h), so this also proves the
 *     graph replays equal the eager ops.
 *   - compute "bf16" (the CUDA default: prefill and vision products on the tensor cores with
 *     bf16-rounded activations, f32 accumulation): logits and embeddings within 3e-2
 *     relative (8 bits of mantissa on each operand of ~100-term sums over random weights);
 *     greedy tokens reported, not required (a near tie may flip).
 * Skips (77) where no GPU can be used: a build without CUDA, no driver, or no device. */
#include "parity_qwen2_vl.h"
#include "tensor/device.h"

int main(void) {
    const vlm_backend *be;
    vlm_error err;
    if (vlm_device_backend("cuda", &be, &err) != VLM_OK) SKIP("no GPU: %s", err.message);
    parity_qwen2_vl_run("cuda", "f32", 1e-4);
    parity_qwen2_vl_run("cuda", "bf16", 3e-2);
    TEST_DONE();
}
