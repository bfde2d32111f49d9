/* Warp-level tensor-core building blocks (sm_80+ PTX) shared by the CUDA kernels that use
 * the tensor cores directly: bf16 m16n8k16 products with f32 accumulation, ldmatrix loads
 * of 8x8 bf16 tiles from shared memory, and f32 -> packed bf16x2 rounding.
 *
 * Fragment layout of mma.m16n8k16 (PTX ISA, "Matrix Fragments for mma.m16n8k16"), with
 * g = lane / 4 and t = lane % 4:
 *   A (16x16, row-major) a[0..3]: rows g / g+8, columns 2t..2t+1 / 2t+8..2t+9
 *     a[0] = (g, 2t), a[1] = (g+8, 2t), a[2] = (g, 2t+8), a[3] = (g+8, 2t+8)
 *   B (16x8, "col"): b[0] = rows 2t..2t+1 of column g, b[1] = rows 2t+8..2t+9 of column g
 *   C/D (16x8 f32): c[0..1] = (g, 2t..2t+1), c[2..3] = (g+8, 2t..2t+1)
 * Each 32-bit register holds two bf16, the lower column (or row, for B) in the low half. */
#ifndef VLM_TENSOR_CUDA_MMA_CUH
#define VLM_TENSOR_CUDA_MMA_CUH

#include <stdint.h>

/* d += a * b: one m16n8k16 bf16 product with f32 accumulation. */
__device__ __forceinline__ void mma_bf16_16816(float *d, const uint32_t *a, const uint32_t *b) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
                 "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

/* Four 8x8 bf16 tiles from shared memory: lane l gives the address of row l % 8 of tile
 * l / 8 (16 contiguous bytes); r[i] gets tile i in the fragment layout above. */
__device__ __forceinline__ void ldmatrix_x4(uint32_t *r, const void *smem_row) {
    uint32_t a = (uint32_t)__cvta_generic_to_shared(smem_row);
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(a));
}
/* The same, each tile transposed (for an operand stored k-major, e.g. V as B). */
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t *r, const void *smem_row) {
    uint32_t a = (uint32_t)__cvta_generic_to_shared(smem_row);
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(a));
}
/* Two tiles (lanes 0..15 give the addresses). */
__device__ __forceinline__ void ldmatrix_x2(uint32_t *r, const void *smem_row) {
    uint32_t a = (uint32_t)__cvta_generic_to_shared(smem_row);
    asm volatile("ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%0, %1}, [%2];\n"
                 : "=r"(r[0]), "=r"(r[1])
                 : "r"(a));
}
__device__ __forceinline__ void ldmatrix_x2_trans(uint32_t *r, const void *smem_row) {
    uint32_t a = (uint32_t)__cvta_generic_to_shared(smem_row);
    asm volatile("ldmatrix.sync.aligned.m8n8.x2.trans.shared.b16 {%0, %1}, [%2];\n"
                 : "=r"(r[0]), "=r"(r[1])
                 : "r"(a));
}

/* lo and hi rounded to bf16 (nearest, ties to even) and packed, lo in the low half. */
__device__ __forceinline__ uint32_t pack_bf16x2(float lo, float hi) {
    uint32_t r;
    asm("cvt.rn.bf16x2.f32 %0, %1, %2;\n" : "=r"(r) : "f"(hi), "f"(lo));
    return r;
}

#endif
