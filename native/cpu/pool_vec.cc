// Max pooling without indices, separably: per output row oh,
//   v[i] = max over the window's input rows of xpad[row, i]      (vertical, contiguous)
//   h[i] = max_{j < kw} v[i + j]                                   (horizontal, stride 1)
//   y[q] = h[q·sw]                                                  (decimation)
// (stride 1: y = h directly)
// where xpad is the row with −∞ in the padding (and past the right edge for ceil_mode's
// last window). Every loop is unit-stride, so the same C++ compiled for AVX-512 / AVX2 /
// the baseline vectorises; the scalar window loop it replaces did kh·kw compares per
// output (googlenet and shufflenet spent 19–31 % of their forward in maxpool2d).
// NaN propagates as in PyTorch: m = (v > m) | (v ≠ v) ? v : m keeps a NaN in either.
#include "pool_vec.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
// GCC 12 flags the _mm512_undefined_*() inside some AVX-512 intrinsics as uninitialised
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <algorithm>
#include <cstring>
#include <limits>
#include <vector>

#include "cpu_features.h"
#include "parallel.h"
#include "vec.h"

namespace mdmt {
namespace {

inline float max_nan(float m, float v) { return (v > m) | (v != v) ? v : m; }

// One plane. v holds the vertical max of the current window's rows at v[pw .. pw + W),
// with −∞ borders set once; h the horizontal max at stride 1 (for stride > 1 only).
#define MDMT_MAXPLANE(NAME, TARGET)                                                                          \
  TARGET void maxplane_##NAME(const MaxPoolPlane& g, const float* xp, int64_t wb, float* v, float* h, float* y) { \
    const float ninf = -std::numeric_limits<float>::infinity();                                              \
    float* vi = v + g.pw; /* v[pw + w] = column w of the input */                                            \
    std::fill(v, vi, ninf);                                                                                  \
    std::fill(vi + g.W, v + wb, ninf);                                                                       \
    const int64_t n = (g.Q - 1) * g.sw + 1; /* h entries the decimation reads */                             \
    for (int64_t oh = 0; oh < g.P; ++oh, y += g.Q) {                                                         \
      const int64_t h0 = oh * g.sh - g.ph;                                                                   \
      const int64_t ha = std::max<int64_t>(h0, 0), hb = std::min(h0 + g.kh, g.H);                          \
      const float* r0 = xp + ha * g.W;                                                                       \
      for (int64_t i = 0; i < g.W; ++i) vi[i] = r0[i];                                                       \
      for (int64_t r = ha + 1; r < hb; ++r) {                                                                \
        const float* row = xp + r * g.W;                                                                     \
        for (int64_t i = 0; i < g.W; ++i) vi[i] = max_nan(vi[i], row[i]);                                    \
      }                                                                                                      \
      if (g.sw == 1) {                                                                                       \
        for (int64_t q = 0; q < g.Q; ++q) y[q] = v[q];                                                       \
        for (int64_t j = 1; j < g.kw; ++j)                                                                   \
          for (int64_t q = 0; q < g.Q; ++q) y[q] = max_nan(y[q], v[q + j]);                                  \
      } else {                                                                                               \
        for (int64_t i = 0; i < n; ++i) h[i] = v[i];                                                         \
        for (int64_t j = 1; j < g.kw; ++j)                                                                   \
          for (int64_t i = 0; i < n; ++i) h[i] = max_nan(h[i], v[i + j]);                                    \
        for (int64_t q = 0; q < g.Q; ++q) y[q] = h[q * g.sw];                                                \
      }                                                                                                      \
    }                                                                                                        \
  }
MDMT_MAXPLANE(generic, )

// Values and argmax (training), portable: per output row the window's taps in (row, column)
// order, each over the whole row without branches — the same candidates in the same order
// as a per-output scan, so PyTorch's rules hold (first maximum wins, NaN propagates).
#define MDMT_MAXIDX(NAME, TARGET)                                                                             \
  TARGET void maxidx_##NAME(const MaxPoolPlane& g, const float* xp, float* yp, int32_t* ip) {                  \
    for (int64_t oh = 0; oh < g.P; ++oh) {                                                                    \
      const int64_t h0 = oh * g.sh - g.ph;                                                                    \
      const int64_t ha = std::max<int64_t>(h0, 0), hb = std::min(h0 + g.kh, g.H);                            \
      float* yr = yp + oh * g.Q;                                                                              \
      int32_t* ir = ip + oh * g.Q;                                                                            \
      for (int64_t ow = 0; ow < g.Q; ++ow) {                                                                  \
        const int64_t w0 = ow * g.sw - g.pw;                                                                  \
        yr[ow] = -std::numeric_limits<float>::infinity();                                                     \
        ir[ow] = static_cast<int32_t>(ha * g.W + std::max<int64_t>(w0, 0));                                   \
      }                                                                                                       \
      for (int64_t h = ha; h < hb; ++h)                                                                       \
        for (int64_t s = 0; s < g.kw; ++s) {                                                                  \
          const int64_t off = s - g.pw; /* w = ow·sw + off */                                                 \
          const int64_t qa = off >= 0 ? 0 : (-off + g.sw - 1) / g.sw;                                         \
          const int64_t qb = g.W - 1 - off < 0 ? 0 : std::min(g.Q, (g.W - 1 - off) / g.sw + 1);               \
          const float* xr = xp + h * g.W;                                                                     \
          const int32_t base = static_cast<int32_t>(h * g.W + off);                                           \
          for (int64_t ow = qa; ow < qb; ++ow) {                                                              \
            const float v = xr[ow * g.sw + off];                                                              \
            const bool take = v > yr[ow] || v != v;                                                           \
            yr[ow] = take ? v : yr[ow];                                                                       \
            ir[ow] = take ? base + static_cast<int32_t>(ow * g.sw) : ir[ow];                                  \
          }                                                                                                   \
        }                                                                                                     \
    }                                                                                                         \
  }
