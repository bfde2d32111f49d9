/* Qwen2-VL and Qwen2.5-VL against transformers on the CPU: the checks and tolerances of
 * parity_qwen2_vl.h (ids, positions, pixels exact; vision embeddings and last logits within
 * 1e-4 relative with f32 compute; 20 greedy tokens identical; multi-turn cache reuse). */
#include "parity_qwen2_vl.h"

int main(void) {
    parity_qwen2_vl_run("cpu", NULL, 1e-4);
    TEST_DONE();
}
