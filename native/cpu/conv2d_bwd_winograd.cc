// conv2d_bwd_filter of a 3×3 stride-1 conv by Winograd F(m×m, 3×3), m = 2 or 4: the adjoint
// of the forward (conv2d_winograd.h). Per tile the forward is
//   Y = Aᵀ [ Σ_c U_kc ⊙ V_c ] A,   U = G g Gᵀ,   V = Bᵀ d B,
// so with dM = A dY Aᵀ (α×α per tile and output channel; dY zero past the map's edge)
//   dU[ξ][k][c] = Σ_t dM[ξ][k][t] · V[ξ][c][t]       (one GEMM per ξ, over all tiles)
//   dg_kc       = Gᵀ dU_kc G                           (3×3)
// α²·K·C·T multiply-adds instead of im2col + GEMM's 9·m²·K·C·T (2.25× fewer for m = 2, 4× for
// m = 4), and no 9×-sized im2col matrix. V is the forward's input transform (input_chunk);
// A and Gᵀ below are the transposes of conv2d_winograd_tf.h's Aᵀ and G. Numerics as the
// forward's (float32 products summed over the tiles; F(4,3)'s transforms amplify rounding
// by up to ~10×): test/ops/conv2d_bwd_fast.test.ts bounds the error against float64.
#include <algorithm>

#include "conv2d.h"
#include "conv2d_winograd_tf.h"
#include "parallel.h"
#include "cpu_features.h"
#include "scratch.h"

