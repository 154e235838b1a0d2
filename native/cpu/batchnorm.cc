// CPU batch normalisation (docs/ops.md "batchnorm"; contract in native/ops/batchnorm.h).
// x is [N, C, H, W] or [N, C] (BatchNorm1d); both are viewed as [N, C, HW] with HW = 1
// for rank 2. Channel c's M = N·HW elements are N runs of HW contiguous floats.
// Statistics are accumulated in double; the work is split over channels.
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

namespace mdmt {
namespace {

using Dims = BatchnormSpec;

// Grain over channels: a channel is worth a task when it holds enough elements.
int64_t channel_grain(const Dims& d) {
  int64_t m = d.N * d.HW;
  return m >= 4096 ? 1 : (4096 + m - 1) / (m < 1 ? 1 : m);
}

// Channel sums in double with kLanes independent accumulators: one chain of dependent
// double adds runs at one add per FP-add latency (4 cycles), which made the statistics,
// not memory, the bound of every BatchNorm pass.
constexpr int kLanes = 8;
MDMT_INLINE double dsum_b(const float* r, int64_t n) {
  double acc[kLanes] = {};
  int64_t k = 0;
  for (; k + kLanes <= n; k += kLanes)
    for (int j = 0; j < kLanes; ++j) acc[j] += r[k + j];
  double s = 0;
  for (; k < n; ++k) s += r[k];
  for (int j = 0; j < kLanes; ++j) s += acc[j];
  return s;
}
// Σ (r − mean)²
MDMT_INLINE double dsum_sq_b(const float* r, int64_t n, double mean) {
  double acc[kLanes] = {};
  int64_t k = 0;
  for (; k + kLanes <= n; k += kLanes)
    for (int j = 0; j < kLanes; ++j) {
      const double t = r[k + j] - mean;
      acc[j] += t * t;
    }
  double s = 0;
  for (; k < n; ++k) s += (r[k] - mean) * (r[k] - mean);
  for (int j = 0; j < kLanes; ++j) s += acc[j];
  return s;
}
// *sg += Σ g, *sgx += Σ g·(r − mean)
MDMT_INLINE void dsum_dot_b(const float* g, const float* r, int64_t n, double mean, double* sg, double* sgx) {
  double a[kLanes] = {}, b[kLanes] = {};
  int64_t k = 0;
  for (; k + kLanes <= n; k += kLanes)
    for (int j = 0; j < kLanes; ++j) {
      a[j] += g[k + j];
      b[j] += g[k + j] * (r[k + j] - mean);
    }
  double s = 0, t = 0;
  for (; k < n; ++k) {
    s += g[k];
    t += g[k] * (r[k] - mean);
  }
  for (int j = 0; j < kLanes; ++j) {
    s += a[j];
    t += b[j];
  }
  *sg += s;
  *sgx += t;
}


// The channel sums compiled per ISA (the baseline build is SSE2: two doubles an add, and the
// statistics passes were bound by the double arithmetic, not by memory), chosen at run time.
#define MDMT_BN_SUMS(NAME, TARGET)                                                                             \
  TARGET double dsum_##NAME(const float* r, int64_t n) { return dsum_b(r, n); }                                \
  TARGET double dsum_sq_##NAME(const float* r, int64_t n, double mean) { return dsum_sq_b(r, n, mean); }       \
  TARGET void dsum_dot_##NAME(const float* g, const float* r, int64_t n, double mean, double* sg, double* sgx) { \
    dsum_dot_b(g, r, n, mean, sg, sgx);                                                                        \
  }
MDMT_EACH_ISA(MDMT_BN_SUMS)
struct Sums {
  double (*sum)(const float*, int64_t);
  double (*sum_sq)(const float*, int64_t, double);
  void (*dot)(const float*, const float*, int64_t, double, double*, double*);
};
Sums sums() { return {MDMT_PICK_ISA(dsum), MDMT_PICK_ISA(dsum_sq), MDMT_PICK_ISA(dsum_dot)}; }

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

// Calls f(std::integral_constant<Act, A>) for the runtime act: one compiled loop per case.
template <class F>
void with_act(Act a, F&& f) {
  if (a == Act::Relu) f(std::integral_constant<Act, Act::Relu>{});
  else if (a == Act::Relu6) f(std::integral_constant<Act, Act::Relu6>{});
  else f(std::integral_constant<Act, Act::None>{});
}

// The per-element loops, per ISA like the sums (the outputs never alias the inputs: these
// ops are not computed in place). o = act(a·r + bb [+ q]); dst = act'(g, y); dx = k1·g' + k2·(r − fm) + k3
// with g' = act'(g, y) when y is given, else g.
template <Act A>
MDMT_INLINE void out_row_b(const float* __restrict r, const float* __restrict q, float* __restrict o, int64_t n, float a, float bb) {
  if (q) for (int64_t k = 0; k < n; ++k) o[k] = act_fwd<A>((a * r[k] + bb) + q[k]);
  else for (int64_t k = 0; k < n; ++k) o[k] = act_fwd<A>(a * r[k] + bb);
}
template <Act A>
MDMT_INLINE void grad_row_b(const float* __restrict g, const float* __restrict y, float* __restrict dst, int64_t n) {
  for (int64_t k = 0; k < n; ++k) dst[k] = act_grad<A>(g[k], y[k]);
}
template <Act A>
MDMT_INLINE void dx_row_b(const float* __restrict g, const float* __restrict y, const float* __restrict r, float* __restrict out, int64_t n,
                         float k1, float k2, float k3, float fm) {
  if (y) for (int64_t q = 0; q < n; ++q) out[q] = k1 * act_grad<A>(g[q], y[q]) + k2 * (r[q] - fm) + k3;
  else for (int64_t q = 0; q < n; ++q) out[q] = k1 * g[q] + k2 * (r[q] - fm) + k3;
}
#define MDMT_BN_ROWS(NAME, TARGET)                                                                                  \
  TARGET void out_row_##NAME(Act a, const float* r, const float* q, float* o, int64_t n, float sc, float bb) {      \
    with_act(a, [&](auto t) { out_row_b<decltype(t)::value>(r, q, o, n, sc, bb); });                                \
  }                                                                                                                 \
  TARGET void grad_row_##NAME(Act a, const float* g, const float* y, float* dst, int64_t n) {                       \
    with_act(a, [&](auto t) { grad_row_b<decltype(t)::value>(g, y, dst, n); });                                     \
  }                                                                                                                 \
  TARGET void dx_row_##NAME(Act a, const float* g, const float* y, const float* r, float* out, int64_t n, float k1, \
                            float k2, float k3, float fm) {                                                         \
    with_act(a, [&](auto t) { dx_row_b<decltype(t)::value>(g, y, r, out, n, k1, k2, k3, fm); });                     \
  }
