// Device helpers for kernels that store fp32 or bf16 (device code only): conversion to and
// from the fp32 every kernel computes in, and 16-byte vectors (4 fp32 or 8 bf16) for
// coalesced loads and stores. Rounding to bf16 is to nearest even (__float2bfloat16_rn), the
// same as cast (kernels/memory.cu) and the CPU test oracle (test/plan/_interp.ts).
#pragma once
#include <cuda_bf16.h>

#include "common.cuh"
#include "mixed.h"

namespace mdmt {
namespace k {

using bf16 = __nv_bfloat16;

__device__ __forceinline__ float to_f(float v) { return v; }
__device__ __forceinline__ float to_f(bf16 v) { return __bfloat162float(v); }
template <class T>
__device__ __forceinline__ T from_f(float v);
template <>
__device__ __forceinline__ float from_f<float>(float v) { return v; }
template <>
__device__ __forceinline__ bf16 from_f<bf16>(float v) { return __float2bfloat16_rn(v); }

// VEC elements of T in one 16-byte transfer.
template <class T>
struct alignas(16) Vec {
  static constexpr int n = 16 / sizeof(T);
  T v[n];
};

template <class T>
__device__ __forceinline__ Vec<T> load_vec(const T* p, int64_t i) {  // elements [i·n, i·n + n)
  Vec<T> r;
  *reinterpret_cast<uint4*>(&r) = reinterpret_cast<const uint4*>(p)[i];
  return r;
}
template <class T>
__device__ __forceinline__ void store_vec(T* p, int64_t i, const Vec<T>& v) {
  reinterpret_cast<uint4*>(p)[i] = *reinterpret_cast<const uint4*>(&v);
}

// V consecutive elements starting at e (a multiple of V) as floats: one 16-byte transfer when
// V fills a vector (the caller checked alignment), scalar loads when V = 1.
template <class T, int V>
__device__ __forceinline__ void load_f(float (&f)[V], const T* p, int64_t e) {
  if constexpr (V == 1) {
    f[0] = to_f(p[e]);
  } else {
    static_assert(V == Vec<T>::n, "V must fill a 16-byte vector");
    const Vec<T> v = load_vec(p, e / V);
#pragma unroll
    for (int k = 0; k < V; ++k) f[k] = to_f(v.v[k]);
  }
}
template <class T, int V>
__device__ __forceinline__ void store_f(T* p, int64_t e, const float (&f)[V]) {
  if constexpr (V == 1) {
    p[e] = from_f<T>(f[0]);
  } else {
    Vec<T> v;
#pragma unroll
    for (int k = 0; k < V; ++k) v.v[k] = from_f<T>(f[k]);
    store_vec(p, e / V, v);
  }
}

inline bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15) == 0; }

// Calls f.template operator()<T>() for the storage type of dtype code dt (0 fp32, 3 bf16);
// returns cudaErrorInvalidValue for any other code.
template <class F>
cudaError_t by_dtype(int dt, F&& f) {
  if (dt == kF32) return f(float{});
  if (dt == kBF16) return f(bf16{});
  return cudaErrorInvalidValue;
}

}  // namespace k
}  // namespace mdmt
