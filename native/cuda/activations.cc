// relu / relu6 / silu / sigmoid / hardswish and backward on CUDA (docs/ops.md; contract in
// native/ops/activations.h).
#include "../ops/activations.h"
#include "common.h"

namespace mdmt {
namespace cuda {
namespace {

template <k::Act A>
void act_fwd(OpCtx& c, const ActivationSpec& s) {
  DeviceCtx& d = ctx_of(c);
  cudaCheck(c.op, k::act_fwd(fp(*c.out[0]), cfp(*c.in[0]), s.n, A, d.stream));
}

// dx = f'(dy, t) with t = in[1], the tensor activation_saved() names
template <k::Act A>
void act_bwd(OpCtx& c, const ActivationSpec& s) {
  DeviceCtx& d = ctx_of(c);
  cudaCheck(c.op, k::act_bwd(fp(*c.out[0]), cfp(*c.in[0]), cfp(*c.in[1]), s.n, A, d.stream));
}

}  // namespace

MDMT_REGISTER_SPEC_OP("relu", CUDA, activation_spec, act_fwd<k::Act::Relu>);
MDMT_REGISTER_SPEC_OP("relu_bwd", CUDA, activation_bwd_spec, act_bwd<k::Act::Relu>);
MDMT_REGISTER_SPEC_OP("relu6", CUDA, activation_spec, act_fwd<k::Act::Relu6>);
MDMT_REGISTER_SPEC_OP("relu6_bwd", CUDA, activation_bwd_spec, act_bwd<k::Act::Relu6>);
MDMT_REGISTER_SPEC_OP("silu", CUDA, activation_spec, act_fwd<k::Act::Silu>);
MDMT_REGISTER_SPEC_OP("silu_bwd", CUDA, activation_bwd_spec, act_bwd<k::Act::Silu>);
MDMT_REGISTER_SPEC_OP("sigmoid", CUDA, activation_spec, act_fwd<k::Act::Sigmoid>);
MDMT_REGISTER_SPEC_OP("sigmoid_bwd", CUDA, activation_bwd_spec, act_bwd<k::Act::Sigmoid>);
MDMT_REGISTER_SPEC_OP("hardswish", CUDA, activation_spec, act_fwd<k::Act::Hardswish>);
MDMT_REGISTER_SPEC_OP("hardswish_bwd", CUDA, activation_bwd_spec, act_bwd<k::Act::Hardswish>);

}  // namespace cuda
}  // namespace mdmt
