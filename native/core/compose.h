// Fused ops run as their unfused kernels, in order, on a backend that has no fused kernel
// yet: the op's contract (docs/ops.md) and its tests exist once, and a faster kernel (a
// GEMM epilogue, a fused CUDA kernel) replaces the composition without touching callers.
#pragma once
#include <set>
#include <string>

#include "registry.h"

namespace mdmt {

// conv2d_act: y = act(conv2d(x, w[, b])), the activation applied in place over y (every
// activation kernel reads element i before writing it).
inline void conv2d_act_composed(OpCtx& c) {
  static const std::set<std::string> acts = {"relu", "relu6", "silu", "sigmoid", "hardswish"};
  const std::string act = c.attrs.s(c.op, "act", "relu");
  if (!acts.count(act))
    MDMT_FAIL(code::kInvalid, c.op, "attribute 'act' must be relu, relu6, silu, sigmoid or hardswish, got '" << act << "'");
  OpFn conv = find_op("conv2d", c.device.type), f = find_op(act, c.device.type);
  if (!conv || !f) MDMT_FAIL(code::kNotImpl, c.op, "needs conv2d and " << act << " on " << c.device.str());
  conv(c);
  OpCtx a;
  a.op = c.op;
  a.device = c.device;
  a.in = {c.out[0]};
  a.out = {c.out[0]};
  f(a);
}

}  // namespace mdmt
