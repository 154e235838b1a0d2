// Max pooling without indices, separably: per output row oh,
//   v[i] = max over the window's input rows of xpad[row, i]      (vertical, contiguous)
//   h[i] = max_{j < kw} v[i + j]                                   (horizontal, stride 1)
//   y[q] = h[q·sw]                                                  (decimation)
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

namespace mdmt {
namespace {

inline float max_nan(float m, float v) { return (v > m) | (v != v) ? v : m; }

// One output row: rows [ha, hb) of the plane, v/h scratch of `wb` floats (wb ≥ the
// padded width read by the last window).
#define MDMT_MAXROW(NAME, TARGET)                                                                            \
  TARGET void maxrow_##NAME(const MaxPoolPlane& g, const float* xp, int64_t ha, int64_t hb, int64_t wb,      \
                            float* v, float* h, float* y) {                                                  \
    const float ninf = -std::numeric_limits<float>::infinity();                                              \
    float* vi = v + g.pw; /* v[pw + w] = column w of the input */                                            \
    std::fill(v, vi, ninf);                                                                                  \
    std::fill(vi + g.W, v + wb, ninf);                                                                       \
    std::memcpy(vi, xp + ha * g.W, sizeof(float) * g.W);                                                     \
    for (int64_t r = ha + 1; r < hb; ++r) {                                                                  \
      const float* row = xp + r * g.W;                                                                       \
      for (int64_t i = 0; i < g.W; ++i) vi[i] = max_nan(vi[i], row[i]);                                      \
    }                                                                                                        \
    const int64_t n = (g.Q - 1) * g.sw + 1; /* h entries the decimation reads */                             \
    std::memcpy(h, v, sizeof(float) * n);                                                                    \
    for (int64_t j = 1; j < g.kw; ++j)                                                                       \
      for (int64_t i = 0; i < n; ++i) h[i] = max_nan(h[i], v[i + j]);                                        \
    if (g.sw == 1) std::memcpy(y, h, sizeof(float) * g.Q);                                                   \
    else for (int64_t q = 0; q < g.Q; ++q) y[q] = h[q * g.sw];                                               \
  }
MDMT_MAXROW(generic, )
#if defined(__x86_64__) || defined(__i386__)
MDMT_MAXROW(avx2, __attribute__((target("avx2,fma"))))
MDMT_MAXROW(avx512, __attribute__((target("avx512f"))))
#endif

using MaxRow = void (*)(const MaxPoolPlane&, const float*, int64_t, int64_t, int64_t, float*, float*, float*);
MaxRow maxrow() {
#if defined(__x86_64__) || defined(__i386__)
  if (cpu_has_avx512f()) return maxrow_avx512;
  if (cpu_has_avx2_fma()) return maxrow_avx2;
#endif
  return maxrow_generic;
}

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
MDMT_PLANE_MEAN(avx2, __attribute__((target("avx2,fma"))))
// 16 floats per step into two 8-double accumulators (float → double is exact)
__attribute__((target("avx512f"))) double plane_sum_avx512(const float* x, int64_t n) {
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
  const MaxRow row = maxrow();
  // widest padded column the last window reads (ceil_mode may reach past W + pw)
  const int64_t wb = std::max(g.W + 2 * g.pw, (g.Q - 1) * g.sw + g.kw) + 1;
  const double work = static_cast<double>(g.P) * static_cast<double>(g.W) * static_cast<double>(g.kh + g.kw);
  const int64_t grain = work >= (1 << 15) ? 1 : static_cast<int64_t>((1 << 15) / std::max(1.0, work));
  parallel_for(0, planes, grain, [&](int64_t lo, int64_t hi) {
    std::vector<float> buf(static_cast<size_t>(2 * wb));
    for (int64_t pl = lo; pl < hi; ++pl) {
      const float* xp = x + pl * g.H * g.W;
      float* yp = y + pl * g.P * g.Q;
      for (int64_t oh = 0; oh < g.P; ++oh) {
        const int64_t h0 = oh * g.sh - g.ph;
        // the checks in pool.cc keep at least one input row in every window
        row(g, xp, std::max<int64_t>(h0, 0), std::min(h0 + g.kh, g.H), wb, buf.data(), buf.data() + wb, yp + oh * g.Q);
      }
    }
  });
}

void global_avgpool_planes(const float* x, float* y, int64_t planes, int64_t hw) {
  double (*sum)(const float*, int64_t) = plane_sum_generic;
#if defined(__x86_64__) || defined(__i386__)
  if (cpu_has_avx512f()) sum = plane_sum_avx512;
  else if (cpu_has_avx2_fma()) sum = plane_sum_avx2;
#endif
  const int64_t grain = hw >= (1 << 15) ? 1 : (1 << 15) / std::max<int64_t>(1, hw);
  parallel_for(0, planes, grain, [&](int64_t lo, int64_t hi) {
    for (int64_t pl = lo; pl < hi; ++pl) y[pl] = static_cast<float>(sum(x + pl * hw, hw) / static_cast<double>(hw));
  });
}

}  // namespace mdmt
