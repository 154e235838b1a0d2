// add / sub / mul with NumPy broadcasting, per-channel binary (conv bias), and a strided
// gather used by expand and transpose (docs/ops.md "elementwise", "layout"). The binary
// ops and the per-channel op in NHWC also store bf16 (fp32 arithmetic).
#include "lowp.cuh"

namespace mdmt {
namespace k {

template <Bin B>
__device__ __forceinline__ float apply(float a, float b) {
  return B == Bin::Add ? a + b : (B == Bin::Sub ? a - b : a * b);
}

template <Bin B, class T>
__global__ void binary_flat_kernel(T* y, const T* a, const T* b, int64_t n) {
  MDMT_GRID_STRIDE(i, n) y[i] = from_f<T>(apply<B>(to_f(a[i]), to_f(b[i])));
}

// General broadcast: decompose the output index over d.size (row-major).
template <Bin B, class T>
__global__ void binary_kernel(T* y, const T* a, const T* b, Dims d, int64_t n) {
  MDMT_GRID_STRIDE(i, n) {
    int64_t rem = i, oa = 0, ob = 0;
    for (int k = d.nd - 1; k >= 0; --k) {
      int64_t q = rem / d.size[k];
      int64_t c = rem - q * d.size[k];
      rem = q;
      oa += c * d.stride_a[k];
      ob += c * d.stride_b[k];
    }
    y[i] = from_f<T>(apply<B>(to_f(a[oa]), to_f(b[ob])));
  }
}

template <Bin B>
__global__ void channel_kernel(float* y, const float* x, const float* v, int64_t C, int64_t HW, int64_t n) {
  MDMT_GRID_STRIDE(i, n) y[i] = apply<B>(x[i], v[(i / HW) % C]);
}

template <class T>
static cudaError_t binary_flat_t(T* y, const T* a, const T* b, int64_t n, Bin op, cudaStream_t s) {
  if (n <= 0) return cudaSuccess;
  unsigned g = grid_for(n);
  if (op == Bin::Add) binary_flat_kernel<Bin::Add><<<g, kBlock, 0, s>>>(y, a, b, n);
  else if (op == Bin::Sub) binary_flat_kernel<Bin::Sub><<<g, kBlock, 0, s>>>(y, a, b, n);
  else binary_flat_kernel<Bin::Mul><<<g, kBlock, 0, s>>>(y, a, b, n);
  return launched();
}

template <class T>
static cudaError_t binary_t(T* y, const T* a, const T* b, const Dims& d, int64_t n, Bin op, cudaStream_t s) {
  if (n <= 0) return cudaSuccess;
  if (d.nd < 0 || d.nd > kMaxDims) return cudaErrorInvalidValue;
  unsigned g = grid_for(n);
  if (op == Bin::Add) binary_kernel<Bin::Add><<<g, kBlock, 0, s>>>(y, a, b, d, n);
  else if (op == Bin::Sub) binary_kernel<Bin::Sub><<<g, kBlock, 0, s>>>(y, a, b, d, n);
  else binary_kernel<Bin::Mul><<<g, kBlock, 0, s>>>(y, a, b, d, n);
  return launched();
}

cudaError_t binary_flat(float* y, const float* a, const float* b, int64_t n, Bin op, cudaStream_t s) {
  return binary_flat_t(y, a, b, n, op, s);
}
cudaError_t binary(float* y, const float* a, const float* b, const Dims& d, int64_t n, Bin op, cudaStream_t s) {
  return binary_t(y, a, b, d, n, op, s);
}
cudaError_t binary_flat_bf16(void* y, const void* a, const void* b, int64_t n, Bin op, cudaStream_t s) {
  return binary_flat_t(static_cast<bf16*>(y), static_cast<const bf16*>(a), static_cast<const bf16*>(b), n, op, s);
}
cudaError_t binary_bf16(void* y, const void* a, const void* b, const Dims& d, int64_t n, Bin op, cudaStream_t s) {
  return binary_t(static_cast<bf16*>(y), static_cast<const bf16*>(a), static_cast<const bf16*>(b), d, n, op, s);
}

// NHWC [M, C]: the channel is the fastest index
template <Bin B, class T>
__global__ void channel_nhwc_kernel(T* y, const T* x, const float* v, int64_t C, int64_t n) {
  MDMT_GRID_STRIDE(i, n) y[i] = from_f<T>(apply<B>(to_f(x[i]), v[i % C]));
}

cudaError_t channel_binary_nhwc(void* y, const void* x, const float* v, int dt, int64_t M, int64_t C, Bin op,
                                cudaStream_t s) {
  const int64_t n = M * C;
  if (n <= 0) return cudaSuccess;
  return by_dtype(dt, [&](auto tag) {
    using T = decltype(tag);
    T* yy = static_cast<T*>(y);
    const T* xx = static_cast<const T*>(x);
    unsigned g = grid_for(n);
    if (op == Bin::Add) channel_nhwc_kernel<Bin::Add><<<g, kBlock, 0, s>>>(yy, xx, v, C, n);
    else if (op == Bin::Sub) channel_nhwc_kernel<Bin::Sub><<<g, kBlock, 0, s>>>(yy, xx, v, C, n);
    else channel_nhwc_kernel<Bin::Mul><<<g, kBlock, 0, s>>>(yy, xx, v, C, n);
    return launched();
  });
}

cudaError_t channel_binary(float* y, const float* x, const float* v, int64_t N, int64_t C, int64_t HW, Bin op,
                           cudaStream_t s) {
  int64_t n = N * C * HW;
  if (n <= 0) return cudaSuccess;
  if (C <= 0 || HW <= 0) return cudaErrorInvalidValue;
  unsigned g = grid_for(n);
  if (op == Bin::Add) channel_kernel<Bin::Add><<<g, kBlock, 0, s>>>(y, x, v, C, HW, n);
  else if (op == Bin::Sub) channel_kernel<Bin::Sub><<<g, kBlock, 0, s>>>(y, x, v, C, HW, n);
  else channel_kernel<Bin::Mul><<<g, kBlock, 0, s>>>(y, x, v, C, HW, n);
  return launched();
}

template <class T>
__global__ void gather_kernel(T* y, const T* x, Dims d, int64_t n) {
  MDMT_GRID_STRIDE(i, n) {
    int64_t rem = i, o = 0;
    for (int k = d.nd - 1; k >= 0; --k) {
      int64_t q = rem / d.size[k];
      o += (rem - q * d.size[k]) * d.stride_a[k];
      rem = q;
    }
    y[i] = x[o];
  }
}

cudaError_t gather(float* y, const float* x, const Dims& d, int64_t n, cudaStream_t s) {
  if (n <= 0) return cudaSuccess;
  if (d.nd < 0 || d.nd > kMaxDims) return cudaErrorInvalidValue;
  gather_kernel<<<grid_for(n), kBlock, 0, s>>>(reinterpret_cast<uint32_t*>(y), reinterpret_cast<const uint32_t*>(x), d, n);
  return launched();
}

cudaError_t gather_2b(void* y, const void* x, const Dims& d, int64_t n, cudaStream_t s) {
  if (n <= 0) return cudaSuccess;
  if (d.nd < 0 || d.nd > kMaxDims) return cudaErrorInvalidValue;
  gather_kernel<<<grid_for(n), kBlock, 0, s>>>(static_cast<uint16_t*>(y), static_cast<const uint16_t*>(x), d, n);
  return launched();
}

}  // namespace k
}  // namespace mdmt
