#include "cpu_features.h"

#include <cstdlib>
#include <cstring>

namespace mdmt {

namespace {
int cap() {  // 0 generic, 1 avx2, 2 avx512
  const char* e = std::getenv("MDMT_CPU_ISA");
  if (!e) return 2;
  if (!std::strcmp(e, "generic")) return 0;
  if (!std::strcmp(e, "avx2")) return 1;
  return 2;
}
}  // namespace

bool cpu_has_avx2_fma() {
#if defined(__x86_64__) || defined(__i386__)
  static const bool v = cap() >= 1 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return v;
#else
  return false;
#endif
}

bool cpu_has_avx512f() {
#if defined(__x86_64__) || defined(__i386__)
  static const bool v = cap() >= 2 && cpu_has_avx2_fma() && __builtin_cpu_supports("avx512f");
  return v;
#else
  return false;
#endif
}

std::string cpu_isa() {
  if (cpu_has_avx512f()) return "avx512f";
  if (cpu_has_avx2_fma()) return "avx2+fma";
  return "generic";
}

}  // namespace mdmt
