// Array forms of vmath.h, one body per ISA: AVX-512 (16 lanes, masked tail), AVX2+FMA
// (8 lanes, scalar tail through the same polynomial) and portable. The ISA is the best
// one here under MDMT_CPU_ISA (cpu_features.h), read once per call.
#include "vmath.h"

#include <algorithm>
#include <type_traits>

#include "../core/error.h"
#include "cpu_features.h"

namespace mdmt {

namespace vmath {
namespace {

inline float act_scalar(float v, Act a) {
  switch (a) {
    case Act::Relu: return v < 0.f ? 0.f : v;  // NaN stays NaN, as the relu op
    case Act::Relu6: return v < 0.f ? 0.f : (v > 6.f ? 6.f : v);
    case Act::Silu: return silu_scalar(v);
    case Act::Sigmoid: return sigmoid_scalar(v);
    case Act::Hardswish: return hardswish_scalar(v);
    default: return v;
  }
}

// ---- portable ----------------------------------------------------------------------------
void exp_generic(const float* x, float* y, int64_t n) { for (int64_t i = 0; i < n; ++i) y[i] = exp_scalar(x[i]); }
void sigmoid_generic(const float* x, float* y, int64_t n) { for (int64_t i = 0; i < n; ++i) y[i] = sigmoid_scalar(x[i]); }
void silu_generic(const float* x, float* y, int64_t n) { for (int64_t i = 0; i < n; ++i) y[i] = silu_scalar(x[i]); }
// 1 − σ(x) = e^−x·σ(x): computed so, not by subtracting σ(x) from 1, whose rounding the
// factor x multiplies (at x = 10 the subtraction keeps only ~1e-3 of σ's precision).
void silu_bwd_generic(const float* dy, const float* x, float* dx, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    // s = 0 below kSigmoidLo, as sigmoid: exp's clamp left s ≈ 6e−39, whose product with a huge
    // negative x was −∞ (x = −∞) or −6e−9 (x = −1e30) where AVX2 and PyTorch give NaN and 0
    const float e = exp_scalar(-x[i]), s = x[i] < kSigmoidLo ? 0.f : 1.f / (1.f + e);
    dx[i] = dy[i] * s * (1.f + x[i] * (e * s));
  }
}
// The activation is a loop-invariant switch: one loop per case so each vectorises.
template <bool kRes>
void epilogue_generic(float* y, const float* r, int64_t n, float b, Act a, std::integral_constant<bool, kRes>) {
#define MDMT_EPI_LOOP(EXPR) for (int64_t i = 0; i < n; ++i) { const float v = y[i] + b + (kRes ? r[i] : 0.f); y[i] = EXPR; }
  switch (a) {
    case Act::Relu: MDMT_EPI_LOOP(v < 0.f ? 0.f : v) break;
    case Act::Relu6: MDMT_EPI_LOOP(v < 0.f ? 0.f : (v > 6.f ? 6.f : v)) break;
    case Act::Silu: MDMT_EPI_LOOP(silu_scalar(v)) break;
    case Act::Sigmoid: MDMT_EPI_LOOP(sigmoid_scalar(v)) break;
    case Act::Hardswish: MDMT_EPI_LOOP(hardswish_scalar(v)) break;
    default: MDMT_EPI_LOOP(v) break;
  }
#undef MDMT_EPI_LOOP
}

#if defined(__x86_64__) || defined(__i386__)
// GCC 12 flags the _mm512_undefined_ps() inside _mm512_max_ps & co. as uninitialised
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
// ---- AVX-512 -----------------------------------------------------------------------------
MDMT_TARGET_AVX512 inline __mmask16 tail16(int64_t m) { return m >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << m) - 1); }

// y = F(x) over 16-lane blocks, the tail masked
#define MDMT_MAP512(NAME, F)                                                 \
  MDMT_TARGET_AVX512 void NAME##_avx512(const float* x, float* y, int64_t n) {        \
    for (int64_t i = 0; i < n; i += 16) {                                    \
      const __mmask16 k = tail16(n - i);                                     \
      _mm512_mask_storeu_ps(y + i, k, F(_mm512_maskz_loadu_ps(k, x + i)));   \
    }                                                                        \
  }
