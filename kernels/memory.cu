// fill / cast (docs/ops.md "memory"). bf16/f16 conversions round to nearest even.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "common.cuh"

namespace mdmt {
namespace k {

template <class T>
__global__ void fill_kernel(T* y, T v, int64_t n) {
  MDMT_GRID_STRIDE(i, n) y[i] = v;
}

cudaError_t fill(void* y, uint32_t bits, int elem_size, int64_t n, cudaStream_t s) {
  if (n <= 0) return cudaSuccess;
  if (elem_size == 4) fill_kernel<uint32_t><<<grid_for(n), kBlock, 0, s>>>(static_cast<uint32_t*>(y), bits, n);
  else if (elem_size == 2) fill_kernel<uint16_t><<<grid_for(n), kBlock, 0, s>>>(static_cast<uint16_t*>(y), static_cast<uint16_t>(bits), n);
  else if (elem_size == 1) fill_kernel<uint8_t><<<grid_for(n), kBlock, 0, s>>>(static_cast<uint8_t*>(y), static_cast<uint8_t>(bits), n);
  else return cudaErrorInvalidValue;
  return launched();
}

// Every dtype goes through float (exact for bf16/f16/u8 and for i32 up to 2^24) except
// i32 -> i32, which the caller handles as a copy.
__device__ __forceinline__ float load_as_float(const void* x, int dt, int64_t i) {
  switch (dt) {
    case 0: return static_cast<const float*>(x)[i];
    case 1: return static_cast<float>(static_cast<const int32_t*>(x)[i]);
    case 2: return static_cast<float>(static_cast<const uint8_t*>(x)[i]);
    case 3: return __bfloat162float(static_cast<const __nv_bfloat16*>(x)[i]);
    default: return __half2float(static_cast<const __half*>(x)[i]);
  }
}

__device__ __forceinline__ void store_from_float(void* y, int dt, int64_t i, float v) {
  switch (dt) {
    case 0: static_cast<float*>(y)[i] = v; break;
    case 1: static_cast<int32_t*>(y)[i] = static_cast<int32_t>(v); break;  // toward zero, saturated, NaN → 0 (cvt.rzi)
    case 2: static_cast<uint8_t*>(y)[i] = static_cast<uint8_t>(static_cast<int32_t>(v)); break;
    case 3: static_cast<__nv_bfloat16*>(y)[i] = __float2bfloat16_rn(v); break;
    default: static_cast<__half*>(y)[i] = __float2half_rn(v); break;
  }
}

__global__ void cast_kernel(void* y, int ydt, const void* x, int xdt, int64_t n) {
  MDMT_GRID_STRIDE(i, n) {
    if (xdt == 1 && ydt == 2) static_cast<uint8_t*>(y)[i] = static_cast<uint8_t>(static_cast<const int32_t*>(x)[i]);
    else store_from_float(y, ydt, i, load_as_float(x, xdt, i));
  }
}

cudaError_t cast(void* y, int ydt, const void* x, int xdt, int64_t n, cudaStream_t s) {
  if (n <= 0) return cudaSuccess;
  if (ydt < 0 || ydt > 4 || xdt < 0 || xdt > 4) return cudaErrorInvalidValue;
  cast_kernel<<<grid_for(n), kBlock, 0, s>>>(y, ydt, x, xdt, n);
  return launched();
}

}  // namespace k
}  // namespace mdmt
