// Run-time CPU feature detection: kernels are compiled for several ISAs (function-level
// target attributes) and chosen here, never by building with -march=native.
#pragma once
#include <string>

namespace mdmt {
bool cpu_has_avx2_fma();
bool cpu_has_avx512f();
std::string cpu_isa();  // "avx512f", "avx2+fma" or "generic"; MDMT_CPU_ISA=generic|avx2 caps it
}  // namespace mdmt

// The function-level targets of the ISA variants, and DEF(name, target) instantiated once per
// ISA the build can target: generic (the baseline), avx2 (AVX2 + FMA) and avx512 (AVX-512F).
#define MDMT_TARGET_AVX2 __attribute__((target("avx2,fma")))
#define MDMT_TARGET_AVX512 __attribute__((target("avx512f")))
// A shared body that each ISA variant inlines (so it is compiled for that variant's target).
#define MDMT_INLINE inline __attribute__((always_inline))
// MDMT_PICK_ISA(name): of the variants name_generic / name_avx2 / name_avx512 that
// MDMT_EACH_ISA defined, the one this CPU runs (after MDMT_CPU_ISA).
#if defined(__x86_64__) || defined(__i386__)
#define MDMT_EACH_ISA(DEF) DEF(generic, ) DEF(avx2, MDMT_TARGET_AVX2) DEF(avx512, MDMT_TARGET_AVX512)
#define MDMT_PICK_ISA(NAME) \
  (::mdmt::cpu_has_avx512f() ? NAME##_avx512 : ::mdmt::cpu_has_avx2_fma() ? NAME##_avx2 : NAME##_generic)
#else
#define MDMT_EACH_ISA(DEF) DEF(generic, )
#define MDMT_PICK_ISA(NAME) NAME##_generic
#endif
