// CPU depthwise convolution (groups == C: conv2d, conv2d_bwd_data, conv2d_bwd_filter of
// docs/ops.md take this path from native/cpu/conv2d_act.cc and conv2d_bwd.cc). Direct
// loops over planes: with one input channel per group the im2col + GEMM formulation has a
// K = R·S inner dimension, too short to pay for packing.
#include <algorithm>
#include <cstring>
#include <vector>

#include "conv2d.h"
#include "depthwise_act.h"
#include "parallel.h"
#include "cpu_features.h"

namespace mdmt {
namespace cpu_conv {
namespace {

// ---- depthwise (Cg == 1): direct loops, one plane per task --------------------------------
// Output channel k reads input channel k / Kg. Each task copies its input plane into a
// zero-padded scratch plane (Hp × Wp), so the loops need no bounds checks:
//   y[p, q] = b + Σ_rs w[r, s] · xpad[(p·sh + r·dh)·Wp + q·sw + s·dw]
// bwd data scatters the same terms into a padded dx plane, then crops it; bwd filter
// dots dy with shifted xpad rows. The plane kernels are per ISA (AVX-512: 16 outputs of
// a row in one register across all taps; AVX2: 8; both for strides 1 and 2).
struct DwGeom {
  int64_t Wp, R, S, dh, dw, sh, sw, P, Q;
};

#define MDMT_DW_PORTABLE(NAME, TARGET)                                                                                 \
  TARGET void dw_fwd_##NAME(const DwGeom& d, const float* xp, const float* w, float bias, bool accum, float* y) {                  \
    for (int64_t p = 0; p < d.P; ++p) {                                                                                \
      float* yr = y + p * d.Q;                                                                                         \
      if (!accum) for (int64_t q = 0; q < d.Q; ++q) yr[q] = bias;                                                      \
      for (int64_t r = 0; r < d.R; ++r)                                                                                \
        for (int64_t s = 0; s < d.S; ++s) {                                                                            \
          const float wv = w[r * d.S + s];                                                                             \
          const float* xr = xp + (p * d.sh + r * d.dh) * d.Wp + s * d.dw;                                              \
          if (d.sw == 1) for (int64_t q = 0; q < d.Q; ++q) yr[q] += wv * xr[q];                                        \
          else for (int64_t q = 0; q < d.Q; ++q) yr[q] += wv * xr[q * d.sw];                                           \
        }                                                                                                              \
    }                                                                                                                  \
  }                                                                                                                    \
  TARGET void dw_bwdd_##NAME(const DwGeom& d, float* dxp, const float* w, const float* dy) {                           \
    for (int64_t p = 0; p < d.P; ++p)                                                                                  \
      for (int64_t r = 0; r < d.R; ++r)                                                                                \
        for (int64_t s = 0; s < d.S; ++s) {                                                                            \
          const float wv = w[r * d.S + s];                                                                             \
          float* dr = dxp + (p * d.sh + r * d.dh) * d.Wp + s * d.dw;                                                   \
          const float* g = dy + p * d.Q;                                                                               \
          if (d.sw == 1) for (int64_t q = 0; q < d.Q; ++q) dr[q] += wv * g[q];                                         \
          else for (int64_t q = 0; q < d.Q; ++q) dr[q * d.sw] += wv * g[q];                                            \
        }                                                                                                              \
  }                                                                                                                    \
  TARGET void dw_bwdf_##NAME(const DwGeom& d, const float* xp, const float* dy, double* acc) {                         \
    for (int64_t r = 0; r < d.R; ++r)                                                                                  \
      for (int64_t s = 0; s < d.S; ++s) {                                                                              \
        double t = 0;                                                                                                  \
        for (int64_t p = 0; p < d.P; ++p) {                                                                            \
          const float* xr = xp + (p * d.sh + r * d.dh) * d.Wp + s * d.dw;                                              \
          const float* g = dy + p * d.Q;                                                                               \
          float u = 0.f;                                                                                               \
          if (d.sw == 1) for (int64_t q = 0; q < d.Q; ++q) u += g[q] * xr[q];                                          \
          else for (int64_t q = 0; q < d.Q; ++q) u += g[q] * xr[q * d.sw];                                             \
          t += u;                                                                                                      \
        }                                                                                                              \
        acc[r * d.S + s] += t;                                                                                         \
      }                                                                                                                \
  }
