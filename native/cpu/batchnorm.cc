// CPU batch normalisation (docs/ops.md "batchnorm"; contract in native/ops/batchnorm.h).
// x is [N, C, H, W] or [N, C] (BatchNorm1d); both are viewed as [N, C, HW] with HW = 1
// for rank 2. Channel c's M = N·HW elements are N runs of HW contiguous floats.
// Statistics: float sums within blocks of 256, added in double (below); the work is split over channels.
//   train: mean = Σx/M, var = Σ(x−mean)²/M (biased, normalises), invstd = 1/√(var+eps),
//          y = (x−mean)·invstd·w + b, running ← (1−m)·running + m·stat with var·M/(M−1)
//   eval:  y = (x−rm)/√(rv+eps)·w + b
//   bwd:   dbias = Σdy, dweight = Σdy·x̂, dx = w·invstd·(dy − dbias/M − x̂·dweight/M)
// The fused forms (one pass over the data instead of two or three):
//   batchnorm_act_train: y = act(bn_train(x) [+ r]), act relu or relu6 (the add form is a
//                        ResNet block's tail); the same arithmetic as the unfused ops
//   batchnorm_act_bwd:   dz = dy·act'(y) (from y: [y>0] for relu, [0<y<6] for relu6), then
//                        the bwd above on dz; dz is also an output when asked for (the
//                        residual branch's gradient in the add form)
#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "../ops/batchnorm.h"
#include "cpu_features.h"
#include "parallel.h"
#include "vec.h"

