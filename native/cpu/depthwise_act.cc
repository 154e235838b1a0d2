// Depthwise forward with fused epilogue, see depthwise_act.h.
#include "depthwise_act.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
// GCC 12 flags the _mm512_undefined_*() inside some AVX-512 intrinsics as uninitialised
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "parallel.h"
#include "scratch.h"
#include "vec.h"
#include "cpu_features.h"

namespace mdmt {
namespace depthwise_act {
namespace {

// First q with 0 ≤ q·sw + off, and one past the last q < Q with q·sw + off < W.
inline int64_t q_first(int64_t off, int64_t sw) { return off >= 0 ? 0 : (-off + sw - 1) / sw; }
inline int64_t q_end(int64_t off, int64_t sw, int64_t W, int64_t Q) { return W - off <= 0 ? 0 : std::min(Q, (W - off + sw - 1) / sw); }

// One plane, portable: per output row, bias (+ residual), an axpy per tap over the columns
// it reaches, then the activation while the row is in L1.
#define MDMT_DW_PLANE(NAME, TARGET)                                                                                        \
  TARGET void plane_##NAME(const Shape& s, const float* xp, const float* wk, float b, const float* rp, Act act, float* yp, const void*) { \
    for (int64_t p = 0; p < s.P; ++p) {                                                                                    \
      float* yr = yp + p * s.Q;                                                                                            \
      for (int64_t q = 0; q < s.Q; ++q) yr[q] = b;                                                                         \
      for (int64_t i = 0; i < s.R; ++i) {                                                                                  \
        const int64_t ih = p * s.sh - s.ph + i * s.dh;                                                                     \
        if (ih < 0 || ih >= s.H) continue;                                                                                 \
        const float* row = xp + ih * s.W;                                                                                  \
        for (int64_t j = 0; j < s.S; ++j) {                                                                                \
          const int64_t off = j * s.dw - s.pw, qa = q_first(off, s.sw), qb = q_end(off, s.sw, s.W, s.Q);                   \
          const float wv = wk[i * s.S + j];                                                                                \
          if (s.sw == 1) for (int64_t q = qa; q < qb; ++q) yr[q] += wv * row[q + off];                                     \
          else for (int64_t q = qa; q < qb; ++q) yr[q] += wv * row[q * s.sw + off];                                        \
        }                                                                                                                  \
      }                                                                                                                    \
      if (rp) vmath::bias_add_act(yr, rp + p * s.Q, s.Q, 0.f, act);                                                      \
      else if (act != Act::None) vmath::bias_act(yr, s.Q, 0.f, act);                                                       \
    }                                                                                                                      \
  }
MDMT_DW_PLANE(generic, )

#if defined(__x86_64__) || defined(__i386__)
MDMT_DW_PLANE(avx2_loops, MDMT_TARGET_AVX2)  // strides past 2

// AVX2: the plane copied into a zero-bordered scratch wide enough that every load of a
// column block is a plain one (stride 2: two loads, the even lanes kept), four blocks of 8
// outputs (any rows) in flight per tap, the bias in the accumulators, then the residual
// and activation over the plane while it is in cache. GCC's vectorisation of the portable
// loops above ran 8×8 planes at 2–3 GFLOP/s (a loop set-up per tap and row for one
// vector of work).
thread_local Scratch tl_pad8("conv2d");  // the padded plane
template <int SW>
MDMT_TARGET_AVX2 void plane_avx2_blocks(const Shape& s, const float* xpad, int64_t Wp, const float* wk, float b, float* yp) {
  constexpr int U = 4;
  const int64_t nch = (s.Q + 7) / 8, items = s.P * nch;
  for (int64_t t0 = 0; t0 < items; t0 += U) {
    const float* base[U];
    __m256 acc[U];
    for (int u = 0; u < U; ++u) {
      const int64_t t = std::min(t0 + u, items - 1);  // past the end: the last block again, not stored
      base[u] = xpad + (t / nch) * s.sh * Wp + (t % nch) * 8 * SW;
      acc[u] = _mm256_set1_ps(b);
    }
    for (int64_t i = 0; i < s.R; ++i)
      for (int64_t j = 0; j < s.S; ++j) {
        const __m256 wv = _mm256_set1_ps(wk[i * s.S + j]);
        const int64_t off = i * s.dh * Wp + j * s.dw;
        for (int u = 0; u < U; ++u) acc[u] = _mm256_fmadd_ps(wv, SW == 1 ? _mm256_loadu_ps(base[u] + off) : vec::even8(_mm256_loadu_ps(base[u] + off), _mm256_loadu_ps(base[u] + off + 8)), acc[u]);
      }
    for (int u = 0; u < U && t0 + u < items; ++u) {
      const int64_t t = t0 + u, q0 = (t % nch) * 8;
      vec::store_first8(yp + (t / nch) * s.Q + q0, acc[u], s.Q - q0);
    }
  }
}
MDMT_TARGET_AVX2 void plane_avx2(const Shape& s, const float* xp, const float* wk, float b, const float* rp, Act act, float* yp, const void* aux) {
  if (s.sw > 2) return plane_avx2_loops(s, xp, wk, b, rp, act, yp, aux);
  // rows: the last read is (P−1)·sh + (R−1)·dh ≤ H + 2·ph − 1; columns: a block of 8 reads
  // up to sw·(8·nch − 1) + (S−1)·dw (+1 for stride 2's odd lane)
  const int64_t Hp = s.H + 2 * s.ph, Qp = (s.Q + 7) / 8 * 8;
  const int64_t Wp = std::max(s.W + 2 * s.pw, s.sw * Qp + (s.S - 1) * s.dw + 1);
  float* xpad = tl_pad8.get(Hp * Wp);
  pad_plane(xp, s.H, s.W, s.ph, s.pw, Wp, xpad);
  if (s.sw == 1) plane_avx2_blocks<1>(s, xpad, Wp, wk, b, yp);
  else plane_avx2_blocks<2>(s, xpad, Wp, wk, b, yp);
  if (rp) vmath::bias_add_act(yp, rp, s.P * s.Q, 0.f, act);
  else if (act != Act::None) vmath::bias_act(yp, s.P * s.Q, 0.f, act);
}
MDMT_DW_PLANE(avx512_rows, MDMT_TARGET_AVX512)

inline __mmask16 lanes(int64_t n) { return n >= 16 ? 0xFFFF : n <= 0 ? 0 : static_cast<__mmask16>((1u << n) - 1); }
// lanes l (of 16) with 0 ≤ c0 + l·sw < W
inline __mmask16 in_row(int64_t c0, int64_t sw, int64_t W) {
  const int64_t lo = q_first(c0, sw), hi = std::min<int64_t>(16, q_end(c0, sw, W, 16));
  return hi <= lo ? 0 : static_cast<__mmask16>(lanes(hi) & ~lanes(lo));
}
// Tap j of a 16-output column chunk: where it reads and which lanes are inside the row
// (for stride 2 also the two 16-float loads the even elements come from).
struct Tap {
  int64_t c0;
  __mmask16 ok, lo, hi;
};
MDMT_TARGET_AVX512 inline __m512 load_tap(const float* row, const Tap& t, int64_t sw) {
  if (sw == 1) return _mm512_maskz_loadu_ps(t.ok, row + t.c0);
  const __m512 a = _mm512_maskz_loadu_ps(t.lo, row + t.c0), b = _mm512_maskz_loadu_ps(t.hi, row + t.c0 + 16);
  return _mm512_permutex2var_ps(a, _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0), b);
}

// The taps of every column chunk: the same for every plane of a call, so made once by
// forward() (for 8×8 planes making them per plane cost as much as the plane).
thread_local std::vector<Tap> tl_taps;
void make_taps(const Shape& s) {
  const int64_t nch = (s.Q + 15) / 16;
  tl_taps.resize(static_cast<size_t>(nch * s.S));
  for (int64_t ch = 0; ch < nch; ++ch)
    for (int64_t j = 0; j < s.S; ++j) {
      const int64_t c0 = ch * 16 * s.sw + j * s.dw - s.pw;
      tl_taps[ch * s.S + j] = {c0, static_cast<__mmask16>(lanes(s.Q - ch * 16) & in_row(c0, s.sw, s.W)), in_row(c0, 1, s.W), in_row(c0 + 16, 1, s.W)};
    }
}

// One output chunk's taps: acc += w·x over the tap rows inside the image, in conv2d's order.
MDMT_TARGET_AVX512 inline __m512 taps_of(const Shape& s, const float* xp, const float* wk, const Tap* tp, int64_t p, __m512 acc) {
  for (int64_t i = 0; i < s.R; ++i) {
    const int64_t ih = p * s.sh - s.ph + i * s.dh;
    if (ih < 0 || ih >= s.H) continue;
    const float* row = xp + ih * s.W;
    for (int64_t j = 0; j < s.S; ++j) acc = _mm512_fmadd_ps(_mm512_set1_ps(wk[i * s.S + j]), load_tap(row, tp[j], s.sw), acc);
  }
  return acc;
}
// The same for two chunks at once: two independent FMA chains in one loop (one chain waits
// on the FMA latency at every tap), each summed in conv2d's order.
MDMT_TARGET_AVX512 inline void taps_of2(const Shape& s, const float* xp, const float* wk, const Tap* ta, int64_t pa, const Tap* tb,
                               int64_t pb, __m512& a, __m512& b) {
  for (int64_t i = 0; i < s.R; ++i) {
    const int64_t ha = pa * s.sh - s.ph + i * s.dh, hb = pb * s.sh - s.ph + i * s.dh;
    const bool ina = ha >= 0 && ha < s.H, inb = hb >= 0 && hb < s.H;
    if (!ina || !inb) {  // a border row of one of them: one at a time
      if (ina) for (int64_t j = 0; j < s.S; ++j) a = _mm512_fmadd_ps(_mm512_set1_ps(wk[i * s.S + j]), load_tap(xp + ha * s.W, ta[j], s.sw), a);
      if (inb) for (int64_t j = 0; j < s.S; ++j) b = _mm512_fmadd_ps(_mm512_set1_ps(wk[i * s.S + j]), load_tap(xp + hb * s.W, tb[j], s.sw), b);
      continue;
    }
    const float *ra = xp + ha * s.W, *rb = xp + hb * s.W;
    for (int64_t j = 0; j < s.S; ++j) {
      const __m512 wv = _mm512_set1_ps(wk[i * s.S + j]);
      a = _mm512_fmadd_ps(wv, load_tap(ra, ta[j], s.sw), a);
      b = _mm512_fmadd_ps(wv, load_tap(rb, tb[j], s.sw), b);
    }
  }
}
MDMT_TARGET_AVX512 inline void store_out(const Shape& s, const float* rp, Act act, float* yp, int64_t p, int64_t ch, __m512 a) {
  const __mmask16 want = lanes(s.Q - ch * 16);
  const int64_t off = p * s.Q + ch * 16;
  if (rp) a = _mm512_add_ps(a, _mm512_maskz_loadu_ps(want, rp + off));
  const __m512 v = vmath::act512(a, act);
  if (s.stream && want == 0xFFFF && (reinterpret_cast<uintptr_t>(yp + off) & 63) == 0) _mm512_stream_ps(yp + off, v);
  else _mm512_mask_storeu_ps(yp + off, want, v);
}

// NP output rows (p0 …) of one 16-column chunk of an R×R filter at stride SH (no dilation):
// each input row the block reaches is read once per tap column and added to every output
// row it feeds — NP independent FMA chains and (NP·SH + R)/NP instead of R loads per tap.
// Rows come in ascending order, so each output still sums its taps in conv2d's order (bias,
// then row by row, tap by tap) and conv2d_act equals conv2d → add → activation bit for bit.
template <int NP, int R, int SH>
MDMT_TARGET_AVX512 inline void rows_block(const Shape& s, const float* xp, const __m512* wk, __m512 vb, const Tap* tp, int64_t p0,
                                 int64_t ch, const float* rp, Act act, float* yp) {
  __m512 acc[NP];
#pragma GCC unroll 8
  for (int u = 0; u < NP; ++u) acc[u] = vb;
  const int64_t top = p0 * SH - s.ph;
#pragma GCC unroll 32
  for (int t = 0; t < (NP - 1) * SH + R; ++t) {
    const int64_t ih = top + t;
    if (ih < 0 || ih >= s.H) continue;
    const float* row = xp + ih * s.W;
#pragma GCC unroll 8
    for (int j = 0; j < R; ++j) {
      const __m512 v = load_tap(row, tp[j], SH);
#pragma GCC unroll 8
      for (int u = 0; u < NP; ++u) {
        const int i = t - u * SH;
        if (i >= 0 && i < R) acc[u] = _mm512_fmadd_ps(wk[i * R + j], v, acc[u]);
      }
    }
  }
#pragma GCC unroll 8
  for (int u = 0; u < NP; ++u) store_out(s, rp, act, yp, p0 + u, ch, acc[u]);
}

// One plane of an R×R stride-SH filter: blocks of 8 output rows (then 4, 2, 1), chunk by
// chunk within a block, so the block's input rows stay in L1 across its chunks.
template <int R, int SH>
MDMT_TARGET_AVX512 void plane_blocked(const Shape& s, const float* xp, const float* wk, float b, const float* rp, Act act, float* yp,
                             const void* aux) {
  const int64_t nch = (s.Q + 15) / 16;
  const Tap* taps = static_cast<const Tap*>(aux);
  const __m512 vb = _mm512_set1_ps(b);
  // the taps' weights broadcast once per plane (GCC otherwise folds a broadcast load into
  // every FMA: one load per FMA on top of the taps' own)
  __m512 wv[R * R];
#pragma GCC unroll 32
  for (int i = 0; i < R * R; ++i) wv[i] = _mm512_set1_ps(wk[i]);
  int64_t p = 0;
  for (; p + 8 <= s.P; p += 8)
    for (int64_t ch = 0; ch < nch; ++ch) rows_block<8, R, SH>(s, xp, wv, vb, taps + ch * R, p, ch, rp, act, yp);
  if (p + 4 <= s.P) {
    for (int64_t ch = 0; ch < nch; ++ch) rows_block<4, R, SH>(s, xp, wv, vb, taps + ch * R, p, ch, rp, act, yp);
    p += 4;
  }
  if (p + 2 <= s.P) {
    for (int64_t ch = 0; ch < nch; ++ch) rows_block<2, R, SH>(s, xp, wv, vb, taps + ch * R, p, ch, rp, act, yp);
    p += 2;
  }
  if (p < s.P)
    for (int64_t ch = 0; ch < nch; ++ch) rows_block<1, R, SH>(s, xp, wv, vb, taps + ch * R, p, ch, rp, act, yp);
}

// One plane 8 columns wide (W = Q = 8), R×R stride 1, 'same' padding (the 8×8 maps of
// MobileNet/EfficientNet's last stages at batch 1, 960–1152 channels): two output rows per
// vector, since with W = 8 rows p and p + 1 of a tap are one contiguous run of 16 inputs
// (x[(p + i − ph)·8 + j − pw + l]); the lanes whose column or row falls outside the image
// are masked off. The 16-column chunks of plane_blocked computed 8 idle lanes per vector
// here. Up to 4 vectors (8 rows) in flight; taps summed in conv2d's order, as there.
// Stride 2 (Q = 8, W ≤ 16, 'same' padding: MobileNetV2's 16→8 3×3/2 at batch 1) likewise:
// output rows p and p + 1 of tap (i, j) read the even columns of input rows 2p − PAD + i
// and 2p + 2 − PAD + i from column j − PAD — one masked 16-float load per row and one
// permute that keeps the evens of the first in lanes 0–7 and of the second in lanes 8–15
// (plane_blocked's 16-column chunks left lanes 8–15 idle: 60 → 44 µs for 576 channels,
// 1 thread, incl. ~20 µs per call). 5×5/2 stays on plane_blocked, which measured as fast:
// both are bound by one permute per tap and vector.
// NV vectors (2·NV output rows from row 2·v0) of plane_w8, all in registers.
template <int R, int SH, int NV>
MDMT_TARGET_AVX512 inline void w8_group(const Shape& s, const float* xp, const __m512* wv, const __mmask16* col, __m512 vb, int64_t v0,
                               const float* rp, Act act, float* yp) {
  constexpr int PAD = R / 2;
  const __m512i evens = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
  __m512 acc[NV];
#pragma GCC unroll 4
  for (int u = 0; u < NV; ++u) acc[u] = vb;
#pragma GCC unroll 5
  for (int i = 0; i < R; ++i) {
#pragma GCC unroll 4
    for (int u = 0; u < NV; ++u) {
      const int64_t r0 = 2 * SH * (v0 + u) + i - PAD, r1 = r0 + SH;  // the input rows of the vector's two output rows
      const bool in0 = r0 >= 0 && r0 < s.H, in1 = r1 >= 0 && r1 < s.H;
      if constexpr (SH == 1) {
        const __mmask16 rows = static_cast<__mmask16>((in0 ? 0x00FF : 0) | (in1 ? 0xFF00 : 0));
        const float* base = xp + r0 * 8 - PAD;  // all lanes of a row outside the image are masked off
#pragma GCC unroll 5
        for (int j = 0; j < R; ++j) acc[u] = _mm512_fmadd_ps(wv[i * R + j], _mm512_maskz_loadu_ps(col[j] & rows, base + j), acc[u]);
      } else {
        const float *x0 = xp + r0 * s.W - PAD, *x1 = xp + r1 * s.W - PAD;  // rows outside the image: every lane masked off
#pragma GCC unroll 5
        for (int j = 0; j < R; ++j) {
          const __m512 e0 = _mm512_maskz_loadu_ps(in0 ? col[j] : 0, x0 + j), e1 = _mm512_maskz_loadu_ps(in1 ? col[j] : 0, x1 + j);
          acc[u] = _mm512_fmadd_ps(wv[i * R + j], _mm512_permutex2var_ps(e0, evens, e1), acc[u]);
        }
      }
    }
  }
#pragma GCC unroll 4
  for (int u = 0; u < NV; ++u) {
    const int64_t off = 16 * (v0 + u);
    const __mmask16 want = lanes(s.P * 8 - off);
    __m512 a = acc[u];
    if (rp) a = _mm512_add_ps(a, _mm512_maskz_loadu_ps(want, rp + off));
    _mm512_mask_storeu_ps(yp + off, want, vmath::act512(a, act));
  }
}

template <int R, int SH>
MDMT_TARGET_AVX512 void plane_w8(const Shape& s, const float* xp, const float* wk, float b, const float* rp, Act act, float* yp, const void*) {
  constexpr int PAD = R / 2;
  __m512 wv[R * R];
#pragma GCC unroll 32
  for (int i = 0; i < R * R; ++i) wv[i] = _mm512_set1_ps(wk[i]);
  // stride 1: lanes whose column (l mod 8) + j − PAD is inside the row; stride 2: of a
  // 16-float load from column j − PAD, the lanes inside the row
  __mmask16 col[R];
  for (int j = 0; j < R; ++j) {
    const __mmask16 half = in_row(j - PAD, 1, 8) & 0xFF;
    col[j] = SH == 1 ? static_cast<__mmask16>(half | (half << 8)) : in_row(j - PAD, 1, s.W);
  }
  const __m512 vb = _mm512_set1_ps(b);
  const int64_t nv = (s.P + 1) / 2;
  int64_t v = 0;
  for (; v + 4 <= nv; v += 4) w8_group<R, SH, 4>(s, xp, wv, col, vb, v, rp, act, yp);
  for (; v < nv; ++v) w8_group<R, SH, 1>(s, xp, wv, col, vb, v, rp, act, yp);
}

// One plane, AVX-512, any filter (dilated, non-square): the (row, column chunk) outputs in
// pairs — two chains in flight — the taps summed in conv2d's order (bias, then row by row).
MDMT_TARGET_AVX512 void plane_avx512_pairs(const Shape& s, const float* xp, const float* wk, float b, const float* rp, Act act, float* yp,
                            const void* aux) {
  const int64_t nch = (s.Q + 15) / 16, items = s.P * nch;
  const Tap* taps = static_cast<const Tap*>(aux);
  const __m512 vb = _mm512_set1_ps(b);
  int64_t t = 0;
  for (; t + 1 < items; t += 2) {
    const int64_t pa = t / nch, ca = t % nch, pb = (t + 1) / nch, cb = (t + 1) % nch;
    __m512 a = vb, c = vb;
    taps_of2(s, xp, wk, taps + ca * s.S, pa, taps + cb * s.S, pb, a, c);
    store_out(s, rp, act, yp, pa, ca, a);
    store_out(s, rp, act, yp, pb, cb, c);
  }
  if (t < items) store_out(s, rp, act, yp, t / nch, t % nch, taps_of(s, xp, wk, taps + (t % nch) * s.S, t / nch, vb));
}
#endif

// aux: what the kernel needs made once per call (the AVX-512 kernels' taps)
using Plane = void (*)(const Shape&, const float*, const float*, float, const float*, Act, float*, const void*);
Plane plane_kernel(const Shape& s, GemmIsa isa) {
#if defined(__x86_64__) || defined(__i386__)
  if (gemm_isa_level(isa) == 2) {
    if (s.sw > 2) return plane_avx512_rows;
    if (s.dh == 1 && s.dw == 1 && s.R == s.S && s.sh == 1 && s.sw == 1 && s.W == 8 && s.Q == 8 && s.ph == s.R / 2 && s.pw == s.R / 2) {
      if (s.R == 3) return plane_w8<3, 1>;
      if (s.R == 5) return plane_w8<5, 1>;
    }
    if (s.dh == 1 && s.dw == 1 && s.R == s.S && s.sh == 2 && s.sw == 2 && s.Q == 8 && s.W <= 16 && s.ph == s.R / 2 && s.pw == s.R / 2) {
      // 3×3 only: see plane_w8
      if (s.R == 3) return plane_w8<3, 2>;
    }
    if (s.dh == 1 && s.dw == 1 && s.R == s.S && s.sh == s.sw) {
      if (s.R == 3) return s.sh == 1 ? plane_blocked<3, 1> : plane_blocked<3, 2>;
      if (s.R == 5) return s.sh == 1 ? plane_blocked<5, 1> : plane_blocked<5, 2>;
    }
    return plane_avx512_pairs;
  }
  if (gemm_isa_level(isa) == 1) return plane_avx2;
#endif
  return plane_generic;
}

}  // namespace

