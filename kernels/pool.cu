// max / avg / global-average pooling and their backward over NCHW planes (docs/ops.md
// "pooling"; PyTorch semantics: -inf padding and NaN propagation for max, the clipped
// divisor for avg). Backward of max and avg scatter with atomicAdd into a zeroed dx.
#include <math.h>

#include "lowp.cuh"

namespace mdmt {
namespace k {

__global__ void maxpool_kernel(float* y, int32_t* idx, const float* x, Pool2d p, int64_t n) {
  MDMT_GRID_STRIDE(i, n) {
    int64_t q = i % p.Q, t = i / p.Q;
    int64_t pp = t % p.P, nc = t / p.P;
    int64_t h0 = pp * p.sh - p.ph, w0 = q * p.sw - p.pw;
    int64_t h1 = min(h0 + p.kh, p.H), w1 = min(w0 + p.kw, p.W);
    h0 = max(h0, (int64_t)0);
    w0 = max(w0, (int64_t)0);
    const float* plane = x + nc * p.H * p.W;
    float best = -INFINITY;
    int64_t bi = h0 * p.W + w0;
    for (int64_t h = h0; h < h1; ++h)
      for (int64_t w = w0; w < w1; ++w) {
        float v = plane[h * p.W + w];
        if (v > best || isnan(v)) {  // first maximum wins; NaN propagates (as the CPU)
          best = v;
          bi = h * p.W + w;
        }
      }
    y[i] = best;
    idx[i] = static_cast<int32_t>(bi);
  }
}

// Indices outside the plane are skipped (the CPU throws; here that would need a read-back).
__global__ void maxpool_bwd_kernel(float* dx, const float* dy, const int32_t* idx, Pool2d p, int64_t n) {
  MDMT_GRID_STRIDE(i, n) {
    int64_t nc = i / (p.P * p.Q);
    int32_t j = idx[i];
    if (j >= 0 && j < p.H * p.W) atomicAdd(dx + nc * p.H * p.W + j, dy[i]);
  }
}

__device__ __forceinline__ void avg_window(const Pool2d& p, int64_t pp, int64_t q, int64_t* h0, int64_t* h1,
                                           int64_t* w0, int64_t* w1, float* inv) {
  int64_t hs = pp * p.sh - p.ph, ws = q * p.sw - p.pw;
  int64_t he = min(hs + p.kh, p.H + p.ph), we = min(ws + p.kw, p.W + p.pw);
  int64_t pool = (he - hs) * (we - ws);
  hs = max(hs, (int64_t)0);
  ws = max(ws, (int64_t)0);
  he = min(he, p.H);
  we = min(we, p.W);
  int64_t div = p.count_include_pad ? pool : (he - hs) * (we - ws);
  *h0 = hs;
  *h1 = he;
  *w0 = ws;
  *w1 = we;
  *inv = div > 0 ? 1.0f / static_cast<float>(div) : 0.f;
}

__global__ void avgpool_kernel(float* y, const float* x, Pool2d p, int64_t n) {
  MDMT_GRID_STRIDE(i, n) {
    int64_t q = i % p.Q, t = i / p.Q;
    int64_t pp = t % p.P, nc = t / p.P;
    int64_t h0, h1, w0, w1;
    float inv;
    avg_window(p, pp, q, &h0, &h1, &w0, &w1, &inv);
    const float* plane = x + nc * p.H * p.W;
    float acc = 0.f;
    for (int64_t h = h0; h < h1; ++h)
      for (int64_t w = w0; w < w1; ++w) acc += plane[h * p.W + w];
    y[i] = acc * inv;
  }
}

__global__ void avgpool_bwd_kernel(float* dx, const float* dy, Pool2d p, int64_t n) {
  MDMT_GRID_STRIDE(i, n) {
    int64_t q = i % p.Q, t = i / p.Q;
    int64_t pp = t % p.P, nc = t / p.P;
    int64_t h0, h1, w0, w1;
    float inv;
    avg_window(p, pp, q, &h0, &h1, &w0, &w1, &inv);
    float g = dy[i] * inv;
    float* plane = dx + nc * p.H * p.W;
    for (int64_t h = h0; h < h1; ++h)
      for (int64_t w = w0; w < w1; ++w) atomicAdd(plane + h * p.W + w, g);
  }
}

// One warp per (n, c) plane.
__global__ void gap_kernel(float* y, const float* x, int64_t NC, int64_t HW) {
  int64_t warp = (blockIdx.x * (int64_t)blockDim.x + threadIdx.x) >> 5;
  int lane = threadIdx.x & 31;
  int64_t nwarps = ((int64_t)gridDim.x * blockDim.x) >> 5;
  for (int64_t pl = warp; pl < NC; pl += nwarps) {
    const float* src = x + pl * HW;
    float acc = 0.f;
    for (int64_t j = lane; j < HW; j += 32) acc += src[j];
    acc = warp_sum(acc);
    if (lane == 0) y[pl] = acc / static_cast<float>(HW);
  }
}

__global__ void gap_bwd_kernel(float* dx, const float* dy, int64_t HW, float inv, int64_t n) {
  MDMT_GRID_STRIDE(i, n) dx[i] = dy[i / HW] * inv;
}

static int64_t out_count(const Pool2d& p) { return p.NC * p.P * p.Q; }

cudaError_t maxpool2d(float* y, int32_t* idx, const float* x, const Pool2d& p, cudaStream_t s) {
  int64_t n = out_count(p);
  if (n <= 0) return cudaSuccess;
  maxpool_kernel<<<grid_for(n), kBlock, 0, s>>>(y, idx, x, p, n);
  return launched();
}

cudaError_t maxpool2d_bwd(float* dx, const float* dy, const int32_t* idx, const Pool2d& p, cudaStream_t s) {
  cudaError_t e = cudaMemsetAsync(dx, 0, sizeof(float) * p.NC * p.H * p.W, s);
  if (e != cudaSuccess) return e;
  int64_t n = out_count(p);
  if (n <= 0) return cudaSuccess;
  maxpool_bwd_kernel<<<grid_for(n), kBlock, 0, s>>>(dx, dy, idx, p, n);
  return launched();
}

cudaError_t avgpool2d(float* y, const float* x, const Pool2d& p, cudaStream_t s) {
  int64_t n = out_count(p);
  if (n <= 0) return cudaSuccess;
  avgpool_kernel<<<grid_for(n), kBlock, 0, s>>>(y, x, p, n);
  return launched();
}

cudaError_t avgpool2d_bwd(float* dx, const float* dy, const Pool2d& p, cudaStream_t s) {
  cudaError_t e = cudaMemsetAsync(dx, 0, sizeof(float) * p.NC * p.H * p.W, s);
  if (e != cudaSuccess) return e;
  int64_t n = out_count(p);
  if (n <= 0) return cudaSuccess;
  avgpool_bwd_kernel<<<grid_for(n), kBlock, 0, s>>>(dx, dy, p, n);
  return launched();
}

cudaError_t global_avgpool(float* y, const float* x, int64_t NC, int64_t HW, cudaStream_t s) {
  if (NC <= 0) return cudaSuccess;
  if (HW <= 0) return cudaErrorInvalidValue;
  gap_kernel<<<grid_for(NC * 32), kBlock, 0, s>>>(y, x, NC, HW);
  return launched();
}

cudaError_t global_avgpool_bwd(float* dx, const float* dy, int64_t NC, int64_t HW, cudaStream_t s) {
  int64_t n = NC * HW;
  if (n <= 0) return cudaSuccess;
  gap_bwd_kernel<<<grid_for(n), kBlock, 0, s>>>(dx, dy, HW, 1.0f / static_cast<float>(HW), n);
  return launched();
}

// ---- NHWC: x[n, hw, c], channels contiguous ------------------------------------------------
// One thread per (n, c) sums its HW values in fp32; the threads of a block read one row of
// channels at a time, so every load is coalesced.
template <class T>
__global__ void gap_nhwc_kernel(T* y, const T* x, int64_t HW, int64_t C) {
  const int64_t n = blockIdx.x, c = blockIdx.y * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (c >= C) return;
  const T* p = x + n * HW * C + c;
  float acc = 0.f;
  for (int64_t j = 0; j < HW; ++j) acc += to_f(p[j * C]);
  y[n * C + c] = from_f<T>(acc / static_cast<float>(HW));
}

template <class T>
__global__ void gap_nhwc_bwd_kernel(T* dx, const T* dy, int64_t HW, int64_t C, float inv, int64_t n) {
  MDMT_GRID_STRIDE(i, n) {
    const int64_t c = i % C, b = i / (HW * C);
    dx[i] = from_f<T>(to_f(dy[b * C + c]) * inv);
  }
}

cudaError_t global_avgpool_nhwc(void* y, const void* x, int dt, int64_t N, int64_t HW, int64_t C, cudaStream_t s) {
  if (N * C <= 0) return cudaSuccess;
  if (HW <= 0 || N > 0x7fffffffLL || (C + kBlock - 1) / kBlock > 65535) return cudaErrorInvalidValue;
  return by_dtype(dt, [&](auto tag) {
    using T = decltype(tag);
    dim3 grid(static_cast<unsigned>(N), static_cast<unsigned>((C + kBlock - 1) / kBlock));
    gap_nhwc_kernel<<<grid, kBlock, 0, s>>>(static_cast<T*>(y), static_cast<const T*>(x), HW, C);
    return launched();
  });
}

cudaError_t global_avgpool_bwd_nhwc(void* dx, const void* dy, int dt, int64_t N, int64_t HW, int64_t C,
                                    cudaStream_t s) {
  const int64_t n = N * HW * C;
  if (n <= 0) return cudaSuccess;
  return by_dtype(dt, [&](auto tag) {
    using T = decltype(tag);
    gap_nhwc_bwd_kernel<<<grid_for(n), kBlock, 0, s>>>(static_cast<T*>(dx), static_cast<const T*>(dy), HW, C,
                                                       1.0f / static_cast<float>(HW), n);
    return launched();
  });
}

}  // namespace k
}  // namespace mdmt
