// concat / split (as strided 2-D block copies), channel_shuffle, pad2d and its backward
// (docs/ops.md "layout"). transpose and expand use gather() in elementwise.cu.
// channel_shuffle moves 4- or 2-byte elements (fp32 / bf16); in NHWC it is the same kernel
// over N·H·W one-pixel images.
#include "common.cuh"
#include "mixed.h"

namespace mdmt {
namespace k {

__global__ void copy2d_kernel(float* y, int64_t ld_y, const float* x, int64_t ld_x, int64_t rows, int64_t cols) {
  int64_t n = rows * cols;
  MDMT_GRID_STRIDE(i, n) {
    int64_t r = i / cols, c = i - r * cols;
    y[r * ld_y + c] = x[r * ld_x + c];
  }
}
__global__ void copy2d_bytes_kernel(uint8_t* y, int64_t ld_y, const uint8_t* x, int64_t ld_x, int64_t rows,
                                    int64_t cols) {
  int64_t n = rows * cols;
  MDMT_GRID_STRIDE(i, n) {
    int64_t r = i / cols, c = i - r * cols;
    y[r * ld_y + c] = x[r * ld_x + c];
  }
}

cudaError_t copy2d(float* y, int64_t ld_y, const float* x, int64_t ld_x, int64_t rows, int64_t cols, cudaStream_t s) {
  if (rows * cols <= 0) return cudaSuccess;
  if (ld_y == cols && ld_x == cols)
    return cudaMemcpyAsync(y, x, sizeof(float) * rows * cols, cudaMemcpyDeviceToDevice, s);
  copy2d_kernel<<<grid_for(rows * cols), kBlock, 0, s>>>(y, ld_y, x, ld_x, rows, cols);
  return launched();
}

cudaError_t copy2d_bytes(void* y, int64_t ld_y, const void* x, int64_t ld_x, int64_t rows, int64_t cols,
                         cudaStream_t s) {
  if (rows * cols <= 0) return cudaSuccess;
  if (ld_y == cols && ld_x == cols) return cudaMemcpyAsync(y, x, rows * cols, cudaMemcpyDeviceToDevice, s);
  copy2d_bytes_kernel<<<grid_for(rows * cols), kBlock, 0, s>>>(static_cast<uint8_t*>(y), ld_y,
                                                               static_cast<const uint8_t*>(x), ld_x, rows, cols);
  return launched();
}

// y[n, j*g + i] = x[n, i*(C/g) + j]  (view (N, g, C/g) -> transpose -> flatten)
template <class T>
__global__ void shuffle_kernel(T* y, const T* x, int64_t C, int64_t HW, int64_t g, int64_t n) {
  const int64_t cpg = C / g;
  MDMT_GRID_STRIDE(o, n) {
    int64_t hw = o % HW, t = o / HW;
    int64_t co = t % C, nn = t / C;
    int64_t j = co / g, i = co - j * g;
    y[o] = x[(nn * C + i * cpg + j) * HW + hw];
  }
}

cudaError_t channel_shuffle(float* y, const float* x, int64_t N, int64_t C, int64_t HW, int64_t groups,
                            cudaStream_t s) {
  int64_t n = N * C * HW;
  if (n <= 0) return cudaSuccess;
  if (groups <= 0 || C % groups != 0) return cudaErrorInvalidValue;
  shuffle_kernel<<<grid_for(n), kBlock, 0, s>>>(reinterpret_cast<uint32_t*>(y), reinterpret_cast<const uint32_t*>(x), C, HW, groups, n);
  return launched();
}

cudaError_t channel_shuffle_2b(void* y, const void* x, int64_t N, int64_t C, int64_t HW, int64_t groups, cudaStream_t s) {
  int64_t n = N * C * HW;
  if (n <= 0) return cudaSuccess;
  if (groups <= 0 || C % groups != 0) return cudaErrorInvalidValue;
  shuffle_kernel<<<grid_for(n), kBlock, 0, s>>>(static_cast<uint16_t*>(y), static_cast<const uint16_t*>(x), C, HW, groups, n);
  return launched();
}

__global__ void pad_kernel(float* y, const float* x, int64_t H, int64_t W, int64_t Ho, int64_t Wo, int64_t top,
                           int64_t left, float value, int64_t n) {
  MDMT_GRID_STRIDE(o, n) {
    int64_t wo = o % Wo, t = o / Wo;
    int64_t ho = t % Ho, pl = t / Ho;
    int64_t h = ho - top, w = wo - left;
    y[o] = (h >= 0 && h < H && w >= 0 && w < W) ? x[(pl * H + h) * W + w] : value;
  }
}

__global__ void crop_kernel(float* dx, const float* dy, int64_t H, int64_t W, int64_t Ho, int64_t Wo, int64_t top,
                            int64_t left, int64_t n) {
  MDMT_GRID_STRIDE(i, n) {
    int64_t w = i % W, t = i / W;
    int64_t h = t % H, pl = t / H;
    dx[i] = dy[(pl * Ho + h + top) * Wo + w + left];
  }
}

cudaError_t pad2d(float* y, const float* x, int64_t NC, int64_t H, int64_t W, int64_t top, int64_t bottom,
                  int64_t left, int64_t right, float value, cudaStream_t s) {
  int64_t Ho = H + top + bottom, Wo = W + left + right, n = NC * Ho * Wo;
  if (n <= 0) return cudaSuccess;
  pad_kernel<<<grid_for(n), kBlock, 0, s>>>(y, x, H, W, Ho, Wo, top, left, value, n);
  return launched();
}

cudaError_t pad2d_bwd(float* dx, const float* dy, int64_t NC, int64_t H, int64_t W, int64_t top, int64_t bottom,
                      int64_t left, int64_t right, cudaStream_t s) {
  int64_t Ho = H + top + bottom, Wo = W + left + right, n = NC * H * W;
  if (n <= 0) return cudaSuccess;
  crop_kernel<<<grid_for(n), kBlock, 0, s>>>(dx, dy, H, W, Ho, Wo, top, left, n);
  return launched();
}

}  // namespace k
}  // namespace mdmt
