// Family "conv2d" (docs/ops.md "conv2d"): conv2d (x, w, b? -> y), conv2d_bwd_data
// (dy, w -> dx), conv2d_bwd_filter (dy, x -> dw), conv2d_act (x, w, b?, residual? -> y:
// the conv with its epilogue fused) and winograd_weights (w -> U). NCHW, weights
// K × C/G × R × S.
// Each op is given two of x [N,C,H,W], w [K,C/G,R,S], y [N,K,P,Q] (dy for y) and writes
// the third; the three prepares check them against each other with the same rules and
// messages and derive the one geometry all three kernels use:
//   P = ⌊(H + 2·ph − dh·(R − 1) − 1) / sh⌋ + 1,   Q likewise with W, pw, dw, S, sw.
// Depthwise (G == C > 1) is a property of the geometry; backends choose their own kernels.
#pragma once
#include "activations.h"
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

// conv2d_act: y = act(conv2d(x, w, b) + residual), inputs x, w[, b[, residual]] (a residual
// only after a bias), attributes as conv2d plus act and winograd: with winograd = m (2 or 4)
// input 1 is winograd_weights' U [(m+2)², K, C] of a 3×3 w, for stride 1, dilation 1 and one
// group only.
struct Conv2dActSpec : Conv2dSpec {
  Act act = Act::None;
  bool residual = false;
  int winograd = 0;
};
Conv2dActSpec conv2d_act_spec(const OpCtx& c);

// winograd_weights: w [K, C, 3, 3] -> U [(m+2)², K, C], attribute m (2 or 4)
struct WinogradWeightsSpec {
  int64_t K, C;
  int m;
};
WinogradWeightsSpec winograd_weights_spec(const OpCtx& c);

}  // namespace mdmt
