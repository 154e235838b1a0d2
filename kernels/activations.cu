// relu / relu6 / silu / sigmoid / hardswish and their backward (docs/ops.md
// "activations"), plus affine, for fp32 and bf16 storage (fp32 arithmetic either way).
// 16-byte vectorised (4 fp32 / 8 bf16) when n is a multiple and the pointers are aligned.
#include "lowp.cuh"

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

// One item = V elements (a 16-byte vector of T when the length and pointers allow, else 1).
template <Act A, class T, int V>
__global__ void act_fwd_kernel(T* y, const T* x, int64_t items) {
  MDMT_GRID_STRIDE(i, items) {
    float f[V];
    load_f<T, V>(f, x, i * V);
#pragma unroll
    for (int v = 0; v < V; ++v) f[v] = fwd<A>(f[v]);
    store_f<T, V>(y, i * V, f);
  }
}
template <Act A, class T, int V>
__global__ void act_bwd_kernel(T* dx, const T* dy, const T* t, int64_t items) {
  MDMT_GRID_STRIDE(i, items) {
    float g[V], u[V];
    load_f<T, V>(g, dy, i * V);
    load_f<T, V>(u, t, i * V);
#pragma unroll
    for (int v = 0; v < V; ++v) g[v] = bwd<A>(g[v], u[v]);
    store_f<T, V>(dx, i * V, g);
  }
}

template <Act A, class T>
static void launch_fwd(T* y, const T* x, int64_t n, cudaStream_t s) {
  constexpr int V = 16 / sizeof(T);
  if (n % V == 0 && aligned16(y) && aligned16(x))
    act_fwd_kernel<A, T, V><<<grid_for(n / V), kBlock, 0, s>>>(y, x, n / V);
  else
    act_fwd_kernel<A, T, 1><<<grid_for(n), kBlock, 0, s>>>(y, x, n);
}
template <Act A, class T>
static void launch_bwd(T* dx, const T* dy, const T* t, int64_t n, cudaStream_t s) {
  constexpr int V = 16 / sizeof(T);
  if (n % V == 0 && aligned16(dx) && aligned16(dy) && aligned16(t))
    act_bwd_kernel<A, T, V><<<grid_for(n / V), kBlock, 0, s>>>(dx, dy, t, n / V);
  else
    act_bwd_kernel<A, T, 1><<<grid_for(n), kBlock, 0, s>>>(dx, dy, t, n);
}

template <class T>
static cudaError_t act_fwd_t(T* y, const T* x, int64_t n, Act a, cudaStream_t s) {
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

template <class T>
static cudaError_t act_bwd_t(T* dx, const T* dy, const T* t, int64_t n, Act a, cudaStream_t s) {
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

cudaError_t act_fwd(float* y, const float* x, int64_t n, Act a, cudaStream_t s) { return act_fwd_t(y, x, n, a, s); }
cudaError_t act_bwd(float* dx, const float* dy, const float* t, int64_t n, Act a, cudaStream_t s) {
  return act_bwd_t(dx, dy, t, n, a, s);
}
cudaError_t act_fwd_bf16(void* y, const void* x, int64_t n, Act a, cudaStream_t s) {
  return act_fwd_t(static_cast<bf16*>(y), static_cast<const bf16*>(x), n, a, s);
}
cudaError_t act_bwd_bf16(void* dx, const void* dy, const void* t, int64_t n, Act a, cudaStream_t s) {
  return act_bwd_t(static_cast<bf16*>(dx), static_cast<const bf16*>(dy), static_cast<const bf16*>(t), n, a, s);
}

template <class T>
__global__ void affine_kernel(T* y, const T* x, float alpha, float beta, int64_t n) {
  MDMT_GRID_STRIDE(i, n) y[i] = from_f<T>(alpha * to_f(x[i]) + beta);
}

cudaError_t affine(float* y, const float* x, float alpha, float beta, int64_t n, cudaStream_t s) {
  if (n <= 0) return cudaSuccess;
  affine_kernel<<<grid_for(n), kBlock, 0, s>>>(y, x, alpha, beta, n);
  return launched();
}
cudaError_t affine_bf16(void* y, const void* x, float alpha, float beta, int64_t n, cudaStream_t s) {
  if (n <= 0) return cudaSuccess;
  affine_kernel<<<grid_for(n), kBlock, 0, s>>>(static_cast<bf16*>(y), static_cast<const bf16*>(x), alpha, beta, n);
  return launched();
}

}  // namespace k
}  // namespace mdmt
