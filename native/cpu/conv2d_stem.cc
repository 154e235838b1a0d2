// Direct stem convolution, see conv2d_stem.h. Per image: (1) the zero-padded image is
// written in column phases, xph[c][row][f][j] = xpad[c][row][j·sw + f], so that the input
// of 16 consecutive outputs for tap (c, r, s) is one contiguous run at phase s mod sw,
// offset s div sw; (2) each output row p runs KB channels × 16·QB columns of accumulators
// over the C·R·S taps (weights pre-arranged [k-block][c][r][s][KB], zero past K), writes
// the raw sums, then applies bias + activation to each channel's row while it is in cache.
// The register block is a GCC vector of 16 floats (one zmm, two ymm, four xmm), so the one
// source is compiled per ISA with a block size that fits its register file.
#include "conv2d_stem.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <cstring>
#include <vector>

#include "parallel.h"
#include "cpu_features.h"
#include "scratch.h"
#include "vec.h"

namespace mdmt {
namespace conv_stem {
namespace {

using vf = vec::vf16;
constexpr int L = 16;
using vec::ld;
using vec::st;

struct Layout {
  int64_t Hp, Wf, Qpad;  // padded rows, floats per phase row, Q rounded up to the column block
  const int64_t* off;    // [C·R·S]: where tap (c, r, s) of output row 0, column 0 starts in xph
};

// One output row p of one image: raw sums for every channel into y (row stride P·Q per k).
// The taps run as one flat loop over the offset table (the nested c, r, s loops paid an
// integer division per tap for the column phase and short-loop overhead: 27 taps of a
// 3×3 RGB stem). V is the ISA's own vector (vf16 AVX-512, vf8 AVX2, vf4 otherwise): a
// 16-column block is L / lanes(V) of them. GCC lowers a vf16 on AVX2 by pieces through the
// stack (accumulators stored and reloaded around every FMA: 11.6 GFLOP/s for the 7×7/2 stem
// on a Zen 3, under a third of im2col + GEMM there).
template <class V, int KB, int QB>
MDMT_INLINE void row_body(const Shape& s, const Layout& lay, const float* xph, const float* wt, int64_t p, float* y) {
  constexpr int LV = sizeof(V) / sizeof(float), NV = QB * L / LV;
  constexpr int64_t QW = L * QB;
  const int64_t CRS = s.C * s.R * s.S, PQ = s.P * s.Q;
  alignas(64) float tail[KB][QW];
  const float* xrow = xph + p * s.sh * s.sw * lay.Wf;
  for (int64_t k0 = 0; k0 < s.K; k0 += KB) {
    const float* wb = wt + (k0 / KB) * CRS * KB;
    for (int64_t q0 = 0; q0 < s.Q; q0 += QW) {
      V acc[KB][NV];
      for (int kb = 0; kb < KB; ++kb)
        for (int v = 0; v < NV; ++v) acc[kb][v] = V{};
      const float* wk = wb;
      const float* base = xrow + q0;
      for (int64_t i = 0; i < CRS; ++i, wk += KB) {
        const float* in = base + lay.off[i];
        V xv[NV];
        for (int v = 0; v < NV; ++v) xv[v] = ld<V>(in + LV * v);
        for (int kb = 0; kb < KB; ++kb)
          for (int v = 0; v < NV; ++v) acc[kb][v] += wk[kb] * xv[v];
      }
      const int64_t kn = std::min<int64_t>(KB, s.K - k0), qn = std::min<int64_t>(QW, s.Q - q0);
      for (int kb = 0; kb < kn; ++kb) {
        float* out = y + (k0 + kb) * PQ + p * s.Q + q0;
        if (qn == QW) {
          for (int v = 0; v < NV; ++v) st(out + LV * v, acc[kb][v]);
        } else {
          for (int v = 0; v < NV; ++v) st(tail[kb] + LV * v, acc[kb][v]);
          std::memcpy(out, tail[kb], sizeof(float) * qn);
        }
      }
    }
  }
}

#define MDMT_STEM_ISA(NAME, TARGET, V, KB, QB)                                                                   \
  TARGET void row_##NAME(const Shape& s, const Layout& lay, const float* xph, const float* wt, int64_t p, float* y) { \
    row_body<V, KB, QB>(s, lay, xph, wt, p, y);                                                                  \
  }
using vec::vf4;
using vec::vf8;
MDMT_STEM_ISA(generic, , vf4, 2, 1)  // 8 accumulators of the 16 xmm (SSE2, NEON's 4 lanes)
#if defined(__x86_64__) || defined(__i386__)
MDMT_STEM_ISA(avx2, MDMT_TARGET_AVX2, vf8, 6, 1)  // 12 accumulators, 2 inputs, 1 broadcast of 16 ymm
MDMT_STEM_ISA(avx512, MDMT_TARGET_AVX512, vf, 12, 2)
MDMT_STEM_ISA(avx512_k8, MDMT_TARGET_AVX512, vf, 8, 2)
MDMT_STEM_ISA(avx512_k4, MDMT_TARGET_AVX512, vf, 4, 2)
MDMT_STEM_ISA(avx512_k4q4, MDMT_TARGET_AVX512, vf, 4, 4)
MDMT_STEM_ISA(avx512_k16q1, MDMT_TARGET_AVX512, vf, 16, 1)
MDMT_STEM_ISA(avx512_k24q1, MDMT_TARGET_AVX512, vf, 24, 1)
#endif

struct Kernel {
  void (*row)(const Shape&, const Layout&, const float*, const float*, int64_t, float*);
  int kb, qb;
};
// Kg: output channels per group. AVX-512 blocks 4, 8 or 12 channels, the fewest that cover a
// group (ResNeXt's groups of 4 would waste two thirds of a 12-channel block); rows of at
// most 16 outputs (8×8–16×16 maps) take one vector of columns and 16 or 24 channels instead,
// so that the second column vector is not idle.
Kernel kernel(GemmIsa isa, int64_t Kg, int64_t Q) {
#if defined(__x86_64__) || defined(__i386__)
  if (gemm_isa_level(isa) == 2 && Q <= L && Kg > 8) return Kg <= 16 || Kg % 16 == 0 ? Kernel{row_avx512_k16q1, 16, 1} : Kernel{row_avx512_k24q1, 24, 1};
  // channel counts that are multiples of 16 (the 3→32 and 3→64 stems): 16 channels × 16
  // columns leaves no channel slot idle (64 in blocks of 12 computes 72): 7×7/2 3→64 on
  // 256² 2.1 → 1.84 ms at batch 1, 16.1 → 14.2 ms at batch 8; 3×3/2 3→32 6–7 % faster
  if (gemm_isa_level(isa) == 2 && Kg % 16 == 0) return {row_avx512_k16q1, 16, 1};
  // groups of ≤ 4 channels on rows of ≥ 64 (ResNeXt's first stage): 4 × 64 columns, 16
  // chains and 4 loads + 4 broadcasts per 16 FMAs instead of 8 chains and 2 + 4 per 8
  if (gemm_isa_level(isa) == 2 && Kg <= 4 && Q >= 4 * L) return {row_avx512_k4q4, 4, 4};
  if (gemm_isa_level(isa) == 2) return Kg <= 4 ? Kernel{row_avx512_k4, 4, 2} : Kg <= 8 ? Kernel{row_avx512_k8, 8, 2} : Kernel{row_avx512, 12, 2};
  if (gemm_isa_level(isa) == 1) return {row_avx2, 6, 1};
#endif
  (void)Kg, (void)Q;
  return {row_generic, 2, 1};
}

// dst[j] = src[2j] for j in [ja, jb): one column phase of a stride-2 row. AVX-512: 16 at a
// time from two loads and a permute (the scalar strided loop was ~20 % of a 3×3/2 RGB
// stem's time: 3->32 on 256x256, 120 of 513 µs went to the phase split and fixed costs).
#if defined(__x86_64__) || defined(__i386__)
MDMT_TARGET_AVX512 void gather2_avx512(const float* src, float* dst, int64_t ja, int64_t jb) {
  const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
  int64_t j = ja;
  for (; j + 16 < jb; j += 16)  // < : the second load reaches src[2j + 31], one past src[2(j + 15)]
    _mm512_storeu_ps(dst + j, _mm512_permutex2var_ps(_mm512_loadu_ps(src + 2 * j), even, _mm512_loadu_ps(src + 2 * j + 16)));
  for (; j < jb; ++j) dst[j] = src[2 * j];
}
#endif
void gather2(const float* src, float* dst, int64_t ja, int64_t jb, bool avx512) {
#if defined(__x86_64__) || defined(__i386__)
  if (avx512) return gather2_avx512(src, dst, ja, jb);
#endif
  (void)avx512;
  for (int64_t j = ja; j < jb; ++j) dst[j] = src[2 * j];
}

thread_local std::vector<float> tl_x, tl_w;
thread_local std::vector<int64_t> tl_off;

// The filter gradient, dw[k, c, r, s] = Σ_{n,p,q} dy[n, k, p, q] · xpad[n, c, p·sh + r, q·sw + s]:
// KB output channels × TB taps of 16-lane accumulators over the 16 q of a column block (one
// load of dy per channel and of the phases per tap, KB·TB FMAs), over rows [p0, p1) of one
// image; the lane sums are added to part[KB][TB]. dyk[kb] is channel k0 + kb's dy plane of
// the image (a zero plane past K); q past Q reads dy as 0 (tail) and finite phase floats.
template <class V, int KB, int TB>
MDMT_INLINE void filter_body(const Shape& s, const Layout& lay, const float* xph, const float* const* dyk, const int64_t* off, int64_t p0,
                             int64_t p1, float* part) {
  constexpr int LV = sizeof(V) / sizeof(float);  // the 16 columns are L / LV vectors, summed into the same lanes
  alignas(64) float tail[KB][L];
  V acc[KB][TB];
  for (int kb = 0; kb < KB; ++kb)
    for (int t = 0; t < TB; ++t) acc[kb][t] = V{};
  for (int64_t p = p0; p < p1; ++p) {
    const float* xrow = xph + p * s.sh * s.sw * lay.Wf;
    for (int64_t q0 = 0; q0 < s.Q; q0 += L) {
      const float* dsrc[KB];
      if (q0 + L <= s.Q) {
        for (int kb = 0; kb < KB; ++kb) dsrc[kb] = dyk[kb] + p * s.Q + q0;
      } else {
        for (int kb = 0; kb < KB; ++kb) {
          for (int64_t j = 0; j < L; ++j) tail[kb][j] = q0 + j < s.Q ? dyk[kb][p * s.Q + q0 + j] : 0.f;
          dsrc[kb] = tail[kb];
        }
      }
      for (int h = 0; h < L; h += LV) {
        V dv[KB];
        for (int kb = 0; kb < KB; ++kb) dv[kb] = ld<V>(dsrc[kb] + h);
        for (int t = 0; t < TB; ++t) {
          const V xv = ld<V>(xrow + off[t] + q0 + h);
          for (int kb = 0; kb < KB; ++kb) acc[kb][t] += dv[kb] * xv;
        }
      }
    }
  }
  for (int kb = 0; kb < KB; ++kb)
    for (int t = 0; t < TB; ++t) {
      float sum = 0.f;
      for (int j = 0; j < LV; ++j) sum += acc[kb][t][j];
      part[kb * TB + t] += sum;
    }
}

#define MDMT_STEM_BWD_ISA(NAME, TARGET, V, KB, TB)                                                                              \
  TARGET void filter_##NAME(const Shape& s, const Layout& lay, const float* xph, const float* const* dyk, const int64_t* off, \
                            int64_t p0, int64_t p1, float* part) {                                                           \
    filter_body<V, KB, TB>(s, lay, xph, dyk, off, p0, p1, part);                                                               \
  }
MDMT_STEM_BWD_ISA(generic, , vf4, 2, 3)  // 6 accumulators, 2 dy, 1 input of 16 xmm
#if defined(__x86_64__) || defined(__i386__)
MDMT_STEM_BWD_ISA(avx2, MDMT_TARGET_AVX2, vf8, 2, 6)  // 12 + 2 + 1 of 16 ymm
MDMT_STEM_BWD_ISA(avx512, MDMT_TARGET_AVX512, vf, 4, 6)
#endif

struct FilterKernel {
  void (*run)(const Shape&, const Layout&, const float*, const float* const*, const int64_t*, int64_t, int64_t, float*);
  int kb, tb;
};
FilterKernel filter_kernel(GemmIsa isa) {
#if defined(__x86_64__) || defined(__i386__)
  if (gemm_isa_level(isa) == 2) return {filter_avx512, 4, 6};
  if (gemm_isa_level(isa) == 1) return {filter_avx2, 2, 6};
#endif
  (void)isa;
  return {filter_generic, 2, 3};
}

thread_local Scratch tl_bx("conv2d_bwd_filter");     // every image's column phases
thread_local Scratch tl_bpart("conv2d_bwd_filter");  // lane sums [k-block][tap-block][KB][TB], then zeros

// Rows [lo, hi) of (c, padded row) of one image into its column phases (see the top).
void split_phases(const Shape& s, const Layout& lay, const float* xn, float* xph, int64_t lo, int64_t hi, bool avx512) {
  for (int64_t cr = lo; cr < hi; ++cr) {
    const int64_t c = cr / lay.Hp, hr = cr % lay.Hp, h = hr - s.ph;
    for (int64_t f = 0; f < s.sw; ++f) {
      float* dst = xph + (cr * s.sw + f) * lay.Wf;
      if (h < 0 || h >= s.H) {
        std::fill(dst, dst + lay.Wf, 0.f);
        continue;
      }
      // dst[j] = src[j·sw + f − pw]: zeros where that column is outside the row
      const float* src = xn + (c * s.H + h) * s.W + f - s.pw;
      const int64_t ja = std::min(lay.Wf, std::max<int64_t>(0, (s.pw - f + s.sw - 1) / s.sw));
      const int64_t jb = std::max(ja, std::min(lay.Wf, (s.W - f + s.pw + s.sw - 1) / s.sw));
      std::fill(dst, dst + ja, 0.f);
      if (s.sw == 1) std::copy(src + ja, src + jb, dst + ja);
      else gather2(src, dst, ja, jb, avx512);
      std::fill(dst + jb, dst + lay.Wf, 0.f);
    }
  }
}

// Where tap (c, r, s) of output row 0, column 0 starts in one image's phases.
void tap_offsets(const Shape& s, const Layout& lay, int64_t Cg, std::vector<int64_t>& off) {
  off.resize(static_cast<size_t>(Cg * s.R * s.S));
  for (int64_t c = 0, i = 0; c < Cg; ++c)
    for (int64_t r = 0; r < s.R; ++r)
      for (int64_t t = 0; t < s.S; ++t, ++i) off[i] = ((c * lay.Hp + r) * s.sw + t % s.sw) * lay.Wf + t / s.sw;
}

}  // namespace

