// batchnorm_train / batchnorm_eval / batchnorm_bwd and the fused batchnorm_act_train /
// batchnorm_act_bwd on CUDA (docs/ops.md "batchnorm"; contract in native/ops/batchnorm.h),
// our kernels (kernels/batchnorm.cu).
#include "../ops/batchnorm.h"
#include "common.h"
#include "lowp.h"

namespace mdmt {
namespace cuda {
namespace {

// The kernels put channels on gridDim.y.
template <BatchnormSpec (*SPEC)(const OpCtx&)>
BatchnormSpec channel_limit(const OpCtx& c) {
  BatchnormSpec s = SPEC(c);
  if (s.C > 65535) MDMT_FAIL(code::kShape, c.op, "at most 65535 channels on cuda, got " << s.C);
  return s;
}

// batchnorm_train (s.act 0) and batchnorm_act_train (x, w, b[, residual]).
void batchnorm_train(OpCtx& c, const BatchnormSpec& s) {
  DeviceCtx& dc = ctx_of(c);
  Scratch ws(c.device, k::batchnorm_ws_bytes(s.C), c.op);
  const std::vector<Tensor*>& in = c.in;
  const std::vector<Tensor*>& out = c.out;
  cudaCheck(c.op, k::batchnorm_act_train(fp(*out[0]), fp(*out[1]), fp(*out[2]), fp(*out[3]), fp(*out[4]), cfp(*in[0]),
                                         cfp(*in[1]), cfp(*in[2]), s.residual ? cfp(*in[3]) : nullptr, s.act, s.N, s.C,
                                         s.HW, static_cast<float>(s.eps), static_cast<float>(s.momentum), ws.get(),
                                         dc.stream));
}

// (The CPU also rejects running_var + eps <= 0; that needs a device read here, so a
// negative running_var gives NaN on CUDA instead of an exception.)
void batchnorm_eval(OpCtx& c, const BatchnormSpec& s) {
  DeviceCtx& dc = ctx_of(c);
  const std::vector<Tensor*>& in = c.in;
  cudaCheck(c.op, k::batchnorm_eval(fp(*c.out[0]), cfp(*in[0]), cfp(*in[1]), cfp(*in[2]), cfp(*in[3]), cfp(*in[4]), s.N,
                                    s.C, s.HW, static_cast<float>(s.eps), dc.stream));
}

// batchnorm_bwd (s.act 0: dy, x, w, mean, invstd) and batchnorm_act_bwd (dy, y, x, w, mean,
// invstd; outputs dx, dw, db[, dz]).
void batchnorm_bwd(OpCtx& c, const BatchnormSpec& s) {
  DeviceCtx& dc = ctx_of(c);
  Scratch ws(c.device, k::batchnorm_ws_bytes(s.C), c.op);
  const std::vector<Tensor*>& in = c.in;
  const std::vector<Tensor*>& out = c.out;
  const size_t o = s.act ? 1 : 0;
  cudaCheck(c.op, k::batchnorm_act_bwd(fp(*out[0]), fp(*out[1]), fp(*out[2]), s.dz ? fp(*out[3]) : nullptr, cfp(*in[0]),
                                       o ? cfp(*in[1]) : nullptr, cfp(*in[1 + o]), cfp(*in[2 + o]), cfp(*in[3 + o]),
                                       cfp(*in[4 + o]), s.act, s.N, s.C, s.HW, ws.get(), dc.stream));
}

}  // namespace

MDMT_REGISTER_LOWP_OP("batchnorm_train", channel_limit<batchnorm_train_spec>, batchnorm_train, batchnorm_lowp);
MDMT_REGISTER_LOWP_OP("batchnorm_eval", channel_limit<batchnorm_eval_spec>, batchnorm_eval, batchnorm_lowp);
MDMT_REGISTER_LOWP_OP("batchnorm_bwd", channel_limit<batchnorm_bwd_spec>, batchnorm_bwd, batchnorm_lowp);
MDMT_REGISTER_LOWP_OP("batchnorm_act_train", channel_limit<batchnorm_act_train_spec>, batchnorm_train, batchnorm_lowp);
MDMT_REGISTER_LOWP_OP("batchnorm_act_bwd", channel_limit<batchnorm_act_bwd_spec>, batchnorm_bwd, batchnorm_lowp);

}  // namespace cuda
}  // namespace mdmt
