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
// exactly 8 tiles go two to a register (input_pairs_m, output_pairs_m).
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#include <algorithm>
#include <vector>

#include "conv2d_winograd_tf.h"
#include "cpu_features.h"

// GCC 12 flags the _mm512_undefined_*() inside some AVX-512 intrinsics as uninitialised
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace mdmt {
namespace winograd {
namespace tf {
namespace {

#define MDMT_I512 MDMT_TARGET_AVX512 MDMT_INLINE

MDMT_I512 __mmask16 lanes_mask(int64_t n) { return n >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << n) - 1); }

// d[j] (j < m) = the float m·l + j of z[0..m) (16·m floats) in lane l < 16
template <int M>
MDMT_I512 void phases(const __m512* z, vf* d) {
  if constexpr (M == 2) {
    d[0] = _mm512_permutex2var_ps(z[0], _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0), z[1]);
    d[1] = _mm512_permutex2var_ps(z[0], _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1), z[1]);
  } else {
    const __m512 z0 = z[0], z1 = z[1], z2 = z[2], z3 = z[3];
    // 128-bit blocks B_l (the 4 columns of tile l): u_v holds B_v, B_{v+4}, B_{v+8}, B_{v+12}
    const __m512 t0 = _mm512_shuffle_f32x4(z0, z1, _MM_SHUFFLE(2, 0, 2, 0)), t1 = _mm512_shuffle_f32x4(z0, z1, _MM_SHUFFLE(3, 1, 3, 1));
    const __m512 t2 = _mm512_shuffle_f32x4(z2, z3, _MM_SHUFFLE(2, 0, 2, 0)), t3 = _mm512_shuffle_f32x4(z2, z3, _MM_SHUFFLE(3, 1, 3, 1));
    const __m512 u0 = _mm512_shuffle_f32x4(t0, t2, _MM_SHUFFLE(2, 0, 2, 0)), u1 = _mm512_shuffle_f32x4(t1, t3, _MM_SHUFFLE(2, 0, 2, 0));
    const __m512 u2 = _mm512_shuffle_f32x4(t0, t2, _MM_SHUFFLE(3, 1, 3, 1)), u3 = _mm512_shuffle_f32x4(t1, t3, _MM_SHUFFLE(3, 1, 3, 1));
    // then a 4×4 transpose inside each 128-bit block
    const __m512 s0 = _mm512_unpacklo_ps(u0, u1), s1 = _mm512_unpackhi_ps(u0, u1);
    const __m512 s2 = _mm512_unpacklo_ps(u2, u3), s3 = _mm512_unpackhi_ps(u2, u3);
    auto lo = [](__m512 a, __m512 b) MDMT_TARGET_AVX512 { return _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(a), _mm512_castps_pd(b))); };
    auto hi = [](__m512 a, __m512 b) MDMT_TARGET_AVX512 { return _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(a), _mm512_castps_pd(b))); };
    d[0] = lo(s0, s2), d[1] = hi(s0, s2);
    d[2] = lo(s1, s3), d[3] = hi(s1, s3);
  }
}

// d[j] (j < α) = row[m·l + j] for lanes l < 16
template <int M>
MDMT_I512 void deinterleave(const float* row, vf* d) {
  __m512 z[M];
  for (int v = 0; v < M; ++v) z[v] = _mm512_loadu_ps(row + 16 * v);
  phases<M>(z, d);
  // the phases past m: P_0 and P_1 one tile on
  const __m512 zn = _mm512_loadu_ps(row + 16 * M), zn1 = _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(zn), _mm512_castps_si512(zn), 1));
  d[M] = _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(zn), _mm512_castps_si512(d[0]), 1));
  d[M + 1] = _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(zn1), _mm512_castps_si512(d[1]), 1));
}

