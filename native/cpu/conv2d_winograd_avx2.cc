// AVX2 Winograd transforms with their operands gathered or de-interleaved, 8 lanes per
// register: the weights' 3×3 taps of 8 channels, the α×α input patches of 8 tiles (8
// consecutive tiles of a tile row of ≥ 8 shuffled out of zero-padded copies of the input
// rows, other tiles one masked gather per patch element, lanes outside the map read as 0)
// and the filter gradient's m×m dY patches; and the outputs of tile rows of ≥ 8, 8 tiles
// interleaved per register. The portable bodies (conv2d_winograd.cc,
// conv2d_bwd_winograd.cc) build each register from scalar stores into a vector array and
// read it back whole, which stalls on store forwarding; on a Zen 3 core the weights'
// transform took as long as the GEMMs it feeds in ResNet-18's layer 4 (bench/RESULTS.md,
// "AVX2 Winograd transforms by gathers"). The transforms themselves are
// conv2d_winograd_tf.h's, on vf8. Offsets are int32: the callers check the bounds.
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#include <algorithm>

#include "conv2d.h"
#include "conv2d_winograd_tf.h"
#include "scratch.h"
#include "vmath.h"

namespace mdmt {
namespace winograd {
namespace tf {
namespace {

using vec::vf8;
constexpr int L8 = 8;

thread_local TileVecs tl_tv2;              // the calling thread's tiles
thread_local Scratch tl_groups("conv2d");  // and their TileGroups (input_m)
thread_local Scratch tl_dy_groups("conv2d_bwd_filter");  // the dY patches' (tile_vectors_avx2)

// lo ≤ v < hi, per lane
MDMT_TARGET_AVX2 inline __m256i in_range(__m256i v, int64_t lo, int64_t hi) {
  return _mm256_andnot_si256(_mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(lo)), v),
                             _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(hi)), v));
}
// the lanes of mask m from p + idx (others 0)
MDMT_TARGET_AVX2 inline vf8 gather(const float* p, __m256i idx, __m256i m) {
  return _mm256_mask_i32gather_ps(_mm256_setzero_ps(), p, idx, _mm256_castsi256_ps(m), 4);
}

// The weights' gathers wait on memory (each group of channels is new lines; the hardware
// prefetchers do not follow gathers): the taps of the group kAhead groups on are asked for
// first.
constexpr int64_t kAhead = 4;

template <int M>
MDMT_TARGET_AVX2 void weights_m(int64_t K, int64_t C, const float* w, const WeightsSrc& src, int64_t k0, int64_t k1, float* U) {
  constexpr int A = Tf<M>::A;
  const __m256i lane = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(static_cast<int>(src.sc)));
  vf8 g[9], t[A * 3], u[A * A];
  for (int64_t k = k0; k < k1; ++k)
    for (int64_t c0 = 0; c0 < C; c0 += L8) {
      const int64_t lanes = std::min<int64_t>(L8, C - c0);
      const __m256i live = cpu_conv::tail_mask8(lanes);
      const float* base = w + k * src.sk + c0 * src.sc;
      if (c0 + (kAhead + 1) * L8 <= C)
        for (int l = 0; l < L8; ++l) _mm_prefetch(reinterpret_cast<const char*>(base + (kAhead * L8 + l) * src.sc), _MM_HINT_T0);
      for (int rs = 0; rs < 9; ++rs) g[rs] = gather(base + (src.rotate ? 8 - rs : rs), lane, live);
      weights_tile<M>(g, t, u);
      for (int xi = 0; xi < A * A; ++xi) vec::store_first8(U + (xi * K + k) * C + c0, u[xi], lanes);
    }
}

