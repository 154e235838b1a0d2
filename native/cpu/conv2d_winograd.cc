// Winograd F(m×m, 3×3), see conv2d_winograd.h. Layout of one call:
//   tiles t = (n, th, tw) in that order, th < ⌈P/m⌉, tw < ⌈Q/m⌉; processed in chunks of
//   tb tiles so the workspace V[α²][C][tb] + M[α²][K][tb] stays bounded;
//   per chunk: input transform (parallel over c) → α² GEMMs (parallel over ξ, each one
//   serial) → output transform + epilogue (parallel over k).
// The transforms run on groups of 16 lanes (16 tiles, or 16 channels for the weights)
// held in GCC vector types, so the same source is compiled for AVX-512 (one register),
// AVX2 (two) and the baseline (four) and chosen like the GEMM's micro-kernel. Gathering a
// tile's α×α patch and scattering its m×m outputs are per-lane copies (tiles of one lane
// group may belong to different rows and images, so no lane is wasted on small maps). On
// AVX-512, rows of ≥ 8 tiles take whole tile rows per register (two rows of exactly 8;
// conv2d_winograd_avx512.cc)
// and smaller maps gather each patch element with one masked gather; AVX2 does the same 8
// tiles at a time, and gathers the weights' taps (conv2d_winograd_avx2.cc).
#include "conv2d_winograd.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "parallel.h"
#include "conv2d_winograd_tf.h"
#include "cpu_features.h"
#include "scratch.h"

