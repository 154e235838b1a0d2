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

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

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

using ChannelFn = void (*)(const Geom&, const float*, const float*, int64_t, float*, int64_t, float*);
#if defined(__x86_64__) || defined(__i386__)
// Rows of at most 16 outputs (32 for 3×3: the 4×4–32×32 maps of later stages), AVX-512,
// R×S of 3×3 or 5×5: each tap's Q partial sums are one or two registers for the whole
// channel (all rows and images), so a row costs a load of dy and a (masked, stride 1 or 2)
// load of x per tap and register
// — the row loop above spent more on loop overhead than on the 8-wide axpys of 8×8 maps
// (MobileNetV2's [8, 384, 8, 8] 3×3 bwd_filter: 0.57 ms, 6 GFLOP/s). Lane sums in float
// over N·P products, then the 16 lanes. channel_fn takes it for stride 2 only.
template <int R, int S, int V>
MDMT_TARGET_AVX512 void dw_channel_q16(const Geom& g, const float* dy, const float* x, int64_t k, float* xpad, int64_t Wp, float* out) {
  __m512 acc[R * S][V];
  for (int i = 0; i < R * S; ++i)
    for (int v = 0; v < V; ++v) acc[i][v] = _mm512_setzero_ps();
  const int64_t HW = g.H * g.W, PQ = g.P * g.Q;
  for (int64_t n = 0; n < g.N; ++n) {
    pad_plane(g, x + (n * g.C + k / g.Kg) * HW, xpad);
    const float* d = dy + (n * g.K + k) * PQ;
    for (int64_t p = 0; p < g.P; ++p) {
      __m512 dv[V];  // lanes past Q are 0
      for (int v = 0; v < V; ++v) dv[v] = _mm512_maskz_loadu_ps(tail_mask(g.Q - 16 * v), d + p * g.Q + 16 * v);
#pragma GCC unroll 5
      for (int r = 0; r < R; ++r) {
        const float* xr = xpad + (p * g.sh + r * g.dh) * Wp;
#pragma GCC unroll 5
        for (int s = 0; s < S; ++s)
          for (int v = 0; v < V; ++v)
            acc[r * S + s][v] = _mm512_fmadd_ps(dv[v], load_s(xr + s * g.dw + 16 * v * g.sw, g.Q - 16 * v, g.sw), acc[r * S + s][v]);
      }
    }
  }
  for (int i = 0; i < R * S; ++i) {
    __m512 t = acc[i][0];
    for (int v = 1; v < V; ++v) t = _mm512_add_ps(t, acc[i][v]);
    out[i] = _mm512_reduce_add_ps(t);
  }
}
// The same on AVX2 for rows of at most 8·V outputs (3×3: V ≤ 4, 32 outputs; 5×5: V ≤ 2):
// S·V accumulators of 8 lanes for one kernel row r at a time (all 9 or 25 taps would not fit
// the 16 registers), over every row and image; the channel's N planes are padded once into
// xpad first. The row loop ran MobileNetV2's [8, 576, 8, 8] 3×3 at 1.8 ms (3 GFLOP/s) on a
// Zen 3, and its [8, 192, 16, 16] and stride-2 [8, 96, 64, 64] at 2.5 and 3.1 ms.
template <int S, int V>
MDMT_TARGET_AVX2 void dw_channel_avx2(const Geom& g, const float* dy, const float* x, int64_t k, float* xpad, int64_t Wp, float* out) {
  const int64_t HW = g.H * g.W, PQ = g.P * g.Q, padded = (g.H + 2 * g.ph) * Wp;
  for (int64_t n = 0; n < g.N; ++n) pad_plane(g, x + (n * g.C + k / g.Kg) * HW, xpad + n * padded);
  __m256i mq[V];
  for (int v = 0; v < V; ++v) mq[v] = tail_mask8(g.Q - 8 * v);
  for (int64_t r = 0; r < g.R; ++r) {
    __m256 acc[S][V];
    for (int s = 0; s < S; ++s)
      for (int v = 0; v < V; ++v) acc[s][v] = _mm256_setzero_ps();
    for (int64_t n = 0; n < g.N; ++n) {
      const float* d = dy + (n * g.K + k) * PQ;
      const float* xn = xpad + n * padded + r * g.dh * Wp;
      for (int64_t p = 0; p < g.P; ++p) {
        __m256 dv[V];  // lanes past Q are 0
        for (int v = 0; v < V; ++v) dv[v] = _mm256_maskload_ps(d + p * g.Q + 8 * v, mq[v]);
        const float* xr = xn + p * g.sh * Wp;
#pragma GCC unroll 5
        for (int s = 0; s < S; ++s)
          for (int v = 0; v < V; ++v) acc[s][v] = _mm256_fmadd_ps(dv[v], load_s8(xr + s * g.dw + 8 * v * g.sw, g.Q - 8 * v, g.sw), acc[s][v]);
      }
    }
    for (int s = 0; s < S; ++s) {
      __m256 t = acc[s][0];
      for (int v = 1; v < V; ++v) t = _mm256_add_ps(t, acc[s][v]);
      __m128 h = _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1));
      h = _mm_add_ps(h, _mm_movehl_ps(h, h));
      out[r * S + s] = _mm_cvtss_f32(_mm_add_ss(h, _mm_movehdup_ps(h)));
    }
  }
}
template <int S>
ChannelFn channel_avx2(int64_t Q) {
  if (Q <= 8) return dw_channel_avx2<S, 1>;
  if (Q <= 16) return dw_channel_avx2<S, 2>;
  if constexpr (S == 3) {
    if (Q <= 24) return dw_channel_avx2<S, 3>;
    if (Q <= 32) return dw_channel_avx2<S, 4>;
  }
  return nullptr;
}
// xpad holds one padded plane of `padded` floats (AVX-512) or the channel's N (AVX2: planes_all).
// Stride 1 on AVX-512 machines takes the AVX2 kernel too: on a Zen 5 (full-width AVX-512)
// it ran 1.2–1.6× faster than the 16-lane one on every stride-1 geometry of MobileNetV2
// and ShuffleNetV2 at 128² (interleaved in one process; [8, 576, 8, 8] 0.31 → 0.25 ms,
// [8, 240, 16, 16] 5×5 0.52 → 0.39, [8, 144, 32, 32] 1.12 → 0.77), where the 16-lane
// kernel idles half its lanes on 8-wide rows and masks every load; on stride 2 the 16-lane
// kernel's one permute per 16 outputs wins ([8, 96, 64, 64] 1.29 against 1.41 ms).
ChannelFn channel_fn(const Geom& g, int64_t padded, bool& planes_all) {
  planes_all = false;
  if (g.sw > 2) return nullptr;
  if (gemm_isa_level(g.isa) == 1 || (gemm_isa_level(g.isa) == 2 && g.sw == 1)) {
    // the channel's N padded planes at once: up to 16 MiB per thread, else the row loop
    if (g.N * padded > (int64_t(1) << 22)) return nullptr;
    planes_all = true;
    return g.R == 3 && g.S == 3 ? channel_avx2<3>(g.Q) : g.R == 5 && g.S == 5 ? channel_avx2<5>(g.Q) : nullptr;
  }
  if (gemm_isa_level(g.isa) != 2) return nullptr;
  if (g.R == 3 && g.S == 3) return g.Q <= 16 ? dw_channel_q16<3, 3, 1> : g.Q <= 32 ? dw_channel_q16<3, 3, 2> : nullptr;
  if (g.R == 5 && g.S == 5 && g.Q <= 16) return dw_channel_q16<5, 5, 1>;
  return nullptr;
}
#else
ChannelFn channel_fn(const Geom&, int64_t, bool& planes_all) {
  planes_all = false;
  return nullptr;
}
#endif

}  // namespace