namespace mdmt {
namespace {

using Dims = BatchnormSpec;

// Grain over channels: a channel is worth a task when it holds enough elements.
int64_t channel_grain(const Dims& d) {
  int64_t m = d.N * d.HW;
  return m >= 4096 ? 1 : (4096 + m - 1) / (m < 1 ? 1 : m);
}

// Channel sums. Within a block of kSumBlock elements a run is summed in float on GCC vectors
// of the ISA's width (V: 16 lanes for AVX-512, 8 for AVX2, 4 for the SSE2 baseline; wider
// vectors than the target's ran slower than scalar code), two accumulators, then a tree
// over the lanes; the blocks' sums are added in double. A sum in double per element — the
// form before — ran at a third to a half of the memory's speed (the double conversions, and
// GCC did not vectorise its lane arrays well): batchnorm_act_bwd on [8, 96, 64, 64], 2
// threads, 2.0 → 0.9 ms; batchnorm_act_train 0.55 → 0.3 ms. The rounding this adds is that
// of float sums of ≤ 32 terms, ~1e-7 relative to the block's magnitude, then double as before.
using vec::ld;
using vec::st;
using vec::vf16;
using vec::vf8;
using vec::vf4;
using vec_avx512 = vf16;
using vec_avx2 = vf8;
using vec_generic = vf4;
constexpr int64_t kSumBlock = 256;
template <class H, class V>
MDMT_INLINE H fold(V v) {  // the two halves added
  H l, h;
  std::memcpy(&l, &v, sizeof l);
  std::memcpy(&h, reinterpret_cast<const char*>(&v) + sizeof l, sizeof h);
  return l + h;
}
MDMT_INLINE float hsum(vf4 p) { return (p[0] + p[2]) + (p[1] + p[3]); }
MDMT_INLINE float hsum(vf8 v) { return hsum(fold<vf4>(v)); }
MDMT_INLINE float hsum(vf16 v) { return hsum(fold<vf8>(v)); }

enum class Act { None, Relu, Relu6 };

template <Act A>
inline float act_fwd(float z) {
  if (A == Act::Relu) return z > 0.f ? z : 0.f;
  if (A == Act::Relu6) return z < 0.f ? 0.f : (z > 6.f ? 6.f : z);
  return z;
}
// the activation's derivative from its output (relu6: y in (0, 6) iff its input was)
template <Act A>
inline float act_grad(float g, float y) {
  if (A == Act::Relu) return y > 0.f ? g : 0.f;
  if (A == Act::Relu6) return (y > 0.f) & (y < 6.f) ? g : 0.f;  // no short circuit: a blend when vectorised
  return g;
}
template <Act A, class V>
MDMT_INLINE V act_grad_v(V g, const float* y) {
  const V z{};
  if constexpr (A == Act::Relu) return ld<V>(y) > z ? g : z;
  if constexpr (A == Act::Relu6) {
    // 0 < y < 6 as the one comparison y·(6 − y) > 0 (the same set for every float y, NaN
    // and ±inf included): GCC turned the two combined comparisons into scalar code inside
    // the avx512f-target functions, 3× slower than the whole pass
    const V yy = ld<V>(y);
    return yy * (6.f - yy) > z ? g : z;
  }
  return g;
}

// Σ f(r − c) over a run (f the identity or the square; on vectors and on doubles)
template <class V, class F>
MDMT_INLINE double block_sum(const float* r, int64_t n, float c, F f) {
  constexpr int64_t L = sizeof(V) / sizeof(float);
  double s = 0;
  for (int64_t k0 = 0; k0 < n; k0 += kSumBlock) {
    const int64_t e = k0 + std::min(kSumBlock, n - k0);
    V a{}, b{};
    int64_t k = k0;
    for (; k + 2 * L <= e; k += 2 * L) {
      a += f(ld<V>(r + k) - c);
      b += f(ld<V>(r + k + L) - c);
    }
    for (; k + L <= e; k += L) a += f(ld<V>(r + k) - c);
    for (; k < e; ++k) s += f(static_cast<double>(r[k] - c));
    s += hsum(a + b);
  }
  return s;
}
// Σ (r − c), c a float near the values (the channel's first): the float block sums then add
// deviations, not the mean itself, which would drop low bits when the mean is large
template <class V>
MDMT_INLINE double dsum_b(const float* r, int64_t n, float c) {
  return block_sum<V>(r, n, c, [](auto t) { return t; });
}
// Σ (r − m)², m a float near the mean (the caller corrects for its distance from the mean)
template <class V>
MDMT_INLINE double dsum_sq_b(const float* r, int64_t n, float m) {
  return block_sum<V>(r, n, m, [](auto t) { return t * t; });
}
// With g' = act'(g, y) (g itself for Act::None): *sg += Σ g', *sgx += Σ g'·(r − m), and
// dz = g' when DZ (the residual branch's gradient of the fused add form).
template <class V, Act A, bool DZ>
MDMT_INLINE void dsum_dot_b(const float* g, const float* y, const float* r, float* dz, int64_t n, float m, double* sg, double* sgx) {
  constexpr int64_t L = sizeof(V) / sizeof(float);
  double s = 0, t = 0;
  for (int64_t k0 = 0; k0 < n; k0 += kSumBlock) {
    const int64_t e = k0 + std::min(kSumBlock, n - k0);
    V a{}, b{}, a2{}, b2{};
    int64_t k = k0;
    auto step = [&](int64_t i, V& sa, V& sb) {
      const V gv = act_grad_v<A>(ld<V>(g + i), y + i);
      if constexpr (DZ) st(dz + i, gv);
      sa += gv;
      sb += gv * (ld<V>(r + i) - m);
    };
    for (; k + 2 * L <= e; k += 2 * L) {
      step(k, a, b);
      step(k + L, a2, b2);
    }
    for (; k + L <= e; k += L) step(k, a, b);
    for (; k < e; ++k) {
      const float gv = A == Act::None ? g[k] : act_grad<A>(g[k], y[k]);
      if constexpr (DZ) dz[k] = gv;
      s += gv;
      t += static_cast<double>(gv) * (r[k] - m);
    }
    s += hsum(a + a2);
    t += hsum(b + b2);
  }
  *sg += s;
  *sgx += t;
}

// Calls f(std::integral_constant<Act, A>) for the runtime act: one compiled loop per case.
template <class F>
void with_act(Act a, F&& f) {
  if (a == Act::Relu) f(std::integral_constant<Act, Act::Relu>{});
  else if (a == Act::Relu6) f(std::integral_constant<Act, Act::Relu6>{});
  else f(std::integral_constant<Act, Act::None>{});
}

// The channel sums compiled per ISA (the baseline build is SSE2), chosen at run time.
#define MDMT_BN_SUMS(NAME, TARGET)                                                                                     \
  TARGET double dsum_##NAME(const float* r, int64_t n, float c) { return dsum_b<vec_##NAME>(r, n, c); }              \
  TARGET double dsum_sq_##NAME(const float* r, int64_t n, float m) { return dsum_sq_b<vec_##NAME>(r, n, m); }        \
  TARGET void dsum_dot_##NAME(Act a, const float* g, const float* y, const float* r, float* dz, int64_t n, float m,   \
                              double* sg, double* sgx) {                                                               \
    with_act(a, [&](auto t) {                                                                                          \
      if (dz) dsum_dot_b<vec_##NAME, decltype(t)::value, true>(g, y, r, dz, n, m, sg, sgx);                            \
      else dsum_dot_b<vec_##NAME, decltype(t)::value, false>(g, y, r, dz, n, m, sg, sgx);                              \
    });                                                                                                                \
  }
MDMT_EACH_ISA(MDMT_BN_SUMS)
struct Sums {
  double (*sum)(const float*, int64_t, float);
  double (*sum_sq)(const float*, int64_t, float);
  void (*dot)(Act, const float*, const float*, const float*, float*, int64_t, float, double*, double*);
};
Sums sums() { return {MDMT_PICK_ISA(dsum), MDMT_PICK_ISA(dsum_sq), MDMT_PICK_ISA(dsum_dot)}; }

// The per-element loops, per ISA like the sums (the outputs never alias the inputs: these
// ops are not computed in place). o = act(a·(r − fm) + bb [+ q]); dx = k1·g' + k2·(r − fm) + k3
// with g' = act'(g, y) when y is given, else g. Centred on fm, the float nearest the mean: as
// a·r + bb, a channel of mean 1000 and spread 0.01 lost y to the cancellation of two terms
// near ±3e5 (error 7e-3, torch 7.6e-4); r − fm is exact for r near the mean.
template <Act A>
MDMT_INLINE void out_row_b(const float* __restrict r, const float* __restrict q, float* __restrict o, int64_t n, float a, float bb, float fm) {
  if (q) for (int64_t k = 0; k < n; ++k) o[k] = act_fwd<A>((a * (r[k] - fm) + bb) + q[k]);
  else for (int64_t k = 0; k < n; ++k) o[k] = act_fwd<A>(a * (r[k] - fm) + bb);
}
template <Act A>
MDMT_INLINE void dx_row_b(const float* __restrict g, const float* __restrict y, const float* __restrict r, float* __restrict out, int64_t n,
                         float k1, float k2, float k3, float fm) {
  if (y) for (int64_t q = 0; q < n; ++q) out[q] = k1 * act_grad<A>(g[q], y[q]) + k2 * (r[q] - fm) + k3;
  else for (int64_t q = 0; q < n; ++q) out[q] = k1 * g[q] + k2 * (r[q] - fm) + k3;
}
#define MDMT_BN_ROWS(NAME, TARGET)                                                                                  \
  TARGET void out_row_##NAME(Act a, const float* r, const float* q, float* o, int64_t n, float sc, float bb,      \
                             float fm) {                                                                            \
    with_act(a, [&](auto t) { out_row_b<decltype(t)::value>(r, q, o, n, sc, bb, fm); });                            \
  }                                                                                                                 \
  TARGET void dx_row_##NAME(Act a, const float* g, const float* y, const float* r, float* out, int64_t n, float k1, \
                            float k2, float k3, float fm) {                                                         \
    with_act(a, [&](auto t) { dx_row_b<decltype(t)::value>(g, y, r, out, n, k1, k2, k3, fm); });                     \
  }
