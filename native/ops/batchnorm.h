// Family "batchnorm" (docs/ops.md "batchnorm"), PyTorch semantics: batchnorm_train,
// batchnorm_eval, batchnorm_bwd. x is [N, C, H, W] or [N, C] (BatchNorm1d), viewed as
// [N, C, HW] with HW = 1 for rank 2; per-channel tensors are [C].
#pragma once
#include "spec.h"

namespace mdmt {

struct BatchnormSpec {
  int64_t N, C, HW;
  double eps;       // train, eval
  double momentum;  // train
};

// x, weight, bias -> y, save_mean, save_invstd, running_mean (in/out), running_var (in/out)
BatchnormSpec batchnorm_train_spec(const OpCtx& c);
// x, weight, bias, running_mean, running_var -> y
BatchnormSpec batchnorm_eval_spec(const OpCtx& c);
// dy, x, weight, save_mean, save_invstd -> dx, dweight, dbias
BatchnormSpec batchnorm_bwd_spec(const OpCtx& c);

}  // namespace mdmt
