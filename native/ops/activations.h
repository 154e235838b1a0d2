// Family "activations" (docs/ops.md): relu, relu6, silu, sigmoid, hardswish (x -> y) and
// their backward ops (dy, t -> dx), where t is y for relu and sigmoid, x for the others.
#pragma once
#include "spec.h"

namespace mdmt {

struct ActivationSpec {
  int64_t n;
};

// An activation applied by another op's output loop (conv2d_act's epilogue), by name.
enum class Act : int { None = 0, Relu = 1, Relu6 = 2, Silu = 3, Sigmoid = 4, Hardswish = 5 };
// "none" | "relu" | "relu6" | "silu" | "sigmoid" | "hardswish" -> Act; throws EINVAL naming `op`.
Act parse_act(const std::string& op, const std::string& name);
const char* act_name(Act a);

// "y" (relu_bwd, sigmoid_bwd) or "x": the saved tensor a backward op takes with dy.
const char* activation_saved(const std::string& op);

ActivationSpec activation_spec(const OpCtx& c);      // x -> y
ActivationSpec activation_bwd_spec(const OpCtx& c);  // dy, x or y -> dx

}  // namespace mdmt