namespace mdmt {
namespace winograd {
namespace {

using namespace tf;

// Where tile t of a chunk reads and writes.
struct TileAt {
  int64_t n, oh, ow;  // image, first output row / column (the input patch starts at oh − ph, ow − pw)
};

// V[ξ][c][lane] for channels [c0, c1) and the chunk's tiles (tb lanes per row of V).
template <int M>
MDMT_INLINE void input_body(const Shape& s, const float* x, const TileAt* tl, int64_t nt, int64_t tb, int64_t c0, int64_t c1,
                        float* V) {
  constexpr int A = Tf<M>::A;
  vf d[A * A], t[A * A];
  for (int64_t c = c0; c < c1; ++c)
    for (int64_t g0 = 0; g0 < nt; g0 += L) {
      float* df = reinterpret_cast<float*>(d);
      for (int64_t l = 0; l < L; ++l) {
        if (g0 + l >= nt) {
          for (int i = 0; i < A * A; ++i) df[i * L + l] = 0.f;
          continue;
        }
        const TileAt& q = tl[g0 + l];
        const float* xp = x + (q.n * s.C + c) * s.H * s.W;
        const int64_t ih = q.oh - s.ph, iw = q.ow - s.pw;
        if (ih >= 0 && iw >= 0 && ih + A <= s.H && iw + A <= s.W) {
          for (int i = 0; i < A; ++i)
            for (int j = 0; j < A; ++j) df[(i * A + j) * L + l] = xp[(ih + i) * s.W + iw + j];
        } else {
          for (int i = 0; i < A; ++i)
            for (int j = 0; j < A; ++j) {
              const int64_t r = ih + i, col = iw + j;
              df[(i * A + j) * L + l] = r >= 0 && r < s.H && col >= 0 && col < s.W ? xp[r * s.W + col] : 0.f;
            }
        }
      }
      input_tile<M>(d, t);
      for (int xi = 0; xi < A * A; ++xi) st(V + (xi * s.C + c) * tb + g0, d[xi]);
    }
}

// y for output channels [k0, k1) of the chunk's tiles from M[ξ][k][lane], with the epilogue.
template <int M>
MDMT_INLINE void output_body(const Shape& s, const float* Mx, const TileAt* tl, int64_t nt, int64_t tb, int64_t k0, int64_t k1,
                         const float* bias, const float* res, Act act, float* y) {
  constexpr int A = Tf<M>::A;
  vf m[A * A], t[M * A], o[M * M], r[M * M];
  float* of = reinterpret_cast<float*>(o);
  float* rf = reinterpret_cast<float*>(r);
  const int64_t PQ = s.P * s.Q;
  for (int64_t k = k0; k < k1; ++k)
    for (int64_t g0 = 0; g0 < nt; g0 += L) {
      for (int xi = 0; xi < A * A; ++xi) m[xi] = ld(Mx + (xi * s.K + k) * tb + g0);
      output_tile<M>(m, t, o);
      const int64_t lanes = std::min<int64_t>(L, nt - g0);
      if (res)
        for (int64_t l = 0; l < lanes; ++l) {
          const TileAt& q = tl[g0 + l];
          const float* rp = res + (q.n * s.K + k) * PQ;
          for (int i = 0; i < M; ++i)
            for (int j = 0; j < M; ++j)
              rf[(i * M + j) * L + l] = q.oh + i < s.P && q.ow + j < s.Q ? rp[(q.oh + i) * s.Q + q.ow + j] : 0.f;
        }
      const float b = bias ? bias[k] : 0.f;
      if (res) vmath::bias_add_act(of, rf, M * M * L, b, act);
      else if (b != 0.f || act != Act::None) vmath::bias_act(of, M * M * L, b, act);
      for (int64_t l = 0; l < lanes; ++l) {
        const TileAt& q = tl[g0 + l];
        float* yp = y + (q.n * s.K + k) * PQ;
        const int64_t hi = std::min<int64_t>(M, s.P - q.oh), wi = std::min<int64_t>(M, s.Q - q.ow);
        for (int64_t i = 0; i < hi; ++i)
          for (int64_t j = 0; j < wi; ++j) yp[(q.oh + i) * s.Q + q.ow + j] = of[(i * M + j) * L + l];
      }
    }
}

// U[ξ][k][c] for output channels [k0, k1): 16 input channels per group.
template <int M>
MDMT_INLINE void weights_body(int64_t K, int64_t C, const float* w, const WeightsSrc& src, int64_t k0, int64_t k1, float* U) {
  constexpr int A = Tf<M>::A;
  vf g[9], t[A * 3], u[A * A];
  float* gf = reinterpret_cast<float*>(g);
  const float* uf = reinterpret_cast<const float*>(u);
  for (int64_t k = k0; k < k1; ++k)
    for (int64_t c0 = 0; c0 < C; c0 += L) {
      const int64_t lanes = std::min<int64_t>(L, C - c0);
      for (int64_t l = 0; l < L; ++l) {
        const float* kern = w + k * src.sk + (c0 + l) * src.sc;
        for (int rs = 0; rs < 9; ++rs) gf[rs * L + l] = l < lanes ? kern[src.rotate ? 8 - rs : rs] : 0.f;
      }
      weights_tile<M>(g, t, u);
      for (int xi = 0; xi < A * A; ++xi) std::memcpy(U + (xi * K + k) * C + c0, uf + xi * L, sizeof(float) * lanes);
    }
}

#define MDMT_WINO_ISA(NAME, TARGET)                                                                                  \
  template <int M>                                                                                                   \
  TARGET void input_##NAME(const Shape& s, const float* x, const TileAt* tl, int64_t nt, int64_t tb, int64_t c0,     \
                           int64_t c1, float* V) {                                                                   \
    input_body<M>(s, x, tl, nt, tb, c0, c1, V);                                                                      \
  }                                                                                                                  \
  template <int M>                                                                                                   \
  TARGET void output_##NAME(const Shape& s, const float* Mx, const TileAt* tl, int64_t nt, int64_t tb, int64_t k0,   \
                            int64_t k1, const float* bias, const float* res, Act act, float* y) {                    \
    output_body<M>(s, Mx, tl, nt, tb, k0, k1, bias, res, act, y);                                                   \
  }                                                                                                                  \
  template <int M>                                                                                                   \
  TARGET void weights_##NAME(int64_t K, int64_t C, const float* w, const WeightsSrc& src, int64_t k0, int64_t k1,     \
                             float* U) {                                                                             \
    weights_body<M>(K, C, w, src, k0, k1, U);                                                                        \
  }
MDMT_EACH_ISA(MDMT_WINO_ISA)