// z[v] (v < m) = the 16·m floats o[j][l] at position m·l + j (the inverse of deinterleave)
template <int M>
MDMT_I512 void interleave(const vf* o, __m512* z) {
  if (M == 2) {
    z[0] = _mm512_permutex2var_ps(o[0], _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0), o[1]);
    z[1] = _mm512_permutex2var_ps(o[0], _mm512_set_epi32(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8), o[1]);
    return;
  }
  auto lo = [](__m512 a, __m512 b) MDMT_TARGET_AVX512 { return _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(a), _mm512_castps_pd(b))); };
  auto hi = [](__m512 a, __m512 b) MDMT_TARGET_AVX512 { return _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(a), _mm512_castps_pd(b))); };
  const __m512 s0 = _mm512_unpacklo_ps(o[0], o[1]), s1 = _mm512_unpackhi_ps(o[0], o[1]);
  const __m512 s2 = _mm512_unpacklo_ps(o[2], o[3]), s3 = _mm512_unpackhi_ps(o[2], o[3]);
  const __m512 u0 = lo(s0, s2), u1 = hi(s0, s2), u2 = lo(s1, s3), u3 = hi(s1, s3);  // u_v block q = tile 4q + v
  const __m512 t0 = _mm512_shuffle_f32x4(u0, u1, _MM_SHUFFLE(2, 0, 2, 0)), t1 = _mm512_shuffle_f32x4(u2, u3, _MM_SHUFFLE(2, 0, 2, 0));
  const __m512 t2 = _mm512_shuffle_f32x4(u0, u1, _MM_SHUFFLE(3, 1, 3, 1)), t3 = _mm512_shuffle_f32x4(u2, u3, _MM_SHUFFLE(3, 1, 3, 1));
  z[0] = _mm512_shuffle_f32x4(t0, t1, _MM_SHUFFLE(2, 0, 2, 0)), z[2] = _mm512_shuffle_f32x4(t0, t1, _MM_SHUFFLE(3, 1, 3, 1));
  z[1] = _mm512_shuffle_f32x4(t2, t3, _MM_SHUFFLE(2, 0, 2, 0)), z[3] = _mm512_shuffle_f32x4(t2, t3, _MM_SHUFFLE(3, 1, 3, 1));
}

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
      for (int i = 0; i < A; ++i) {  // zero-padded copies of the α input rows: rows[i][pw + w] = x[ih][w]
        float* r = rows + i * wbuf;
        const int64_t ih = th * M - s.ph + i;
        const int64_t w0 = std::max<int64_t>(0, tw * M - s.pw), w1 = std::min(s.W, (tw + cnt) * M - s.pw + A);
        if (ih >= 0 && ih < s.H && w1 > w0) {  // zeros around the copied run only
          std::fill(r, r + w0 + s.pw, 0.f);
          std::copy(xc + ih * s.W + w0, xc + ih * s.W + w1, r + w0 + s.pw);
          std::fill(r + w1 + s.pw, r + wbuf, 0.f);
        } else {
          std::fill(r, r + wbuf, 0.f);
        }
      }
      for (int64_t g0 = 0; g0 < cnt; g0 += L) {
        for (int i = 0; i < A; ++i) deinterleave<M>(rows + i * wbuf + (tw + g0) * M, d + i * A);
        input_tile<M>(d, t);
        const __mmask16 k = lanes_mask(cnt - g0);
        for (int xi = 0; xi < A * A; ++xi) _mm512_mask_storeu_ps(V + (xi * s.C + c) * tb + local + g0, k, d[xi]);
      }
    });
}


// Tile rows of exactly 8 tiles (32×32 maps by F(4,3), 16×16 by F(2,3): ResNet's layer1,
// DenseNet's first block, GoogLeNet's conv3 at 128²) fill half a register each; here two
// rows share one, lanes 8–15 holding the next tile row (of the same image or the next).
// The α input rows of the two are copied side by side so that one deinterleave serves
// both, except the phases past m of each row's last tile (lanes 7 and 15), which would
// read the other row: those come from the two columns past each copy, kept aside.
// Chunks start at multiples of 16 tiles, so pairs never straddle one.
constexpr int64_t kPairTW = 8;
// two 8-tile rows per register where the rows have 8 tiles (chunks start at multiples of 16)
bool pairs(int m, const Shape& s, int64_t t0) { return (s.Q + m - 1) / m == kPairTW && t0 % L == 0; }