bool fits(int64_t C, int64_t sh, int64_t sw, int64_t dh, int64_t dw) {  // any C and groups: the caller picks
  return C >= 1 && sh >= 1 && sh <= 2 && sw >= 1 && sw <= 2 && dh == 1 && dw == 1;
}

void forward(const Shape& s, const float* x, const float* w, const float* b, Act act, float* y, GemmIsa isa) {
  if (s.N * s.K * s.P * s.Q == 0) return;
  const int64_t G = s.G > 0 ? s.G : 1, Cg = s.C / G, Kg = s.K / G;
  const Kernel kn = kernel(isa, Kg, s.Q);
  const int64_t QW = L * kn.qb, CRS = Cg * s.R * s.S, nkb = (Kg + kn.kb - 1) / kn.kb;
  Layout lay;
  lay.Hp = s.H + 2 * s.ph;
  lay.Qpad = (s.Q + QW - 1) / QW * QW;
  lay.Wf = lay.Qpad + (s.S - 1) / s.sw + 1;
  // the last row read is (P−1)·sh + R−1 ≤ Hp − 1 (output size formula); columns: see Layout
  tl_w.assign(static_cast<size_t>(G * nkb * CRS * kn.kb), 0.f);  // wt[g][k-block][c, r, s][kb]
  for (int64_t k = 0; k < s.K; ++k) {
    const int64_t g = k / Kg, kl = k % Kg;
    for (int64_t i = 0; i < CRS; ++i) tl_w[((g * nkb + kl / kn.kb) * CRS + i) * kn.kb + kl % kn.kb] = w[k * CRS + i];
  }
  tap_offsets(s, lay, Cg, tl_off);  // one group's taps: groups differ by a plane offset
  lay.off = tl_off.data();
  tl_x.resize(static_cast<size_t>(s.C * lay.Hp * s.sw * lay.Wf));
  float* xph = tl_x.data();
  const float* wt = tl_w.data();
  const int64_t PQ = s.P * s.Q, plane = lay.Hp * s.sw * lay.Wf;
  Shape sg = s;  // one group's view: Cg channels in, Kg out
  sg.C = Cg, sg.K = Kg, sg.G = 1;
  for (int64_t n = 0; n < s.N; ++n) {
    const float* xn = x + n * s.C * s.H * s.W;
    parallel_for(0, s.C * lay.Hp, 16, [&](int64_t lo, int64_t hi) { split_phases(s, lay, xn, xph, lo, hi, gemm_isa_level(isa) == 2); });
    float* yn = y + n * s.K * PQ;
    parallel_for(0, G * s.P, 1, [&](int64_t lo, int64_t hi) {
      for (int64_t t = lo; t < hi; ++t) {
        const int64_t g = t / s.P, p = t % s.P;
        kn.row(sg, lay, xph + g * Cg * plane, wt + g * nkb * CRS * kn.kb, p, yn + g * Kg * PQ);
        if (b || act != Act::None)
          for (int64_t k = g * Kg; k < (g + 1) * Kg; ++k) vmath::bias_act(yn + k * PQ + p * s.Q, s.Q, b ? b[k] : 0.f, act);
      }
    });
  }
}

