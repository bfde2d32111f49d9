/* Qwen2-VL and Qwen2.5-VL against transformers on GPU 0 (device "cuda"): the same fixtures,
 * checks and tolerances as the CPU test (parity_qwen2_vl.h): prompt ids, M-RoPE positions and
 * the first 20 greedy tokens identical; vision embeddings and the last position's logits
 * within 1e-4 relative (max |ours - ref| / max |ref|) with f32 compute on the GPU (the CUDA
 * matmul widens bf16 weights exactly and sums in f32, no TF32). Skips (77) where no GPU can
 * be used: a build without CUDA, no driver, or no device. */
#include "parity_qwen2_vl.h"
#include "tensor/device.h"

int main(void) {
    const vlm_backend *be;
    vlm_error err;
    if (vlm_device_backend("cuda", &be, &err) != VLM_OK) SKIP("no GPU: %s", err.message);
    parity_qwen2_vl_run("cuda");
    TEST_DONE();
}
