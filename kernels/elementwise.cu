// add / sub / mul with NumPy broadcasting, per-channel binary (conv bias), and a strided
// gather used by expand and transpose (docs/ops.md "elementwise", "layout").
#include "common.cuh"

namespace mdmt {
namespace k {

template <Bin B>
__device__ __forceinline__ float apply(float a, float b) {
  return B == Bin::Add ? a + b : (B == Bin::Sub ? a - b : a * b);
}

template <Bin B>
__global__ void binary_flat_kernel(float* y, const float* a, const float* b, int64_t n) {
  MDMT_GRID_STRIDE(i, n) y[i] = apply<B>(a[i], b[i]);
}

// General broadcast: decompose the output index over d.size (row-major).
template <Bin B>
__global__ void binary_kernel(float* y, const float* a, const float* b, Dims d, int64_t n) {
  MDMT_GRID_STRIDE(i, n) {
    int64_t rem = i, oa = 0, ob = 0;
    for (int k = d.nd - 1; k >= 0; --k) {
      int64_t q = rem / d.size[k];
      int64_t c = rem - q * d.size[k];
      rem = q;
      oa += c * d.stride_a[k];
      ob += c * d.stride_b[k];
    }
    y[i] = apply<B>(a[oa], b[ob]);
  }
}

template <Bin B>
__global__ void channel_kernel(float* y, const float* x, const float* v, int64_t C, int64_t HW, int64_t n) {
  MDMT_GRID_STRIDE(i, n) y[i] = apply<B>(x[i], v[(i / HW) % C]);
}

cudaError_t binary_flat(float* y, const float* a, const float* b, int64_t n, Bin op, cudaStream_t s) {
  if (n <= 0) return cudaSuccess;
  unsigned g = grid_for(n);
  if (op == Bin::Add) binary_flat_kernel<Bin::Add><<<g, kBlock, 0, s>>>(y, a, b, n);
  else if (op == Bin::Sub) binary_flat_kernel<Bin::Sub><<<g, kBlock, 0, s>>>(y, a, b, n);
  else binary_flat_kernel<Bin::Mul><<<g, kBlock, 0, s>>>(y, a, b, n);
  return launched();
}

cudaError_t binary(float* y, const float* a, const float* b, const Dims& d, int64_t n, Bin op, cudaStream_t s) {
  if (n <= 0) return cudaSuccess;
  if (d.nd < 0 || d.nd > kMaxDims) return cudaErrorInvalidValue;
  unsigned g = grid_for(n);
  if (op == Bin::Add) binary_kernel<Bin::Add><<<g, kBlock, 0, s>>>(y, a, b, d, n);
  else if (op == Bin::Sub) binary_kernel<Bin::Sub><<<g, kBlock, 0, s>>>(y, a, b, d, n);
  else binary_kernel<Bin::Mul><<<g, kBlock, 0, s>>>(y, a, b, d, n);
  return launched();
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

__global__ void gather_kernel(float* y, const float* x, Dims d, int64_t n) {
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
  gather_kernel<<<grid_for(n), kBlock, 0, s>>>(y, x, d, n);
  return launched();
}

}  // namespace k
}  // namespace mdmt
