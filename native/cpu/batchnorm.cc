// CPU batch normalisation (docs/ops.md "batchnorm"; contract in native/ops/batchnorm.h).
// x is [N, C, H, W] or [N, C] (BatchNorm1d); both are viewed as [N, C, HW] with HW = 1
// for rank 2. Channel c's M = N·HW elements are N runs of HW contiguous floats.
// Statistics are accumulated in double; the work is split over channels.
//   train: mean = Σx/M, var = Σ(x−mean)²/M (biased, normalises), invstd = 1/√(var+eps),
//          y = (x−mean)·invstd·w + b, running ← (1−m)·running + m·stat with var·M/(M−1)
//   eval:  y = (x−rm)/√(rv+eps)·w + b
//   bwd:   dbias = Σdy, dweight = Σdy·x̂, dx = w·invstd·(dy − dbias/M − x̂·dweight/M)
#include <cmath>
#include <vector>

#include "../ops/batchnorm.h"
#include "parallel.h"

namespace mdmt {
namespace {

using Dims = BatchnormSpec;

// Grain over channels: a channel is worth a task when it holds enough elements.
int64_t channel_grain(const Dims& d) {
  int64_t m = d.N * d.HW;
  return m >= 4096 ? 1 : (4096 + m - 1) / (m < 1 ? 1 : m);
}

void batchnorm_train(OpCtx& c, const Dims& d) {
  const double eps = d.eps, mom = d.momentum;
  const int64_t M = d.N * d.HW;
  const float* px = c.in[0]->data<float>();
  const float* pw = c.in[1]->data<float>();
  const float* pb = c.in[2]->data<float>();
  float* py = c.out[0]->data<float>();
  float* pm = c.out[1]->data<float>();
  float* pi = c.out[2]->data<float>();
  float* prm = c.out[3]->data<float>();
  float* prv = c.out[4]->data<float>();
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

void batchnorm_bwd(OpCtx& c, const Dims& d) {
  const int64_t M = d.N * d.HW;
  const float* pdy = c.in[0]->data<float>();
  const float* px = c.in[1]->data<float>();
  const float* pw = c.in[2]->data<float>();
  const float* pm = c.in[3]->data<float>();
  const float* pi = c.in[4]->data<float>();
  float* pdx = c.out[0]->data<float>();
  float* pdw = c.out[1]->data<float>();
  float* pdb = c.out[2]->data<float>();
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

MDMT_REGISTER_SPEC_OP("batchnorm_train", CPU, batchnorm_train_spec, batchnorm_train);
MDMT_REGISTER_SPEC_OP("batchnorm_eval", CPU, batchnorm_eval_spec, batchnorm_eval);
MDMT_REGISTER_SPEC_OP("batchnorm_bwd", CPU, batchnorm_bwd_spec, batchnorm_bwd);

}  // namespace mdmt