MDMT_MAXIDX(generic, )
#if defined(__x86_64__) || defined(__i386__)
MDMT_MAXPLANE(avx2, MDMT_TARGET_AVX2)
MDMT_MAXPLANE(avx512_rows, MDMT_TARGET_AVX512)
MDMT_MAXIDX(avx2_rows, MDMT_TARGET_AVX2)
MDMT_MAXIDX(avx512_rows, MDMT_TARGET_AVX512)

// AVX-512, strides 1 and 2: 16 outputs of a row per register, the kh·kw window read with
// masked loads straight from the plane (lanes outside it read as −∞; the masks depend on
// the column chunk only, so they are made once per chunk), no row buffers —
// the buffered form above spends most of its time on loop overheads when rows are short
// (GoogLeNet's 3×3/1 pools on 32×32 and smaller maps).
// Lanes l (of 16) with 0 ≤ c0 + l·sw < W, as a mask; sw is 1 or 2: ⌈a/sw⌉ = (a + sw − 1) >> (sw − 1)
inline __mmask16 in_row(int64_t c0, int64_t sw, int64_t W) {
  const int sh = static_cast<int>(sw - 1);
  const int64_t lo = c0 >= 0 ? 0 : (-c0 + sw - 1) >> sh, hi = std::min<int64_t>(16, W - c0 <= 0 ? 0 : (W - c0 + sw - 1) >> sh);
  return hi <= lo ? 0 : static_cast<__mmask16>(((1u << hi) - 1) & ~((1u << lo) - 1));
}
// Where tap column j of a 16-output chunk reads: masks of the lanes inside the row (and for
// stride 2 of the two 16-float loads the even lanes come from), the same for every row.
struct Tap {
  int64_t c0;
  __mmask16 ok, lo, hi;
};
MDMT_TARGET_AVX512 inline __m512 load_tap(const float* row, const Tap& t, int64_t sw) {
  const __m512 ninf = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  if (sw == 1) return _mm512_mask_loadu_ps(ninf, t.ok, row + t.c0);
  const __m512 a = _mm512_maskz_loadu_ps(t.lo, row + t.c0), b = _mm512_maskz_loadu_ps(t.hi, row + t.c0 + 16);
  const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
  return _mm512_mask_mov_ps(ninf, t.ok, _mm512_permutex2var_ps(a, even, b));
}
// The taps of the 16-output chunk from column q0 (kw ≤ kMaxTaps, sw ≤ 2): their masks, shared
// by every output row; returns the chunk's lanes inside the output row.
constexpr int64_t kMaxTaps = 16;
inline __mmask16 chunk_taps(const MaxPoolPlane& g, int64_t q0, Tap* taps) {
  const __mmask16 want = g.Q - q0 >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << (g.Q - q0)) - 1);
  for (int64_t j = 0; j < g.kw; ++j) {
    const int64_t c0 = q0 * g.sw + j - g.pw;
    taps[j] = {c0, static_cast<__mmask16>(want & in_row(c0, g.sw, g.W)), in_row(c0, 1, g.W), in_row(c0 + 16, 1, g.W)};
  }
  return want;
}
MDMT_TARGET_AVX512 void maxplane_avx512(const MaxPoolPlane& g, const float* xp, int64_t wb, float* v, float* h, float* y) {
  if (g.sw > 2 || g.kw > kMaxTaps) return maxplane_avx512_rows(g, xp, wb, v, h, y);
  Tap taps[kMaxTaps];
  for (int64_t q0 = 0; q0 < g.Q; q0 += 16) {
    const __mmask16 want = chunk_taps(g, q0, taps);
    float* yq = y + q0;
    for (int64_t oh = 0; oh < g.P; ++oh, yq += g.Q) {
      const int64_t h0 = oh * g.sh - g.ph;
      const int64_t ha = std::max<int64_t>(h0, 0), hb = std::min(h0 + g.kh, g.H);
      // max_ps ignores a NaN first operand: the lanes that saw a NaN are collected apart (off
      // the dependency chain) and set at the end; each row's taps are reduced pairwise
      __m512 m = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
      __mmask16 nan = 0;
      for (int64_t r = ha; r < hb; ++r) {
        const float* row = xp + r * g.W;
        __m512 t = load_tap(row, taps[0], g.sw);
        nan |= _mm512_cmp_ps_mask(t, t, _CMP_UNORD_Q);
        for (int64_t j = 1; j < g.kw; j += 2) {
          __m512 u = load_tap(row, taps[j], g.sw);
          nan |= _mm512_cmp_ps_mask(u, u, _CMP_UNORD_Q);
          if (j + 1 < g.kw) {
            const __m512 u2 = load_tap(row, taps[j + 1], g.sw);
            nan |= _mm512_cmp_ps_mask(u2, u2, _CMP_UNORD_Q);
            u = _mm512_max_ps(u2, u);
          }
          t = _mm512_max_ps(u, t);
        }
        m = _mm512_max_ps(t, m);
      }
      _mm512_mask_storeu_ps(yq, want, _mm512_mask_mov_ps(m, nan, _mm512_set1_ps(std::numeric_limits<float>::quiet_NaN())));
    }
  }
}