MDMT_EACH_ISA(MDMT_BN_ROWS)
struct Rows {
  void (*out)(Act, const float*, const float*, float*, int64_t, float, float, float);
  void (*dx)(Act, const float*, const float*, const float*, float*, int64_t, float, float, float, float);
};
Rows rows() { return {MDMT_PICK_ISA(out_row), MDMT_PICK_ISA(dx_row)}; }

// batchnorm_train (act none) and batchnorm_act_train (inputs x, w, b[, r]).
void bn_train(OpCtx& c, const Dims& d) {
  const Act act = static_cast<Act>(d.act);
  const double eps = d.eps, mom = d.momentum;
  const int64_t M = d.N * d.HW;
  const float* px = c.in[0]->data<float>();
  const float* pr = d.residual ? c.in[3]->data<float>() : nullptr;
  const float* pw = c.in[1]->data<float>();
  const float* pb = c.in[2]->data<float>();
  float* py = c.out[0]->data<float>();
  float* pm = c.out[1]->data<float>();
  float* pi = c.out[2]->data<float>();
  float* prm = c.out[3]->data<float>();
  float* prv = c.out[4]->data<float>();
  const int64_t CHW = d.C * d.HW;
  const Sums sm = sums();
  const Rows rw = rows();
  parallel_for(0, d.C, channel_grain(d), [&](int64_t lo, int64_t hi) {
    for (int64_t ch = lo; ch < hi; ++ch) {
      const float c0 = px[ch * d.HW];  // M > 1 (checked): the channel has a first value
      double s = 0;
      for (int64_t n = 0; n < d.N; ++n) s += sm.sum(px + n * CHW + ch * d.HW, d.HW, c0);
      const double mean = c0 + s / M;
      // two-pass variance (no cancellation for large means), centred on the float nearest the
      // mean; Σ(x − m)² = Σ(x − mean)² + M·(mean − m)² takes the small offset back out
      const float m = static_cast<float>(mean);
      double ss = 0;
      for (int64_t n = 0; n < d.N; ++n) ss += sm.sum_sq(px + n * CHW + ch * d.HW, d.HW, m);
      const double dm = mean - m;
      const double var = std::max(0.0, ss / M - dm * dm);
      const double invstd = 1.0 / std::sqrt(var + eps);
      // y = a·(x − m) + bb with a = w·invstd, bb = b − (mean − m)·a (then + r, then act: the
      // unfused ops' order)
      const float a = static_cast<float>(pw[ch] * invstd);
      const float bb = static_cast<float>(pb[ch] - dm * pw[ch] * invstd);
      for (int64_t n = 0; n < d.N; ++n) {
        const int64_t off = n * CHW + ch * d.HW;
        rw.out(act, px + off, pr ? pr + off : nullptr, py + off, d.HW, a, bb, m);
      }
      pm[ch] = static_cast<float>(mean);
      pi[ch] = static_cast<float>(invstd);
      prm[ch] = static_cast<float>((1 - mom) * prm[ch] + mom * mean);
      prv[ch] = static_cast<float>((1 - mom) * prv[ch] + mom * var * M / (M - 1));
    }
  });
}