template <int M>
MDMT_TARGET_AVX512 void input_pairs_m(const Shape& s, const float* x, int64_t t0, int64_t nt, int64_t tb, int64_t c0, int64_t c1, float* V) {
  constexpr int A = Tf<M>::A;
  constexpr int64_t SEG = kPairTW * M;  // floats of one tile row's input row
  const int64_t TH = (s.P + M - 1) / M;
  alignas(64) float rows[A][2 * SEG + 16];  // deinterleave reads 16·m + 16 floats
  alignas(16) float ext[A][4];              // columns SEG, SEG + 1 of half 0, then of half 1
  // lanes 7 and 15 take ext[0] and ext[2] (phase m), ext[1] and ext[3] (phase m + 1)
  const __m512i idx0 = _mm512_set_epi32(2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
  const __m512i idx1 = _mm512_set_epi32(3, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0);
  vf d[A * A], t[A * A];
  for (int i = 0; i < A; ++i) std::fill(rows[i] + 2 * SEG, rows[i] + 2 * SEG + 16, 0.f);
  for (int64_t c = c0; c < c1; ++c)
    for (int64_t g0 = 0; g0 < nt; g0 += L) {
      for (int64_t h = 0; h < 2; ++h) {
        const int64_t first = t0 + g0 + h * kPairTW, n = first / (TH * kPairTW), th = (first / kPairTW) % TH;
        const float* xc = x + (n * s.C + c) * s.H * s.W;
        for (int i = 0; i < A; ++i) {  // padded columns p ∈ [0, SEG + 2) ↔ x column p − pw
          float* r = rows[i] + h * SEG;
          const int64_t ih = th * M - s.ph + i;
          float* e = ext[i] + 2 * h;
          if (g0 + h * kPairTW >= nt || ih < 0 || ih >= s.H) {
            std::fill(r, r + SEG, 0.f);
            e[0] = e[1] = 0.f;
            continue;
          }
          const float* xr = xc + ih * s.W;
          const int64_t p0 = std::min<int64_t>(SEG, s.pw), p1 = std::max(p0, std::min<int64_t>(SEG, s.W + s.pw));
          std::fill(r, r + p0, 0.f);
          std::copy(xr + p0 - s.pw, xr + p1 - s.pw, r + p0);
          std::fill(r + p1, r + SEG, 0.f);
          for (int j = 0; j < 2; ++j) {
            const int64_t col = SEG + j - s.pw;
            e[j] = col >= 0 && col < s.W ? xr[col] : 0.f;
          }
        }
      }
      for (int i = 0; i < A; ++i) {
        deinterleave<M>(rows[i], d + i * A);
        const __m512 e = _mm512_castps128_ps512(_mm_load_ps(ext[i]));
        d[i * A + M] = _mm512_mask_permutexvar_ps(d[i * A + M], 0x8080, idx0, e);
        d[i * A + M + 1] = _mm512_mask_permutexvar_ps(d[i * A + M + 1], 0x8080, idx1, e);
      }
      input_tile<M>(d, t);
      const __mmask16 k = lanes_mask(nt - g0);
      for (int xi = 0; xi < A * A; ++xi) _mm512_mask_storeu_ps(V + (xi * s.C + c) * tb + g0, k, d[xi]);
    }
}

// Small maps (tile rows of under 8 tiles: F(4,3) on 16×16, F(2,3) on 8×8) and the filter
// gradient's dY: 16 tiles of any rows and images per register, each patch element one
// masked gather (lanes outside the map read as 0). The portable bodies build these
// registers from 16 scalar stores each, whose wide reloads stall on store forwarding.
// Offsets are int32: the callers check that the tensor has under 2³¹ elements.
// Per tile of a chunk [t0, t0 + nt): its first output row and column and its image.
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
      const int64_t t = t0 + std::min(i, nt - 1);  // lanes past the chunk repeat its last tile (masked off)
      ow[i] = static_cast<int32_t>((t % TW) * m), oh[i] = static_cast<int32_t>(((t / TW) % TH) * m), n[i] = static_cast<int32_t>(t / (TW * TH));
    }
  }
};
thread_local TileVecs tl_tv;

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

// Tile rows of exactly 8 tiles (see input_pairs_m): patch row i of two tile rows is two
// runs of 8·m floats of dy, loaded whole (masked past the map) and split into m phases.
template <int M>
MDMT_TARGET_AVX512 void dy_pairs_m(const Shape& s, const float* dy, int64_t t0, int64_t k, int64_t nt, int64_t g0, vf* y) {
  constexpr int H2 = M / 2;
  const int64_t PQ = s.P * s.Q, TH = (s.P + M - 1) / M, ncols = std::min<int64_t>(kPairTW * M, s.Q);
  const float* plane[2];
  int64_t th[2];
  for (int h = 0; h < 2; ++h) {
    const int64_t first = t0 + g0 + h * kPairTW, n = first / (TH * kPairTW);
    const bool live = g0 + h * kPairTW < nt;
    th[h] = live ? (first / kPairTW) % TH : 0;
    plane[h] = live ? dy + (n * s.K + k) * PQ : nullptr;
  }
  for (int i = 0; i < M; ++i) {
    __m512 z[M];
    for (int h = 0; h < 2; ++h) {
      const int64_t row = th[h] * M + i;
      const bool in = plane[h] && row < s.P;
      for (int v = 0; v < H2; ++v)
        z[h * H2 + v] = in && ncols > 16 * v ? _mm512_maskz_loadu_ps(lanes_mask(ncols - 16 * v), plane[h] + row * s.Q + 16 * v) : _mm512_setzero_ps();
    }
    phases<M>(z, y + i * M);
  }
}

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
            const __mmask16 kc = lanes_mask(ncols - 16 * v);
            __m512 val = _mm512_add_ps(z[v], bv);
            if (res) val = _mm512_add_ps(val, _mm512_maskz_loadu_ps(kc, res + off + 16 * v));
            _mm512_mask_storeu_ps(y + off + 16 * v, kc, vmath::act512(val, act));
          }
        }
      }
    });
  }
}