bool dw_bwd_filter_rows(const Geom& g, const float* dy, const float* x, float* dwt) {
  if (g.Q > kDwAccCols) return false;
  const RowsFn rows = rows_fn(g.isa);
  const int64_t HW = g.H * g.W, PQ = g.P * g.Q, RS = g.R * g.S, Wp = g.W + 2 * g.pw, padded = (g.H + 2 * g.ph) * Wp;
  // channels per task: enough multiply-adds to amortise the task (≥ ~16K)
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(1, g.N * PQ * RS));
  bool planes_all = false;
  if (const ChannelFn ch = channel_fn(g, padded, planes_all)) {
    parallel_for(0, g.K, grain, [&](int64_t lo, int64_t hi) {
      float* xpad = col_buffer(planes_all ? g.N * padded : padded);
      for (int64_t k = lo; k < hi; ++k) {
        // the next channel's N planes of x and dy into L2, as the forward does (depthwise_act.cc):
        // Zen 5, out of cache, medians of 4 alternating processes, [8, 144, 32, 32] 1.29 →
        // 1.00 ms, [8, 192, 16, 16] 0.36 → 0.23, [8, 96, 64, 64] 3×3/2 1.61 → 1.11
        if (k + 1 < hi)
          for (int64_t n = 0; n < g.N; ++n) {
            vec::prefetch_plane<2>(x + (n * g.C + (k + 1) / g.Kg) * HW, HW);
            vec::prefetch_plane<2>(dy + (n * g.K + k + 1) * PQ, PQ);
          }
        ch(g, dy, x, k, xpad, Wp, dwt + k * RS);
      }
    });
    return true;
  }
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