MDMT_DW_PORTABLE(generic, )
#if defined(__x86_64__) || defined(__i386__)
MDMT_DW_PORTABLE(avx2_loops, MDMT_TARGET_AVX2)  // strides past 2

// AVX2: 8 outputs of a row per register, tails through masked loads (the portable loops
// above, vectorised by GCC, ran 8×8 planes at 2–7 GFLOP/s: a loop set-up per tap and row
// for one vector of work).
MDMT_AVX2 void dw_fwd_avx2(const DwGeom& d, const float* xp, const float* w, float bias, bool accum, float* y) {
  if (d.sw > 2) return dw_fwd_avx2_loops(d, xp, w, bias, accum, y);
  for (int64_t p = 0; p < d.P; ++p)
    for (int64_t q0 = 0; q0 < d.Q; q0 += 8) {
      const int64_t m = std::min<int64_t>(8, d.Q - q0);
      float* yq = y + p * d.Q + q0;
      __m256 acc = !accum ? _mm256_set1_ps(bias) : m == 8 ? _mm256_loadu_ps(yq) : _mm256_maskload_ps(yq, tail_mask8(m));
      for (int64_t r = 0; r < d.R; ++r) {
        const float* xr = xp + (p * d.sh + r * d.dh) * d.Wp + q0 * d.sw;
        for (int64_t s = 0; s < d.S; ++s) acc = _mm256_fmadd_ps(_mm256_set1_ps(w[r * d.S + s]), load_s8(xr + s * d.dw, m, d.sw), acc);
      }
      vec::store_first8(yq, acc, m);
    }
}
// The scatter's loop order: row(dr, g, wv, room) for each tap (r, s), then each row p of dy
// (g), dr where that row lands for the tap in the padded dx plane, room the floats of the
// padded row from dr on; the kernels' row functions carry their ISA's target attribute.
template <class Row>
inline __attribute__((always_inline)) void dw_scatter_rows(const DwGeom& d, float* dxp, const float* w, const float* dy, Row row) {
  for (int64_t r = 0; r < d.R; ++r)
    for (int64_t s = 0; s < d.S; ++s)
      for (int64_t p = 0; p < d.P; ++p)
        row(dxp + (p * d.sh + r * d.dh) * d.Wp + s * d.dw, dy + p * d.Q, w[r * d.S + s], d.Wp - s * d.dw);
}
// dx += the taps' scatter of dy. Stride 2: dy's lanes spread to the even lanes of two
// registers and blended into dx (the odd lanes written back unchanged), within the row.
// One tap at a time over the plane: consecutive taps' blocks overlap (a load right after
// an overlapping unaligned store waits for it to retire: the tap-inner order ran slower
// than the portable loops on stride 2).
MDMT_AVX2 void dw_bwdd_avx2(const DwGeom& d, float* dxp, const float* w, const float* dy) {
  if (d.sw > 2) return dw_bwdd_avx2_loops(d, dxp, w, dy);
  const __m256i lo_idx = _mm256_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3), hi_idx = _mm256_setr_epi32(4, 4, 5, 5, 6, 6, 7, 7);
  dw_scatter_rows(d, dxp, w, dy, [&](float* dr, const float* g, float wv, int64_t room) MDMT_AVX2 {
    const __m256 wb = _mm256_set1_ps(wv);
    int64_t q0 = 0;
    if (d.sw == 1) {
      for (; q0 + 8 <= d.Q; q0 += 8) _mm256_storeu_ps(dr + q0, _mm256_fmadd_ps(wb, _mm256_loadu_ps(g + q0), _mm256_loadu_ps(dr + q0)));
    } else {
      for (; q0 + 8 <= d.Q && 2 * q0 + 16 <= room; q0 += 8) {
        const __m256 gv = _mm256_loadu_ps(g + q0);
        float* t = dr + 2 * q0;
        const __m256 a = _mm256_loadu_ps(t), b = _mm256_loadu_ps(t + 8);
        _mm256_storeu_ps(t, _mm256_blend_ps(a, _mm256_fmadd_ps(wb, _mm256_permutevar8x32_ps(gv, lo_idx), a), 0x55));
        _mm256_storeu_ps(t + 8, _mm256_blend_ps(b, _mm256_fmadd_ps(wb, _mm256_permutevar8x32_ps(gv, hi_idx), b), 0x55));
      }
    }
    for (int64_t q = q0; q < d.Q; ++q) dr[q * d.sw] += wv * g[q];
  });
}
MDMT_AVX512 void dw_fwd_avx512(const DwGeom& d, const float* xp, const float* w, float bias, bool accum, float* y) {
  if (d.sw > 2) return dw_fwd_generic(d, xp, w, bias, accum, y);
  for (int64_t p = 0; p < d.P; ++p)
    for (int64_t q0 = 0; q0 < d.Q; q0 += 16) {
      const int64_t m = std::min<int64_t>(16, d.Q - q0);
      __m512 acc = accum ? _mm512_maskz_loadu_ps(tail_mask(m), y + p * d.Q + q0) : _mm512_set1_ps(bias);
      for (int64_t r = 0; r < d.R; ++r) {
        const float* xr = xp + (p * d.sh + r * d.dh) * d.Wp + q0 * d.sw;
        for (int64_t s = 0; s < d.S; ++s) acc = _mm512_fmadd_ps(_mm512_set1_ps(w[r * d.S + s]), load_s(xr + s * d.dw, m, d.sw), acc);
      }
      _mm512_mask_storeu_ps(y + p * d.Q + q0, tail_mask(m), acc);
    }
}
// Stride 2 as dw_bwdd_avx2 with 16 lanes: dy's 16 values spread to the even lanes of two
// registers, written back to the even lanes only (a masked store: no blend); one tap at a
// time over the plane for the same reason. The scalar loops ran MobileNetV2's 96-channel
// 3×3/2 on 64×64 at batch 8 at 2.0 ms against 1.5 ms for the AVX2 kernel on the same Zen 5.
MDMT_AVX512 void dw_bwdd_avx512_s2(const DwGeom& d, float* dxp, const float* w, const float* dy) {
  const __m512i lo_idx = _mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
  const __m512i hi_idx = _mm512_setr_epi32(8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15);
  dw_scatter_rows(d, dxp, w, dy, [&](float* dr, const float* g, float wv, int64_t room) MDMT_AVX512 {
    const __m512 wb = _mm512_set1_ps(wv);
    auto spread = [&](float* t, __m512i idx, __m512 gv) MDMT_AVX512 {
      _mm512_mask_storeu_ps(t, 0x5555, _mm512_fmadd_ps(wb, _mm512_permutexvar_ps(idx, gv), _mm512_loadu_ps(t)));
    };
    int64_t q0 = 0;
    for (; q0 + 16 <= d.Q && 2 * q0 + 32 <= room; q0 += 16) {
      const __m512 gv = _mm512_loadu_ps(g + q0);
      spread(dr + 2 * q0, lo_idx, gv);
      spread(dr + 2 * q0 + 16, hi_idx, gv);
    }
    if (q0 + 8 <= d.Q && 2 * q0 + 16 <= room) {  // 8 more (rows of 8: 16×16 maps to 8×8)
      spread(dr + 2 * q0, lo_idx, _mm512_castps256_ps512(_mm256_loadu_ps(g + q0)));
      q0 += 8;
    }
    for (int64_t q = q0; q < d.Q; ++q) dr[q * 2] += wv * g[q];
  });
}
MDMT_AVX512 void dw_bwdd_avx512(const DwGeom& d, float* dxp, const float* w, const float* dy) {
  if (d.sw == 2) return dw_bwdd_avx512_s2(d, dxp, w, dy);
  if (d.sw != 1) return dw_bwdd_generic(d, dxp, w, dy);
  for (int64_t p = 0; p < d.P; ++p)
    for (int64_t q0 = 0; q0 < d.Q; q0 += 16) {
      const __mmask16 k = tail_mask(d.Q - q0);
      const __m512 g = _mm512_maskz_loadu_ps(k, dy + p * d.Q + q0);
      for (int64_t r = 0; r < d.R; ++r) {
        float* dr = dxp + (p * d.sh + r * d.dh) * d.Wp + q0;
        for (int64_t s = 0; s < d.S; ++s) {
          float* t = dr + s * d.dw;
          _mm512_mask_storeu_ps(t, k, _mm512_fmadd_ps(_mm512_set1_ps(w[r * d.S + s]), g, _mm512_maskz_loadu_ps(k, t)));
        }
      }
    }
}
MDMT_AVX512 void dw_bwdf_avx512(const DwGeom& d, const float* xp, const float* dy, double* acc) {
  if (d.sw > 2) return dw_bwdf_generic(d, xp, dy, acc);
  for (int64_t r = 0; r < d.R; ++r)
    for (int64_t s = 0; s < d.S; ++s) {
      __m512 a[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
      int64_t u = 0;  // 4 independent FMA chains (one would wait on the FMA latency)
      for (int64_t p = 0; p < d.P; ++p) {
        const float* xr = xp + (p * d.sh + r * d.dh) * d.Wp + s * d.dw;
        const float* g = dy + p * d.Q;
        for (int64_t q0 = 0; q0 < d.Q; q0 += 16, u = (u + 1) & 3) {
          const int64_t m = std::min<int64_t>(16, d.Q - q0);
          a[u] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tail_mask(m), g + q0), load_s(xr + q0 * d.sw, m, d.sw), a[u]);
        }
      }
      alignas(64) float lanes[16];
      _mm512_store_ps(lanes, _mm512_add_ps(_mm512_add_ps(a[0], a[1]), _mm512_add_ps(a[2], a[3])));
      double t = 0;
      for (float v : lanes) t += v;
      acc[r * d.S + s] += t;
    }
}
#endif