// AVX2, strides 1 and 2: the plane is first copied into rows padded with −∞ (so every tap
// is a plain load: stride 2 loads 16 floats and keeps the even ones), then 8 outputs a
// register run the same compare-and-blend as the AVX-512 kernel; other strides take the
// portable body compiled for AVX2 (maxidx_avx2_rows).
thread_local std::vector<float> tl_padded;
MDMT_TARGET_AVX2 void maxidx_avx2(const MaxPoolPlane& g, const float* xp, float* y, int32_t* ix) {
  if (g.sw > 2) return maxidx_avx2_rows(g, xp, y, ix);
  const float ninf = -std::numeric_limits<float>::infinity();
  const int64_t Q8 = (g.Q + 7) / 8 * 8;
  const int64_t Wp = std::max(g.W + 2 * g.pw, Q8 * g.sw + g.kw) + 16;  // the last register's widest read, and slack
  if (static_cast<int64_t>(tl_padded.size()) < g.H * Wp) tl_padded.resize(static_cast<size_t>(g.H * Wp));
  float* pad = tl_padded.data();
  for (int64_t r = 0; r < g.H; ++r) {  // pad[r][pw + w] = x[r][w], −∞ around
    float* pr = pad + r * Wp;
    std::fill(pr, pr + g.pw, ninf);
    std::memcpy(pr + g.pw, xp + r * g.W, sizeof(float) * g.W);
    std::fill(pr + g.pw + g.W, pr + Wp, ninf);
  }
  const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i lane_col = _mm256_mullo_epi32(iota, _mm256_set1_epi32(static_cast<int>(g.sw)));
  for (int64_t q0 = 0; q0 < g.Q; q0 += 8) {
    const int64_t nq = std::min<int64_t>(8, g.Q - q0);
    const __m256i first = _mm256_add_epi32(_mm256_set1_epi32(static_cast<int>(q0 * g.sw - g.pw)), lane_col);  // input column of tap 0
    const __m256i first_in = _mm256_max_epi32(first, _mm256_setzero_si256());
    const __m256i keep = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(nq)), iota);
    for (int64_t oh = 0; oh < g.P; ++oh) {
      const int64_t h0 = oh * g.sh - g.ph;
      const int64_t ha = std::max<int64_t>(h0, 0), hb = std::min(h0 + g.kh, g.H);
      __m256 m = _mm256_set1_ps(ninf);
      __m256i id = _mm256_add_epi32(first_in, _mm256_set1_epi32(static_cast<int>(ha * g.W)));
      for (int64_t r = ha; r < hb; ++r) {
        const float* pr = pad + r * Wp + q0 * g.sw;
        const __m256i row = _mm256_add_epi32(first, _mm256_set1_epi32(static_cast<int>(r * g.W)));
        for (int64_t j = 0; j < g.kw; ++j) {
          __m256 v;
          if (g.sw == 1) {
            v = _mm256_loadu_ps(pr + j);
          } else {  // the even floats of 16
            v = vec::even8(_mm256_loadu_ps(pr + j), _mm256_loadu_ps(pr + j + 8));
          }
          const __m256 take = _mm256_or_ps(_mm256_cmp_ps(v, m, _CMP_GT_OQ), _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
          m = _mm256_blendv_ps(m, v, take);
          const __m256i cand = _mm256_add_epi32(row, _mm256_set1_epi32(static_cast<int>(j)));
          id = _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(id), _mm256_castsi256_ps(cand), take));
        }
      }
      if (nq == 8) {  // a masked store is microcoded on AMD's cores: only the row's tail takes one
        _mm256_storeu_ps(y + oh * g.Q + q0, m);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(ix + oh * g.Q + q0), id);
      } else {
        _mm256_maskstore_ps(y + oh * g.Q + q0, keep, m);
        _mm256_maskstore_epi32(ix + oh * g.Q + q0, keep, id);
      }
    }
  }
}