void pad_plane(const float* x, int64_t H, int64_t W, int64_t ph, int64_t pw, int64_t Wp, float* xpad) {
  std::fill(xpad, xpad + ph * Wp, 0.f);
  std::fill(xpad + (ph + H) * Wp, xpad + (H + 2 * ph) * Wp, 0.f);
  for (int64_t h = 0; h < H; ++h) {
    float* row = xpad + (ph + h) * Wp;
    std::fill(row, row + pw, 0.f);
    std::memcpy(row + pw, x + h * W, sizeof(float) * W);
    std::fill(row + pw + W, row + Wp, 0.f);
  }
}

void forward(const Shape& s, const float* x, const float* w, const float* b, const float* res, Act act, float* y, GemmIsa isa) {
  const Plane plane = plane_kernel(s, isa);
  const void* aux = nullptr;
#if defined(__x86_64__) || defined(__i386__)
  if (gemm_isa_level(isa) == 2 && s.sw <= 2) {
    make_taps(s);
    aux = tl_taps.data();
  }
#endif
  const int64_t mult = s.K / s.C, HW = s.H * s.W, PQ = s.P * s.Q, RS = s.R * s.S;
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(1, PQ * RS));
  parallel_for(0, s.N * s.K, grain, [&](int64_t lo, int64_t hi) {
    // (n, k) stepped, not divided out of t per plane: on 8×8 maps a plane is ~150 cycles
    for (int64_t t = lo, n = lo / s.K, k = lo % s.K; t < hi; ++t) {
      const int64_t c = mult == 1 ? k : k / mult;
      // the next plane's input into L2: the 16-lane kernels read a plane in place with masked
      // loads, which out of cache the hardware prefetcher did not keep fed (Zen 5, inputs
      // rotated out of cache, relu6 fused, 2 threads: [8, 32, 64, 64] 3×3 0.55 → 0.23 ms,
      // [8, 144, 32, 32] 0.64 → 0.26, [8, 96, 64, 64] 3×3/2 0.75 → 0.48, where the AVX2
      // kernel, which copies the plane into a padded scratch, ran 0.39 / 0.66 / 0.61); in
      // cache it costs nothing measurable (one prefetch per 16 inputs, 9 FMAs per 16 outputs)
      if (t + 1 < hi) {
        const int64_t k1 = k + 1 == s.K ? 0 : k + 1, n1 = k1 ? n : n + 1;
        vec::prefetch_plane<2>(x + (n1 * s.C + k1 / mult) * HW, HW);
      }
      plane(s, x + (n * s.C + c) * HW, w + k * RS, b ? b[k] : 0.f, res ? res + t * PQ : nullptr, act, y + t * PQ, aux);
      if (++k == s.K) k = 0, ++n;
    }
#if defined(__x86_64__) || defined(__i386__)
    if (s.stream) _mm_sfence();  // non-temporal stores are weakly ordered
#endif
  });
}

}  // namespace depthwise_act
}  // namespace mdmt
