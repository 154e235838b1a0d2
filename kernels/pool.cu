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
    if (idx) idx[i] = static_cast<int32_t>(bi);  // null: values only (eval)
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

// ---- max / avg pooling in NHWC (fp32 or bf16): one thread per (output pixel, channel), so a
// warp reads 32 consecutive channels of each window position. The backward passes gather:
// each input element sums the outputs whose window covers it (no atomics: bit-reproducible,
// fp32 sums), which needs the window geometry (kh, kw, sh, sw, ph, pw in p).
// Output rows oh whose window [oh·s − pad, oh·s − pad + k) covers input row h.
__device__ __forceinline__ void covering(int64_t h, int64_t k, int64_t s, int64_t pad, int64_t P, int64_t* lo, int64_t* hi) {
  const int64_t a = h + pad - k + 1;  // oh·s ≥ a
  *lo = a <= 0 ? 0 : (a + s - 1) / s;
  *hi = min((h + pad) / s, P - 1);
}

template <class T>
__global__ void maxpool_nhwc_kernel(T* y, int32_t* idx, const T* x, Pool2d p, int64_t C, int64_t n) {
  MDMT_GRID_STRIDE(i, n) {
    const int64_t c = i % C, t = i / C;
    const int64_t q = t % p.Q, t2 = t / p.Q;
    const int64_t pp = t2 % p.P, b = t2 / p.P;
    int64_t h0 = pp * p.sh - p.ph, w0 = q * p.sw - p.pw;
    const int64_t h1 = min(h0 + p.kh, p.H), w1 = min(w0 + p.kw, p.W);
    h0 = max(h0, (int64_t)0);
    w0 = max(w0, (int64_t)0);
    const T* img = x + b * p.H * p.W * C + c;
    float best = -INFINITY;
    int64_t bi = h0 * p.W + w0;
    for (int64_t h = h0; h < h1; ++h)
      for (int64_t w = w0; w < w1; ++w) {
        const float v = to_f(img[(h * p.W + w) * C]);
        if (v > best || isnan(v)) {  // first maximum wins; NaN propagates (as NCHW and the CPU)
          best = v;
          bi = h * p.W + w;
        }
      }
    y[i] = from_f<T>(best);
    idx[i] = static_cast<int32_t>(bi);
  }
}

// Input element i of an NHWC map and the output windows that may cover it.
struct Covered {
  int64_t c, w, h, b, oh0, oh1, ow0, ow1;
};
__device__ __forceinline__ Covered covered(int64_t i, const Pool2d& p, int64_t C) {
  Covered r;
  r.c = i % C;
  const int64_t t = i / C;
  r.w = t % p.W;
  const int64_t t2 = t / p.W;
  r.h = t2 % p.H;
  r.b = t2 / p.H;
  covering(r.h, p.kh, p.sh, p.ph, p.P, &r.oh0, &r.oh1);
  covering(r.w, p.kw, p.sw, p.pw, p.Q, &r.ow0, &r.ow1);
  return r;
}

template <class T>
__global__ void maxpool_bwd_nhwc_kernel(T* dx, const T* dy, const int32_t* idx, Pool2d p, int64_t C, int64_t n) {
  MDMT_GRID_STRIDE(i, n) {
    const Covered v = covered(i, p, C);
    const int32_t me = static_cast<int32_t>(v.h * p.W + v.w);
    float acc = 0.f;
    for (int64_t oh = v.oh0; oh <= v.oh1; ++oh)
      for (int64_t ow = v.ow0; ow <= v.ow1; ++ow) {
        const int64_t o = ((v.b * p.P + oh) * p.Q + ow) * C + v.c;
        if (idx[o] == me) acc += to_f(dy[o]);
      }
    dx[i] = from_f<T>(acc);
  }
}

