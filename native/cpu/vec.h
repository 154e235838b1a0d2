// GCC vector types for the CPU kernels written once in portable C++ and compiled per ISA
// (conv2d_winograd_tf.h, conv2d_stem.cc, batchnorm.cc), with unaligned loads and stores.
// The values never cross a call boundary: everything using them is inlined into per-ISA
// wrappers, so the ABI note -Wpsabi gives about 64-byte vector arguments does not apply.
#pragma once
#include <cstring>

#include "cpu_features.h"

#pragma GCC diagnostic ignored "-Wpsabi"

namespace mdmt {
namespace vec {

typedef float vf16 __attribute__((vector_size(64)));
typedef float vf8 __attribute__((vector_size(32)));
typedef float vf4 __attribute__((vector_size(16)));

template <class V = vf16>
MDMT_INLINE V ld(const float* p) { V v; std::memcpy(&v, p, sizeof v); return v; }
template <class V>
MDMT_INLINE void st(float* p, V v) { std::memcpy(p, &v, sizeof v); }

}  // namespace vec
}  // namespace mdmt
