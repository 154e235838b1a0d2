// dropout / dropout_bwd on CUDA: the Philox mask of docs/ops.md, bit-identical to the CPU's.
#include "../core/rng.h"
#include "common.h"

namespace mdmt {
namespace cuda {
namespace {

float p_attr(const OpCtx& c) {
  double p = c.attrs.f(c.op, "p");
  float pf = static_cast<float>(p);
  if (!(p >= 0 && p < 1) || !(pf < 1.0f)) MDMT_FAIL(code::kInvalid, c.op, "attribute 'p' must be in [0, 1), got " << p);
  return pf;
}

uint32_t seed_half(const OpCtx& c, const char* key) {
  int64_t v = c.attrs.i(c.op, key);
  if (v < 0 || v > 0xFFFFFFFFLL) MDMT_FAIL(code::kInvalid, c.op, "attribute '" << key << "' must be a uint32, got " << v);
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
  DeviceCtx& d = ctx_of(c);
  cudaCheck(c.op, k::dropout(fp(y), static_cast<uint8_t*>(mask.raw()), cfp(x), x.numel(), p, lo, hi, d.stream));
}

void dropout_bwd(OpCtx& c) {
  c.expect_counts(2, 1);
  const Tensor& dy = c.input(0, "dy", DType::F32);
  const Tensor& mask = c.input(1, "mask", DType::U8);
  c.expect_shape(mask, "mask", dy.shape);
  Tensor& dx = c.output(0, "dx", DType::F32, dy.shape);
  const float p = p_attr(c);
  DeviceCtx& d = ctx_of(c);
  cudaCheck(c.op, k::dropout_bwd(fp(dx), cfp(dy), static_cast<const uint8_t*>(mask.raw()), dy.numel(), p, d.stream));
}

}  // namespace

MDMT_REGISTER_OP("dropout", CUDA, dropout);
MDMT_REGISTER_OP("dropout_bwd", CUDA, dropout_bwd);

}  // namespace cuda
}  // namespace mdmt