void bwd_filter(const Shape& s, const float* x, const float* dy, float* dw, GemmIsa isa) {
  const int64_t CRS = s.C * s.R * s.S;
  if (s.N * s.P * s.Q == 0) {
    std::fill(dw, dw + s.K * CRS, 0.f);
    return;
  }
  const FilterKernel kn = filter_kernel(isa);
  Layout lay;
  lay.Hp = s.H + 2 * s.ph;
  lay.Qpad = (s.Q + L - 1) / L * L;
  lay.Wf = lay.Qpad + (s.S - 1) / s.sw + 1;
  std::vector<int64_t> off;
  tap_offsets(s, lay, s.C, off);
  const int64_t nkb = (s.K + kn.kb - 1) / kn.kb, ntb = (CRS + kn.tb - 1) / kn.tb;
  off.resize(static_cast<size_t>(ntb * kn.tb), 0);  // a last partial tap block reads tap 0 (sums dropped)
  const int64_t plane = s.C * lay.Hp * s.sw * lay.Wf, PQ = s.P * s.Q;
  // images in groups whose phases take ≤ 16 MB (the scratch is kept between calls)
  const int64_t group = std::min(s.N, std::max<int64_t>(1, (int64_t(1) << 22) / plane));
  float* xph = tl_bx.get(group * plane);
  float* part = tl_bpart.get(nkb * ntb * kn.kb * kn.tb + PQ);
  float* zero = part + nkb * ntb * kn.kb * kn.tb;  // dy of the channels past K
  std::fill(part, part + nkb * ntb * kn.kb * kn.tb + PQ, 0.f);
  const bool avx512 = gemm_isa_level(isa) == 2;
  const int64_t band = std::max<int64_t>(1, 2048 / s.Q);
  for (int64_t n0 = 0; n0 < s.N; n0 += group) {
    const int64_t n1 = std::min(s.N, n0 + group), rows = s.C * lay.Hp;
    parallel_for(0, (n1 - n0) * rows, 16, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi;) {  // rows of one image at a time
        const int64_t g = i / rows, end = std::min(hi, (g + 1) * rows);
        split_phases(s, lay, x + (n0 + g) * s.C * s.H * s.W, xph + g * plane, i - g * rows, end - g * rows, avx512);
        i = end;
      }
    });
    // Threads take runs of output-channel blocks (disjoint dw rows, no partial sums); each
    // goes through the images in bands of ~2048 outputs, so a band's dy and phases stay in
    // cache across its channel and tap blocks.
    parallel_for(0, nkb, 1, [&](int64_t lo, int64_t hi) {
      const float* dyk[16];
      for (int64_t n = n0; n < n1; ++n)
        for (int64_t p0 = 0; p0 < s.P; p0 += band)
          for (int64_t b = lo; b < hi; ++b) {
            for (int kb = 0; kb < kn.kb; ++kb) {
              const int64_t k = b * kn.kb + kb;
              dyk[kb] = k < s.K ? dy + (n * s.K + k) * PQ : zero;
            }
            for (int64_t tbi = 0; tbi < ntb; ++tbi)
              kn.run(s, lay, xph + (n - n0) * plane, dyk, off.data() + tbi * kn.tb, p0, std::min(s.P, p0 + band),
                     part + (b * ntb + tbi) * kn.kb * kn.tb);
          }
    });
  }
  for (int64_t k = 0; k < s.K; ++k)
    for (int64_t i = 0; i < CRS; ++i) {
      const int64_t b = k / kn.kb, kb = k % kn.kb, tbi = i / kn.tb, t = i % kn.tb;
      dw[k * CRS + i] = part[((b * ntb + tbi) * kn.kb + kb) * kn.tb + t];
    }
}

}  // namespace conv_stem
}  // namespace mdmt
