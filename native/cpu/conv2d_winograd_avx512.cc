// AVX-512 Winograd input and output transforms over tile rows (see conv2d_winograd_tf.h).
//
// Input: for 16 consecutive tiles of one tile row and input row i of their α×α patches,
// the α columns j of each patch are the α "phases" P_j[l] = row[m·(tw0 + l) + j] of 16·m
// consecutive floats: loaded as m registers and de-interleaved (m = 4: a 4×4 transpose of
// 128-bit blocks, then of floats inside them; m = 2: two permutes), the two extra phases
// α − m are P_0, P_1 shifted by one tile (valignd with the next floats). The row is a
// zero-padded copy of the input row, so borders need no masks. Output: the inverse
// interleave writes the m output rows of 16 tiles as m runs of 16·m floats, with bias,
// residual and activation applied in registers before the (masked) stores. Tile rows of
// exactly 8 tiles go two to a register (conv2d_winograd_pairs.cc).
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#include <algorithm>
#include <vector>

#include "conv2d_winograd_avx512.h"

namespace mdmt {
namespace winograd {
namespace tf {
namespace {

using namespace avx512;


thread_local std::vector<float> tl_rows;

template <int M>
MDMT_TARGET_AVX512 void input_m(const Shape& s, const float* x, int64_t t0, int64_t nt, int64_t tb, int64_t c0, int64_t c1, float* V) {
  constexpr int A = Tf<M>::A;
  const int64_t TW = (s.Q + M - 1) / M, wbuf = (TW + 16) * M + 32;  // over-read of the last group
  if (static_cast<int64_t>(tl_rows.size()) < A * wbuf) tl_rows.resize(static_cast<size_t>(A * wbuf));
  float* rows = tl_rows.data();
  vf d[A * A], t[A * A];
  for (int64_t c = c0; c < c1; ++c)
    for_tile_rows(s, M, t0, nt, [&](int64_t n, int64_t th, int64_t tw, int64_t cnt, int64_t local) MDMT_TARGET_AVX512 {
      const float* xc = x + (n * s.C + c) * s.H * s.W;
      padded_rows(s, M, xc, th, tw, cnt, rows, wbuf);
      for (int64_t g0 = 0; g0 < cnt; g0 += L) {
        for (int i = 0; i < A; ++i) deinterleave<M>(rows + i * wbuf + (tw + g0) * M, d + i * A);
        input_tile<M>(d, t);
        const __mmask16 k = lanes_mask(cnt - g0);
        for (int xi = 0; xi < A * A; ++xi) _mm512_mask_storeu_ps(V + (xi * s.C + c) * tb + local + g0, k, d[xi]);
      }
    });
}


// Small maps (tile rows of under 8 tiles: F(4,3) on 16×16, F(2,3) on 8×8) and the filter
// gradient's dY: 16 tiles of any rows and images per register, each patch element one
// masked gather (lanes outside the map read as 0). The portable bodies build these
// registers from 16 scalar stores each, whose wide reloads stall on store forwarding.
// Offsets are int32: the callers check that the tensor has under 2³¹ elements.
thread_local TileVecs tl_tv;  // the calling thread's tiles (conv2d_winograd_tf.h)

MDMT_I512 __mmask16 in_range(__m512i v, int64_t lo, int64_t hi) {  // lo ≤ v < hi
  return _mm512_cmpge_epi32_mask(v, _mm512_set1_epi32(static_cast<int>(lo))) & _mm512_cmplt_epi32_mask(v, _mm512_set1_epi32(static_cast<int>(hi)));
}

template <int M>
MDMT_TARGET_AVX512 void input_gather_m(const Shape& s, const float* x, int64_t t0, int64_t nt, int64_t tb, int64_t c0, int64_t c1, float* V) {
  constexpr int A = Tf<M>::A;
  TileVecs& tv = tl_tv;
  tv.fill(s, M, t0, nt);
  const int64_t HW = s.H * s.W;
  vf d[A * A], t[A * A];
  for (int64_t g0 = 0; g0 < nt; g0 += L) {
    const __mmask16 live = lanes_mask(nt - g0);
    const __m512i ih = _mm512_sub_epi32(_mm512_loadu_si512(tv.oh + g0), _mm512_set1_epi32(static_cast<int>(s.ph)));
    const __m512i iw = _mm512_sub_epi32(_mm512_loadu_si512(tv.ow + g0), _mm512_set1_epi32(static_cast<int>(s.pw)));
    // element (i, j) of lane l's patch: x[(n·C + c)·HW + (ih + i)·W + iw + j]
    const __m512i at0 = _mm512_add_epi32(_mm512_mullo_epi32(_mm512_loadu_si512(tv.n + g0), _mm512_set1_epi32(static_cast<int>(s.C * HW))),
                                         _mm512_add_epi32(_mm512_mullo_epi32(ih, _mm512_set1_epi32(static_cast<int>(s.W))), iw));
    __mmask16 rows[A], cols[A];
    for (int i = 0; i < A; ++i) rows[i] = live & in_range(_mm512_add_epi32(ih, _mm512_set1_epi32(i)), 0, s.H);
    for (int j = 0; j < A; ++j) cols[j] = in_range(_mm512_add_epi32(iw, _mm512_set1_epi32(j)), 0, s.W);
    for (int64_t c = c0; c < c1; ++c) {
      const float* xc = x + c * HW;
      for (int i = 0; i < A; ++i)
        for (int j = 0; j < A; ++j)
          d[i * A + j] = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), rows[i] & cols[j],
                                                  _mm512_add_epi32(at0, _mm512_set1_epi32(static_cast<int>(i * s.W + j))), xc, 4);
      input_tile<M>(d, t);
      for (int xi = 0; xi < A * A; ++xi) _mm512_storeu_ps(V + (xi * s.C + c) * tb + g0, d[xi]);
    }
  }
}


// The filter gradient's dY patches (conv2d_bwd_winograd.cc): y[i·m + j] (i, j < m) = dy of
// output channel k at row oh + i, column ow + j of the 16 tiles [g0, g0 + 16) of the chunk
// filled by tile_vectors_avx512 (0 past the map's edge or the chunk's end).

template <int M>
MDMT_TARGET_AVX512 void dy_patch_m(const Shape& s, const float* dy, int64_t k, int64_t nt, int64_t g0, vf* y) {
  const TileVecs& tv = tl_tv;
  const int64_t PQ = s.P * s.Q;
  const __mmask16 live = lanes_mask(nt - g0);
  const __m512i oh = _mm512_loadu_si512(tv.oh + g0), ow = _mm512_loadu_si512(tv.ow + g0);
  const __m512i at0 = _mm512_add_epi32(_mm512_mullo_epi32(_mm512_loadu_si512(tv.n + g0), _mm512_set1_epi32(static_cast<int>(s.K * PQ))),
                                       _mm512_add_epi32(_mm512_mullo_epi32(oh, _mm512_set1_epi32(static_cast<int>(s.Q))), ow));
  const float* yk = dy + k * PQ;
  for (int i = 0; i < M; ++i) {
    const __mmask16 row = live & in_range(_mm512_add_epi32(oh, _mm512_set1_epi32(i)), 0, s.P);
    for (int j = 0; j < M; ++j)
      y[i * M + j] = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), row & in_range(_mm512_add_epi32(ow, _mm512_set1_epi32(j)), 0, s.Q),
                                              _mm512_add_epi32(at0, _mm512_set1_epi32(static_cast<int>(i * s.Q + j))), yk, 4);
  }
}

