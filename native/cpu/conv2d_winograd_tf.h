// The Winograd transforms F(2,3) and F(4,3) on 16-lane GCC vectors, shared by the
// portable per-lane-gather kernels (conv2d_winograd.cc) and the AVX-512 tile-row kernels
// (conv2d_winograd_avx512.cc; __m512 is the same vector type). Internal to those two files.
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

#include "conv2d_winograd.h"
#include "cpu_features.h"
#include "vec.h"

namespace mdmt {
namespace winograd {
namespace tf {

constexpr int L = 16;
using vf = vec::vf16;  // L floats
using vec::ld;
using vec::st;

// 1-D transforms on strided arrays of a GCC vector type V (in[i·is], out[i·os]): vf, or vf8
// in the AVX2 kernels (conv2d_winograd_avx2.cc). Coefficients: Lavin & Gray's
// F(2,3) and F(4,3) (points 0, ±1, ±2).
template <int M> struct Tf;
template <> struct Tf<2> {
  static constexpr int A = 4;
  template <class V>
  static MDMT_INLINE void bt(const V* d, int is, V* r, int os) {  // Bᵀ d
    const V d0 = d[0], d1 = d[is], d2 = d[2 * is], d3 = d[3 * is];
    r[0] = d0 - d2, r[os] = d1 + d2, r[2 * os] = d2 - d1, r[3 * os] = d1 - d3;
  }
  template <class V>
  static MDMT_INLINE void g(const V* g, int is, V* r, int os) {  // G g
    const V g0 = g[0], g1 = g[is], g2 = g[2 * is], h = (g0 + g2) * 0.5f, k = g1 * 0.5f;
    r[0] = g0, r[os] = h + k, r[2 * os] = h - k, r[3 * os] = g2;
  }
  template <class V>
  static MDMT_INLINE void at(const V* m, int is, V* o, int os) {  // Aᵀ m
    const V m1 = m[is], m2 = m[2 * is];
    o[0] = m[0] + m1 + m2, o[os] = m1 - m2 - m[3 * is];
  }
};
template <> struct Tf<4> {
  static constexpr int A = 6;
  template <class V>
  static MDMT_INLINE void bt(const V* d, int is, V* r, int os) {
    const V d0 = d[0], d1 = d[is], d2 = d[2 * is], d3 = d[3 * is], d4 = d[4 * is], d5 = d[5 * is];
    r[0] = 4.f * d0 - 5.f * d2 + d4;
    r[os] = d3 + d4 - 4.f * (d1 + d2);
    r[2 * os] = d4 - d3 + 4.f * (d1 - d2);
    r[3 * os] = d4 - d2 + 2.f * (d3 - d1);
    r[4 * os] = d4 - d2 - 2.f * (d3 - d1);
    r[5 * os] = 4.f * d1 - 5.f * d3 + d5;
  }
  template <class V>
  static MDMT_INLINE void g(const V* g, int is, V* r, int os) {
    const V g0 = g[0], g1 = g[is], g2 = g[2 * is];
    const V a = (g0 + g2) * (-1.f / 6), b = g1 * (-1.f / 6);
    const V c = g0 * (1.f / 24) + g2 * (1.f / 6), e = g1 * (1.f / 12);
    r[0] = g0 * 0.25f, r[os] = a + b, r[2 * os] = a - b, r[3 * os] = c + e, r[4 * os] = c - e, r[5 * os] = g2;
  }
  template <class V>
  static MDMT_INLINE void at(const V* m, int is, V* o, int os) {
    const V m1 = m[is], m2 = m[2 * is], m3 = m[3 * is], m4 = m[4 * is];
    const V s12 = m1 + m2, d12 = m1 - m2, s34 = m3 + m4, d34 = m3 - m4;
    o[0] = m[0] + s12 + s34, o[os] = d12 + 2.f * d34, o[2 * os] = s12 + 4.f * s34, o[3 * os] = d12 + 8.f * d34 + m[5 * is];
  }
};

// The 2-D transforms of one register group of tiles (V arrays, row-major, t scratch):
//   input_tile:   d = Bᵀ d B    (α×α, in place; t has α² entries)
//   output_tile:  o = Aᵀ m A    (α×α → m×m; t has m·α)
//   weights_tile: u = G g Gᵀ    (3×3 → α×α; t has 3·α)
template <int M, class V>
MDMT_INLINE void input_tile(V* d, V* t) {
  constexpr int A = Tf<M>::A;
  for (int j = 0; j < A; ++j) Tf<M>::bt(d + j, A, t + j, A);      // columns: t = Bᵀ d
  for (int i = 0; i < A; ++i) Tf<M>::bt(t + i * A, 1, d + i * A, 1);  // rows: d = t B
}
template <int M, class V>
MDMT_INLINE void output_tile(const V* m, V* t, V* o) {
  constexpr int A = Tf<M>::A;
  for (int j = 0; j < A; ++j) Tf<M>::at(m + j, A, t + j, A);        // t[M][A] = Aᵀ m
  for (int i = 0; i < M; ++i) Tf<M>::at(t + i * A, 1, o + i * M, 1);  // o[M][M] = t A
}
template <int M, class V>
MDMT_INLINE void weights_tile(const V* g, V* t, V* u) {
  constexpr int A = Tf<M>::A;
  for (int j = 0; j < 3; ++j) Tf<M>::g(g + j, 3, t + j, 3);        // t[A][3] = G g
  for (int i = 0; i < A; ++i) Tf<M>::g(t + i * 3, 1, u + i * A, 1);  // u[A][A] = t Gᵀ
}

// Per tile of a chunk [t0, t0 + nt): its first output row and column and its image, as int32
// vectors for the gathering kernels (whole groups of L lanes; lanes past the chunk repeat its
// last tile, for the callers to mask off).
struct TileVecs {
  std::vector<int32_t> buf;
  int32_t *oh = nullptr, *ow = nullptr, *n = nullptr;
  int64_t first = 0;  // the chunk's first tile
  void fill(const Shape& s, int m, int64_t t0, int64_t nt) {
    first = t0;
    const int64_t TH = (s.P + m - 1) / m, TW = (s.Q + m - 1) / m, ng = (nt + L - 1) / L * L;
    buf.resize(static_cast<size_t>(3 * ng));
    oh = buf.data(), ow = oh + ng, n = ow + ng;
    for (int64_t i = 0; i < ng; ++i) {
      const int64_t t = t0 + std::min(i, nt - 1);
      ow[i] = static_cast<int32_t>((t % TW) * m), oh[i] = static_cast<int32_t>(((t / TW) % TH) * m), n[i] = static_cast<int32_t>(t / (TW * TH));
    }
  }
};

// Calls f(n, th, tw, count, local) for each run of tiles of one tile row in [t0, t0 + nt).
template <class F>
void for_tile_rows(const Shape& s, int m, int64_t t0, int64_t nt, F f) {
  const int64_t TH = (s.P + m - 1) / m, TW = (s.Q + m - 1) / m;
  for (int64_t t = t0; t < t0 + nt;) {
    const int64_t tw = t % TW, th = (t / TW) % TH, n = t / (TW * TH), cnt = std::min(TW - tw, t0 + nt - t);
    f(n, th, tw, cnt, t - t0);
    t += cnt;
  }
}

// The α input rows of a run of cnt tiles of tile row th from tile tw, zero-padded:
// rows[i·wbuf + pw + w] = xc[(th·m − ph + i)·W + w] for the columns the run reads, 0 elsewhere
// (rows outside the map, the padding, the rest of each of the α rows of wbuf floats).
inline void padded_rows(const Shape& s, int m, const float* xc, int64_t th, int64_t tw, int64_t cnt, float* rows, int64_t wbuf) {
  const int A = m + 2;
  for (int i = 0; i < A; ++i) {
    float* r = rows + i * wbuf;
    const int64_t ih = th * m - s.ph + i;
    const int64_t w0 = std::max<int64_t>(0, tw * m - s.pw), w1 = std::min(s.W, (tw + cnt) * m - s.pw + A);
    if (ih >= 0 && ih < s.H && w1 > w0) {  // zeros around the copied run only
      std::fill(r, r + w0 + s.pw, 0.f);
      std::copy(xc + ih * s.W + w0, xc + ih * s.W + w1, r + w0 + s.pw);
      std::fill(r + w1 + s.pw, r + wbuf, 0.f);
    } else {
      std::fill(r, r + wbuf, 0.f);
    }
  }
}

// The AVX-512 kernels of conv2d_winograd_avx512.cc: tiles taken a tile row at a time (16
// consecutive tiles per register), the patches de-interleaved with shuffles instead of
// gathered lane by lane. Same contracts as the portable input/output kernels: the chunk
// holds tiles [t0, t0 + nt) (row stride tb of V and M), channels [lo, hi).
void input_rows_avx512(int m, const Shape& s, const float* x, int64_t t0, int64_t nt, int64_t tb, int64_t c0, int64_t c1, float* V);
// The same with 16 tiles of any rows per register, patch elements gathered (small maps);
// the tensor must have under 2³¹ elements.
void input_gather_avx512(int m, const Shape& s, const float* x, int64_t t0, int64_t nt, int64_t tb, int64_t c0, int64_t c1, float* V);
// The filter gradient's dY: tile_vectors_avx512 records the chunk's tiles [t0, t0 + nt) for
// the calling thread, then dy_patch_avx512 gathers output channel k's m×m patches of the 16
// tiles from g0 into y[m·m] (0 outside the map and the chunk; under 2³¹ elements of dy).
void tile_vectors_avx512(const Shape& s, int m, int64_t t0, int64_t nt);
void dy_patch_avx512(int m, const Shape& s, const float* dy, int64_t k, int64_t nt, int64_t g0, vf* y);
// U rows [k0, k1) with each 3×3 kernel's taps gathered from where src says (offsets int32:
// 15·src.sc + 8 < 2³¹).
void weights_rows_avx512(int m, int64_t K, int64_t C, const float* w, const WeightsSrc& src, int64_t k0, int64_t k1, float* U);
// AVX2 (conv2d_winograd_avx2.cc): the contracts of input_rows_avx512 (8 tiles per register),
// weights_rows_avx512, input_gather_avx512, tile_vectors_avx512 and dy_patch_avx512, 8 lanes
// per gather (offsets int32 as theirs).
void input_rows_avx2(int m, const Shape& s, const float* x, int64_t t0, int64_t nt, int64_t tb, int64_t c0, int64_t c1, float* V);
void weights_rows_avx2(int m, int64_t K, int64_t C, const float* w, const WeightsSrc& src, int64_t k0, int64_t k1, float* U);
void input_gather_avx2(int m, const Shape& s, const float* x, int64_t t0, int64_t nt, int64_t tb, int64_t c0, int64_t c1, float* V);
void tile_vectors_avx2(const Shape& s, int m, int64_t t0, int64_t nt);
void dy_patch_avx2(int m, const Shape& s, const float* dy, int64_t k, int64_t nt, int64_t g0, vf* y);
// and output_rows_avx512's (tile rows of ≥ 8 tiles, 8 per register)
void output_rows_avx2(int m, const Shape& s, const float* Mx, int64_t t0, int64_t nt, int64_t tb, int64_t k0, int64_t k1,
                      const float* bias, const float* res, Act act, float* y);
void output_rows_avx512(int m, const Shape& s, const float* Mx, int64_t t0, int64_t nt, int64_t tb, int64_t k0, int64_t k1,
                        const float* bias, const float* res, Act act, float* y);

}  // namespace tf
}  // namespace winograd
}  // namespace mdmt
