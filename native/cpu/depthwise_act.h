// Depthwise convolution forward with the epilogue fused (conv2d_act with groups = C):
//   y[n, k, p, q] = act(b[k] + r[n, k, p, q] + Σ_{i,j} w[k, i, j] · x[n, k / mult, p·sh − ph + i·dh, q·sw − pw + j·dw])
// one plane per task, read in place (no zero-padded copy of the plane), the bias, residual
// and activation applied in registers before each store — so an inference plan's
// depthwise layer is one read of x and one write of y, which is what bounds it
// (MobileNetV2 / EfficientNet depthwise layers were 4–6 GFLOP/s, a few times their
// memory bound, with a padded copy per plane and separate bias / activation passes).
// AVX-512: 16 outputs per register, the taps read with masked loads (masks made once per
// column chunk; stride 2 as two loads and a permute; on 8-wide maps two output rows per
// register, 3×3/5×5 stride 1 and 3×3 stride 2 — the latter one masked load
// per row and a permute of the two rows' even columns). AVX2 (strides 1 and 2): the plane
// copied into a zero-bordered scratch (in cache), 8 outputs per register, four registers in
// flight per tap, the residual and activation over the plane after. Other ISAs and strides:
// per output row, an axpy per tap over the columns it reaches, then the epilogue (GCC
// vectorises both).
#pragma once
#include <cstdint>

#include "gemm.h"
#include "vmath.h"

namespace mdmt {
namespace depthwise_act {

struct Shape {
  int64_t N, C, H, W, K, R, S, P, Q, sh, sw, ph, pw, dh, dw;  // K = C · multiplier
  bool stream = false;  // AVX-512: full aligned vectors of y written with non-temporal stores
};

// xpad = the H×W plane x in rows of Wp ≥ W + 2·pw floats, zero around it: ph rows above and
// below, pw columns on the left, the rest of each row on the right.
void pad_plane(const float* x, int64_t H, int64_t W, int64_t ph, int64_t pw, int64_t Wp, float* xpad);

void forward(const Shape& s, const float* x, const float* w, const float* b, const float* res, Act act, float* y, GemmIsa isa);

}  // namespace depthwise_act
}  // namespace mdmt