template <int M>
MDMT_TARGET_AVX512 void output_m(const Shape& s, const float* Mx, int64_t t0, int64_t nt, int64_t tb, int64_t k0, int64_t k1,
                        const float* bias, const float* res, Act act, float* y) {
  constexpr int A = Tf<M>::A;
  const int64_t PQ = s.P * s.Q;
  vf m[A * A], t[M * A], o[M * M];
  for (int64_t k = k0; k < k1; ++k) {
    const __m512 bv = _mm512_set1_ps(bias ? bias[k] : 0.f);
    for_tile_rows(s, M, t0, nt, [&](int64_t n, int64_t th, int64_t tw, int64_t cnt, int64_t local) MDMT_TARGET_AVX512 {
      for (int64_t g0 = 0; g0 < cnt; g0 += L) {
        const __mmask16 kl = lanes_mask(cnt - g0);
        for (int xi = 0; xi < A * A; ++xi) m[xi] = _mm512_maskz_loadu_ps(kl, Mx + (xi * s.K + k) * tb + local + g0);
        output_tile<M>(m, t, o);
        const int64_t ow0 = (tw + g0) * M, ncols = std::min<int64_t>(std::min<int64_t>(L, cnt - g0) * M, s.Q - ow0);
        for (int i = 0; i < M && th * M + i < s.P; ++i) {
          const int64_t off = (n * s.K + k) * PQ + (th * M + i) * s.Q + ow0;
          __m512 z[M];
          interleave<M>(o + i * M, z);
          for (int v = 0; v < M && 16 * v < ncols; ++v) {
            store_out(y + off + 16 * v, res ? res + off + 16 * v : nullptr, z[v], bv, lanes_mask(ncols - 16 * v), act);
          }
        }
      }
    });
  }
}