struct DwOps {
  void (*fwd)(const DwGeom&, const float*, const float*, float, bool, float*);
  void (*bwdd)(const DwGeom&, float*, const float*, const float*);
  void (*bwdf)(const DwGeom&, const float*, const float*, double*);
};
const DwOps& dw_ops(GemmIsa isa) {
  static const DwOps generic{dw_fwd_generic, dw_bwdd_generic, dw_bwdf_generic};
#if defined(__x86_64__) || defined(__i386__)
  static const DwOps avx2{dw_fwd_avx2, dw_bwdd_avx2, dw_bwdf_avx2_loops};
  static const DwOps avx512{dw_fwd_avx512, dw_bwdd_avx512, dw_bwdf_avx512};
  if (gemm_isa_level(isa) == 2) return avx512;
  if (gemm_isa_level(isa) == 1) return avx2;
#endif
  return generic;
}

DwGeom dw_geom(const Geom& g) { return {g.W + 2 * g.pw, g.R, g.S, g.dh, g.dw, g.sh, g.sw, g.P, g.Q}; }
int64_t dw_padded(const Geom& g) { return (g.H + 2 * g.ph) * (g.W + 2 * g.pw); }

}  // namespace

// xpad = x plane with a zero border of (ph, pw)
void pad_plane(const Geom& g, const float* x, float* xpad) { depthwise_act::pad_plane(x, g.H, g.W, g.ph, g.pw, g.W + 2 * g.pw, xpad); }