namespace mdmt {
namespace winograd {
namespace {

using namespace tf;

// A (α×m) and Gᵀ (3×α) on strided arrays of a vector type V, as Tf's transforms.
template <int M> struct Adj;
template <> struct Adj<2> {
  template <class V>
  static MDMT_INLINE void a(const V* y, int is, V* r, int os) {  // A y (2 -> 4); Aᵀ = [1 1 1 0; 0 1 -1 -1]
    const V y0 = y[0], y1 = y[is];
    r[0] = y0, r[os] = y0 + y1, r[2 * os] = y0 - y1, r[3 * os] = -y1;
  }
  template <class V>
  static MDMT_INLINE void gt(const V* u, int is, V* r, int os) {  // Gᵀ u (4 -> 3); G = [1 0 0; ½ ½ ½; ½ -½ ½; 0 0 1]
    const V u0 = u[0], u1 = u[is], u2 = u[2 * is], u3 = u[3 * is], h = (u1 + u2) * 0.5f;
    r[0] = u0 + h, r[os] = (u1 - u2) * 0.5f, r[2 * os] = h + u3;
  }
};
template <> struct Adj<4> {
  template <class V>
  static MDMT_INLINE void a(const V* y, int is, V* r, int os) {  // A y (4 -> 6): rows 1, (1 ±1 1 ±1), (1 ±2 4 ±8), e₄
    const V y0 = y[0], y1 = y[is], y2 = y[2 * is], y3 = y[3 * is];
    const V e1 = y0 + y2, o1 = y1 + y3, e2 = y0 + 4.f * y2, o2 = 2.f * y1 + 8.f * y3;
    r[0] = y0, r[os] = e1 + o1, r[2 * os] = e1 - o1, r[3 * os] = e2 + o2, r[4 * os] = e2 - o2, r[5 * os] = y3;
  }
  template <class V>
  static MDMT_INLINE void gt(const V* u, int is, V* r, int os) {
    // G = [¼ 0 0; -⅙ -⅙ -⅙; -⅙ ⅙ -⅙; 1/24 1/12 ⅙; 1/24 -1/12 ⅙; 0 0 1]
    const V u0 = u[0], u1 = u[is], u2 = u[2 * is], u3 = u[3 * is], u4 = u[4 * is], u5 = u[5 * is];
    const V s12 = u1 + u2, s34 = u3 + u4;
    r[0] = u0 * 0.25f - s12 * (1.f / 6) + s34 * (1.f / 24);
    r[os] = (u2 - u1) * (1.f / 6) + (u3 - u4) * (1.f / 12);
    r[2 * os] = (s34 - s12) * (1.f / 6) + u5;
  }
};

// dM[ξ][k][i] = A dY Aᵀ of a chunk's nt tiles for output channels [k0, k1); load(k, g0, y)
// fills y[m·m] with the dY patches of the 16 tiles from g0 (0 outside the map and the chunk).
template <int M, class Load>
MDMT_INLINE void dy_tiles(const Shape& s, int64_t nt, int64_t tb, int64_t k0, int64_t k1, float* dM, Load&& load) {
  constexpr int A = Tf<M>::A;
  vf y[M * M], t[M * A], m[A * A];
  for (int64_t k = k0; k < k1; ++k)
    for (int64_t g0 = 0; g0 < nt; g0 += L) {
      load(k, g0, y);
      for (int i = 0; i < M; ++i) Adj<M>::a(y + i * M, 1, t + i * A, 1);  // rows: t[M][A] = dY Aᵀ
      for (int j = 0; j < A; ++j) Adj<M>::a(t + j, A, m + j, A);          // columns: dM = A t
      for (int xi = 0; xi < A * A; ++xi) st(dM + (xi * s.K + k) * tb + g0, m[xi]);
    }
}

// The portable patches: lane by lane, the chunk's tiles [t0, t0 + nt).
template <int M>
MDMT_INLINE void dy_body(const Shape& s, const float* dy, int64_t t0, int64_t nt, int64_t tb, int64_t k0, int64_t k1, float* dM) {
  const int64_t TH = (s.P + M - 1) / M, TW = (s.Q + M - 1) / M, PQ = s.P * s.Q;
  dy_tiles<M>(s, nt, tb, k0, k1, dM, [&](int64_t k, int64_t g0, vf* y) {
    float* yf = reinterpret_cast<float*>(y);
    for (int64_t l = 0; l < L; ++l) {
      const int64_t tt = t0 + g0 + l;
      if (g0 + l >= nt) {
        for (int i = 0; i < M * M; ++i) yf[i * L + l] = 0.f;
        continue;
      }
      const int64_t n = tt / (TW * TH), oh = ((tt / TW) % TH) * M, ow = (tt % TW) * M;
      const float* yp = dy + (n * s.K + k) * PQ;
      for (int i = 0; i < M; ++i)
        for (int j = 0; j < M; ++j) yf[(i * M + j) * L + l] = oh + i < s.P && ow + j < s.Q ? yp[(oh + i) * s.Q + ow + j] : 0.f;
    }
  });
}

// dw[k][c][3×3] = Gᵀ dU[·][k][c] G for output channels [k0, k1), 16 input channels per group.
template <int M>
MDMT_INLINE void filter_body(int64_t K, int64_t C, const float* dU, int64_t k0, int64_t k1, float* dw) {
  constexpr int A = Tf<M>::A;
  vf u[A * A], t[3 * A], g[9];
  float* uf = reinterpret_cast<float*>(u);
  const float* gf = reinterpret_cast<const float*>(g);
  for (int64_t k = k0; k < k1; ++k)
    for (int64_t c0 = 0; c0 < C; c0 += L) {
      const int64_t lanes = std::min<int64_t>(L, C - c0);
      for (int xi = 0; xi < A * A; ++xi) {
        const float* src = dU + (xi * K + k) * C + c0;
        if (lanes == L) {
          u[xi] = ld(src);  // a whole register (lane by lane, its reload would wait on 16 stores)
        } else {
          for (int64_t l = 0; l < L; ++l) uf[xi * L + l] = l < lanes ? src[l] : 0.f;
        }
      }
      for (int j = 0; j < A; ++j) Adj<M>::gt(u + j, A, t + j, A);        // columns: t[3][A] = Gᵀ dU
      for (int i = 0; i < 3; ++i) Adj<M>::gt(t + i * A, 1, g + i * 3, 1);  // rows: dg = t G
      for (int64_t l = 0; l < lanes; ++l)
        for (int rs = 0; rs < 9; ++rs) dw[(k * C + c0 + l) * 9 + rs] = gf[rs * L + l];
    }
}

#if defined(__x86_64__) || defined(__i386__)
// AVX-512 and AVX2: the same with each dY patch element one masked gather (tf::dy_patch_avx512,
// tf::dy_patch_avx2)
template <int M>
MDMT_TARGET_AVX512 void dy_gather(const Shape& s, const float* dy, int64_t t0, int64_t nt, int64_t tb, int64_t k0, int64_t k1, float* dM) {
  tile_vectors_avx512(s, M, t0, nt);
  dy_tiles<M>(s, nt, tb, k0, k1, dM, [&](int64_t k, int64_t g0, vf* y) { dy_patch_avx512(M, s, dy, k, nt, g0, y); });
}
template <int M>
MDMT_TARGET_AVX2 void dy_gather_avx2(const Shape& s, const float* dy, int64_t t0, int64_t nt, int64_t tb, int64_t k0, int64_t k1, float* dM) {
  tile_vectors_avx2(s, M, t0, nt);
  dy_tiles<M>(s, nt, tb, k0, k1, dM, [&](int64_t k, int64_t g0, vf* y) { dy_patch_avx2(M, s, dy, k, nt, g0, y); });
}
#endif

#if defined(__x86_64__) || defined(__i386__)
// AVX2: filter_body 8 channels at a time, each channel's 9 taps written as one run: an 8×8
// transpose of taps 0–7 gives a channel's first 8 per register (the portable body stored all
// 9·16 one float at a time).
template <int M>
MDMT_TARGET_AVX2 void filter_rows_avx2(int64_t K, int64_t C, const float* dU, int64_t k0, int64_t k1, float* dw) {
  constexpr int A = Tf<M>::A;
  vec::vf8 u[A * A], t[3 * A], g[9];
  alignas(32) float last[8];
  for (int64_t k = k0; k < k1; ++k)
    for (int64_t c0 = 0; c0 < C; c0 += 8) {
      const int64_t lanes = std::min<int64_t>(8, C - c0);
      for (int xi = 0; xi < A * A; ++xi) {
        const float* src = dU + (xi * K + k) * C + c0;
        if (lanes == 8) {
          u[xi] = _mm256_loadu_ps(src);
        } else {
          std::fill(last, last + 8, 0.f);
          std::copy(src, src + lanes, last);
          u[xi] = _mm256_load_ps(last);
        }
      }
      for (int j = 0; j < A; ++j) Adj<M>::gt(u + j, A, t + j, A);        // columns: t[3][A] = Gᵀ dU
      for (int i = 0; i < 3; ++i) Adj<M>::gt(t + i * A, 1, g + i * 3, 1);  // rows: dg = t G
      __m256 r[8] = {g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7]};
      vec::transpose8x8(r);  // r[l] = taps 0–7 of channel c0 + l
      _mm256_store_ps(last, g[8]);
      float* out = dw + (k * C + c0) * 9;
      for (int64_t l = 0; l < lanes; ++l) {  // 8 floats from channel l's first tap: inside its 9 for l < lanes
        _mm256_storeu_ps(out + 9 * l, r[l]);
        out[9 * l + 8] = last[l];
      }
    }
}
#endif

#define MDMT_WINO_BWD_ISA(NAME, TARGET)                                                                                \
  template <int M>                                                                                                     \
  TARGET void dy_##NAME(const Shape& s, const float* dy, int64_t t0, int64_t nt, int64_t tb, int64_t k0, int64_t k1,   \
                        float* dM) {                                                                                   \
    dy_body<M>(s, dy, t0, nt, tb, k0, k1, dM);                                                                         \
  }                                                                                                                    \
  template <int M>                                                                                                     \
  TARGET void filter_##NAME(int64_t K, int64_t C, const float* dU, int64_t k0, int64_t k1, float* dw) {                \
    filter_body<M>(K, C, dU, k0, k1, dw);                                                                              \
  }