// d[j] (j < α) = row[m·l + j] for lanes l < 8 (row readable to m·8 + α + 8)
template <int M>
MDMT_TARGET_AVX2 inline void deinterleave8(const float* row, vf8* d) {
  if constexpr (M == 2) {
    for (int j = 0; j < 4; ++j) d[j] = vec::even8(_mm256_loadu_ps(row + j), _mm256_loadu_ps(row + j + 8));
  } else {
    // tile l's 4 columns are the 128-bit block at row + 4l: z_v = blocks v and v + 4, then a
    // 4×4 transpose within each half
    const auto z = [row](int v) MDMT_TARGET_AVX2 { return _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(row + 4 * v)), _mm_loadu_ps(row + 4 * v + 16), 1); };
    const __m256 z0 = z(0), z1 = z(1), z2 = z(2), z3 = z(3), z4 = z(4);
    const __m256 t0 = _mm256_unpacklo_ps(z0, z1), t1 = _mm256_unpackhi_ps(z0, z1), t2 = _mm256_unpacklo_ps(z2, z3), t3 = _mm256_unpackhi_ps(z2, z3);
    d[0] = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0)), d[1] = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
    d[2] = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0)), d[3] = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
    // the phases past m: P_0 and P_1 one tile on (blocks l + 1)
    const __m256 n0 = _mm256_unpacklo_ps(z1, z2), n2 = _mm256_unpacklo_ps(z3, z4);
    d[4] = _mm256_shuffle_ps(n0, n2, _MM_SHUFFLE(1, 0, 1, 0)), d[5] = _mm256_shuffle_ps(n0, n2, _MM_SHUFFLE(3, 2, 3, 2));
  }
}

thread_local Scratch tl_rows("conv2d");  // input_rows_m's zero-padded input rows

// Tile rows of ≥ 8 tiles: 8 consecutive tiles of one row per register, their patches
// de-interleaved from zero-padded copies of the α input rows (no gathers, no masks).
template <int M>
MDMT_TARGET_AVX2 void input_rows_m(const Shape& s, const float* x, int64_t t0, int64_t nt, int64_t tb, int64_t c0, int64_t c1, float* V) {
  constexpr int A = Tf<M>::A;
  const int64_t TW = (s.Q + M - 1) / M, wbuf = (TW + L8) * M + 40;  // over-read of the last group
  float* rows = tl_rows.get(A * wbuf);
  vf8 d[A * A], t[A * A];
  for (int64_t c = c0; c < c1; ++c)
    for_tile_rows(s, M, t0, nt, [&](int64_t n, int64_t th, int64_t tw, int64_t cnt, int64_t local) MDMT_TARGET_AVX2 {
      padded_rows(s, M, x + (n * s.C + c) * s.H * s.W, th, tw, cnt, rows, wbuf);
      for (int64_t g0 = 0; g0 < cnt; g0 += L8) {
        for (int i = 0; i < A; ++i) deinterleave8<M>(rows + i * wbuf + (tw + g0) * M, d + i * A);
        input_tile<M>(d, t);
        for (int xi = 0; xi < A * A; ++xi) vec::store_first8(V + (xi * s.C + c) * tb + local + g0, d[xi], cnt - g0);
      }
    });
}

// z[v] (v < m) = the m·8 floats of output row i of 8 consecutive tiles from o[j] = column j of
// their rows (lane l: tile l), in order: tile l's m outputs at z + m·l.
template <int M>
MDMT_TARGET_AVX2 inline void interleave8(const vf8* o, __m256* z) {
  if constexpr (M == 2) {
    const __m256 lo = _mm256_unpacklo_ps(o[0], o[1]), hi = _mm256_unpackhi_ps(o[0], o[1]);  // tiles 0 1 | 4 5, 2 3 | 6 7
    z[0] = _mm256_permute2f128_ps(lo, hi, 0x20), z[1] = _mm256_permute2f128_ps(lo, hi, 0x31);
  } else {
    const __m256 t0 = _mm256_unpacklo_ps(o[0], o[1]), t1 = _mm256_unpackhi_ps(o[0], o[1]);
    const __m256 t2 = _mm256_unpacklo_ps(o[2], o[3]), t3 = _mm256_unpackhi_ps(o[2], o[3]);
    // u_l: tiles l and l + 4, four outputs each
    const __m256 u0 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0)), u1 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
    const __m256 u2 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0)), u3 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
    z[0] = _mm256_permute2f128_ps(u0, u1, 0x20), z[1] = _mm256_permute2f128_ps(u2, u3, 0x20);
    z[2] = _mm256_permute2f128_ps(u0, u1, 0x31), z[3] = _mm256_permute2f128_ps(u2, u3, 0x31);
  }
}

