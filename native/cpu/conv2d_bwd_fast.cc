// conv2d_bwd_data of a stride-1 convolution as a forward convolution, so training's data
// gradient gets the forward's fast kernels (Winograd F(4,3)/F(2,3) for 3×3, the direct
// kernel for grouped k×k) instead of a transposed GEMM and a col2im scatter.
//
// With stride 1 the adjoint of y[p] = Σ_r w[r]·x[p − ph + r·dh] is
//   dx[h] = Σ_r w[r]·dy[h + ph − r·dh] = Σ_r' w'[r']·dy[h − eh + r'·dh],
//   w'[r'] = w[R−1−r'],  eh = (R−1)·dh − ph  (the same in the width),
// a forward convolution of dy padded by eh (≥ 0 needed) with the kernel flipped and its
// channel axes swapped per group: w'[g·Cg + c, k, r, s] = w[g·Kg + k, c, R−1−r, S−1−s],
// in K channels (Kg per group) and out C channels (Cg per group), on a P×Q map to H×W.
#include <algorithm>

#include "conv2d.h"
#include "conv2d_winograd.h"
#include "parallel.h"
#include "scratch.h"

namespace mdmt {
namespace cpu_conv {

namespace {
thread_local Scratch tl_wt("conv2d_bwd_data");  // the flipped, transposed weights of the current call
}  // namespace

bool bwd_data_as_forward(const Geom& g, const float* dy, const float* w, float* dx) {
  const int64_t eh = (g.R - 1) * g.dh - g.ph, ew = (g.S - 1) * g.dw - g.pw;
  // 1×1 stays one transposed GEMM (no col2im there); depthwise has its own (depthwise.cc)
  if (g.sh != 1 || g.sw != 1 || eh < 0 || ew < 0 || g.R * g.S == 1 || g.depthwise()) return false;
  FusedGeom f;
  static_cast<Geom&>(f) = g;
  f.C = g.K, f.H = g.P, f.W = g.Q, f.K = g.C, f.P = g.H, f.Q = g.W;
  f.Cg = g.Kg, f.Kg = g.Cg, f.ph = eh, f.pw = ew, f.bias = false;
  // only where the forward has a faster kernel than im2col + GEMM (the transposed GEMM with
  // col2im below costs the same as that); the weights are transformed after the check
  f.algo = Algo::Auto;
  if (!forward_beats_gemm(f)) return false;
  if (const int m = auto_winograd_m(f); m && 15 * 9 * f.K + 8 < (int64_t(1) << 31)) {
    // Winograd gathers each kernel's taps itself: w read rotated and transposed in place,
    // no copy (512→512 on 4×4 maps at batch 8, 2 threads: 4.0 → 3.0 ms)
    const winograd::Shape ws{f.N, f.C, f.H, f.W, f.K, f.P, f.Q, f.ph, f.pw};
    winograd::forward_raw(m, ws, dy, w, winograd::rotated_transposed(f.K), nullptr, nullptr, Act::None, dx, g.isa);
    return true;
  }
  const int64_t RS = g.R * g.S, CRS = g.crs();
  float* wt = tl_wt.get(g.K * CRS);
  // in 32×32 (k, c) blocks on the pool, so reads and writes both stay within a few pages
  // (the plain k, c loop writes 36-byte runs Kg·R·S floats apart; 256→256 3×3 on one
  // thread: 0.34 → 0.26 ms, a tenth of the 8×8-map step it feeds)
  constexpr int64_t B = 32;
  const int64_t kb = (g.Kg + B - 1) / B, cb = (g.Cg + B - 1) / B;
  parallel_for(0, g.G * kb * cb, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t t = lo; t < hi; ++t) {
      const int64_t gi = t / (kb * cb), k0 = (t / cb) % kb * B, c0 = t % cb * B;
      const int64_t k1 = std::min(g.Kg, k0 + B), c1 = std::min(g.Cg, c0 + B);
      for (int64_t c = c0; c < c1; ++c)
        for (int64_t k = k0; k < k1; ++k) {
          const float* src = w + ((gi * g.Kg + k) * g.Cg + c) * RS;
          float* dst = wt + ((gi * g.Cg + c) * g.Kg + k) * RS;
          for (int64_t i = 0; i < RS; ++i) dst[i] = src[RS - 1 - i];
        }
    }
  });
  return fused_forward(f, dy, wt, nullptr, nullptr, dx);
}

}  // namespace cpu_conv
}  // namespace mdmt
