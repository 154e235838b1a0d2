// The paper's indicator-masked cross-entropy on the CPU (docs/ops.md "masked_xent"; the maths and
// the contract in native/ops/masked_xent.h). Each row is read once for an online
// max/sum-of-exponentials (double) and once more to write its gradient; the
// probabilities are never stored. Masked-out rows contribute nothing and their labels are
// ignored (the data pipeline writes −1 there).
#include <cmath>
#include <limits>
#include <vector>

#include "../ops/masked_xent.h"
#include "parallel.h"

namespace mdmt {
namespace {

void masked_xent_fwd_bwd(OpCtx& c, const MaskedXentSpec& s) {
  const int64_t N = s.N, C = s.C;
  const int32_t* py = c.in[1]->data<int32_t>();
  const float* pm = c.in[2]->data<float>();
  double active = 0;
  for (int64_t i = 0; i < N; ++i) {  // validate before touching any output
    if (pm[i] != 0.f && pm[i] != 1.f)
      MDMT_FAIL(code::kInvalid, c.op, "input 'mask' must be 0 or 1, row " << i << " is " << pm[i]);
    if (pm[i] == 0.f) continue;
    active += 1;
    if (py[i] < 0 || py[i] >= C)
      MDMT_FAIL(code::kInvalid, c.op, "input 'labels': row " << i << " is active with label " << py[i] << ", outside [0, " << C << ")");
  }
  const double D = s.masked ? std::max(active, 1.0) : static_cast<double>(N);

  const float* pz = c.in[0]->data<float>();
  float* pd = c.out[1]->data<float>();
  std::vector<double> li(N, 0.0);
  const int64_t grain = C >= 1024 ? 1 : 1024 / C;
  parallel_for(0, N, grain, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      const float* r = pz + i * C;
      float* g = pd + i * C;
      if (pm[i] == 0.f) {
        for (int64_t j = 0; j < C; ++j) g[j] = 0.f;
        continue;
      }
      // online logsumexp: running max mx, s = Σ exp(z − mx)
      double mx = -std::numeric_limits<double>::infinity(), s = 0;
      for (int64_t j = 0; j < C; ++j) {
        const double v = r[j];
        if (v > mx) {
          s = s * std::exp(mx - v) + 1.0;
          mx = v;
        } else {
          s += std::exp(v - mx);
        }
      }
      const double lse = mx + std::log(s);
      const int32_t y = py[i];
      li[i] = lse - r[y];
      const double k = pm[i] / D;
      for (int64_t j = 0; j < C; ++j) g[j] = static_cast<float>(k * (std::exp(r[j] - lse) - (j == y ? 1.0 : 0.0)));
    }
  });
  double total = 0;  // serial sum: the same loss for any thread count
  for (int64_t i = 0; i < N; ++i) total += pm[i] * li[i];
  *c.out[0]->data<float>() = static_cast<float>(total / D);
}

}  // namespace

MDMT_REGISTER_SPEC_OP("masked_xent_fwd_bwd", CPU, masked_xent_spec, masked_xent_fwd_bwd);

}  // namespace mdmt
