// CPU dropout (docs/ops.md "regularisation"). The mask of element i is a pure function of
// (seed, i): Philox4x32-10 with key (seed_lo, seed_hi) and counter (i/4, 0, 0, 0), lane
// i%4, u = (bits>>8)·2⁻²⁴, keep iff u ≥ p. kernels/philox.h is shared with the CUDA
// kernel, and p and the scale 1/(1−p) are float32 as there, so both masks and outputs
// are bit-identical. Without seed attributes the next seed of the global stream is used.
#include <cmath>

#include "../core/registry.h"
#include "../core/rng.h"
#include "parallel.h"
#include "philox.h"

namespace mdmt {
namespace {

constexpr int64_t kGrainBlocks = 1 << 12;  // Philox blocks (4 elements) per task

float p_attr(const OpCtx& c) {
  double p = c.attrs.f(c.op, "p");
  float pf = static_cast<float>(p);
  if (!(p >= 0 && p < 1) || !(pf < 1.0f))
    MDMT_FAIL(code::kInvalid, c.op, "attribute 'p' must be in [0, 1), got " << p);
  return pf;
}

uint32_t seed_half(const OpCtx& c, const char* k) {
  int64_t v = c.attrs.i(c.op, k);
  if (v < 0 || v > 0xFFFFFFFFLL) MDMT_FAIL(code::kInvalid, c.op, "attribute '" << k << "' must be a uint32, got " << v);
  return static_cast<uint32_t>(v);
}

void dropout(OpCtx& c) {
  c.expect_counts(1, 2);
  const Tensor& x = c.input(0, "x", DType::F32);
  Tensor& y = c.output(0, "y", DType::F32, x.shape);
  Tensor& mask = c.output(1, "mask", DType::U8, x.shape);
  const float p = p_attr(c);
  bool has_lo = c.attrs.has("seed_lo"), has_hi = c.attrs.has("seed_hi");
  if (has_lo != has_hi) MDMT_FAIL(code::kInvalid, c.op, "attributes 'seed_lo' and 'seed_hi' must be given together");
  uint32_t lo, hi;
  if (has_lo) {
    lo = seed_half(c, "seed_lo");
    hi = seed_half(c, "seed_hi");
  } else {
    uint64_t s = next_seed();
    lo = static_cast<uint32_t>(s);
    hi = static_cast<uint32_t>(s >> 32);
  }
  const float scale = 1.0f / (1.0f - p);
  const int64_t n = x.numel();
  const float* px = x.data<float>();
  float* py = y.data<float>();
  uint8_t* pm = mask.data<uint8_t>();
  parallel_for(0, (n + 3) / 4, kGrainBlocks, [&](int64_t qlo, int64_t qhi) {
    for (int64_t q = qlo; q < qhi; ++q) {
      philox::U4 r = philox::block(static_cast<uint64_t>(q), lo, hi);
      const uint32_t bits[4] = {r.x, r.y, r.z, r.w};
      const int64_t base = q * 4;
      const int m = static_cast<int>(n - base < 4 ? n - base : 4);
      for (int l = 0; l < m; ++l) {
        const bool keep = philox::to_uniform(bits[l]) >= p;
        pm[base + l] = keep ? 1 : 0;
        py[base + l] = px[base + l] * (keep ? scale : 0.f);  // a dropped NaN stays NaN, as PyTorch's x * mask
      }
    }
  });
}

void dropout_bwd(OpCtx& c) {
  c.expect_counts(2, 1);
  const Tensor& dy = c.input(0, "dy", DType::F32);
  const Tensor& mask = c.input(1, "mask", DType::U8);
  c.expect_shape(mask, "mask", dy.shape);
  Tensor& dx = c.output(0, "dx", DType::F32, dy.shape);
  const float p = p_attr(c);
  const float scale = 1.0f / (1.0f - p);
  const float* pd = dy.data<float>();
  const uint8_t* pm = mask.data<uint8_t>();
  float* po = dx.data<float>();
  parallel_for(0, dy.numel(), kGrainBlocks * 4, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) po[i] = pd[i] * (pm[i] ? scale : 0.f);
  });
}

}  // namespace

MDMT_REGISTER_OP("dropout", CPU, dropout);
MDMT_REGISTER_OP("dropout_bwd", CPU, dropout_bwd);

}  // namespace mdmt