template <int M>
struct Kernels {
  void (*input)(const Shape&, const float*, const TileAt*, int64_t, int64_t, int64_t, int64_t, float*);
  void (*output)(const Shape&, const float*, const TileAt*, int64_t, int64_t, int64_t, int64_t, const float*, const float*, Act, float*);
  void (*weights)(int64_t, int64_t, const float*, const WeightsSrc&, int64_t, int64_t, float*);
};
template <int M>
Kernels<M> kernels(GemmIsa isa) {
#if defined(__x86_64__) || defined(__i386__)
  if (gemm_isa_level(isa) == 2) return {input_avx512<M>, output_avx512<M>, weights_avx512<M>};
  if (gemm_isa_level(isa) == 1) return {input_avx2<M>, output_avx2<M>, weights_avx2<M>};
#endif
  return {input_generic<M>, output_generic<M>, weights_generic<M>};
}

// Per-call workspace (grow-only, one per calling thread, shared with the pool by pointer).
thread_local Scratch tl_ws("conv2d");
thread_local Scratch tl_u("conv2d");   // the transformed weights of a call with raw weights
thread_local Scratch tl_ub("conv2d");  // gemm_transforming's blocks, one per pool slot
thread_local std::vector<TileAt> tl_tiles;

// Tile i of a chunk starting at tile t0.
template <int M>
void chunk_tiles(const Shape& s, int64_t t0, int64_t nt, TileAt* tl) {
  const int64_t TH = (s.P + M - 1) / M, TW = (s.Q + M - 1) / M;
  for (int64_t i = 0; i < nt; ++i) {
    const int64_t t = t0 + i, tw = t % TW, th = (t / TW) % TH;
    tl[i] = {t / (TW * TH), th * M, tw * M};
  }
}

// AVX-512: whole tile rows per register when they fill at least half of its 16 lanes
template <int M>
bool tile_rows(const Shape& s, GemmIsa isa) {
#if defined(__x86_64__) || defined(__i386__)
  return gemm_isa_level(isa) == 2 && (s.Q + M - 1) / M >= 8;
#else
  (void)s, (void)isa;
  return false;
#endif
}

// AVX-512 elsewhere, and AVX2: 16 (8) tiles per register, patch elements gathered (int32
// offsets); the ISA's level, 0 for none
int gather_tiles(const Shape& s, GemmIsa isa) {
  return s.N * s.C * s.H * s.W < (int64_t(1) << 31) ? gemm_isa_level(isa) : 0;
}

// V[ξ][c][i] = Bᵀ d B of the chunk's tiles (tl from chunk_tiles), parallel over channels.
template <int M>
void input_chunk_m(const Shape& s, const float* x, const TileAt* tl, int64_t t0, int64_t nt, int64_t tb, float* V, GemmIsa isa) {
  constexpr int A2 = Tf<M>::A * Tf<M>::A;
  const Kernels<M> kn = kernels<M>(isa);
  const bool rows = tile_rows<M>(s, isa), rows8 = gemm_isa_level(isa) == 1 && (s.Q + M - 1) / M >= 8;
  const int gather = gather_tiles(s, isa);
  parallel_for(0, s.C, std::max<int64_t>(1, 4096 / (nt * A2)), [&](int64_t lo, int64_t hi) {
    if (rows) tf::input_rows_avx512(M, s, x, t0, nt, tb, lo, hi, V);
#if defined(__x86_64__) || defined(__i386__)
    else if (rows8) tf::input_rows_avx2(M, s, x, t0, nt, tb, lo, hi, V);
    else if (gather == 2) tf::input_gather_avx512(M, s, x, t0, nt, tb, lo, hi, V);
    else if (gather == 1) tf::input_gather_avx2(M, s, x, t0, nt, tb, lo, hi, V);
#endif
    else kn.input(s, x, tl, nt, tb, lo, hi, V);
  });
}

// The weights of one call, transformed as the GEMMs go: for kb output channels at a time,
// U[ξ][kb][C] into a block of the slot running them, then the α² GEMMs of those rows,
// M[ξ][k0, k0 + kb)[tiles] = U[ξ] · V[ξ]. Slots are fixed per pool chunk, so each one owns
// a block of ub (slot · A2·kb·C). A materialised U of a large layer goes out of the cache
// and back (512→512 F(2,3): 16 MB), and its strided stores ran at one speed in some
// processes and 2–2.5× slower in others (192→384 on 4×4 maps at batch 8: 0.66 or 1.6 ms);
// by blocks it ran at 0.67–0.85 in every process, 512→512 2.77 → 2.36 ms, 256→256 on 4×4
// maps 0.54 → 0.58 (2 threads).
constexpr int64_t kTransformingFloats = int64_t(1) << 20;  // α²·K·C from which U goes by blocks

