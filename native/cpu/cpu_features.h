// Run-time CPU feature detection: kernels are compiled for several ISAs (function-level
// target attributes) and chosen here, never by building with -march=native.
#pragma once
#include <string>

namespace mdmt {
bool cpu_has_avx2_fma();
bool cpu_has_avx512f();
std::string cpu_isa();  // "avx512f", "avx2+fma" or "generic"; MDMT_CPU_ISA=generic|avx2 caps it
}  // namespace mdmt
