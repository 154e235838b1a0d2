// Direct convolution for networks' stems: few input channels (C ≤ 4: RGB images), any
// R×S, stride 1 or 2, dilation 1, one group — ResNet/GoogLeNet/DenseNet's 7×7/2 3→64 and
// MobileNet/EfficientNet/ShuffleNet's 3×3/2 3→24..32. im2col + GEMM spends most of its
// time there building and packing a C·R·S × P·Q column matrix whose inner dimension is
// only 27..147 deep (4–7 GFLOP/s at batch 1); this kernel reads the image directly:
//
//   y[k, p, q] = act(b[k] + Σ_{c,r,s} w[k, c, r, s] · xpad[c, p·sh + r, q·sw + s])
//
// with xpad the zero-padded image split into its sw column phases (so a stride-2 row is
// two contiguous rows), 16·QB consecutive q of KB output channels held in registers
// across all C·R·S taps (AVX-512: 12 channels × 32 columns, or 16–24 × 16 on rows of ≤ 16, or
// 4 × 64 for groups of ≤ 4 on rows of ≥ 64, 16 × 16 for multiples of 16 channels; AVX2 6 × 16;
// generic 2 × 16). The taps run from a
// per-call offset table (one flat loop), the stride-2 column phases are split with AVX-512.
#pragma once
#include <cstdint>

#include "gemm.h"
#include "vmath.h"

namespace mdmt {
namespace conv_stem {

struct Shape {
  int64_t N, C, H, W, K, R, S, P, Q, sh, sw, ph, pw;
  int64_t G = 1;  // groups (C and K are the totals)
};

// The kernel handles it: stride 1 or 2 each way, dilation 1, any C and groups (it pays for
// C ≤ 4, for k×k stride-2 convs with rows of ≥ 32 outputs — 128→128 3×3/2 on 64×64 maps
// 73 → 89 GFLOP/s per core against im2col + GEMM; on shorter rows half a register of
// columns is idle and the GEMM wins — and for grouped convs with rows of ≥ 12, whose
// per-group GEMMs are tiny).
bool fits(int64_t C, int64_t sh, int64_t sw, int64_t dh, int64_t dw);

// y [N, K, P, Q] = act(conv(x, w) + b[k]) (b may be null), w [K, C/G, R, S]. Parallel over
// (group, row) per image.
void forward(const Shape& s, const float* x, const float* w, const float* b, Act act, float* y, GemmIsa isa);

// dw [K, C, R, S] of that conv (one group) from x and dy [N, K, P, Q]: the taps read from
// the column phases of every image as in the forward, dw's KB × TB (channel, tap) blocks
// summed in registers over 16 columns at a time (im2col + GEMM built and packed a
// C·R·S × N·P·Q column matrix to feed a 64-row GEMM). Parallel over channel blocks.
void bwd_filter(const Shape& s, const float* x, const float* dy, float* dw, GemmIsa isa);

}  // namespace conv_stem
}  // namespace mdmt
