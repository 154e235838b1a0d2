// Winograd convolution F(m×m, 3×3) for the CPU backend: 3×3, stride 1, dilation 1, one
// group, NCHW, m = 2 (α = 4) or m = 4 (α = 6). Lavin & Gray, "Fast Algorithms for
// Convolutional Neural Networks" (2016):
//
//   Y_tile = Aᵀ [ Σ_c (G g_kc Gᵀ) ⊙ (Bᵀ d_c B) ] A
//
// per m×m output tile, with d_c the α×α input patch of channel c. Grouped by the α²
// positions ξ of the transformed tile, the channel sum is one GEMM per ξ:
//   M[ξ][k][t] = Σ_c U[ξ][k][c] · V[ξ][c][t]      U = G g Gᵀ (weights), V = Bᵀ d B (input)
// so a 3×3 conv costs α²·K·C·T multiply-adds (T tiles) instead of 9·m²·K·C·T: 2.25×
// fewer for m = 2, 4× fewer for m = 4, plus the transforms (O(α²·(C + K)·T)), which is
// why it pays on wide layers with many tiles.
//
// Numerics: the transforms with the interpolation points 0, ±1, ±2 (m = 4) multiply the
// float32 rounding of the products by up to ~10 (entries up to 8 in Aᵀ, 5 in Bᵀ), so the
// error is larger than the direct sum's. Measured (test/ops/conv2d_act.test.ts, C = 256,
// uniform inputs, max|Δ|/max|y| against float64): direct 2.7e−7, F(2,3) 4.8e−7, F(4,3)
// 5.4e−6 with FMA (AVX2, AVX-512) and 1.1e−5 without (generic); tested bounds 2e−6 and
// 2e−5. Through a whole network (BatchNorm-folded ResNets) the outputs stay within
// ~5e−7 of their scale.
#pragma once
#include <cstdint>

#include "gemm.h"
#include "vmath.h"

namespace mdmt {
namespace winograd {

struct Shape {
  int64_t N, C, H, W, K, P, Q, ph, pw;  // P, Q = the conv's output size (stride 1)
};

// Where the raw 3×3 kernels are read: kernel (k, c) at w + k·sk + c·sc, its 9 taps in order
// or reversed (rotated 180°).
struct WeightsSrc {
  int64_t sk, sc;
  bool rotate;
};
// w [K, C, 3, 3] as it is
inline WeightsSrc plain_weights(int64_t C) { return {9 * C, 9, false}; }
// The data gradient of a conv with w [C', K, 3, 3] is a conv with K out channels whose
// kernel (k, c) is w[c, k] rotated (conv2d_bwd_fast.cc): read in place, no copy.
inline WeightsSrc rotated_transposed(int64_t K) { return {9, 9 * K, true}; }

// U = G g Gᵀ for w [K, C, 3, 3] (or the kernels src points at), by the kernels of isa
// (Auto: this machine's best)
void transform_weights(int m, int64_t K, int64_t C, const float* w, float* U);
void transform_weights(int m, int64_t K, int64_t C, const float* w, const WeightsSrc& src, float* U, GemmIsa isa = GemmIsa::Auto);

// y [N, K, P, Q] = act(conv3x3(x, w) + bias[k] + res) with U = transform_weights(w);
// bias and res (same shape as y) may be null. Threads: transforms parallel over channels,
// the α² GEMMs parallel over ξ.
// tile_block > 0 forces the tiles per chunk (a multiple of 16; tests), else ~8 MiB of workspace.
void forward(int m, const Shape& s, const float* x, const float* U, const float* bias, const float* res, Act act,
             float* y, GemmIsa isa, int64_t tile_block = 0);

// The same from raw weights (w [K, C, 3, 3], or as src says), transformed in the call.
void forward_raw(int m, const Shape& s, const float* x, const float* w, const WeightsSrc& src, const float* bias,
                 const float* res, Act act, float* y, GemmIsa isa, int64_t tile_block = 0);

// Tiles per chunk of a call with T tiles (~8 MiB of V[α²][C][tb] + M[α²][K][tb]; a multiple of 16).
int64_t chunk_tiles_for(int m, const Shape& s, int64_t T);
// V[ξ][c][i] = Bᵀ d B for tiles [t0, t0 + nt) of x (row stride tb of V): the forward's input
// transform, for the filter gradient (conv2d_bwd_winograd.cc).
void input_chunk(int m, const Shape& s, const float* x, int64_t t0, int64_t nt, int64_t tb, float* V, GemmIsa isa);

}  // namespace winograd
}  // namespace mdmt
