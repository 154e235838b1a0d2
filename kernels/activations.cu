// relu / relu6 / silu / sigmoid / hardswish and their backward (docs/ops.md
// "activations"), plus affine. float4 vectorised when n % 4 == 0 and pointers are aligned.
#include "common.cuh"

namespace mdmt {
namespace k {

__device__ __forceinline__ float sigm(float x) { return 1.0f / (1.0f + expf(-x)); }

// NaN propagates as in IEEE, PyTorch and the CPU backend: comparisons send NaN down the
// identity branch (fmaxf/fminf would turn relu6(NaN) into 0), and a backward passes dy where
// x or y is NaN (threshold_backward / hardtanh_backward / hardswish_backward).
__device__ __forceinline__ float clamp06(float x) { return x < 0.f ? 0.f : (x > 6.f ? 6.f : x); }

template <Act A>
__device__ __forceinline__ float fwd(float x) {
  if (A == Act::Relu) return x < 0.f ? 0.f : x;
  if (A == Act::Relu6) return clamp06(x);
  if (A == Act::Silu) return x * sigm(x);
  if (A == Act::Sigmoid) return sigm(x);
  return x * clamp06(x + 3.f) * (1.0f / 6.0f);  // hardswish
}

// t is y (relu, sigmoid) or x (relu6, silu, hardswish).
template <Act A>
__device__ __forceinline__ float bwd(float dy, float t) {
  if (A == Act::Relu) return t <= 0.f ? 0.f : dy;
  if (A == Act::Relu6) return (t <= 0.f || t >= 6.f) ? 0.f : dy;
  if (A == Act::Silu) {
    float sg = sigm(t);
    return dy * sg * (1.f + t * (1.f - sg));
  }
  if (A == Act::Sigmoid) return dy * t * (1.f - t);
  return t < -3.f ? 0.f : (t <= 3.f ? dy * (2.f * t + 3.f) * (1.0f / 6.0f) : dy);  // x = +-3: middle branch
}

template <Act A>
__global__ void act_fwd_kernel(float* y, const float* x, int64_t n) {
  MDMT_GRID_STRIDE(i, n) y[i] = fwd<A>(x[i]);
}
template <Act A>
__global__ void act_fwd_kernel4(float4* y, const float4* x, int64_t n4) {
  MDMT_GRID_STRIDE(i, n4) {
    float4 v = x[i];
    y[i] = make_float4(fwd<A>(v.x), fwd<A>(v.y), fwd<A>(v.z), fwd<A>(v.w));
  }
}
template <Act A>
__global__ void act_bwd_kernel(float* dx, const float* dy, const float* t, int64_t n) {
  MDMT_GRID_STRIDE(i, n) dx[i] = bwd<A>(dy[i], t[i]);
}
template <Act A>
__global__ void act_bwd_kernel4(float4* dx, const float4* dy, const float4* t, int64_t n4) {
  MDMT_GRID_STRIDE(i, n4) {
    float4 g = dy[i], v = t[i];
    dx[i] = make_float4(bwd<A>(g.x, v.x), bwd<A>(g.y, v.y), bwd<A>(g.z, v.z), bwd<A>(g.w, v.w));
  }
}

static bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15) == 0; }

template <Act A>
static void launch_fwd(float* y, const float* x, int64_t n, cudaStream_t s) {
  if (n % 4 == 0 && aligned16(y) && aligned16(x))
    act_fwd_kernel4<A><<<grid_for(n / 4), kBlock, 0, s>>>(reinterpret_cast<float4*>(y), reinterpret_cast<const float4*>(x), n / 4);
  else
    act_fwd_kernel<A><<<grid_for(n), kBlock, 0, s>>>(y, x, n);
}
template <Act A>
static void launch_bwd(float* dx, const float* dy, const float* t, int64_t n, cudaStream_t s) {
  if (n % 4 == 0 && aligned16(dx) && aligned16(dy) && aligned16(t))
    act_bwd_kernel4<A><<<grid_for(n / 4), kBlock, 0, s>>>(reinterpret_cast<float4*>(dx), reinterpret_cast<const float4*>(dy),
                                                           reinterpret_cast<const float4*>(t), n / 4);
  else
    act_bwd_kernel<A><<<grid_for(n), kBlock, 0, s>>>(dx, dy, t, n);
}

cudaError_t act_fwd(float* y, const float* x, int64_t n, Act a, cudaStream_t s) {
  if (n <= 0) return cudaSuccess;
  switch (a) {
    case Act::Relu: launch_fwd<Act::Relu>(y, x, n, s); break;
    case Act::Relu6: launch_fwd<Act::Relu6>(y, x, n, s); break;
    case Act::Silu: launch_fwd<Act::Silu>(y, x, n, s); break;
    case Act::Sigmoid: launch_fwd<Act::Sigmoid>(y, x, n, s); break;
    case Act::Hardswish: launch_fwd<Act::Hardswish>(y, x, n, s); break;
    default: return cudaErrorInvalidValue;
  }
  return launched();
}

cudaError_t act_bwd(float* dx, const float* dy, const float* t, int64_t n, Act a, cudaStream_t s) {
  if (n <= 0) return cudaSuccess;
  switch (a) {
    case Act::Relu: launch_bwd<Act::Relu>(dx, dy, t, n, s); break;
    case Act::Relu6: launch_bwd<Act::Relu6>(dx, dy, t, n, s); break;
    case Act::Silu: launch_bwd<Act::Silu>(dx, dy, t, n, s); break;
    case Act::Sigmoid: launch_bwd<Act::Sigmoid>(dx, dy, t, n, s); break;
    case Act::Hardswish: launch_bwd<Act::Hardswish>(dx, dy, t, n, s); break;
    default: return cudaErrorInvalidValue;
  }
  return launched();
}

__global__ void affine_kernel(float* y, const float* x, float alpha, float beta, int64_t n) {
  MDMT_GRID_STRIDE(i, n) y[i] = alpha * x[i] + beta;
}

cudaError_t affine(float* y, const float* x, float alpha, float beta, int64_t n, cudaStream_t s) {
  if (n <= 0) return cudaSuccess;
  affine_kernel<<<grid_for(n), kBlock, 0, s>>>(y, x, alpha, beta, n);
  return launched();
}

}  // namespace k
}  // namespace mdmt
