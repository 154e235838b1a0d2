// Family "masked_xent" (docs/ops.md "masked_xent"): the paper's indicator-masked cross-entropy
// (Eq. 2), fused with its gradient: logits [N, C], labels int32 [N], mask float32 [N] of
// 0/1 -> loss (scalar), dlogits [N, C]:
//   ℓᵢ = logsumexp(zᵢ) − z_{i,yᵢ},  loss = Σ mᵢℓᵢ / D,  dlogits = mᵢ(softmax(zᵢ) − onehot(yᵢ))/D
// D = N (normalize "batch", as the authors' code) or max(Σmᵢ, 1) ("masked"). Mask entries
// and the labels of active rows are data: the kernels check them (CPU before writing,
// CUDA through a flag read back after the launch).
#pragma once
#include "spec.h"

namespace mdmt {

struct MaskedXentSpec {
  int64_t N, C;
  bool masked;  // normalize "masked"
};

MaskedXentSpec masked_xent_spec(const OpCtx& c);

}  // namespace mdmt
