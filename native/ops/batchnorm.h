// Family "batchnorm" (docs/ops.md "batchnorm"), PyTorch semantics: batchnorm_train,
// batchnorm_eval, batchnorm_bwd, and the fused batchnorm_act_train (y = act(bn(x) [+ r]))
// and batchnorm_act_bwd (the activation's gradient from y, then the bwd; dz out if asked). x is [N, C, H, W] or [N, C] (BatchNorm1d), viewed as
// [N, C, HW] with HW = 1 for rank 2; per-channel tensors are [C].
#pragma once
#include "spec.h"

namespace mdmt {

struct BatchnormSpec {
  int64_t N, C, HW;
  double eps;       // train, eval
  double momentum;  // train
  int act = 0;      // fused forms: 1 relu, 2 relu6 (0: none)
  bool residual = false;  // batchnorm_act_train: a 4th input added before the activation
  bool dz = false;        // batchnorm_act_bwd: a 4th output, the activation's gradient
};

// x, weight, bias -> y, save_mean, save_invstd, running_mean (in/out), running_var (in/out)
BatchnormSpec batchnorm_train_spec(const OpCtx& c);
// x, weight, bias, running_mean, running_var -> y
BatchnormSpec batchnorm_eval_spec(const OpCtx& c);
// dy, x, weight, save_mean, save_invstd -> dx, dweight, dbias
BatchnormSpec batchnorm_bwd_spec(const OpCtx& c);
// x, weight, bias[, residual] -> as batchnorm_train; attribute act ('relu' | 'relu6')
BatchnormSpec batchnorm_act_train_spec(const OpCtx& c);
// dy, y, x, weight, save_mean, save_invstd -> dx, dweight, dbias[, dz]; attribute act
BatchnormSpec batchnorm_act_bwd_spec(const OpCtx& c);

}  // namespace mdmt
