#include "activations.h"

namespace mdmt {

const char* activation_saved(const std::string& op) { return op == "relu_bwd" || op == "sigmoid_bwd" ? "y" : "x"; }

ActivationSpec activation_spec(const OpCtx& c) {
  c.expect_counts(1, 1);
  const Tensor& x = c.input(0, "x", DType::F32);
  c.output(0, "y", DType::F32, x.shape);
  return {x.numel()};
}

ActivationSpec activation_bwd_spec(const OpCtx& c) {
  c.expect_counts(2, 1);
  const char* tname = activation_saved(c.op);
  const Tensor& dy = c.input(0, "dy", DType::F32);
  const Tensor& t = c.input(1, tname, DType::F32);
  c.expect_shape(t, tname, dy.shape);
  c.output(0, "dx", DType::F32, dy.shape);
  return {dy.numel()};
}

}  // namespace mdmt