MDMT_EACH_ISA(MDMT_BN_ROWS)
struct Rows {
  void (*out)(Act, const float*, const float*, float*, int64_t, float, float);
  void (*grad)(Act, const float*, const float*, float*, int64_t);
  void (*dx)(Act, const float*, const float*, const float*, float*, int64_t, float, float, float, float);
};
Rows rows() { return {MDMT_PICK_ISA(out_row), MDMT_PICK_ISA(grad_row), MDMT_PICK_ISA(dx_row)}; }

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
      double s = 0;
      for (int64_t n = 0; n < d.N; ++n) s += sm.sum(px + n * CHW + ch * d.HW, d.HW);
      const double mean = s / M;
      double ss = 0;  // two-pass variance: no cancellation for large means
      for (int64_t n = 0; n < d.N; ++n) ss += sm.sum_sq(px + n * CHW + ch * d.HW, d.HW, mean);
      const double var = ss / M;
      const double invstd = 1.0 / std::sqrt(var + eps);
      // y = a·x + bb with a = w·invstd, bb = b − mean·a (then + r, then act: the unfused ops' order)
      const float a = static_cast<float>(pw[ch] * invstd);
      const float bb = static_cast<float>(pb[ch] - mean * pw[ch] * invstd);
      for (int64_t n = 0; n < d.N; ++n) {
        const int64_t off = n * CHW + ch * d.HW;
        rw.out(act, px + off, pr ? pr + off : nullptr, py + off, d.HW, a, bb);
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
constexpr int64_t kBlock = 256;  // elements of the activation-gradient block (on the stack)

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
  // one compiled body per (activation, dz wanted): the gradient at the BN output is dy
  // itself, or dy through the activation (read from y)
  auto body = [&](auto tag, auto with_dz) {
    constexpr Act A = decltype(tag)::value;
    constexpr bool DZ = decltype(with_dz)::value;
    parallel_for(0, d.C, channel_grain(d), [&](int64_t lo, int64_t hi) {
      for (int64_t ch = lo; ch < hi; ++ch) {
        const double mean = pm[ch], invstd = pi[ch];
        double sdy = 0, sdyx = 0;  // Σdy, Σdy·(x−mean)
        for (int64_t n = 0; n < d.N; ++n) {
          const int64_t off = n * CHW + ch * d.HW;
          const float* r = px + off;
          // the activation's gradient first, in a vectorised pass over a block (a data-dependent
          // select inside the scalar double-sum loop below would be a mispredicted branch)
          for (int64_t k0 = 0; k0 < d.HW; k0 += kBlock) {
            const int64_t m = std::min(kBlock, d.HW - k0);
            float buf[kBlock];
            const float* g = pdy + off + k0;
            if (A != Act::None) {
              float* dst = DZ ? pdz + off + k0 : buf;
              rw.grad(A, g, py + off + k0, dst, m);
              g = dst;
            }
            sm.dot(g, r + k0, m, mean, &sdy, &sdyx);
          }
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
          const float* g = DZ ? pdz + off : pdy + off;  // dz already holds the activation's gradient
          const float* r = px + off;
          const float* yy = A == Act::None || DZ ? nullptr : py + off;
          rw.dx(A, g, yy, r, pdx + off, d.HW, k1, k2, k3, fm);
        }
      }
    });
  };
  with_act(py ? act : Act::None, [&](auto tag) {
    if (pdz) body(tag, std::true_type{});
    else body(tag, std::false_type{});
  });
}

}  // namespace

MDMT_REGISTER_SPEC_OP("batchnorm_train", CPU, batchnorm_train_spec, bn_train);
MDMT_REGISTER_SPEC_OP("batchnorm_eval", CPU, batchnorm_eval_spec, batchnorm_eval);
MDMT_REGISTER_SPEC_OP("batchnorm_bwd", CPU, batchnorm_bwd_spec, bn_bwd);
MDMT_REGISTER_SPEC_OP("batchnorm_act_train", CPU, batchnorm_act_train_spec, bn_train);
MDMT_REGISTER_SPEC_OP("batchnorm_act_bwd", CPU, batchnorm_act_bwd_spec, bn_bwd);

}  // namespace mdmt