// Tile rows of ≥ 8 tiles: 8 consecutive tiles of one row per register, their m×m outputs
// interleaved into m runs of 8·m floats with the epilogue (the portable body stores them one
// float at a time). The epilogue is (z + bias) + res, then the activation, as vmath's, and
// only where the portable body applies one, so both give the same bits.
template <int M>
MDMT_TARGET_AVX2 void output_rows_m(const Shape& s, const float* Mx, int64_t t0, int64_t nt, int64_t tb, int64_t k0, int64_t k1,
                                    const float* bias, const float* res, Act act, float* y) {
  constexpr int A = Tf<M>::A;
  const int64_t PQ = s.P * s.Q;
  vf8 m[A * A], t[M * A], o[M * M];
  __m256 z[M];
  for (int64_t k = k0; k < k1; ++k) {
    const float b = bias ? bias[k] : 0.f;
    const bool epi = res || b != 0.f || act != Act::None;
    const __m256 bv = _mm256_set1_ps(b);
    for_tile_rows(s, M, t0, nt, [&](int64_t n, int64_t th, int64_t tw, int64_t cnt, int64_t local) MDMT_TARGET_AVX2 {
      for (int64_t g0 = 0; g0 < cnt; g0 += L8) {
        const int64_t lanes = std::min<int64_t>(L8, cnt - g0);
        for (int xi = 0; xi < A * A; ++xi) m[xi] = cpu_conv::load_s8(Mx + (xi * s.K + k) * tb + local + g0, lanes, 1);
        output_tile<M>(m, t, o);
        const int64_t ow0 = (tw + g0) * M, ncols = std::min<int64_t>(lanes * M, s.Q - ow0);
        for (int i = 0; i < M && th * M + i < s.P; ++i) {
          const int64_t off = (n * s.K + k) * PQ + (th * M + i) * s.Q + ow0;
          interleave8<M>(o + i * M, z);
          for (int v = 0; v < M && 8 * v < ncols; ++v) {
            const int64_t w = std::min<int64_t>(8, ncols - 8 * v);
            __m256 r = z[v];
            if (epi) {
              r = _mm256_add_ps(r, bv);
              if (res) r = _mm256_add_ps(r, cpu_conv::load_s8(res + off + 8 * v, w, 1));
              r = vmath::act256(r, act);
            }
            vec::store_first8(y + off + 8 * v, r, w);
          }
        }
      }
    });
  }
}

// Per group of 8 tiles: the offset of each lane's patch in its image's first plane (at0), and
// which of the patch's N rows and columns lie inside the map (lanes past the chunk: none).
template <int N>
struct TileGroup {
  __m256i at0, rows[N], cols[N];
};

// The TileGroups of the chunk in tv, groups [0, ng), for patches of N × N from row oh − ph,
// column ow − pw of an H × W map whose images are `image` floats apart; into `buf`.
template <int N>
MDMT_TARGET_AVX2 TileGroup<N>* tile_groups(const TileVecs& tv, int64_t nt, int64_t ng, int64_t ph, int64_t pw, int64_t H, int64_t W, int64_t image,
                                           Scratch& buf) {
  auto* gs = reinterpret_cast<TileGroup<N>*>(buf.get(ng * static_cast<int64_t>(sizeof(TileGroup<N>) / sizeof(float))));
  const auto at = [](const int32_t* v) MDMT_TARGET_AVX2 { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(v)); };
  for (int64_t g = 0; g < ng; ++g) {
    const int64_t g0 = g * L8;
    const __m256i live = cpu_conv::tail_mask8(nt - g0);
    const __m256i ih = _mm256_sub_epi32(at(tv.oh + g0), _mm256_set1_epi32(static_cast<int>(ph)));
    const __m256i iw = _mm256_sub_epi32(at(tv.ow + g0), _mm256_set1_epi32(static_cast<int>(pw)));
    // element (i, j) of lane l's patch: n·image + (ih + i)·W + iw + j past the plane's start
    gs[g].at0 = _mm256_add_epi32(_mm256_mullo_epi32(at(tv.n + g0), _mm256_set1_epi32(static_cast<int>(image))),
                                 _mm256_add_epi32(_mm256_mullo_epi32(ih, _mm256_set1_epi32(static_cast<int>(W))), iw));
    for (int i = 0; i < N; ++i) gs[g].rows[i] = _mm256_and_si256(live, in_range(_mm256_add_epi32(ih, _mm256_set1_epi32(i)), 0, H));
    for (int j = 0; j < N; ++j) gs[g].cols[j] = in_range(_mm256_add_epi32(iw, _mm256_set1_epi32(j)), 0, W);
  }
  return gs;
}