// U rows [k0, k1) of K, on the calling thread: the taps gathered on AVX-512 and AVX2
// (tf::weights_rows_avx512, tf::weights_rows_avx2), else the portable body.
template <int M>
void weights_rows(int64_t K, int64_t C, const float* w, const WeightsSrc& src, int64_t k0, int64_t k1, float* U, GemmIsa isa) {
#if defined(__x86_64__) || defined(__i386__)
  if (gemm_isa_level(isa) == 2) return tf::weights_rows_avx512(M, K, C, w, src, k0, k1, U);
  if (gemm_isa_level(isa) == 1) return tf::weights_rows_avx2(M, K, C, w, src, k0, k1, U);
#endif
  kernels<M>(isa).weights(K, C, w, src, k0, k1, U);
}

template <int M>
void gemm_transforming(const Shape& s, const float* w, const WeightsSrc& src, const float* V, float* Mx, int64_t nt, int64_t tb,
                       int64_t kb, float* ub, GemmIsa isa) {
  constexpr int A2 = Tf<M>::A * Tf<M>::A;
  const int64_t slots = num_threads(), blocks = (s.K + kb - 1) / kb;
  parallel_for(0, slots, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t slot = lo; slot < hi; ++slot) {
      float* u = ub + slot * A2 * kb * s.C;
      for (int64_t bi = slot; bi < blocks; bi += slots) {
        const int64_t k0 = bi * kb, n = std::min(kb, s.K - k0);
        weights_rows<M>(n, s.C, w + k0 * src.sk, src, 0, n, u, isa);
        for (int64_t xi = 0; xi < A2; ++xi)
          sgemm(false, false, n, nt, s.C, 1.f, u + xi * n * s.C, s.C, V + xi * s.C * tb, tb, 0.f, Mx + (xi * s.K + k0) * tb, tb, isa);
      }
    }
  });
}

// Output channels per block of gemm_transforming: U[α²][kb][C] within ~1 MiB (half an L2 of
// this machine's cores, beside V), in a number of blocks that the slots share evenly.
int64_t block_rows(int m, int64_t K, int64_t C) {
  const int64_t A2 = (m + 2) * (m + 2), slots = num_threads();
  const int64_t most = std::max<int64_t>(8, (int64_t(1) << 18) / (A2 * C));
  const int64_t blocks = ((K + most - 1) / most + slots - 1) / slots * slots;
  return (K + blocks - 1) / blocks;
}

// y from raw weights w (U == nullptr) or transformed ones U.
template <int M>
void forward_m(const Shape& s, const float* x, const float* U, const float* w, const WeightsSrc& src, const float* bias, const float* res,
               Act act, float* y, GemmIsa isa, int64_t tile_block) {
  constexpr int A = Tf<M>::A, A2 = A * A;
  const Kernels<M> kn = kernels<M>(isa);
  const int64_t T = s.N * ((s.P + M - 1) / M) * ((s.Q + M - 1) / M);
  const bool rows = tile_rows<M>(s, isa), rows8 = gemm_isa_level(isa) == 1 && (s.Q + M - 1) / M >= 8;
  const int64_t tb = tile_block > 0 ? tile_block : chunk_tiles_for(M, s, T);
  // raw weights: transformed block by block inside the GEMM phase when there is one chunk
  // (U is read once) and U would not stay in cache (≥ kTransformingFloats); else into tl_u
  const bool transforming = !U && T <= tb && A2 * s.K * s.C >= kTransformingFloats;
  const int64_t kb = transforming ? block_rows(M, s.K, s.C) : 0;
  if (!U && !transforming) {
    float* u = tl_u.get(A2 * s.K * s.C);
    transform_weights(M, s.K, s.C, w, src, u, isa);
    U = u;
  }
  float* ub = transforming ? tl_ub.get(num_threads() * A2 * kb * s.C) : nullptr;
  float* V = tl_ws.get(A2 * (s.C + s.K) * tb);
  if (static_cast<int64_t>(tl_tiles.size()) < tb) tl_tiles.resize(static_cast<size_t>(tb));
  float* Mx = V + A2 * s.C * tb;
  TileAt* tl = tl_tiles.data();
  for (int64_t t0 = 0; t0 < T; t0 += tb) {
    const int64_t nt = std::min(tb, T - t0);
    chunk_tiles<M>(s, t0, nt, tl);
    input_chunk_m<M>(s, x, tl, t0, nt, tb, V, isa);
    if (transforming) {
      gemm_transforming<M>(s, w, src, V, Mx, nt, tb, kb, ub, isa);
    } else {
      parallel_for(0, A2, 1, [&](int64_t lo, int64_t hi) {
        for (int64_t xi = lo; xi < hi; ++xi)
          sgemm(false, false, s.K, nt, s.C, 1.f, U + xi * s.K * s.C, s.C, V + xi * s.C * tb, tb, 0.f, Mx + xi * s.K * tb, tb, isa);
      });
    }
    parallel_for(0, s.K, std::max<int64_t>(1, 4096 / (nt * A2)), [&](int64_t lo, int64_t hi) {
      if (rows) tf::output_rows_avx512(M, s, Mx, t0, nt, tb, lo, hi, bias, res, act, y);
#if defined(__x86_64__) || defined(__i386__)
      else if (rows8) tf::output_rows_avx2(M, s, Mx, t0, nt, tb, lo, hi, bias, res, act, y);
#endif
      else kn.output(s, Mx, tl, nt, tb, lo, hi, bias, res, act, y);
    });
  }
}

}  // namespace

