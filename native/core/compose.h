// Fused ops run as their unfused kernels, in order, on a backend that has no fused kernel
// yet: the op's contract (docs/ops.md) and its tests exist once, and a faster kernel (a
// GEMM epilogue, a fused CUDA kernel) replaces the composition without touching callers.
#pragma once
#include "../ops/conv2d.h"
#include "registry.h"

namespace mdmt {

// conv2d_act: y = act(conv2d(x, w[, b]) [+ residual]) — the convolution, the residual added
// and the activation applied in place over y (every elementwise kernel reads element i
// before writing it). The contract is the family's (conv2d_act_spec); pre-transformed
// Winograd weights are the CPU kernel's only. `s` is the call's checked contract (a backend
// with other storage forms checks it on its own view of the call, as CUDA's bf16 does).
inline void conv2d_act_compose(OpCtx& c, const Conv2dActSpec& s) {
  if (s.winograd) MDMT_FAIL(code::kNotImpl, c.op, "pre-transformed Winograd weights (attribute winograd) run on the CPU only");
  const char* act = act_name(s.act);
  OpFn conv = find_op("conv2d", c.device.type), add = find_op("add", c.device.type), f = find_op(act, c.device.type);
  if (!conv || (s.residual && !add) || (s.act != Act::None && !f))
    MDMT_FAIL(code::kNotImpl, c.op, "needs conv2d, add and " << act << " on " << c.device.str());
  OpCtx k = c;
  k.in.resize(s.residual ? 3 : c.in.size());  // x, w[, b]
  conv(k);
  auto in_place = [&](const OpFn& fn, std::vector<Tensor*> in) {
    OpCtx a;
    a.op = c.op;
    a.device = c.device;
    a.in = std::move(in);
    a.out = {c.out[0]};
    fn(a);
  };
  if (s.residual) in_place(add, {c.out[0], c.in[3]});
  if (s.act != Act::None) in_place(f, {c.out[0]});
}
inline void conv2d_act_composed(OpCtx& c) { conv2d_act_compose(c, conv2d_act_spec(c)); }

}  // namespace mdmt
