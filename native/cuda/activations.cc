// relu / relu6 / silu / sigmoid / hardswish and backward on CUDA (docs/ops.md).
#include "common.h"

namespace mdmt {
namespace cuda {
namespace {

template <k::Act A>
void act_fwd(OpCtx& c) {
  c.expect_counts(1, 1);
  const Tensor& x = c.input(0, "x", DType::F32);
  Tensor& y = c.output(0, "y", DType::F32, x.shape);
  DeviceCtx& d = ctx_of(c);
  cudaCheck(c.op, k::act_fwd(fp(y), cfp(x), x.numel(), A, d.stream));
}

// relu / sigmoid take y; relu6 / silu / hardswish take x.
template <k::Act A>
void act_bwd(OpCtx& c) {
  c.expect_counts(2, 1);
  const char* tname = (A == k::Act::Relu || A == k::Act::Sigmoid) ? "y" : "x";
  const Tensor& dy = c.input(0, "dy", DType::F32);
  const Tensor& t = c.input(1, tname, DType::F32);
  c.expect_shape(t, tname, dy.shape);
  Tensor& dx = c.output(0, "dx", DType::F32, dy.shape);
  DeviceCtx& d = ctx_of(c);
  cudaCheck(c.op, k::act_bwd(fp(dx), cfp(dy), cfp(t), dy.numel(), A, d.stream));
}

}  // namespace

MDMT_REGISTER_OP("relu", CUDA, act_fwd<k::Act::Relu>);
MDMT_REGISTER_OP("relu_bwd", CUDA, act_bwd<k::Act::Relu>);
MDMT_REGISTER_OP("relu6", CUDA, act_fwd<k::Act::Relu6>);
MDMT_REGISTER_OP("relu6_bwd", CUDA, act_bwd<k::Act::Relu6>);
MDMT_REGISTER_OP("silu", CUDA, act_fwd<k::Act::Silu>);
MDMT_REGISTER_OP("silu_bwd", CUDA, act_bwd<k::Act::Silu>);
MDMT_REGISTER_OP("sigmoid", CUDA, act_fwd<k::Act::Sigmoid>);
MDMT_REGISTER_OP("sigmoid_bwd", CUDA, act_bwd<k::Act::Sigmoid>);
MDMT_REGISTER_OP("hardswish", CUDA, act_fwd<k::Act::Hardswish>);
MDMT_REGISTER_OP("hardswish_bwd", CUDA, act_bwd<k::Act::Hardswish>);

}  // namespace cuda
}  // namespace mdmt
