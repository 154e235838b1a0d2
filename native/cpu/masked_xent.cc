// The paper's indicator-masked cross-entropy (Eq. 2), fused (docs/ops.md "loss"):
//   ℓᵢ = logsumexp(zᵢ) − z_{i,yᵢ},  loss = Σ mᵢℓᵢ / D,  dlogits = mᵢ(softmax(zᵢ) − onehot(yᵢ))/D
// D = N ("batch", as the authors' code) or max(Σmᵢ, 1) ("masked"). Each row is read once
// for an online max/sum-of-exponentials (double) and once more to write its gradient; the
// probabilities are never stored. Masked-out rows contribute nothing and their labels are
// ignored (the data pipeline writes −1 there).
#include <cmath>
#include <limits>
#include <vector>

#include "../core/registry.h"
#include "parallel.h"

namespace mdmt {
namespace {

void masked_xent_fwd_bwd(OpCtx& c) {
  c.expect_counts(3, 2);
  const Tensor& z = c.input(0, "logits", DType::F32, 2);
  const int64_t N = z.shape[0], C = z.shape[1];
  const Tensor& lab = c.input(1, "labels", DType::I32, 1);
  c.expect_shape(lab, "labels", Shape{N});
  const Tensor& msk = c.input(2, "mask", DType::F32, 1);
  c.expect_shape(msk, "mask", Shape{N});
  Tensor& loss = c.output(0, "loss", DType::F32, Shape{});
  Tensor& dz = c.output(1, "dlogits", DType::F32, z.shape);
  const std::string norm = c.attrs.s(c.op, "normalize", "batch");
  if (norm != "batch" && norm != "masked")
    MDMT_FAIL(code::kInvalid, c.op, "attribute 'normalize' must be \"batch\" or \"masked\", got \"" << norm << "\"");
  if (C < 1) MDMT_FAIL(code::kShape, c.op, "input 'logits' needs at least one class, got " << z.shape_str());

  const int32_t* py = lab.data<int32_t>();
  const float* pm = msk.data<float>();
  double active = 0;
  for (int64_t i = 0; i < N; ++i) {  // validate before touching any output
    if (pm[i] != 0.f && pm[i] != 1.f)
      MDMT_FAIL(code::kInvalid, c.op, "input 'mask' must be 0 or 1, row " << i << " is " << pm[i]);
    if (pm[i] == 0.f) continue;
    active += 1;
    if (py[i] < 0 || py[i] >= C)
      MDMT_FAIL(code::kInvalid, c.op, "input 'labels': row " << i << " is active with label " << py[i] << ", outside [0, " << C << ")");
  }
  const double D = norm == "batch" ? static_cast<double>(N) : std::max(active, 1.0);

  const float* pz = z.data<float>();
  float* pd = dz.data<float>();
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
  *loss.data<float>() = static_cast<float>(total / D);
}

}  // namespace

MDMT_REGISTER_OP("masked_xent_fwd_bwd", CPU, masked_xent_fwd_bwd);

}  // namespace mdmt
