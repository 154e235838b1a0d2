// Family "conv2d" (docs/ops.md "conv2d"): conv2d (x, w, b? -> y), conv2d_bwd_data
// (dy, w -> dx), conv2d_bwd_filter (dy, x -> dw). NCHW, weights K × C/G × R × S.
// Each op is given two of x [N,C,H,W], w [K,C/G,R,S], y [N,K,P,Q] (dy for y) and writes
// the third; the three prepares check them against each other with the same rules and
// messages and derive the one geometry all three kernels use:
//   P = ⌊(H + 2·ph − dh·(R − 1) − 1) / sh⌋ + 1,   Q likewise with W, pw, dw, S, sw.
// Depthwise (G == C > 1) is a property of the geometry; backends choose their own kernels.
#pragma once
#include "spec.h"

namespace mdmt {

struct Conv2dSpec {
  int64_t N, C, H, W, K, R, S, P, Q, G, Cg, Kg;
  int64_t sh, sw, ph, pw, dh, dw;
  bool bias;  // conv2d with a third input b[K]
  bool pointwise() const { return R == 1 && S == 1 && sh == 1 && sw == 1 && ph == 0 && pw == 0; }
  bool depthwise() const { return G == C && G > 1; }
  int64_t crs() const { return Cg * R * S; }
};

Conv2dSpec conv2d_spec(const OpCtx& c);
Conv2dSpec conv2d_bwd_data_spec(const OpCtx& c);
Conv2dSpec conv2d_bwd_filter_spec(const OpCtx& c);

}  // namespace mdmt
