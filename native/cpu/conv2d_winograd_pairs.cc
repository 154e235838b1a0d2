// Tile rows of exactly 8 tiles in two-row registers, see conv2d_winograd_avx512.h.
#if defined(__x86_64__) || defined(__i386__)
#include <algorithm>

#include "conv2d_winograd_avx512.h"

namespace mdmt {
namespace winograd {
namespace tf {
namespace avx512 {
namespace {

// Tile rows of exactly 8 tiles (32×32 maps by F(4,3), 16×16 by F(2,3): ResNet's layer1,
// DenseNet's first block, GoogLeNet's conv3 at 128²) fill half a register each; here two
// rows share one, lanes 8–15 holding the next tile row (of the same image or the next).
// The α input rows of the two are copied side by side so that one deinterleave serves
// both, except the phases past m of each row's last tile (lanes 7 and 15), which would
// read the other row: those come from the two columns past each copy, kept aside.
// Chunks start at multiples of 16 tiles, so pairs never straddle one.
constexpr int64_t kPairTW = 8;

// Half h of the register group from local tile g0 of a chunk starting at t0: its image and
// tile row, or live = false past the chunk's nt tiles.
struct PairHalf {
  int64_t n, th;
  bool live;
};
template <int M>
PairHalf pair_half(const Shape& s, int64_t t0, int64_t nt, int64_t g0, int h) {
  const int64_t TH = (s.P + M - 1) / M, first = t0 + g0 + h * kPairTW;
  if (g0 + h * kPairTW >= nt) return {0, 0, false};
  return {first / (TH * kPairTW), (first / kPairTW) % TH, true};
}

template <int M>
MDMT_TARGET_AVX512 void input_pairs_m(const Shape& s, const float* x, int64_t t0, int64_t nt, int64_t tb, int64_t c0, int64_t c1, float* V) {
  constexpr int A = Tf<M>::A;
  constexpr int64_t SEG = kPairTW * M;  // floats of one tile row's input row
  alignas(64) float rows[A][2 * SEG + 16];  // deinterleave reads 16·m + 16 floats
  alignas(16) float ext[A][4];              // columns SEG, SEG + 1 of half 0, then of half 1
  // lanes 7 and 15 take ext[0] and ext[2] (phase m), ext[1] and ext[3] (phase m + 1)
  const __m512i idx0 = _mm512_set_epi32(2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
  const __m512i idx1 = _mm512_set_epi32(3, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0);
  vf d[A * A], t[A * A];
  for (int i = 0; i < A; ++i) std::fill(rows[i] + 2 * SEG, rows[i] + 2 * SEG + 16, 0.f);
  for (int64_t c = c0; c < c1; ++c)
    for (int64_t g0 = 0; g0 < nt; g0 += L) {
      for (int h = 0; h < 2; ++h) {
        const PairHalf ph = pair_half<M>(s, t0, nt, g0, h);
        for (int i = 0; i < A; ++i) {  // padded columns p ∈ [0, SEG + 2) ↔ x column p − pw
          float* r = rows[i] + h * SEG;
          const int64_t ih = ph.th * M - s.ph + i;
          float* e = ext[i] + 2 * h;
          if (!ph.live || ih < 0 || ih >= s.H) {
            std::fill(r, r + SEG, 0.f);
            e[0] = e[1] = 0.f;
            continue;
          }
          const float* xr = x + ((ph.n * s.C + c) * s.H + ih) * s.W;
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

// The output of two 8-tile rows per register (see input_pairs_m): the interleave of 16
// tiles gives the first row's m·8 columns in z[0, m/2) and the second's in z[m/2, m).
template <int M>
MDMT_TARGET_AVX512 void output_pairs_m(const Shape& s, const float* Mx, int64_t t0, int64_t nt, int64_t tb, int64_t k0, int64_t k1,
                                       const float* bias, const float* res, Act act, float* y) {
  constexpr int A = Tf<M>::A, H2 = M / 2;
  const int64_t PQ = s.P * s.Q, ncols = std::min<int64_t>(kPairTW * M, s.Q);
  vf m[A * A], t[M * A], o[M * M];
  for (int64_t k = k0; k < k1; ++k) {
    const __m512 bv = _mm512_set1_ps(bias ? bias[k] : 0.f);
    for (int64_t g0 = 0; g0 < nt; g0 += L) {
      const __mmask16 kl = lanes_mask(nt - g0);
      for (int xi = 0; xi < A * A; ++xi) m[xi] = _mm512_maskz_loadu_ps(kl, Mx + (xi * s.K + k) * tb + g0);
      output_tile<M>(m, t, o);
      const PairHalf ph[2] = {pair_half<M>(s, t0, nt, g0, 0), pair_half<M>(s, t0, nt, g0, 1)};
      for (int i = 0; i < M; ++i) {
        __m512 z[M];
        interleave<M>(o + i * M, z);
        for (int h = 0; h < 2; ++h) {
          if (!ph[h].live || ph[h].th * M + i >= s.P) continue;
          const int64_t off = (ph[h].n * s.K + k) * PQ + (ph[h].th * M + i) * s.Q;
          for (int v = 0; v < H2 && 16 * v < ncols; ++v)
            store_out(y + off + 16 * v, res ? res + off + 16 * v : nullptr, z[h * H2 + v], bv, lanes_mask(ncols - 16 * v), act);
        }
      }
    }
  }
}

// Tile rows of exactly 8 tiles (see input_pairs_m): patch row i of two tile rows is two
// runs of 8·m floats of dy, loaded whole (masked past the map) and split into m phases.
template <int M>
MDMT_TARGET_AVX512 void dy_pairs_m(const Shape& s, const float* dy, int64_t t0, int64_t k, int64_t nt, int64_t g0, vf* y) {
  constexpr int H2 = M / 2;
  const int64_t PQ = s.P * s.Q, ncols = std::min<int64_t>(kPairTW * M, s.Q);
  const PairHalf ph[2] = {pair_half<M>(s, t0, nt, g0, 0), pair_half<M>(s, t0, nt, g0, 1)};
  for (int i = 0; i < M; ++i) {
    __m512 z[M];
    for (int h = 0; h < 2; ++h) {
      const int64_t row = ph[h].th * M + i;
      const bool in = ph[h].live && row < s.P;
      const float* src = dy + (ph[h].n * s.K + k) * PQ + row * s.Q;
      for (int v = 0; v < H2; ++v)
        z[h * H2 + v] = in && ncols > 16 * v ? _mm512_maskz_loadu_ps(lanes_mask(ncols - 16 * v), src + 16 * v) : _mm512_setzero_ps();
    }
    phases<M>(z, y + i * M);
  }
}

}  // namespace

// two 8-tile rows per register where the rows have 8 tiles (chunks start at multiples of 16)
bool pairs(int m, const Shape& s, int64_t t0) { return (s.Q + m - 1) / m == kPairTW && t0 % L == 0; }

void input_pairs(int m, const Shape& s, const float* x, int64_t t0, int64_t nt, int64_t tb, int64_t c0, int64_t c1, float* V) {
  if (m == 2) input_pairs_m<2>(s, x, t0, nt, tb, c0, c1, V);
  else input_pairs_m<4>(s, x, t0, nt, tb, c0, c1, V);
}

void output_pairs(int m, const Shape& s, const float* Mx, int64_t t0, int64_t nt, int64_t tb, int64_t k0, int64_t k1,
                  const float* bias, const float* res, Act act, float* y) {
  if (m == 2) output_pairs_m<2>(s, Mx, t0, nt, tb, k0, k1, bias, res, act, y);
  else output_pairs_m<4>(s, Mx, t0, nt, tb, k0, k1, bias, res, act, y);
}

void dy_pairs(int m, const Shape& s, const float* dy, int64_t t0, int64_t k, int64_t nt, int64_t g0, vf* y) {
  if (m == 2) dy_pairs_m<2>(s, dy, t0, k, nt, g0, y);
  else dy_pairs_m<4>(s, dy, t0, k, nt, g0, y);
}

}  // namespace avx512
}  // namespace tf
}  // namespace winograd
}  // namespace mdmt
#endif
