/* Run-time choice of the SIMD path (see isa.h). */
#include "tensor/cpu/isa.h"

#include <stdlib.h>
#include <string.h>

int vlm_cpu_isa_supported(vlm_cpu_isa isa) {
#if defined(__x86_64__) || defined(__i386__)
    switch (isa) {
    case VLM_CPU_ISA_PORTABLE:
        return 1;
    case VLM_CPU_ISA_AVX2:
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
               __builtin_cpu_supports("f16c");
    case VLM_CPU_ISA_AVX512:
        return vlm_cpu_isa_supported(VLM_CPU_ISA_AVX2) && __builtin_cpu_supports("avx512f") &&
               __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
    default:
        return 0;
    }
#else
    return isa == VLM_CPU_ISA_PORTABLE;
#endif
}

vlm_cpu_isa vlm_cpu_isa_best(void) {
    for (int i = VLM_CPU_ISA_COUNT - 1; i > 0; i--)
        if (vlm_cpu_isa_supported((vlm_cpu_isa)i)) return (vlm_cpu_isa)i;
    return VLM_CPU_ISA_PORTABLE;
}

vlm_cpu_isa vlm_cpu_isa_selected(void) {
    vlm_cpu_isa best = vlm_cpu_isa_best();
    const char *s = getenv("VLM_CPU_ISA");
    if (!s || !*s) return best;
    for (int i = 0; i < VLM_CPU_ISA_COUNT; i++)
        if (strcmp(s, vlm_cpu_isa_name((vlm_cpu_isa)i)) == 0)
            return i <= (int)best ? (vlm_cpu_isa)i : best;
    return best;
}

const char *vlm_cpu_isa_name(vlm_cpu_isa isa) {
    static const char *const names[VLM_CPU_ISA_COUNT] = {"portable", "avx2", "avx512"};
    return (isa >= 0 && isa < VLM_CPU_ISA_COUNT) ? names[isa] : "unknown";
}

int vlm_cpu_has_avx512_bf16(void) {
#if (defined(__x86_64__) || defined(__i386__)) && __GNUC__ >= 10
    return vlm_cpu_isa_supported(VLM_CPU_ISA_AVX512) && __builtin_cpu_supports("avx512bf16");
#else
    return 0;
#endif
}