// The chunk's tiles 8 at a time, for each channel in turn (channel-major like the portable
// body): each row of V is written a whole cache line after another, where a tile group
// outermost would write half lines over α² rows at a time.
template <int M>
MDMT_TARGET_AVX2 void input_m(const Shape& s, const float* x, int64_t t0, int64_t nt, int64_t tb, int64_t c0, int64_t c1, float* V) {
  constexpr int A = Tf<M>::A;
  TileVecs& tv = tl_tv2;
  tv.fill(s, M, t0, nt);
  const int64_t HW = s.H * s.W, ng = (nt + L8 - 1) / L8;
  const TileGroup<A>* gs = tile_groups<A>(tv, nt, ng, s.ph, s.pw, s.H, s.W, s.C * HW, tl_groups);
  vf8 d[A * A], t[A * A];
  for (int64_t c = c0; c < c1; ++c) {
    const float* xc = x + c * HW;
    for (int64_t g = 0; g < ng; ++g) {
      const TileGroup<A>& q = gs[g];
      for (int i = 0; i < A; ++i)
        for (int j = 0; j < A; ++j) d[i * A + j] = gather(xc + i * s.W + j, q.at0, _mm256_and_si256(q.rows[i], q.cols[j]));
      input_tile<M>(d, t);
      for (int xi = 0; xi < A * A; ++xi) _mm256_storeu_ps(V + (xi * s.C + c) * tb + g * L8, d[xi]);
    }
  }
}

// dy_patch_avx2 (below), one half of the 16 lanes: tiles [g0, g0 + 8) into lane h·8 + l of
// each y[i·m + j], from the chunk's TileGroups (tile_vectors_avx2)
template <int M>
MDMT_TARGET_AVX2 void dy_half(const Shape& s, const float* dy, int64_t k, int64_t g0, int h, vf* y) {
  const TileGroup<M>& q = reinterpret_cast<const TileGroup<M>*>(tl_dy_groups.get(0))[g0 / L8];
  const float* yk = dy + k * s.P * s.Q;
  for (int i = 0; i < M; ++i)
    for (int j = 0; j < M; ++j)
      _mm256_storeu_ps(reinterpret_cast<float*>(y + i * M + j) + h * L8, gather(yk + i * s.Q + j, q.at0, _mm256_and_si256(q.rows[i], q.cols[j])));
}

}  // namespace

// The entry points (conv2d_winograd_tf.h): F(2,3) or F(4,3) by m.
void weights_rows_avx2(int m, int64_t K, int64_t C, const float* w, const WeightsSrc& src, int64_t k0, int64_t k1, float* U) {
  (m == 2 ? weights_m<2> : weights_m<4>)(K, C, w, src, k0, k1, U);
}
void input_gather_avx2(int m, const Shape& s, const float* x, int64_t t0, int64_t nt, int64_t tb, int64_t c0, int64_t c1, float* V) {
  (m == 2 ? input_m<2> : input_m<4>)(s, x, t0, nt, tb, c0, c1, V);
}
void input_rows_avx2(int m, const Shape& s, const float* x, int64_t t0, int64_t nt, int64_t tb, int64_t c0, int64_t c1, float* V) {
  (m == 2 ? input_rows_m<2> : input_rows_m<4>)(s, x, t0, nt, tb, c0, c1, V);
}
void output_rows_avx2(int m, const Shape& s, const float* Mx, int64_t t0, int64_t nt, int64_t tb, int64_t k0, int64_t k1,
                      const float* bias, const float* res, Act act, float* y) {
  (m == 2 ? output_rows_m<2> : output_rows_m<4>)(s, Mx, t0, nt, tb, k0, k1, bias, res, act, y);
}
void tile_vectors_avx2(const Shape& s, int m, int64_t t0, int64_t nt) {
  tl_tv2.fill(s, m, t0, nt);
  // the dY patches' groups once per call, for every output channel (dy_patch_avx2 asks for
  // groups up to the 16-lane groups' end)
  const int64_t ng = (nt + L - 1) / L * (L / L8), image = s.K * s.P * s.Q;
  if (m == 2) tile_groups<2>(tl_tv2, nt, ng, 0, 0, s.P, s.Q, image, tl_dy_groups);
  else tile_groups<4>(tl_tv2, nt, ng, 0, 0, s.P, s.Q, image, tl_dy_groups);
}
void dy_patch_avx2(int m, const Shape& s, const float* dy, int64_t k, int64_t nt, int64_t g0, vf* y) {
  (void)nt;  // the groups mask the lanes past the chunk
  for (int h = 0; h < 2; ++h) (m == 2 ? dy_half<2> : dy_half<4>)(s, dy, k, g0 + h * L8, h, y);
}

}  // namespace tf
}  // namespace winograd
}  // namespace mdmt
#endif
