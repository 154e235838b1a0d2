// AVX-512 register helpers shared by the Winograd tile-row kernels (conv2d_winograd_avx512.cc)
// and their two-rows-per-register variants (conv2d_winograd_pairs.cc); internal to those two.
#pragma once
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#include "conv2d_winograd_tf.h"
#include "cpu_features.h"

// GCC 12 flags the _mm512_undefined_*() inside some AVX-512 intrinsics as uninitialised (in
// the two files that include this one)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace mdmt {
namespace winograd {
namespace tf {
namespace avx512 {

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

// Up to 16 output floats at y (lanes in kc): z + bias, + res (may be null), activation.
MDMT_I512 void store_out(float* y, const float* res, __m512 z, __m512 bias, __mmask16 kc, Act act) {
  __m512 val = _mm512_add_ps(z, bias);
  if (res) val = _mm512_add_ps(val, _mm512_maskz_loadu_ps(kc, res));
  _mm512_mask_storeu_ps(y, kc, vmath::act512(val, act));
}

// Tile rows of exactly 8 tiles go two to a register (conv2d_winograd_pairs.cc), in chunks
// that start at multiples of 16 tiles; the kernels' contracts are those of
// input_rows_avx512, output_rows_avx512 and dy_patch_avx512 (t0: the chunk's first tile).
bool pairs(int m, const Shape& s, int64_t t0);
void input_pairs(int m, const Shape& s, const float* x, int64_t t0, int64_t nt, int64_t tb, int64_t c0, int64_t c1, float* V);
void output_pairs(int m, const Shape& s, const float* Mx, int64_t t0, int64_t nt, int64_t tb, int64_t k0, int64_t k1,
                  const float* bias, const float* res, Act act, float* y);
void dy_pairs(int m, const Shape& s, const float* dy, int64_t t0, int64_t k, int64_t nt, int64_t g0, vf* y);

}  // namespace avx512
}  // namespace tf
}  // namespace winograd
}  // namespace mdmt
#endif
