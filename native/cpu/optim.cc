// CPU optimisers (docs/ops.md "optim"; the update rules, the operand order and the
// contract in native/ops/optim.h): every parameter in one call, PyTorch's update rules in
// float32 in PyTorch's order of operations; Adam in chunks of all tensors in one parallel
// region, SGD parallel over each tensor's elements.
#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "../ops/optim.h"
#include "parallel.h"

namespace mdmt {
namespace {

constexpr int64_t kGrain = 1 << 14;

void adam(OpCtx& c, const AdamSpec& s) {
  const size_t n = s.n;
  const float b2 = s.beta2, omb1 = s.omb1, omb2 = s.omb2, eps = s.eps, wd = s.wd, decay = s.decay;
  const float step_size = s.step_size, bc2_sqrt = s.bc2_sqrt;
  const bool decoupled = s.decoupled;
  // Multi-tensor: every parameter cut into chunks of kGrain elements, all chunks in one
  // parallel region (a network's many small tensors no longer run one region each).
  thread_local std::vector<std::pair<int32_t, int64_t>> tl_chunks;  // (tensor, first element); grow-only
  auto& chunks = tl_chunks;  // the caller's: a thread_local named inside the workers would be theirs
  chunks.clear();
  for (size_t i = 0; i < n; ++i)
    for (int64_t st = 0; st < c.in[i]->numel(); st += kGrain) chunks.emplace_back(static_cast<int32_t>(i), st);
  parallel_for(0, static_cast<int64_t>(chunks.size()), 1, [&](int64_t c0, int64_t c1) {
    for (int64_t ci = c0; ci < c1; ++ci) {
      const size_t i = static_cast<size_t>(chunks[ci].first);
      const int64_t lo = chunks[ci].second, hi = std::min(lo + kGrain, c.in[i]->numel());
      const float* pg = c.in[i]->data<float>();
      float* pp = c.out[i]->data<float>();
      float* pm = c.out[n + i]->data<float>();
      float* pv = c.out[2 * n + i]->data<float>();
      for (int64_t j = lo; j < hi; ++j) {
        float g = pg[j];
        float p = pp[j];
        if (wd != 0.f) {
          if (decoupled) p *= decay;
          else g += wd * p;
        }
        float m = pm[j] + omb1 * (g - pm[j]);  // m.lerp_(g, 1 − β1), as torch
        float v = b2 * pv[j] + omb2 * g * g;
        float denom = std::sqrt(v) / bc2_sqrt + eps;
        pp[j] = p - step_size * (m / denom);
        pm[j] = m;
        pv[j] = v;
      }
    }
  });
}

void sgd(OpCtx& c, const SgdSpec& s) {
  const size_t n = s.n;
  const float lr = s.lr, mu = s.momentum, omd = s.omd, wd = s.wd;
  const bool nesterov = s.nesterov, first = s.first_step, has_buf = s.has_buf;
  for (size_t i = 0; i < n; ++i) {
    const float* pg = c.in[i]->data<float>();
    float* pp = c.out[i]->data<float>();
    float* pb = has_buf ? c.out[n + i]->data<float>() : nullptr;
    parallel_for(0, c.in[i]->numel(), kGrain, [&](int64_t lo, int64_t hi) {
      for (int64_t j = lo; j < hi; ++j) {
        float d = pg[j];
        if (wd != 0.f) d += wd * pp[j];
        if (has_buf) {
          float b = first ? d : mu * pb[j] + omd * d;
          pb[j] = b;
          d = nesterov ? d + mu * b : b;
        }
        pp[j] -= lr * d;
      }
    });
  }
}

}  // namespace

MDMT_REGISTER_SPEC_OP("adam", CPU, adam_spec, adam);
MDMT_REGISTER_SPEC_OP("sgd", CPU, sgd_spec, sgd);

}  // namespace mdmt