// U[ξ][k][c] = G g Gᵀ for output channels [k0, k1), 16 input channels per register: the
// 16 channels' 9 taps are 144 consecutive floats, read with one gather per tap (the
// portable body builds the registers from scalar stores, whose wide reloads stall on
// store forwarding: 512→512 took longer than the 4×4-map forward it feeds).
template <int M>
MDMT_TARGET_AVX512 void weights_m(int64_t K, int64_t C, const float* w, const WeightsSrc& src, int64_t k0, int64_t k1, float* U) {
  constexpr int A = Tf<M>::A;
  const __m512i lane = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                          _mm512_set1_epi32(static_cast<int32_t>(src.sc)));
  vf g[9], t[A * 3], u[A * A];
  for (int64_t k = k0; k < k1; ++k)
    for (int64_t c0 = 0; c0 < C; c0 += L) {
      const __mmask16 lanes = lanes_mask(C - c0);
      const float* base = w + k * src.sk + c0 * src.sc;
      for (int rs = 0; rs < 9; ++rs)
        g[rs] = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), lanes, _mm512_add_epi32(lane, _mm512_set1_epi32(src.rotate ? 8 - rs : rs)), base, 4);
      weights_tile<M>(g, t, u);
      for (int xi = 0; xi < A * A; ++xi) _mm512_mask_storeu_ps(U + (xi * K + k) * C + c0, lanes, u[xi]);
    }
}

}  // namespace

void weights_rows_avx512(int m, int64_t K, int64_t C, const float* w, const WeightsSrc& src, int64_t k0, int64_t k1, float* U) {
  if (m == 2) weights_m<2>(K, C, w, src, k0, k1, U);
  else weights_m<4>(K, C, w, src, k0, k1, U);
}

void input_gather_avx512(int m, const Shape& s, const float* x, int64_t t0, int64_t nt, int64_t tb, int64_t c0, int64_t c1, float* V) {
  if (m == 2) input_gather_m<2>(s, x, t0, nt, tb, c0, c1, V);
  else input_gather_m<4>(s, x, t0, nt, tb, c0, c1, V);
}

void tile_vectors_avx512(const Shape& s, int m, int64_t t0, int64_t nt) { tl_tv.fill(s, m, t0, nt); }

void dy_patch_avx512(int m, const Shape& s, const float* dy, int64_t k, int64_t nt, int64_t g0, vf* y) {
  if (avx512::pairs(m, s, tl_tv.first)) return avx512::dy_pairs(m, s, dy, tl_tv.first, k, nt, g0, y);
  if (m == 2) dy_patch_m<2>(s, dy, k, nt, g0, y);
  else dy_patch_m<4>(s, dy, k, nt, g0, y);
}

void input_rows_avx512(int m, const Shape& s, const float* x, int64_t t0, int64_t nt, int64_t tb, int64_t c0, int64_t c1, float* V) {
  if (avx512::pairs(m, s, t0)) return avx512::input_pairs(m, s, x, t0, nt, tb, c0, c1, V);
  if (m == 2) input_m<2>(s, x, t0, nt, tb, c0, c1, V);
  else input_m<4>(s, x, t0, nt, tb, c0, c1, V);
}

void output_rows_avx512(int m, const Shape& s, const float* Mx, int64_t t0, int64_t nt, int64_t tb, int64_t k0, int64_t k1,
                        const float* bias, const float* res, Act act, float* y) {
  if (avx512::pairs(m, s, t0)) return avx512::output_pairs(m, s, Mx, t0, nt, tb, k0, k1, bias, res, act, y);
  if (m == 2) output_m<2>(s, Mx, t0, nt, tb, k0, k1, bias, res, act, y);
  else output_m<4>(s, Mx, t0, nt, tb, k0, k1, bias, res, act, y);
}

}  // namespace tf
}  // namespace winograd
}  // namespace mdmt
#endif
