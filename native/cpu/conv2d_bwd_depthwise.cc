// Depthwise conv2d_bwd_filter (groups = C) with per-tap row accumulators:
//   dw[k, r, s] = Σ_n Σ_p Σ_q dy[n, k, p, q] · xpad[n, k/Kg, p·sh + r·dh, q·sw + s·dw]
// The plane kernel of depthwise.cc reduces every row's dot product to a scalar (a horizontal
// sum per tap, row and image: 72 per 8×8 plane for a 3×3 kernel) and pads x once per tap
// group; on the small maps of a network's late stages that per-row and per-plane overhead is
// most of the time (MobileNet/ShuffleNet 4×4–8×8 maps). Here each tap keeps a row of Q
// partial sums, acc[r, s, q], over all rows and images, and is reduced once per channel:
// the inner loop is a vectorisable axpy over q. Sums of N·P float32 products per lane, then
// the Q lanes in double (the plane kernel summed rows in double; both well within the
// tests' float32 bound).
#include <algorithm>
#include <vector>

#include "conv2d.h"
#include "parallel.h"
#include "cpu_features.h"

namespace mdmt {
namespace cpu_conv {
namespace {

constexpr int64_t kDwAccCols = 256;  // acc holds R·S rows of Q floats (9 KiB for 3×3 at Q = 256)

#define MDMT_DW_ROWS(NAME, TARGET)                                                                                        \
  TARGET void dw_rows_##NAME(const Geom& g, const float* d, const float* xpad, int64_t Wp, float* acc) {                  \
    for (int64_t p = 0; p < g.P; ++p) {                                                                                  \
      const float* dr = d + p * g.Q;                                                                                     \
      for (int64_t r = 0; r < g.R; ++r) {                                                                                \
        const float* xr = xpad + (p * g.sh + r * g.dh) * Wp;                                                             \
        for (int64_t s = 0; s < g.S; ++s) {                                                                              \
          float* a = acc + (r * g.S + s) * g.Q;                                                                          \
          const float* xs = xr + s * g.dw;                                                                               \
          if (g.sw == 1) for (int64_t q = 0; q < g.Q; ++q) a[q] += dr[q] * xs[q];                                        \
          else for (int64_t q = 0; q < g.Q; ++q) a[q] += dr[q] * xs[q * g.sw];                                           \
        }                                                                                                                \
      }                                                                                                                  \
    }                                                                                                                    \
  }
MDMT_EACH_ISA(MDMT_DW_ROWS)

using RowsFn = void (*)(const Geom&, const float*, const float*, int64_t, float*);
RowsFn rows_fn(GemmIsa isa) {
#if defined(__x86_64__) || defined(__i386__)
  if (gemm_isa_level(isa) == 2) return dw_rows_avx512;
  if (gemm_isa_level(isa) == 1) return dw_rows_avx2;
#endif
  return dw_rows_generic;
}

}  // namespace

bool dw_bwd_filter_rows(const Geom& g, const float* dy, const float* x, float* dwt) {
  if (g.Q > kDwAccCols) return false;
  const RowsFn rows = rows_fn(g.isa);
  const int64_t HW = g.H * g.W, PQ = g.P * g.Q, RS = g.R * g.S, Wp = g.W + 2 * g.pw, padded = (g.H + 2 * g.ph) * Wp;
  // channels per task: enough multiply-adds to amortise the task (≥ ~16K)
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(1, g.N * PQ * RS));
  parallel_for(0, g.K, grain, [&](int64_t lo, int64_t hi) {
    float* xpad = col_buffer(padded + RS * g.Q);
    float* acc = xpad + padded;
    for (int64_t k = lo; k < hi; ++k) {
      std::fill(acc, acc + RS * g.Q, 0.f);
      for (int64_t n = 0; n < g.N; ++n) {
        pad_plane(g, x + (n * g.C + k / g.Kg) * HW, xpad);
        rows(g, dy + (n * g.K + k) * PQ, xpad, Wp, acc);
      }
      for (int64_t i = 0; i < RS; ++i) {
        double t = 0;
        for (int64_t q = 0; q < g.Q; ++q) t += acc[i * g.Q + q];
        dwt[k * RS + i] = static_cast<float>(t);
      }
    }
  });
  return true;
}

}  // namespace cpu_conv
}  // namespace mdmt
