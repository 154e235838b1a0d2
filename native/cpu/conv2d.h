// Shared by the CPU convolution files: native/cpu/conv2d.cc (im2col + GEMM, the general
// case, and conv2d's forward), conv2d_bwd.cc (its backward ops) and depthwise.cc (direct
// loops for groups == C). Internal to the CPU
// backend: the geometry both read (the conv2d spec plus the GEMM isa), the per-thread im2col / padded-plane workspace, the
// AVX-512 strided loads their inner loops share, and the depthwise entry points.
#pragma once
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <cstdint>
#include <functional>

#include "../ops/conv2d.h"
#include "../core/registry.h"
#include "gemm.h"
#include "parallel.h"
#include "cpu_features.h"
#include "vec.h"

namespace mdmt {
namespace cpu_conv {

// The family's checked geometry (native/ops/conv2d.h) and the GEMM micro-kernel to use.
struct Geom : Conv2dSpec {
  GemmIsa isa = GemmIsa::Auto;
};

// A grow-only float workspace per thread (im2col columns, padded depthwise planes).
float* col_buffer(int64_t floats);

// ---- im2col + GEMM (conv2d.cc), shared by the forward and the backward ops (conv2d_bwd.cc)
// col[row, 0..n) (row stride ldcol) = im2col(x_g) for output columns [q0, q0 + n)
void im2col(const Geom& g, const float* xg, int64_t q0, int64_t n, float* col, int64_t ldcol);
// dx_g += col2im(col) for output columns [q0, q0 + n) (the adjoint of im2col)
void col2im_add(const Geom& g, const float* col, int64_t q0, int64_t n, int64_t ldcol, float* dxg);
// rows × cols block copy between two row strides (gathering images side by side and back)
void copy_rows(int64_t rows, int64_t cols, const float* src, int64_t lds, float* dst, int64_t ldd);
// How the images of a group are fed to the GEMM: nb side by side in batches, or one at a
// time in column chunks of qc (make_batching's comment in conv2d.cc)
struct Batching {
  int64_t nb = 1, batches = 1, qc = 1;
};
Batching make_batching(const Geom& g, int threads);
// A second grow-only workspace per thread (gathered dy, GEMM outputs)
float* tmp_buffer(int64_t floats);
// task(i) for i in [0, T): in parallel when the tasks keep every thread busy, else in turn
void run_tasks(int64_t T, const std::function<void(int64_t)>& task);
// f(n0, nb, gi, bt) for each (image batch × group) task of make_batching: images
// [n0, n0 + nb) of group gi
template <class F>
void for_batches(const Geom& g, F&& f) {
  const Batching bt = make_batching(g, num_threads());
  run_tasks(bt.batches * g.G, [&](int64_t t) {
    const int64_t n0 = (t / g.G) * bt.nb;
    f(n0, std::min(bt.nb, g.N - n0), t % g.G, bt);
  });
}
// the family's geometry (native/ops/conv2d.h) plus the attribute isa
Geom with_isa(const OpCtx& c, const Conv2dSpec& s);

#if defined(__x86_64__) || defined(__i386__)
#define MDMT_AVX512 MDMT_TARGET_AVX512
// 16 consecutive outputs of stride 2 from x[2i .. 2i+30]: two masked loads (element 2i+31
// is never read), then the even lanes of both. m = outputs wanted, ≥ 1; past 16 it reads
// 16 (callers pass a row's remaining outputs, as to load_s8: a 16-bit mask shifted by
// 2m − 17 ≥ 32 was undefined, and lost lanes of the filter gradient's first register for
// stride-2 rows of 25–31 outputs).
MDMT_AVX512 inline __m512 load_even16(const float* x, int64_t m) {
  const int64_t need = 2 * std::min<int64_t>(m, 16) - 1;  // elements x[0 .. need)
  const __mmask16 lo = need >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << need) - 1);
  const __mmask16 hi = need > 16 ? static_cast<__mmask16>((1u << (need - 16)) - 1) : 0;
  const __m512 a = _mm512_maskz_loadu_ps(lo, x), b = _mm512_maskz_loadu_ps(hi, x + 16);
  const __m512i idx = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
  return _mm512_permutex2var_ps(a, idx, b);
}
MDMT_AVX512 inline __mmask16 tail_mask(int64_t m) { return m >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << m) - 1); }
MDMT_AVX512 inline __m512 load_s(const float* x, int64_t m, int64_t sx) {  // sx is 1 or 2
  return sx == 1 ? _mm512_maskz_loadu_ps(tail_mask(m), x) : load_even16(x, m);
}
// AVX2's 8-lane counterparts. Masked loads only (AVX2's masked store is microcoded on AMD's
// cores: tails are stored through a buffer by the callers).
#define MDMT_AVX2 MDMT_TARGET_AVX2
MDMT_AVX2 inline __m256i tail_mask8(int64_t m) {  // lanes [0, m) set (none for m ≤ 0)
  const int n = static_cast<int>(std::max<int64_t>(0, std::min<int64_t>(m, 8)));
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
// 8 consecutive outputs of stride 2 from x[0 .. 2m − 1): the even lanes of two masked loads.
MDMT_AVX2 inline __m256 load_even8(const float* x, int64_t m) {
  const int64_t need = 2 * m - 1;
  return vec::even8(_mm256_maskload_ps(x, tail_mask8(need)), _mm256_maskload_ps(x + 8, tail_mask8(need - 8)));
}
MDMT_AVX2 inline __m256 load_s8(const float* x, int64_t m, int64_t sx) {  // sx is 1 or 2; m outputs (1..8)
  if (sx != 1) return load_even8(x, m);
  return m >= 8 ? _mm256_loadu_ps(x) : _mm256_maskload_ps(x, tail_mask8(m));
}
#endif

// The forward with its epilogue (native/cpu/conv2d_act.cc): the algorithm conv2d_act and
// conv2d's own forward choose per geometry ('auto') or a test forces.
enum class Algo { Auto, Gemm, Winograd2, Winograd4, Stem, Depthwise };
struct FusedGeom : Geom {
  Act act = Act::None;
  bool residual = false;
  int pre = 0;              // w is pre-transformed Winograd weights for F(pre×pre, 3×3)
  Algo algo = Algo::Auto;
  int64_t tile_block = 0;   // Winograd tiles per chunk (tests), 0: by workspace
};
// The 'algo' attribute, checked against the geometry (and pre-transformed weights).
Algo parse_algo(const OpCtx& c, const FusedGeom& g);
// y = act(conv(x, w) + b + r) by the chosen algorithm (b, r may be null); false when that
// is the im2col + GEMM path, which the caller runs (gemm_forward) with the epilogue after.
bool fused_forward(const FusedGeom& g, const float* x, const float* w, const float* b, const float* r, float* y);
// True where auto picks a kernel other than im2col + GEMM for this geometry (conv2d_act.cc).
bool forward_beats_gemm(const FusedGeom& g);
// The Winograd m (2 or 4) auto gives this conv's forward, 0 where it takes no Winograd (conv2d_act.cc).
int auto_winograd_m(const Geom& g);
// dw of a 3×3 stride-1 conv by Winograd where its forward would use it (conv2d_bwd_winograd.cc).
bool bwd_filter_winograd(const Geom& g, const float* dy, const float* x, float* dw);
// dx of a stride-1 conv as a forward conv of dy (conv2d_bwd_fast.cc); false where it does
// not apply or would run im2col + GEMM anyway (the caller runs its own path then).
bool bwd_data_as_forward(const Geom& g, const float* dy, const float* w, float* dx);
// y = conv(x, w) + b by im2col + GEMM (native/cpu/conv2d.cc), any geometry but depthwise.
void gemm_forward(const Geom& g, const float* x, const float* w, const float* b, float* y);

// Depthwise backward ops (groups == C, Cg == 1; native/cpu/depthwise.cc; the forward is
// depthwise_act.cc's kernel, through fused_forward).
void dw_bwd_data(const Geom& g, const float* dy, const float* w, float* dx);
void dw_bwd_filter(const Geom& g, const float* dy, const float* x, float* dwt);
// x's plane zero-padded to (H + 2·ph) × (W + 2·pw) (depthwise.cc)
void pad_plane(const Geom& g, const float* x, float* xpad);
// Depthwise dw with per-tap vector accumulators across rows and images (conv2d_bwd_depthwise.cc);
// false where its accumulators would not fit (rows of more than kDwAccCols outputs).
bool dw_bwd_filter_rows(const Geom& g, const float* dy, const float* x, float* dwt);

}  // namespace cpu_conv
}  // namespace mdmt