template <class T>
__global__ void avgpool_nhwc_kernel(T* y, const T* x, Pool2d p, int64_t C, int64_t n) {
  MDMT_GRID_STRIDE(i, n) {
    const int64_t c = i % C, t = i / C;
    const int64_t q = t % p.Q, t2 = t / p.Q;
    const int64_t pp = t2 % p.P, b = t2 / p.P;
    int64_t h0, h1, w0, w1;
    float inv;
    avg_window(p, pp, q, &h0, &h1, &w0, &w1, &inv);
    const T* img = x + b * p.H * p.W * C + c;
    float acc = 0.f;
    for (int64_t h = h0; h < h1; ++h)
      for (int64_t w = w0; w < w1; ++w) acc += to_f(img[(h * p.W + w) * C]);
    y[i] = from_f<T>(acc * inv);
  }
}

template <class T>
__global__ void avgpool_bwd_nhwc_kernel(T* dx, const T* dy, Pool2d p, int64_t C, int64_t n) {
  MDMT_GRID_STRIDE(i, n) {
    const Covered v = covered(i, p, C);
    float acc = 0.f;
    for (int64_t oh = v.oh0; oh <= v.oh1; ++oh)
      for (int64_t ow = v.ow0; ow <= v.ow1; ++ow) {
        int64_t h0, h1, w0, w1;
        float inv;
        avg_window(p, oh, ow, &h0, &h1, &w0, &w1, &inv);
        if (v.h >= h0 && v.h < h1 && v.w >= w0 && v.w < w1) acc += to_f(dy[((v.b * p.P + oh) * p.Q + ow) * C + v.c]) * inv;
      }
    dx[i] = from_f<T>(acc);
  }
}

// p.NC is N·C here too; C is passed separately (the channel stride of NHWC). `launch(tag, grid)`
// starts the kernel instantiated for the storage type of dt over n threads.
template <class F>
static cudaError_t nhwc_launch(int64_t n, int64_t C, const Pool2d& p, int dt, F&& launch) {
  if (n <= 0) return cudaSuccess;
  if (C <= 0 || p.NC % C || p.kh < 1 || p.kw < 1 || p.sh < 1 || p.sw < 1) return cudaErrorInvalidValue;
  return by_dtype(dt, [&](auto tag) {
    launch(tag, grid_for(n));
    return launched();
  });
}

cudaError_t maxpool2d_nhwc(void* y, int32_t* idx, const void* x, int dt, int64_t C, const Pool2d& p, cudaStream_t s) {
  const int64_t n = p.NC * p.P * p.Q;
  return nhwc_launch(n, C, p, dt, [&](auto tag, unsigned g) {
    using T = decltype(tag);
    maxpool_nhwc_kernel<T><<<g, kBlock, 0, s>>>(static_cast<T*>(y), idx, static_cast<const T*>(x), p, C, n);
  });
}
cudaError_t maxpool2d_bwd_nhwc(void* dx, const void* dy, const int32_t* idx, int dt, int64_t C, const Pool2d& p, cudaStream_t s) {
  const int64_t n = p.NC * p.H * p.W;
  return nhwc_launch(n, C, p, dt, [&](auto tag, unsigned g) {
    using T = decltype(tag);
    maxpool_bwd_nhwc_kernel<T><<<g, kBlock, 0, s>>>(static_cast<T*>(dx), static_cast<const T*>(dy), idx, p, C, n);
  });
}
cudaError_t avgpool2d_nhwc(void* y, const void* x, int dt, int64_t C, const Pool2d& p, cudaStream_t s) {
  const int64_t n = p.NC * p.P * p.Q;
  return nhwc_launch(n, C, p, dt, [&](auto tag, unsigned g) {
    using T = decltype(tag);
    avgpool_nhwc_kernel<T><<<g, kBlock, 0, s>>>(static_cast<T*>(y), static_cast<const T*>(x), p, C, n);
  });
}
cudaError_t avgpool2d_bwd_nhwc(void* dx, const void* dy, int dt, int64_t C, const Pool2d& p, cudaStream_t s) {
  const int64_t n = p.NC * p.H * p.W;
  return nhwc_launch(n, C, p, dt, [&](auto tag, unsigned g) {
    using T = decltype(tag);
    avgpool_bwd_nhwc_kernel<T><<<g, kBlock, 0, s>>>(static_cast<T*>(dx), static_cast<const T*>(dy), p, C, n);
  });
}

}  // namespace k
}  // namespace mdmt
