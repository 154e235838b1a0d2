// relu / relu6 / silu / sigmoid / hardswish and backward on CUDA (docs/ops.md; contract in
// native/ops/activations.h).
#include "../ops/activations.h"
#include "common.h"
#include "lowp.h"

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

MDMT_REGISTER_LOWP_OP("relu", activation_spec, act_fwd<k::Act::Relu>, (activation_lowp_of<k::Act::Relu, false>));
MDMT_REGISTER_LOWP_OP("relu_bwd", activation_bwd_spec, act_bwd<k::Act::Relu>, (activation_lowp_of<k::Act::Relu, true>));
MDMT_REGISTER_LOWP_OP("relu6", activation_spec, act_fwd<k::Act::Relu6>, (activation_lowp_of<k::Act::Relu6, false>));
MDMT_REGISTER_LOWP_OP("relu6_bwd", activation_bwd_spec, act_bwd<k::Act::Relu6>, (activation_lowp_of<k::Act::Relu6, true>));
MDMT_REGISTER_LOWP_OP("silu", activation_spec, act_fwd<k::Act::Silu>, (activation_lowp_of<k::Act::Silu, false>));
MDMT_REGISTER_LOWP_OP("silu_bwd", activation_bwd_spec, act_bwd<k::Act::Silu>, (activation_lowp_of<k::Act::Silu, true>));
MDMT_REGISTER_LOWP_OP("sigmoid", activation_spec, act_fwd<k::Act::Sigmoid>, (activation_lowp_of<k::Act::Sigmoid, false>));
MDMT_REGISTER_LOWP_OP("sigmoid_bwd", activation_bwd_spec, act_bwd<k::Act::Sigmoid>, (activation_lowp_of<k::Act::Sigmoid, true>));
MDMT_REGISTER_LOWP_OP("hardswish", activation_spec, act_fwd<k::Act::Hardswish>, (activation_lowp_of<k::Act::Hardswish, false>));
MDMT_REGISTER_LOWP_OP("hardswish_bwd", activation_bwd_spec, act_bwd<k::Act::Hardswish>, (activation_lowp_of<k::Act::Hardswish, true>));

}  // namespace cuda
}  // namespace mdmt
