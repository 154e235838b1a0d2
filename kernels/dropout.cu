// Dropout with the Philox4x32-10 mask of docs/ops.md: element i keeps iff
// u(seed, i) >= p, the same function as the CPU backend (kernels/philox.h). One thread
// handles the 4 elements of one Philox block, so one call yields 4 decisions.
// dropout_capturable reads the seed from device memory (CUDA graph capture).
#include "common.cuh"
#include "mixed.h"
#include "philox.h"

namespace mdmt {
namespace k {

// DEV: the seed halves come from device memory (doubles holding uint32 values)
template <bool DEV>
__global__ void dropout_kernel(float* y, uint8_t* mask, const float* x, int64_t n, float p, float scale,
                               uint32_t lo, uint32_t hi, const double* dlo, const double* dhi) {
  if (DEV) {
    lo = static_cast<uint32_t>(*dlo);
    hi = static_cast<uint32_t>(*dhi);
  }
  const int64_t nq = (n + 3) / 4;
  MDMT_GRID_STRIDE(q, nq) {
    philox::U4 r = philox::block(static_cast<uint64_t>(q), lo, hi);
    const uint32_t bits[4] = {r.x, r.y, r.z, r.w};
#pragma unroll
    for (int l = 0; l < 4; ++l) {
      int64_t i = q * 4 + l;
      if (i < n) {
        bool keep = philox::to_uniform(bits[l]) >= p;
        mask[i] = keep ? 1 : 0;
        y[i] = x[i] * (keep ? scale : 0.f);  // a dropped NaN stays NaN, as PyTorch's x * mask
      }
    }
  }
}

__global__ void dropout_bwd_kernel(float* dx, const float* dy, const uint8_t* mask, float scale, int64_t n) {
  MDMT_GRID_STRIDE(i, n) dx[i] = dy[i] * (mask[i] ? scale : 0.f);
}

cudaError_t dropout(float* y, uint8_t* mask, const float* x, int64_t n, float p, float scale, uint32_t seed_lo,
                    uint32_t seed_hi, cudaStream_t s) {
  if (n <= 0) return cudaSuccess;
  if (!(p >= 0.f && p < 1.f) || !(scale >= 1.f)) return cudaErrorInvalidValue;
  dropout_kernel<false><<<grid_for((n + 3) / 4), kBlock, 0, s>>>(y, mask, x, n, p, scale, seed_lo, seed_hi, nullptr,
                                                                 nullptr);
  return launched();
}

cudaError_t dropout_capturable(float* y, uint8_t* mask, const float* x, int64_t n, float p, float scale,
                               const double* seed_lo, const double* seed_hi, cudaStream_t s) {
  if (n <= 0) return cudaSuccess;
  if (!(p >= 0.f && p < 1.f) || !(scale >= 1.f) || !seed_lo || !seed_hi) return cudaErrorInvalidValue;
  dropout_kernel<true><<<grid_for((n + 3) / 4), kBlock, 0, s>>>(y, mask, x, n, p, scale, 0, 0, seed_lo, seed_hi);
  return launched();
}

cudaError_t dropout_bwd(float* dx, const float* dy, const uint8_t* mask, int64_t n, float scale, cudaStream_t s) {
  if (n <= 0) return cudaSuccess;
  if (!(scale >= 1.f)) return cudaErrorInvalidValue;
  dropout_bwd_kernel<<<grid_for(n), kBlock, 0, s>>>(dx, dy, mask, scale, n);
  return launched();
}

}  // namespace k
}  // namespace mdmt
