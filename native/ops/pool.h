// Family "pool" (docs/ops.md "pool"): maxpool2d (x -> y[, indices]), maxpool2d_bwd (dy,
// indices -> dx), avgpool2d, avgpool2d_bwd, global_avgpool, global_avgpool_bwd. NCHW.
// Window geometry is PyTorch's (dilation 1): attributes kernel, stride (default kernel),
// padding (at most half the kernel), ceil_mode; output
//   P = ⌊(H + 2·ph − kh + (ceil ? sh − 1 : 0)) / sh⌋ + 1, minus 1 when ceil_mode's last
//   window would start in the right padding; likewise Q.
// Output (p, q) reads rows p·sh − ph .. + kh and columns q·sw − pw .. + kw, clipped to the
// input. Backward ops take dx's shape from their output tensor.
#pragma once
#include "spec.h"

namespace mdmt {

struct PoolSpec {
  int64_t N, C, H, W, P, Q;
  int64_t kh, kw, sh, sw, ph, pw;
  bool ceil, count_include_pad;  // count_include_pad: avgpool2d's divisor
  bool indices = false;           // maxpool2d: the argmax output is asked for (eval omits it)
};

PoolSpec maxpool2d_spec(const OpCtx& c);      // x -> y[, indices] (int32, flat h·W + w in the plane)
PoolSpec maxpool2d_bwd_spec(const OpCtx& c);  // dy, indices -> dx (window attributes unused)
PoolSpec avgpool2d_spec(const OpCtx& c);      // x -> y
PoolSpec avgpool2d_bwd_spec(const OpCtx& c);  // dy -> dx
PoolSpec global_avgpool_spec(const OpCtx& c);      // x -> y [N, C, 1, 1]
PoolSpec global_avgpool_bwd_spec(const OpCtx& c);  // dy [N, C, 1, 1] -> dx

}  // namespace mdmt
