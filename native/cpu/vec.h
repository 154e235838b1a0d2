// GCC vector types for the CPU kernels written once in portable C++ and compiled per ISA
// (conv2d_winograd_tf.h, conv2d_stem.cc, batchnorm.cc), with unaligned loads and stores.
// The values never cross a call boundary: everything using them is inlined into per-ISA
// wrappers, so the ABI note -Wpsabi gives about 64-byte vector arguments does not apply.
#pragma once
#include <cstdint>
#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

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

// Asks for the next plane's n floats while one is computed (GCC's portable hint; Locality 3:
// all cache levels, 2: L2 and out). A plane of 32×32 is one 4 KB page, where the hardware
// prefetchers stop and start again: maxpool from memory ran 2–3× slower than a streaming op
// moving more bytes (pool_vec.cc), and the depthwise kernels, which read a plane in place
// with masked loads, were starved out of cache (depthwise_act.cc).
template <int Locality = 3>
inline void prefetch_plane(const float* p, int64_t n) {
  for (int64_t i = 0; i < n; i += 16) __builtin_prefetch(p + i, 0, Locality);
}

#if defined(__x86_64__) || defined(__i386__)
// AVX2 intrinsics the kernels share. even8(a, b): the even floats of the 16 in a‖b (a stride-2
// row), in order — [a0 a2 b0 b2 | a4 a6 b4 b6], then the 64-bit pairs reordered.
MDMT_TARGET_AVX2 inline __m256 even8(__m256 a, __m256 b) {
  const __m256 e = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0));
  return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), _MM_SHUFFLE(3, 1, 2, 0)));
}
// r[0..8) transposed in place: lane j of r[i] goes to lane i of r[j].
MDMT_TARGET_AVX2 inline void transpose8x8(__m256* r) {
  __m256 t[8], u[8];
  for (int i = 0; i < 8; i += 2) t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]), t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  for (int i = 0; i < 8; i += 4) {
    u[i] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0)), u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
    u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0)), u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int i = 0; i < 4; ++i) r[i] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x20), r[i + 4] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x31);
}
// The first m (1..8) lanes of v to y; a partial vector goes through a buffer (AVX2's masked
// store is microcoded on AMD's cores).
MDMT_TARGET_AVX2 inline void store_first8(float* y, __m256 v, int64_t m) {
  if (m >= 8) return _mm256_storeu_ps(y, v);
  alignas(32) float tail[8];
  _mm256_store_ps(tail, v);
  std::memcpy(y, tail, sizeof(float) * static_cast<size_t>(m));
}
#endif

}  // namespace vec
}  // namespace mdmt