void batchnorm_eval(OpCtx& c, const Dims& d) {
  const double eps = d.eps;
  const float* prv = c.in[4]->data<float>();
  for (int64_t ch = 0; ch < d.C; ++ch)  // a data check: only the kernel reads the values
    if (!(prv[ch] + eps > 0))
      MDMT_FAIL(code::kInvalid, c.op, "input 'running_var' channel " << ch << " is " << prv[ch] << " (running_var + eps must be > 0)");
  std::vector<float> A(d.C), B(d.C);
  const float* pw = c.in[1]->data<float>();
  const float* pb = c.in[2]->data<float>();
  const float* prm = c.in[3]->data<float>();
  for (int64_t ch = 0; ch < d.C; ++ch) {
    double a = pw[ch] / std::sqrt(static_cast<double>(prv[ch]) + eps);
    A[ch] = static_cast<float>(a);
    B[ch] = static_cast<float>(pb[ch] - prm[ch] * a);
  }
  const float* px = c.in[0]->data<float>();
  float* py = c.out[0]->data<float>();
  // one task unit = one (n, c) plane of HW elements
  const int64_t grain = d.HW >= 4096 ? 1 : 4096 / (d.HW < 1 ? 1 : d.HW);  // HW may be 0 (empty input)
  parallel_for(0, d.N * d.C, grain, [&](int64_t lo, int64_t hi) {
    for (int64_t p = lo; p < hi; ++p) {
      const int64_t ch = p % d.C;
      const float a = A[ch], bb = B[ch];
      const float* r = px + p * d.HW;
      float* o = py + p * d.HW;
      for (int64_t k = 0; k < d.HW; ++k) o[k] = a * r[k] + bb;
    }
  });
}