MDMT_EACH_ISA(MDMT_WINO_BWD_ISA)

template <int M>
struct BwdKernels {
  void (*dy)(const Shape&, const float*, int64_t, int64_t, int64_t, int64_t, int64_t, float*);
  void (*filter)(int64_t, int64_t, const float*, int64_t, int64_t, float*);
};
template <int M>
BwdKernels<M> bwd_kernels(const Shape& s, GemmIsa isa) {
#if defined(__x86_64__) || defined(__i386__)
  const bool gathers = s.N * s.K * s.P * s.Q < (int64_t(1) << 31);
  if (gemm_isa_level(isa) == 2) return {gathers ? dy_gather<M> : dy_avx512<M>, filter_avx512<M>};
  if (gemm_isa_level(isa) == 1) return {gathers ? dy_gather_avx2<M> : dy_avx2<M>, filter_rows_avx2<M>};
#endif
  return {dy_generic<M>, filter_generic<M>};
}

thread_local Scratch tl_bws("conv2d_bwd_filter");  // V, dM of a chunk and dU of the call

template <int M>
void bwd_filter_m(const Shape& s, const float* x, const float* dy, float* dw, GemmIsa isa) {
  constexpr int A2 = Tf<M>::A * Tf<M>::A;
  const BwdKernels<M> kn = bwd_kernels<M>(s, isa);
  const int64_t T = s.N * ((s.P + M - 1) / M) * ((s.Q + M - 1) / M);
  const int64_t tb = chunk_tiles_for(M, s, T);
  const int64_t need = A2 * ((s.C + s.K) * tb + s.K * s.C);
  float* V = tl_bws.get(need);
  float* dM = V + A2 * s.C * tb;
  float* dU = dM + A2 * s.K * tb;
  for (int64_t t0 = 0; t0 < T; t0 += tb) {
    const int64_t nt = std::min(tb, T - t0);
    input_chunk(M, s, x, t0, nt, tb, V, isa);
    parallel_for(0, s.K, std::max<int64_t>(1, 4096 / (nt * A2)), [&](int64_t lo, int64_t hi) { kn.dy(s, dy, t0, nt, tb, lo, hi, dM); });
    const float beta = t0 == 0 ? 0.f : 1.f;  // the first chunk writes dU, the others accumulate
    parallel_for(0, A2, 1, [&](int64_t lo, int64_t hi) {
      for (int64_t xi = lo; xi < hi; ++xi)
        sgemm(false, true, s.K, s.C, nt, 1.f, dM + xi * s.K * tb, tb, V + xi * s.C * tb, tb, beta, dU + xi * s.K * s.C, s.C, isa);
    });
  }
  parallel_for(0, s.K, std::max<int64_t>(1, 256 / std::max<int64_t>(1, s.C)), [&](int64_t lo, int64_t hi) { kn.filter(s.K, s.C, dU, lo, hi, dw); });
}

}  // namespace
}  // namespace winograd

namespace cpu_conv {

bool bwd_filter_winograd(const Geom& g, const float* dy, const float* x, float* dw) {
  const int m = auto_winograd_m(g);
  if (!m) return false;
  const winograd::Shape s{g.N, g.C, g.H, g.W, g.K, g.P, g.Q, g.ph, g.pw};
  if (m == 2) winograd::bwd_filter_m<2>(s, x, dy, dw, g.isa);
  else winograd::bwd_filter_m<4>(s, x, dy, dw, g.isa);
  return true;
}

}  // namespace cpu_conv
}  // namespace mdmt