// Stride 1: dx[h, w] = Σ_rs w[R−1−r, S−1−s] · dypad[h + ph + r·dh, w + pw + s·dw] with dy
// zero-padded by ((R−1)·dh, (S−1)·dw): the forward kernel on a flipped filter. Other
// strides scatter into a padded dx plane.
// Stride 1, multiplier 1, padding at most the kernel's reach: dx = the forward depthwise
// conv of dy with the flipped filter and padding ((R−1)·dh − ph, (S−1)·dw − pw), run by the
// forward kernel (depthwise_act.h), which reads dy in place instead of a padded copy.
bool dw_bwd_data_as_forward(const Geom& g, const float* dy, const float* w, float* dx) {
  const int64_t eh = (g.R - 1) * g.dh - g.ph, ew = (g.S - 1) * g.dw - g.pw, RS = g.R * g.S;
  if (g.sh != 1 || g.sw != 1 || g.Kg != 1 || eh < 0 || ew < 0) return false;
  std::vector<float> wf(static_cast<size_t>(g.K * RS));
  for (int64_t k = 0; k < g.K; ++k)
    for (int64_t i = 0; i < RS; ++i) wf[k * RS + i] = w[k * RS + RS - 1 - i];
  depthwise_act::forward({g.N, g.K, g.P, g.Q, g.C, g.R, g.S, g.H, g.W, 1, 1, eh, ew, g.dh, g.dw}, dy, wf.data(), nullptr, nullptr,
                         Act::None, dx, g.isa);
  return true;
}