// The output of two 8-tile rows per register (see input_pairs_m): the interleave of 16
// tiles gives the first row's m·8 columns in z[0, m/2) and the second's in z[m/2, m).
template <int M>
MDMT_TARGET_AVX512 void output_pairs_m(const Shape& s, const float* Mx, int64_t t0, int64_t nt, int64_t tb, int64_t k0, int64_t k1,
                                       const float* bias, const float* res, Act act, float* y) {
  constexpr int A = Tf<M>::A, H2 = M / 2;
  const int64_t PQ = s.P * s.Q, TH = (s.P + M - 1) / M, ncols = std::min<int64_t>(kPairTW * M, s.Q);
  vf m[A * A], t[M * A], o[M * M];
  for (int64_t k = k0; k < k1; ++k) {
    const __m512 bv = _mm512_set1_ps(bias ? bias[k] : 0.f);
    for (int64_t g0 = 0; g0 < nt; g0 += L) {
      const __mmask16 kl = lanes_mask(nt - g0);
      for (int xi = 0; xi < A * A; ++xi) m[xi] = _mm512_maskz_loadu_ps(kl, Mx + (xi * s.K + k) * tb + g0);
      output_tile<M>(m, t, o);
      int64_t base[2], th[2];
      for (int h = 0; h < 2; ++h) {
        const int64_t first = t0 + g0 + h * kPairTW, n = first / (TH * kPairTW);
        th[h] = g0 + h * kPairTW < nt ? (first / kPairTW) % TH : -1;
        base[h] = (n * s.K + k) * PQ;
      }
      for (int i = 0; i < M; ++i) {
        __m512 z[M];
        interleave<M>(o + i * M, z);
        for (int h = 0; h < 2; ++h) {
          if (th[h] < 0 || th[h] * M + i >= s.P) continue;
          const int64_t off = base[h] + (th[h] * M + i) * s.Q;
          for (int v = 0; v < H2 && 16 * v < ncols; ++v) {
            const __mmask16 kc = lanes_mask(ncols - 16 * v);
            __m512 val = _mm512_add_ps(z[h * H2 + v], bv);
            if (res) val = _mm512_add_ps(val, _mm512_maskz_loadu_ps(kc, res + off + 16 * v));
            _mm512_mask_storeu_ps(y + off + 16 * v, kc, vmath::act512(val, act));
          }
        }
      }
    }
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
  const int64_t t0 = tl_tv.first;
  if (pairs(m, s, t0)) return m == 2 ? dy_pairs_m<2>(s, dy, t0, k, nt, g0, y) : dy_pairs_m<4>(s, dy, t0, k, nt, g0, y);
  if (m == 2) dy_patch_m<2>(s, dy, k, nt, g0, y);
  else dy_patch_m<4>(s, dy, k, nt, g0, y);
}

void input_rows_avx512(int m, const Shape& s, const float* x, int64_t t0, int64_t nt, int64_t tb, int64_t c0, int64_t c1, float* V) {
  if (pairs(m, s, t0)) return m == 2 ? input_pairs_m<2>(s, x, t0, nt, tb, c0, c1, V) : input_pairs_m<4>(s, x, t0, nt, tb, c0, c1, V);
  if (m == 2) input_m<2>(s, x, t0, nt, tb, c0, c1, V);
  else input_m<4>(s, x, t0, nt, tb, c0, c1, V);
}

void output_rows_avx512(int m, const Shape& s, const float* Mx, int64_t t0, int64_t nt, int64_t tb, int64_t k0, int64_t k1,
                        const float* bias, const float* res, Act act, float* y) {
  if (pairs(m, s, t0)) {
    if (m == 2) output_pairs_m<2>(s, Mx, t0, nt, tb, k0, k1, bias, res, act, y);
    else output_pairs_m<4>(s, Mx, t0, nt, tb, k0, k1, bias, res, act, y);
    return;
  }
  if (m == 2) output_m<2>(s, Mx, t0, nt, tb, k0, k1, bias, res, act, y);
  else output_m<4>(s, Mx, t0, nt, tb, k0, k1, bias, res, act, y);
}

}  // namespace tf
}  // namespace winograd
}  // namespace mdmt
#endif