// The training forward (values and argmax): the same 16-lane tap loads, and per tap the
// lanes that take it — v > m or v is NaN, PyTorch's rule: the first maximum wins, a later
// NaN replaces an earlier one — move its value into m and its flat index h·W + w into idx.
// Lanes start at the window's first cell inside the input with −∞ (PyTorch's start).
// Two output rows run side by side: each tap's compare-and-blend is a dependency chain.
MDMT_TARGET_AVX512 void maxidx_avx512(const MaxPoolPlane& g, const float* xp, float* y, int32_t* ix) {
  if (g.sw > 2 || g.kw > kMaxTaps) return maxidx_avx512_rows(g, xp, y, ix);
  Tap taps[kMaxTaps];
  __m512i base[kMaxTaps];
  const __m512i iota = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
  const __m512i lane_col = _mm512_mullo_epi32(iota, _mm512_set1_epi32(static_cast<int>(g.sw)));
  const __m512 ninf = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  for (int64_t q0 = 0; q0 < g.Q; q0 += 16) {
    const __mmask16 want = chunk_taps(g, q0, taps);
    for (int64_t j = 0; j < g.kw; ++j)  // the input column of tap j in lane l
      base[j] = _mm512_add_epi32(_mm512_set1_epi32(static_cast<int>(taps[j].c0)), lane_col);
    // the window's first column inside the input, per lane: max(q·sw − pw, 0)
    const __m512i first_col = _mm512_max_epi32(base[0], _mm512_setzero_si512());
    auto row_pair = [&](int64_t oh, int rows_n) MDMT_TARGET_AVX512 {
      __m512 m[2] = {ninf, ninf};
      __m512i id[2];
      int64_t ha[2], hb[2];
      for (int u = 0; u < rows_n; ++u) {
        const int64_t h0 = (oh + u) * g.sh - g.ph;
        ha[u] = std::max<int64_t>(h0, 0), hb[u] = std::min(h0 + g.kh, g.H);
        id[u] = _mm512_add_epi32(first_col, _mm512_set1_epi32(static_cast<int>(ha[u] * g.W)));
      }
      if (rows_n == 1) ha[1] = hb[1] = 0, m[1] = ninf, id[1] = id[0];
      const int64_t span = std::max(hb[0] - ha[0], hb[1] - ha[1]);
      for (int64_t d = 0; d < span; ++d)
        for (int64_t j = 0; j < g.kw; ++j)
          for (int u = 0; u < 2; ++u) {
            const int64_t r = ha[u] + d;
            if (r >= hb[u]) continue;
            const __m512 v = load_tap(xp + r * g.W, taps[j], g.sw);
            const __mmask16 take = _mm512_cmp_ps_mask(v, m[u], _CMP_GT_OQ) | _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
            m[u] = _mm512_mask_mov_ps(m[u], take, v);
            id[u] = _mm512_mask_add_epi32(id[u], take, base[j], _mm512_set1_epi32(static_cast<int>(r * g.W)));
          }
      for (int u = 0; u < rows_n; ++u) {
        _mm512_mask_storeu_ps(y + (oh + u) * g.Q + q0, want, m[u]);
        _mm512_mask_storeu_epi32(ix + (oh + u) * g.Q + q0, want, id[u]);
      }
    };
    int64_t oh = 0;
    for (; oh + 2 <= g.P; oh += 2) row_pair(oh, 2);
    if (oh < g.P) row_pair(oh, 1);
  }
}
#endif

