/* Which SIMD instruction set the CPU kernels use. Kernels are compiled per function with
 * __attribute__((target(...))) (never -march=native), and the path is chosen at run time:
 * the best one the CPU supports, lowered (never raised) by the environment variable
 * VLM_CPU_ISA=portable|avx2|avx512 so tests and benchmarks can compare paths. Nothing here
 * writes global state: the CPU features come from the compiler's __builtin_cpu_supports
 * (initialized before main) and the variable is read on every call. */
#ifndef VLM_TENSOR_CPU_ISA_H
#define VLM_TENSOR_CPU_ISA_H

typedef enum vlm_cpu_isa {
    VLM_CPU_ISA_PORTABLE = 0, /* plain C, any CPU */
    VLM_CPU_ISA_AVX2,         /* AVX2 + FMA + F16C (Haswell and later) */
    VLM_CPU_ISA_AVX512,       /* AVX-512 F/BW/VL (+ FMA, F16C) (Skylake-X and later) */
    VLM_CPU_ISA_COUNT
} vlm_cpu_isa;

/* The best path this CPU supports. Thread-safe. */
vlm_cpu_isa vlm_cpu_isa_best(void);

/* Whether this CPU can run `isa` (PORTABLE always can). */
int vlm_cpu_isa_supported(vlm_cpu_isa isa);

/* The path to use now: vlm_cpu_isa_best(), or VLM_CPU_ISA when it names a path at or below
 * it (an unknown or unsupported name is ignored). Thread-safe as long as nobody calls
 * setenv concurrently. */
vlm_cpu_isa vlm_cpu_isa_selected(void);

/* "portable", "avx2", "avx512". */
const char *vlm_cpu_isa_name(vlm_cpu_isa isa);

/* Whether the CPU has AVX512_BF16 (vdpbf16ps), for the optional bf16-dot kernels. */
int vlm_cpu_has_avx512_bf16(void);

#endif