int64_t chunk_tiles_for(int m, const Shape& s, int64_t T) {
  // chunk: V + M about 8 MiB (L3-resident between the phases), a multiple of the lane group
  const int64_t A2 = (m + 2) * (m + 2);
  const int64_t want = (int64_t(1) << 21) / (A2 * (s.C + s.K));
  return std::min((T + L - 1) / L * L, std::max<int64_t>(4 * L, want / L * L));
}

void input_chunk(int m, const Shape& s, const float* x, int64_t t0, int64_t nt, int64_t tb, float* V, GemmIsa isa) {
  if (static_cast<int64_t>(tl_tiles.size()) < nt) tl_tiles.resize(static_cast<size_t>(nt));
  if (m == 2) chunk_tiles<2>(s, t0, nt, tl_tiles.data()), input_chunk_m<2>(s, x, tl_tiles.data(), t0, nt, tb, V, isa);
  else chunk_tiles<4>(s, t0, nt, tl_tiles.data()), input_chunk_m<4>(s, x, tl_tiles.data(), t0, nt, tb, V, isa);
}

void transform_weights(int m, int64_t K, int64_t C, const float* w, const WeightsSrc& src, float* U, GemmIsa isa) {
  parallel_for(0, K, std::max<int64_t>(1, 256 / std::max<int64_t>(1, C)), [&](int64_t lo, int64_t hi) {
    if (m == 2) weights_rows<2>(K, C, w, src, lo, hi, U, isa);
    else weights_rows<4>(K, C, w, src, lo, hi, U, isa);
  });
}

void transform_weights(int m, int64_t K, int64_t C, const float* w, float* U) { transform_weights(m, K, C, w, plain_weights(C), U); }

void forward(int m, const Shape& s, const float* x, const float* U, const float* bias, const float* res, Act act, float* y,
             GemmIsa isa, int64_t tile_block) {
  if (s.N * s.K * s.P * s.Q == 0) return;
  const WeightsSrc none{0, 0, false};
  if (m == 2) forward_m<2>(s, x, U, nullptr, none, bias, res, act, y, isa, tile_block);
  else forward_m<4>(s, x, U, nullptr, none, bias, res, act, y, isa, tile_block);
}

void forward_raw(int m, const Shape& s, const float* x, const float* w, const WeightsSrc& src, const float* bias, const float* res,
                 Act act, float* y, GemmIsa isa, int64_t tile_block) {
  if (s.N * s.K * s.P * s.Q == 0) return;
  if (m == 2) forward_m<2>(s, x, nullptr, w, src, bias, res, act, y, isa, tile_block);
  else forward_m<4>(s, x, nullptr, w, src, bias, res, act, y, isa, tile_block);
}

}  // namespace winograd
}  // namespace mdmt