MDMT_MAP512(exp, exp512)
MDMT_MAP512(sigmoid, sigmoid512)
MDMT_MAP512(silu, silu512)
MDMT_TARGET_AVX512 void silu_bwd_avx512(const float* dy, const float* x, float* dx, int64_t n) {
  const __m512 one = _mm512_set1_ps(1.f);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 k = tail16(n - i);
    const __m512 v = _mm512_maskz_loadu_ps(k, x + i), e = exp512(_mm512_sub_ps(_mm512_setzero_ps(), v));
    const __m512 s = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(v, _mm512_set1_ps(kSigmoidLo), _CMP_NLT_UQ), recip512(_mm512_add_ps(one, e)));  // as silu_bwd_generic
    const __m512 t = _mm512_fmadd_ps(v, _mm512_mul_ps(e, s), one);
    _mm512_mask_storeu_ps(dx + i, k, _mm512_mul_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(k, dy + i), s), t));
  }
}

template <bool kRes>
MDMT_TARGET_AVX512 void epilogue_avx512(float* y, const float* r, int64_t n, float b, Act a, std::integral_constant<bool, kRes>) {
  const __m512 vb = _mm512_set1_ps(b);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 k = tail16(n - i);
    __m512 v = _mm512_add_ps(_mm512_maskz_loadu_ps(k, y + i), vb);
    if (kRes) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(k, r + i));
    _mm512_mask_storeu_ps(y + i, k, act512(v, a));
  }
}

// ---- AVX2 --------------------------------------------------------------------------------
// Tails go through the same vector code with masked loads and stores, so an element's
// result does not depend on where a chunk boundary falls (a fused epilogue then equals
// the activation op bit for bit).
MDMT_TARGET_AVX2 inline __m256i tail8(int64_t m) {  // lanes < m
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(std::min<int64_t>(m, 8))), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
// y = F(x) over 8-lane blocks, the tail masked
#define MDMT_MAP256(NAME, F)                                                                  \
  MDMT_TARGET_AVX2 void NAME##_avx2(const float* x, float* y, int64_t n) {                           \
    for (int64_t i = 0; i < n; i += 8) {                                                      \
      if (n - i >= 8) { _mm256_storeu_ps(y + i, F(_mm256_loadu_ps(x + i))); continue; }       \
      const __m256i k = tail8(n - i);                                                         \
      _mm256_maskstore_ps(y + i, k, F(_mm256_maskload_ps(x + i, k)));                         \
    }                                                                                         \
  }
MDMT_MAP256(exp, exp256)
MDMT_MAP256(sigmoid, sigmoid256)
MDMT_MAP256(silu, silu256)
// dx = dy · s · (1 + x·(1 − s)), s = sigmoid(x) = 1 / (1 + e^−x): full vectors unmasked
MDMT_VMATH_AVX2 __m256 silu_grad256(__m256 dy, __m256 v) {
  const __m256 one = _mm256_set1_ps(1.f), e = exp256(_mm256_sub_ps(_mm256_setzero_ps(), v));
  const __m256 s = recip256(_mm256_add_ps(one, e));
  const __m256 t = _mm256_fmadd_ps(v, _mm256_mul_ps(e, s), one);
  return _mm256_mul_ps(_mm256_mul_ps(dy, s), t);
}
MDMT_TARGET_AVX2 void silu_bwd_avx2(const float* dy, const float* x, float* dx, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dx + i, silu_grad256(_mm256_loadu_ps(dy + i), _mm256_loadu_ps(x + i)));
  if (i < n) {
    const __m256i k = tail8(n - i);
    _mm256_maskstore_ps(dx + i, k, silu_grad256(_mm256_maskload_ps(dy + i, k), _mm256_maskload_ps(x + i, k)));
  }
}
// full vectors unmasked (a masked store is microcoded on AMD's cores: it cost more than the
// GEMM's multiply on shallow 1×1 convs), the tail masked
template <bool kRes>
MDMT_TARGET_AVX2 void epilogue_avx2(float* y, const float* r, int64_t n, float b, Act a, std::integral_constant<bool, kRes>) {
  const __m256 vb = _mm256_set1_ps(b);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 v = _mm256_add_ps(_mm256_loadu_ps(y + i), vb);
    if (kRes) v = _mm256_add_ps(v, _mm256_loadu_ps(r + i));
    _mm256_storeu_ps(y + i, act256(v, a));
  }
  if (i < n) {
    const __m256i k = tail8(n - i);
    __m256 v = _mm256_add_ps(_mm256_maskload_ps(y + i, k), vb);
    if (kRes) v = _mm256_add_ps(v, _mm256_maskload_ps(r + i, k));
    _mm256_maskstore_ps(y + i, k, act256(v, a));
  }
}
#endif

