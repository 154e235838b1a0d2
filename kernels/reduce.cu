// sum / mean over any set of axes (docs/ops.md "reductions"), fp32 or bf16 input (strides
// in the plan, so NHWC too), fp32 output. Accumulates in double:
// bias gradients sum N*H*W terms and must match the CPU's double accumulation.
// Version 1 (thread per output) serves short reductions; version 2 (block per output,
// 256 threads striding over the reduced index) serves long ones.
#include "lowp.cuh"

namespace mdmt {
namespace k {

__device__ __forceinline__ int64_t kept_offset(const ReducePlan& p, int64_t o) {
  int64_t off = 0;
  for (int d = p.nk - 1; d >= 0; --d) {
    int64_t q = o / p.ksize[d];
    off += (o - q * p.ksize[d]) * p.kstride[d];
    o = q;
  }
  return off;
}
__device__ __forceinline__ int64_t red_offset(const ReducePlan& p, int64_t r) {
  int64_t off = 0;
  for (int d = p.nr - 1; d >= 0; --d) {
    int64_t q = r / p.rsize[d];
    off += (r - q * p.rsize[d]) * p.rstride[d];
    r = q;
  }
  return off;
}

template <class T>
__global__ void reduce_thread_kernel(float* y, const T* x, ReducePlan p, float scale) {
  MDMT_GRID_STRIDE(o, p.nout) {
    const T* base = x + kept_offset(p, o);
    double acc = 0;
    for (int64_t r = 0; r < p.nred; ++r) acc += to_f(base[red_offset(p, r)]);
    y[o] = static_cast<float>(acc * scale);
  }
}

// Innermost reduced dim contiguous: stride over it directly (coalesced) when it is long.
template <class T>
__global__ void reduce_block_kernel(float* y, const T* x, ReducePlan p, float scale) {
  for (int64_t o = blockIdx.x; o < p.nout; o += gridDim.x) {
    const T* base = x + kept_offset(p, o);
    double acc = 0;
    for (int64_t r = threadIdx.x; r < p.nred; r += blockDim.x) acc += to_f(base[red_offset(p, r)]);
    acc = block_sum(acc);
    if (threadIdx.x == 0) y[o] = static_cast<float>(acc * scale);
  }
}

template <class T>
static cudaError_t reduce_t(float* y, const T* x, const ReducePlan& p, float scale, cudaStream_t s) {
  if (p.nout <= 0) return cudaSuccess;
  if (p.nk > kMaxDims || p.nr > kMaxDims || p.nk < 0 || p.nr < 0) return cudaErrorInvalidValue;
  if (p.nred < 256 && p.nout >= 1024) {
    reduce_thread_kernel<<<grid_for(p.nout), kBlock, 0, s>>>(y, x, p, scale);
  } else {
    int64_t g = p.nout < 65535LL * 4 ? p.nout : 65535LL * 4;
    reduce_block_kernel<<<static_cast<unsigned>(g), kBlock, 0, s>>>(y, x, p, scale);
  }
  return launched();
}

cudaError_t reduce_sum(float* y, const float* x, const ReducePlan& p, float scale, cudaStream_t s) {
  return reduce_t(y, x, p, scale, s);
}
cudaError_t reduce_sum_bf16(float* y, const void* x, const ReducePlan& p, float scale, cudaStream_t s) {
  return reduce_t(y, static_cast<const bf16*>(x), p, scale, s);
}

}  // namespace k
}  // namespace mdmt