void dw_bwd_data(const Geom& g, const float* dy, const float* w, float* dx) {
  if (dw_bwd_data_as_forward(g, dy, w, dx)) return;
  const DwOps& ops = dw_ops(g.isa);
  const int64_t HW = g.H * g.W, PQ = g.P * g.Q, RS = g.R * g.S;
  const bool unit = g.sh == 1 && g.sw == 1;
  const int64_t eh = (g.R - 1) * g.dh, ew = (g.S - 1) * g.dw;
  const int64_t Hq = g.P + 2 * eh, Wq = g.Q + 2 * ew;                           // padded dy (stride 1)
  const int64_t scratch = unit ? Hq * Wq + RS : dw_padded(g);
  const DwGeom dsc = dw_geom(g);
  const DwGeom dfl{Wq, g.R, g.S, g.dh, g.dw, 1, 1, g.H, g.W};
  parallel_for(0, g.N * g.C, std::max<int64_t>(1, 4096 / std::max<int64_t>(1, PQ * RS * g.Kg)), [&](int64_t lo, int64_t hi) {
    float* buf = col_buffer(scratch);
    for (int64_t t = lo; t < hi; ++t) {
      const int64_t n = t / g.C, c = t % g.C;
      float* dxp = dx + t * HW;
      if (unit) {
        float* dyp = buf;
        float* wf = buf + Hq * Wq;
        for (int64_t k = c * g.Kg; k < (c + 1) * g.Kg; ++k) {
          std::fill(dyp, dyp + Hq * Wq, 0.f);
          const float* src = dy + (n * g.K + k) * PQ;
          for (int64_t p = 0; p < g.P; ++p) std::memcpy(dyp + (eh + p) * Wq + ew, src + p * g.Q, sizeof(float) * g.Q);
          for (int64_t i = 0; i < RS; ++i) wf[i] = w[k * RS + RS - 1 - i];
          ops.fwd(dfl, dyp + g.ph * Wq + g.pw, wf, 0.f, k != c * g.Kg, dxp);
        }
      } else {
        std::fill(buf, buf + dw_padded(g), 0.f);
        for (int64_t k = c * g.Kg; k < (c + 1) * g.Kg; ++k) ops.bwdd(dsc, buf, w + k * RS, dy + (n * g.K + k) * PQ);
        for (int64_t h = 0; h < g.H; ++h) std::memcpy(dxp + h * g.W, buf + (g.ph + h) * dsc.Wp + g.pw, sizeof(float) * g.W);
      }
    }
  });
}

void dw_bwd_filter(const Geom& g, const float* dy, const float* x, float* dwt) {
  const DwOps& ops = dw_ops(g.isa);
  const DwGeom d = dw_geom(g);
  const int64_t HW = g.H * g.W, PQ = g.P * g.Q, RS = g.R * g.S;
  parallel_for(0, g.K, 1, [&](int64_t lo, int64_t hi) {
    std::vector<double> acc(static_cast<size_t>(RS));
    float* xpad = col_buffer(dw_padded(g));
    for (int64_t k = lo; k < hi; ++k) {
      std::fill(acc.begin(), acc.end(), 0.0);
      for (int64_t n = 0; n < g.N; ++n) {
        pad_plane(g, x + (n * g.C + k / g.Kg) * HW, xpad);
        ops.bwdf(d, xpad, dy + (n * g.K + k) * PQ, acc.data());
      }
      for (int64_t i = 0; i < RS; ++i) dwt[k * RS + i] = static_cast<float>(acc[i]);
    }
  });
}

}  // namespace cpu_conv
}  // namespace mdmt