int level() { return cpu_has_avx512f() ? 2 : cpu_has_avx2_fma() ? 1 : 0; }

}  // namespace

#if defined(__x86_64__) || defined(__i386__)
#define MDMT_VMATH_DISPATCH(NAME, ...)                 \
  switch (level()) {                                   \
    case 2: return NAME##_avx512(__VA_ARGS__);         \
    case 1: return NAME##_avx2(__VA_ARGS__);           \
    default: return NAME##_generic(__VA_ARGS__);       \
  }
#else
#define MDMT_VMATH_DISPATCH(NAME, ...) return NAME##_generic(__VA_ARGS__);
#endif

void exp(const float* x, float* y, int64_t n) { MDMT_VMATH_DISPATCH(exp, x, y, n) }
void sigmoid(const float* x, float* y, int64_t n) { MDMT_VMATH_DISPATCH(sigmoid, x, y, n) }
void silu(const float* x, float* y, int64_t n) { MDMT_VMATH_DISPATCH(silu, x, y, n) }
void silu_bwd(const float* dy, const float* x, float* dx, int64_t n) { MDMT_VMATH_DISPATCH(silu_bwd, dy, x, dx, n) }
void bias_act(float* y, int64_t n, float bias, Act act) { MDMT_VMATH_DISPATCH(epilogue, y, nullptr, n, bias, act, std::false_type{}) }
void bias_add_act(float* y, const float* r, int64_t n, float bias, Act act) { MDMT_VMATH_DISPATCH(epilogue, y, r, n, bias, act, std::true_type{}) }

namespace {
template <class Row>
inline void rows_of(float* y, int64_t ldy, int64_t rows, const float* bias, const float* r, int64_t ldr, Row row) {
  for (int64_t i = 0; i < rows; ++i) row(y + i * ldy, r ? r + i * ldr : nullptr, bias ? bias[i] : 0.f);
}
}  // namespace

void block_epilogue(float* y, int64_t ldy, int64_t rows, int64_t cols, const float* bias, const float* r, int64_t ldr, Act act) {
  const int lv = level();
#define MDMT_BLOCK(NAME)                                                                                   \
  if (r) rows_of(y, ldy, rows, bias, r, ldr, [&](float* yr, const float* rr, float b) { NAME(yr, rr, cols, b, act, std::true_type{}); }); \
  else rows_of(y, ldy, rows, bias, r, ldr, [&](float* yr, const float*, float b) { NAME(yr, nullptr, cols, b, act, std::false_type{}); });
#if defined(__x86_64__) || defined(__i386__)
  if (lv == 2) { MDMT_BLOCK(epilogue_avx512) return; }
  if (lv == 1) { MDMT_BLOCK(epilogue_avx2) return; }
#endif
  (void)lv;
  MDMT_BLOCK(epilogue_generic)
#undef MDMT_BLOCK
}

}  // namespace vmath
}  // namespace mdmt