// batchnorm_bwd (inputs dy, x, w, mean, invstd; act none) and batchnorm_act_bwd (inputs dy,
// y, x, w, mean, invstd; outputs dx, dw, db[, dz]).
void bn_bwd(OpCtx& c, const Dims& d) {
  const size_t o = d.act == 0 ? 0 : 1;  // the fused form has y before x
  const Act act = static_cast<Act>(d.act);
  const int64_t M = d.N * d.HW;
  const float* pdy = c.in[0]->data<float>();
  const float* py = o ? c.in[1]->data<float>() : nullptr;
  const float* px = c.in[1 + o]->data<float>();
  const float* pw = c.in[2 + o]->data<float>();
  const float* pm = c.in[3 + o]->data<float>();
  const float* pi = c.in[4 + o]->data<float>();
  float* pdx = c.out[0]->data<float>();
  float* pdw = c.out[1]->data<float>();
  float* pdb = c.out[2]->data<float>();
  float* pdz = d.dz ? c.out[3]->data<float>() : nullptr;
  const int64_t CHW = d.C * d.HW;
  const Sums sm = sums();
  const Rows rw = rows();
  const Act a = py ? act : Act::None;  // the gradient at the BN output: dy, or dy through the activation (from y)
  parallel_for(0, d.C, channel_grain(d), [&](int64_t lo, int64_t hi) {
    for (int64_t ch = lo; ch < hi; ++ch) {
      const double mean = pm[ch], invstd = pi[ch];
      double sdy = 0, sdyx = 0;  // Σdy, Σdy·(x−mean)
      for (int64_t n = 0; n < d.N; ++n) {
        const int64_t off = n * CHW + ch * d.HW;
        sm.dot(a, pdy + off, py ? py + off : nullptr, px + off, pdz ? pdz + off : nullptr, d.HW, pm[ch], &sdy, &sdyx);
      }
      const double dweight = sdyx * invstd;  // Σdy·x̂
      pdb[ch] = static_cast<float>(sdy);
      pdw[ch] = static_cast<float>(dweight);
      // dx = k·dy + k2·(x − mean) + k3, with k = w·invstd
      const double k = pw[ch] * invstd;
      const float k1 = static_cast<float>(k);
      const float k2 = static_cast<float>(-k * dweight * invstd / M);
      const float k3 = static_cast<float>(-k * sdy / M);
      const float fm = static_cast<float>(mean);
      for (int64_t n = 0; n < d.N; ++n) {
        const int64_t off = n * CHW + ch * d.HW;
        // dz, when written, already holds the activation's gradient
        const float* g = pdz ? pdz + off : pdy + off;
        const float* yy = a == Act::None || pdz ? nullptr : py + off;
        rw.dx(yy ? a : Act::None, g, yy, px + off, pdx + off, d.HW, k1, k2, k3, fm);
      }
    }
  });
}

}  // namespace

MDMT_REGISTER_SPEC_OP("batchnorm_train", CPU, batchnorm_train_spec, bn_train);
MDMT_REGISTER_SPEC_OP("batchnorm_eval", CPU, batchnorm_eval_spec, batchnorm_eval);
MDMT_REGISTER_SPEC_OP("batchnorm_bwd", CPU, batchnorm_bwd_spec, bn_bwd);
MDMT_REGISTER_SPEC_OP("batchnorm_act_train", CPU, batchnorm_act_train_spec, bn_train);
MDMT_REGISTER_SPEC_OP("batchnorm_act_bwd", CPU, batchnorm_act_bwd_spec, bn_bwd);

}  // namespace mdmt