using MaxPlane = void (*)(const MaxPoolPlane&, const float*, int64_t, float*, float*, float*);
MaxPlane maxplane() { return MDMT_PICK_ISA(maxplane); }
using MaxIdx = void (*)(const MaxPoolPlane&, const float*, float*, int32_t*);
MaxIdx maxidx() { return MDMT_PICK_ISA(maxidx); }

#define MDMT_PLANE_MEAN(NAME, TARGET)                               \
  TARGET double plane_sum_##NAME(const float* x, int64_t n) {       \
    double s[8] = {};                                               \
    int64_t i = 0;                                                  \
    for (; i + 8 <= n; i += 8)                                      \
      for (int l = 0; l < 8; ++l) s[l] += x[i + l];                 \
    double t = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7])); \
    for (; i < n; ++i) t += x[i];                                   \
    return t;                                                       \
  }
MDMT_PLANE_MEAN(generic, )
#if defined(__x86_64__) || defined(__i386__)
MDMT_PLANE_MEAN(avx2, MDMT_TARGET_AVX2)
// 16 floats per step into two 8-double accumulators (float → double is exact)
MDMT_TARGET_AVX512 double plane_sum_avx512(const float* x, int64_t n) {
  __m512d a = _mm512_setzero_pd(), b = _mm512_setzero_pd();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 v = _mm512_loadu_ps(x + i);
    a = _mm512_add_pd(a, _mm512_cvtps_pd(_mm512_castps512_ps256(v)));
    b = _mm512_add_pd(b, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1))));
  }
  double t = _mm512_reduce_add_pd(_mm512_add_pd(a, b));
  for (; i < n; ++i) t += x[i];
  return t;
}
#endif

}  // namespace

void maxpool2d_values(const MaxPoolPlane& g, int64_t planes, const float* x, float* y) {
  const MaxPlane plane = maxplane();
  // widest padded column the last window reads (ceil_mode may reach past W + pw)
  const int64_t wb = std::max(g.W + 2 * g.pw, (g.Q - 1) * g.sw + g.kw) + 1;
  const double work = static_cast<double>(g.P) * static_cast<double>(g.W) * static_cast<double>(g.kh + g.kw);
  const int64_t grain = work >= (1 << 15) ? 1 : static_cast<int64_t>((1 << 15) / std::max(1.0, work));
  parallel_for(0, planes, grain, [&](int64_t lo, int64_t hi) {
    std::vector<float> buf(static_cast<size_t>(2 * wb));
    // the checks in pool.cc keep at least one input row in every window
    for (int64_t pl = lo; pl < hi; ++pl) {
      if (pl + 1 < hi) vec::prefetch_plane(x + (pl + 1) * g.H * g.W, g.H * g.W);
      plane(g, x + pl * g.H * g.W, wb, buf.data(), buf.data() + wb, y + pl * g.P * g.Q);
    }
  });
}

void maxpool2d_indexed(const MaxPoolPlane& g, int64_t planes, const float* x, float* y, int32_t* idx) {
  const MaxIdx plane = maxidx();
  const double work = static_cast<double>(g.P) * static_cast<double>(g.Q) * static_cast<double>(g.kh * g.kw);
  const int64_t grain = work >= (1 << 15) ? 1 : static_cast<int64_t>((1 << 15) / std::max(1.0, work));
  parallel_for(0, planes, grain, [&](int64_t lo, int64_t hi) {
    for (int64_t pl = lo; pl < hi; ++pl) {
      if (pl + 1 < hi) vec::prefetch_plane(x + (pl + 1) * g.H * g.W, g.H * g.W);
      plane(g, x + pl * g.H * g.W, y + pl * g.P * g.Q, idx + pl * g.P * g.Q);
    }
  });
}

void global_avgpool_planes(const float* x, float* y, int64_t planes, int64_t hw) {
  double (*sum)(const float*, int64_t) = MDMT_PICK_ISA(plane_sum);
  const int64_t grain = hw >= (1 << 15) ? 1 : (1 << 15) / std::max<int64_t>(1, hw);
  parallel_for(0, planes, grain, [&](int64_t lo, int64_t hi) {
    for (int64_t pl = lo; pl < hi; ++pl) y[pl] = static_cast<float>(sum(x + pl * hw, hw) / static_cast<double>(hw));
  });
}

}  // namespace mdmt
