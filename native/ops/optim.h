// Family "optim" (docs/ops.md "optim"): every parameter in one call, PyTorch's update
// rules in float32 in PyTorch's order of operations. Bias corrections are computed by the
// caller (TypeScript keeps the step count) and passed as attributes.
//   adam: inputs g1..gn; outputs p1..pn, m1..mn, v1..vn (all in/out)
//   sgd:  inputs g1..gn; outputs p1..pn, buf1..bufn (in/out; omitted when momentum = 0)
// As PyTorch, the scalars are formed in double and rounded once: step_size = lr/bc1,
// bc2_sqrt = √bc2, 1 − β (1 − float(0.999) would be off by 1e-5), decay = 1 − lr·wd
// (AdamW), 1 − dampening (SGD).
#pragma once
#include "spec.h"

namespace mdmt {

struct AdamSpec {
  size_t n;  // parameter tensors
  float step_size, beta2, omb1, omb2, eps, wd, bc2_sqrt, decay;
  bool decoupled;  // AdamW: p *= decay instead of g += wd·p
};
struct SgdSpec {
  size_t n;
  float lr, momentum, omd, wd;
  bool nesterov, first_step, has_buf;  // has_buf: momentum != 0 (outputs buf1..bufn)
};

AdamSpec adam_spec(const OpCtx& c);
SgdSpec sgd_spec(const OpCtx& c);

}  // namespace mdmt
