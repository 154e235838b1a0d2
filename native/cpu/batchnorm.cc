// CPU batch normalisation (docs/ops.md "normalisation"), PyTorch semantics.
// x is [N, C, H, W] or [N, C] (BatchNorm1d); both are viewed as [N, C, HW] with HW = 1
// for rank 2. Channel c's M = N·HW elements are N runs of HW contiguous floats.
// Statistics are accumulated in double; the work is split over channels.
//   train: mean = Σx/M, var = Σ(x−mean)²/M (biased, normalises), invstd = 1/√(var+eps),
//          y = (x−mean)·invstd·w + b, running ← (1−m)·running + m·stat with var·M/(M−1)
//   eval:  y = (x−rm)/√(rv+eps)·w + b
//   bwd:   dbias = Σdy, dweight = Σdy·x̂, dx = w·invstd·(dy − dbias/M − x̂·dweight/M)
#include <cmath>
#include <vector>

#include "../core/registry.h"
#include "parallel.h"

namespace mdmt {
namespace {

struct Dims {
  int64_t N, C, HW;
};

Dims bn_dims(const OpCtx& c, const Tensor& x) {
  if (x.ndim() != 2 && x.ndim() != 4)
    MDMT_FAIL(code::kShape, c.op, "input 'x' must be [N, C, H, W] or [N, C], got " << x.shape_str());
  Dims d{x.shape[0], x.shape[1], x.ndim() == 4 ? x.shape[2] * x.shape[3] : 1};
  if (d.C < 1) MDMT_FAIL(code::kShape, c.op, "input 'x' has no channels: " << x.shape_str());
  return d;
}

const Tensor& per_channel(const OpCtx& c, size_t i, const char* name, int64_t C) {
  const Tensor& t = c.input(i, name, DType::F32, 1);
  c.expect_shape(t, name, Shape{C});
  return t;
}

double eps_attr(const OpCtx& c) {
  double eps = c.attrs.f(c.op, "eps", 1e-5);
  if (!(eps > 0) || !std::isfinite(eps)) MDMT_FAIL(code::kInvalid, c.op, "attribute 'eps' must be > 0, got " << eps);
  return eps;
}

// Grain over channels: a channel is worth a task when it holds enough elements.
int64_t channel_grain(const Dims& d) {
  int64_t m = d.N * d.HW;
  return m >= 4096 ? 1 : (4096 + m - 1) / (m < 1 ? 1 : m);
}

void batchnorm_train(OpCtx& c) {
  c.expect_counts(3, 5);
  const Tensor& x = c.input(0, "x", DType::F32);
  Dims d = bn_dims(c, x);
  const Tensor& w = per_channel(c, 1, "weight", d.C);
  const Tensor& b = per_channel(c, 2, "bias", d.C);
  Tensor& y = c.output(0, "y", DType::F32, x.shape);
  Tensor& smean = c.output(1, "save_mean", DType::F32, Shape{d.C});
  Tensor& sinv = c.output(2, "save_invstd", DType::F32, Shape{d.C});
  Tensor& rmean = c.output(3, "running_mean", DType::F32, Shape{d.C});
  Tensor& rvar = c.output(4, "running_var", DType::F32, Shape{d.C});
  const double eps = eps_attr(c);
  const double mom = c.attrs.f(c.op, "momentum", 0.1);
  if (!(mom >= 0 && mom <= 1)) MDMT_FAIL(code::kInvalid, c.op, "attribute 'momentum' must be in [0, 1], got " << mom);
  const int64_t M = d.N * d.HW;
  if (M < 2)
    MDMT_FAIL(code::kInvalid, c.op, "training needs more than 1 value per channel, got input 'x' " << x.shape_str());
  const float* px = x.data<float>();
  const float* pw = w.data<float>();
  const float* pb = b.data<float>();
  float* py = y.data<float>();
  float* pm = smean.data<float>();
  float* pi = sinv.data<float>();
  float* prm = rmean.data<float>();
  float* prv = rvar.data<float>();
  const int64_t CHW = d.C * d.HW;
  parallel_for(0, d.C, channel_grain(d), [&](int64_t lo, int64_t hi) {
    for (int64_t ch = lo; ch < hi; ++ch) {
      double s = 0;
      for (int64_t n = 0; n < d.N; ++n) {
        const float* r = px + n * CHW + ch * d.HW;
        for (int64_t k = 0; k < d.HW; ++k) s += r[k];
      }
      const double mean = s / M;
      double ss = 0;  // two-pass variance: no cancellation for large means
      for (int64_t n = 0; n < d.N; ++n) {
        const float* r = px + n * CHW + ch * d.HW;
        for (int64_t k = 0; k < d.HW; ++k) {
          double t = r[k] - mean;
          ss += t * t;
        }
      }
      const double var = ss / M;
      const double invstd = 1.0 / std::sqrt(var + eps);
      // y = a·x + bb with a = w·invstd, bb = b − mean·a
      const float a = static_cast<float>(pw[ch] * invstd);
      const float bb = static_cast<float>(pb[ch] - mean * pw[ch] * invstd);
      for (int64_t n = 0; n < d.N; ++n) {
        const float* r = px + n * CHW + ch * d.HW;
        float* o = py + n * CHW + ch * d.HW;
        for (int64_t k = 0; k < d.HW; ++k) o[k] = a * r[k] + bb;
      }
      pm[ch] = static_cast<float>(mean);
      pi[ch] = static_cast<float>(invstd);
      prm[ch] = static_cast<float>((1 - mom) * prm[ch] + mom * mean);
      prv[ch] = static_cast<float>((1 - mom) * prv[ch] + mom * var * M / (M - 1));
    }
  });
}

void batchnorm_eval(OpCtx& c) {
  c.expect_counts(5, 1);
  const Tensor& x = c.input(0, "x", DType::F32);
  Dims d = bn_dims(c, x);
  const Tensor& w = per_channel(c, 1, "weight", d.C);
  const Tensor& b = per_channel(c, 2, "bias", d.C);
  const Tensor& rm = per_channel(c, 3, "running_mean", d.C);
  const Tensor& rv = per_channel(c, 4, "running_var", d.C);
  Tensor& y = c.output(0, "y", DType::F32, x.shape);
  const double eps = eps_attr(c);
  const float* prv = rv.data<float>();
  for (int64_t ch = 0; ch < d.C; ++ch)
    if (!(prv[ch] + eps > 0))
      MDMT_FAIL(code::kInvalid, c.op, "input 'running_var' channel " << ch << " is " << prv[ch] << " (running_var + eps must be > 0)");
  std::vector<float> A(d.C), B(d.C);
  const float* pw = w.data<float>();
  const float* pb = b.data<float>();
  const float* prm = rm.data<float>();
  for (int64_t ch = 0; ch < d.C; ++ch) {
    double a = pw[ch] / std::sqrt(static_cast<double>(prv[ch]) + eps);
    A[ch] = static_cast<float>(a);
    B[ch] = static_cast<float>(pb[ch] - prm[ch] * a);
  }
  const float* px = x.data<float>();
  float* py = y.data<float>();
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

void batchnorm_bwd(OpCtx& c) {
  c.expect_counts(5, 3);
  const Tensor& dy = c.input(0, "dy", DType::F32);
  const Tensor& x = c.input(1, "x", DType::F32);
  Dims d = bn_dims(c, x);
  c.expect_shape(dy, "dy", x.shape);
  const Tensor& w = per_channel(c, 2, "weight", d.C);
  const Tensor& sm = per_channel(c, 3, "save_mean", d.C);
  const Tensor& si = per_channel(c, 4, "save_invstd", d.C);
  Tensor& dx = c.output(0, "dx", DType::F32, x.shape);
  Tensor& dw = c.output(1, "dweight", DType::F32, Shape{d.C});
  Tensor& db = c.output(2, "dbias", DType::F32, Shape{d.C});
  const int64_t M = d.N * d.HW;
  if (M < 1) MDMT_FAIL(code::kShape, c.op, "input 'x' " << x.shape_str() << " is empty");
  const float* pdy = dy.data<float>();
  const float* px = x.data<float>();
  const float* pw = w.data<float>();
  const float* pm = sm.data<float>();
  const float* pi = si.data<float>();
  float* pdx = dx.data<float>();
  float* pdw = dw.data<float>();
  float* pdb = db.data<float>();
  const int64_t CHW = d.C * d.HW;
  parallel_for(0, d.C, channel_grain(d), [&](int64_t lo, int64_t hi) {
    for (int64_t ch = lo; ch < hi; ++ch) {
      const double mean = pm[ch], invstd = pi[ch];
      double sdy = 0, sdyx = 0;  // Σdy, Σdy·(x−mean)
      for (int64_t n = 0; n < d.N; ++n) {
        const float* g = pdy + n * CHW + ch * d.HW;
        const float* r = px + n * CHW + ch * d.HW;
        for (int64_t k = 0; k < d.HW; ++k) {
          sdy += g[k];
          sdyx += g[k] * (r[k] - mean);
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
        const float* g = pdy + n * CHW + ch * d.HW;
        const float* r = px + n * CHW + ch * d.HW;
        float* o = pdx + n * CHW + ch * d.HW;
        for (int64_t q = 0; q < d.HW; ++q) o[q] = k1 * g[q] + k2 * (r[q] - fm) + k3;
      }
    }
  });
}

}  // namespace

MDMT_REGISTER_OP("batchnorm_train", CPU, batchnorm_train);
MDMT_REGISTER_OP("batchnorm_eval", CPU, batchnorm_eval);
MDMT_REGISTER_OP("batchnorm_bwd", CPU, batchnorm_bwd);

}  // namespace mdmt
