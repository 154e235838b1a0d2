#include "activations.h"

namespace mdmt {

const char* activation_saved(const std::string& op) { return op == "relu_bwd" || op == "sigmoid_bwd" ? "y" : "x"; }

Act parse_act(const std::string& op, const std::string& name) {
  if (name == "none") return Act::None;
  if (name == "relu") return Act::Relu;
  if (name == "relu6") return Act::Relu6;
  if (name == "silu") return Act::Silu;
  if (name == "sigmoid") return Act::Sigmoid;
  if (name == "hardswish") return Act::Hardswish;
  MDMT_FAIL(code::kInvalid, op, "attribute 'act' must be relu, relu6, silu, sigmoid, hardswish or none, got '" << name << "'");
}

const char* act_name(Act a) {
  switch (a) {
    case Act::Relu: return "relu";
    case Act::Relu6: return "relu6";
    case Act::Silu: return "silu";
    case Act::Sigmoid: return "sigmoid";
    case Act::Hardswish: return "hardswish";
    default: return "none";
  }
}

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
