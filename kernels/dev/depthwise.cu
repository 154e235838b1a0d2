// Workshop: depthwise convolution, forward / backward data / backward filter (groups == C).
//   nvcc -std=c++17 -arch=sm_90 -O3 --use_fast_math -Ikernels kernels/dev/depthwise.cu -o /tmp/dw && /tmp/dw
// version 1 (production, kernels/depthwise.cu): direct loops, thread per output element
// (forward, backward data as a gather), block per weight element (backward filter).
// Validated against the CPU reference below; GB/s counts each tensor read or written once.
#include "../depthwise.cu"
#include "common.h"

using namespace mdmt;

void dw_cpu(float* y, float* dx, float* dwt, const float* x, const float* w, const float* dy, const k::Conv2d& c) {
  const int64_t mult = c.K / c.C;
  std::fill(dx, dx + c.N * c.C * c.H * c.W, 0.f);
  std::fill(dwt, dwt + c.K * c.R * c.S, 0.f);
  std::vector<double> dwd(c.K * c.R * c.S, 0.0);
  for (int64_t n = 0; n < c.N; ++n)
    for (int64_t kk = 0; kk < c.K; ++kk) {
      const int64_t ch = kk / mult;
      for (int64_t p = 0; p < c.P; ++p)
        for (int64_t q = 0; q < c.Q; ++q) {
          double acc = 0;
          const float g = dy[((n * c.K + kk) * c.P + p) * c.Q + q];
          for (int r = 0; r < c.R; ++r)
            for (int s = 0; s < c.S; ++s) {
              int64_t h = p * c.sh - c.ph + r * c.dh, ww = q * c.sw - c.pw + s * c.dw;
              if (h < 0 || h >= c.H || ww < 0 || ww >= c.W) continue;
              const int64_t xi = ((n * c.C + ch) * c.H + h) * c.W + ww, wi = (kk * c.R + r) * c.S + s;
              acc += (double)w[wi] * x[xi];
              dx[xi] += w[wi] * g;
              dwd[wi] += (double)g * x[xi];
            }
          y[((n * c.K + kk) * c.P + p) * c.Q + q] = (float)acc;
        }
    }
  for (size_t i = 0; i < dwd.size(); ++i) dwt[i] = (float)dwd[i];
}

int main() {
  int fails = 0;
  // (N, C, H, W, mult, R, stride, pad, dilation): MobileNetV2 / EfficientNet-like layers, and odd ones
  const int cfgs[][9] = {{8, 32, 33, 31, 1, 3, 1, 1, 1}, {4, 16, 20, 20, 2, 5, 2, 2, 1}, {2, 8, 17, 13, 1, 3, 2, 2, 2},
                         {128, 144, 64, 64, 1, 3, 1, 1, 1}, {128, 96, 128, 128, 1, 3, 2, 1, 1}, {128, 240, 32, 32, 1, 5, 1, 2, 1}};
  for (auto& f : cfgs) {
    k::Conv2d c{};
    c.N = f[0]; c.C = f[1]; c.H = f[2]; c.W = f[3]; c.K = f[1] * f[4]; c.R = c.S = f[5];
    c.sh = c.sw = f[6]; c.ph = c.pw = f[7]; c.dh = c.dw = f[8];
    c.P = (c.H + 2 * c.ph - c.dh * (c.R - 1) - 1) / c.sh + 1;
    c.Q = (c.W + 2 * c.pw - c.dw * (c.S - 1) - 1) / c.sw + 1;
    const size_t nx = c.N * c.C * c.H * c.W, nw = c.K * c.R * c.S, ny = c.N * c.K * c.P * c.Q;
    auto x = rand_vec(nx, 1), w = rand_vec(nw, 2), dy = rand_vec(ny, 3);
    float *xd = to_device(x), *wd = to_device(w), *dyd = to_device(dy);
    float *yd = to_device(std::vector<float>(ny)), *dxd = to_device(std::vector<float>(nx)), *dwd = to_device(std::vector<float>(nw));
    std::printf("N=%lld C=%lld %lldx%lld mult=%lld k=%d s=%d p=%d d=%d\n", (long long)c.N, (long long)c.C, (long long)c.H,
                (long long)c.W, (long long)(c.K / c.C), c.R, c.sh, c.ph, c.dh);
    const bool check = nx < 2000000;  // the CPU reference is slow on the full-size layers
    if (check) {
      std::vector<float> y(ny), dx(nx), dwt(nw);
      dw_cpu(y.data(), dx.data(), dwt.data(), x.data(), w.data(), dy.data(), c);
      devCheck(k::depthwise_fwd(yd, xd, wd, nullptr, c, 0));
      devCheck(k::depthwise_bwd_data(dxd, dyd, wd, c, 0));
      devCheck(k::depthwise_bwd_filter(dwd, dyd, xd, c, 0));
      fails += validate("y", to_host(yd, ny).data(), y.data(), ny, 1e-5f, 1e-5f);
      fails += validate("dx", to_host(dxd, nx).data(), dx.data(), nx, 1e-5f, 1e-5f);
      fails += validate("dw", to_host(dwd, nw).data(), dwt.data(), nw, 1e-4f, 1e-5f);
    }
    const double fb = (nx + ny) * 4.0, bb = (nx + ny) * 4.0, wb = (nx + ny) * 4.0;
    float t1 = bench_ms([&] { k::depthwise_fwd(yd, xd, wd, nullptr, c, 0); }, 10);
    float t2 = bench_ms([&] { k::depthwise_bwd_data(dxd, dyd, wd, c, 0); }, 10);
    float t3 = bench_ms([&] { k::depthwise_bwd_filter(dwd, dyd, xd, c, 0); }, 10);
    std::printf("  fwd %.4f ms (%.0f GB/s) | bwd data %.4f ms (%.0f GB/s) | bwd filter %.4f ms (%.0f GB/s)\n", t1, fb / t1 / 1e6, t2,
                bb / t2 / 1e6, t3, wb / t3 / 1e6);
    for (void* p : {(void*)xd, (void*)wd, (void*)dyd, (void*)yd, (void*)dxd, (void*)dwd}) cudaFree(p);
  }
  std::printf(fails ? "FAILED (%d)\n" : "ALL OK\n", fails);
  return fails ? 1 : 0;
}
