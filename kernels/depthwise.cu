// Depthwise convolution (groups == C, output channel k reads input channel k / mult) in NCHW:
// mdmt's own kernels, used where cuDNN offers no algorithm for a configuration or when
// forced with MDMT_CUDA_CONV=own (tests, benchmarks). Direct loops, fp32 accumulation;
// every output element is computed by one thread (forward, backward data: a gather, so no
// atomics and deterministic) or one block (backward filter: a reduction over N·P·Q).
#include "common.cuh"

namespace mdmt {
namespace k {

__global__ void dw_fwd_kernel(float* y, const float* x, const float* w, const float* bias, Conv2d c, int64_t n) {
  const int64_t mult = c.K / c.C;
  MDMT_GRID_STRIDE(i, n) {
    int64_t q = i % c.Q, t = i / c.Q;
    int64_t p = t % c.P;
    t /= c.P;
    int64_t kk = t % c.K, nn = t / c.K;
    const float* xp = x + (nn * c.C + kk / mult) * c.H * c.W;
    const float* wp = w + kk * c.R * c.S;
    float acc = bias ? bias[kk] : 0.f;
    for (int r = 0; r < c.R; ++r) {
      int64_t h = p * c.sh - c.ph + (int64_t)r * c.dh;
      if (h < 0 || h >= c.H) continue;
      for (int s = 0; s < c.S; ++s) {
        int64_t ww = q * c.sw - c.pw + (int64_t)s * c.dw;
        if (ww >= 0 && ww < c.W) acc = fmaf(wp[r * c.S + s], xp[h * c.W + ww], acc);
      }
    }
    y[i] = acc;
  }
}

// dx[n,c,h,w] = Σ_m Σ_{r,s: (h+ph-r·dh) % sh == 0, ...} w[c·mult+m, r, s] · dy[n, c·mult+m, p, q]
__global__ void dw_bwd_data_kernel(float* dx, const float* dy, const float* w, Conv2d c, int64_t n) {
  const int64_t mult = c.K / c.C;
  MDMT_GRID_STRIDE(i, n) {
    int64_t ww = i % c.W, t = i / c.W;
    int64_t h = t % c.H;
    t /= c.H;
    int64_t ch = t % c.C, nn = t / c.C;
    float acc = 0.f;
    for (int64_t m = 0; m < mult; ++m) {
      int64_t kk = ch * mult + m;
      const float* dyp = dy + (nn * c.K + kk) * c.P * c.Q;
      const float* wp = w + kk * c.R * c.S;
      for (int r = 0; r < c.R; ++r) {
        int64_t ph = h + c.ph - (int64_t)r * c.dh;
        if (ph < 0 || ph % c.sh) continue;
        ph /= c.sh;
        if (ph >= c.P) continue;
        for (int s = 0; s < c.S; ++s) {
          int64_t qw = ww + c.pw - (int64_t)s * c.dw;
          if (qw < 0 || qw % c.sw) continue;
          qw /= c.sw;
          if (qw < c.Q) acc = fmaf(wp[r * c.S + s], dyp[ph * c.Q + qw], acc);
        }
      }
    }
    dx[i] = acc;
  }
}

// One block per weight element (k, r, s): Σ over n, p, q of dy · x.
__global__ void dw_bwd_filter_kernel(float* dw, const float* dy, const float* x, Conv2d c) {
  const int64_t mult = c.K / c.C;
  const int64_t total = (int64_t)c.K * c.R * c.S;
  for (int64_t e = blockIdx.x; e < total; e += gridDim.x) {
    const int s = static_cast<int>(e % c.S), r = static_cast<int>((e / c.S) % c.R);
    const int64_t kk = e / ((int64_t)c.R * c.S), ch = kk / mult;
    const int64_t m = c.N * c.P * c.Q;
    float acc = 0.f;
    for (int64_t j = threadIdx.x; j < m; j += blockDim.x) {
      int64_t q = j % c.Q, t = j / c.Q;
      int64_t p = t % c.P, nn = t / c.P;
      int64_t h = p * c.sh - c.ph + (int64_t)r * c.dh, ww = q * c.sw - c.pw + (int64_t)s * c.dw;
      if (h >= 0 && h < c.H && ww >= 0 && ww < c.W)
        acc = fmaf(dy[((nn * c.K + kk) * c.P + p) * c.Q + q], x[((nn * c.C + ch) * c.H + h) * c.W + ww], acc);
    }
    acc = block_sum(acc);
    if (threadIdx.x == 0) dw[e] = acc;
  }
}

static bool valid(const Conv2d& c) {
  return c.C > 0 && c.K % c.C == 0 && c.R > 0 && c.S > 0 && c.sh > 0 && c.sw > 0 && c.dh > 0 && c.dw > 0;
}

cudaError_t depthwise_fwd(float* y, const float* x, const float* w, const float* bias, const Conv2d& c, cudaStream_t s) {
  if (!valid(c)) return cudaErrorInvalidValue;
  int64_t n = c.N * c.K * c.P * c.Q;
  if (n <= 0) return cudaSuccess;
  dw_fwd_kernel<<<grid_for(n), kBlock, 0, s>>>(y, x, w, bias, c, n);
  return launched();
}

cudaError_t depthwise_bwd_data(float* dx, const float* dy, const float* w, const Conv2d& c, cudaStream_t s) {
  if (!valid(c)) return cudaErrorInvalidValue;
  int64_t n = c.N * c.C * c.H * c.W;
  if (n <= 0) return cudaSuccess;
  dw_bwd_data_kernel<<<grid_for(n), kBlock, 0, s>>>(dx, dy, w, c, n);
  return launched();
}

cudaError_t depthwise_bwd_filter(float* dw, const float* dy, const float* x, const Conv2d& c, cudaStream_t s) {
  if (!valid(c)) return cudaErrorInvalidValue;
  int64_t total = c.K * c.R * c.S;
  if (total <= 0) return cudaSuccess;
  int64_t g = total < 65535LL * 16 ? total : 65535LL * 16;
  dw_bwd_filter_kernel<<<static_cast<unsigned>(g), kBlock, 0, s>>>(dw, dy, x, c);
  return launched();
}

}  // namespace k
}  // namespace mdmt
