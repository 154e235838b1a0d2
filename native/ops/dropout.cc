#include "dropout.h"

#include "../core/rng.h"

namespace mdmt {
namespace {

// p and scale = 1/(1−p): the threshold in float (the mask, the same on CPU and CUDA), the scale
// formed in double and rounded once, as PyTorch's (in float, p = 0.999 scaled by 1000.0129).
void p_attr(const OpCtx& c, DropoutSpec& s) {
  double p = c.attrs.f(c.op, "p");
  float pf = static_cast<float>(p);
  if (!(p >= 0 && p < 1) || !(pf < 1.0f)) MDMT_FAIL(code::kInvalid, c.op, "attribute 'p' must be in [0, 1), got " << p);
  s.p = pf;
  s.scale = static_cast<float>(1.0 / (1.0 - p));
}

uint32_t seed_half(const OpCtx& c, const char* k) {
  int64_t v = c.attrs.i(c.op, k);
  if (v < 0 || v > 0xFFFFFFFFLL) MDMT_FAIL(code::kInvalid, c.op, "attribute '" << k << "' must be a uint32, got " << v);
  return static_cast<uint32_t>(v);
}

}  // namespace

std::pair<uint32_t, uint32_t> DropoutSpec::key() const {
  if (seeded) return {seed_lo, seed_hi};
  const uint64_t s = next_seed();
  return {static_cast<uint32_t>(s), static_cast<uint32_t>(s >> 32)};
}

DropoutSpec dropout_spec(const OpCtx& c) {
  c.expect_counts(1, 2);
  const Tensor& x = c.input(0, "x", DType::F32);
  c.output(0, "y", DType::F32, x.shape);
  c.output(1, "mask", DType::U8, x.shape);
  DropoutSpec s{};
  p_attr(c, s);
  s.n = x.numel();
  const bool has_lo = c.attrs.has("seed_lo"), has_hi = c.attrs.has("seed_hi");
  if (has_lo != has_hi) MDMT_FAIL(code::kInvalid, c.op, "attributes 'seed_lo' and 'seed_hi' must be given together");
  s.seeded = has_lo;
  if (s.seeded) s.seed_lo = seed_half(c, "seed_lo"), s.seed_hi = seed_half(c, "seed_hi");
  return s;
}

DropoutSpec dropout_bwd_spec(const OpCtx& c) {
  c.expect_counts(2, 1);
  const Tensor& dy = c.input(0, "dy", DType::F32);
  const Tensor& mask = c.input(1, "mask", DType::U8);
  c.expect_shape(mask, "mask", dy.shape);
  c.output(0, "dx", DType::F32, dy.shape);
  DropoutSpec s{};
  p_attr(c, s);
  s.n = dy.numel();
  return s;
}

}  // namespace mdmt
