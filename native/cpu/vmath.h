// Vectorised exp, sigmoid and SiLU for the CPU kernels (activations, fused conv epilogues).
// GCC does not vectorise libm's expf, and a scalar exp costs ~20 cycles per element: SiLU
// was 35–43 % of EfficientNet's forward. Here exp is a polynomial written per ISA with
// intrinsics (AVX-512: 16 lanes, AVX2+FMA: 8 lanes) and once in portable C++ (which GCC
// vectorises for the baseline SSE2, since it calls nothing):
//
//   exp(x) = 2ⁿ · e^r,  n = round(x·log2 e),  r = x − n·ln2 (ln2 split hi + lo, so r is exact
//   to ~1 ulp),  |r| ≤ ln2/2,  e^r ≈ 1 + r + r²·P(r) with P the degree-5 Cephes expf
//   minimax polynomial; 2ⁿ is built in the exponent bits. x is clamped to [−87, 88] (2ⁿ
//   stays a normal float; exp(−87) = 1.6e−38, exp(88) = 1.7e38).
//
// sigmoid(x) = 1/(1 + e^−x) and silu(x) = x·sigmoid(x), the reciprocal from the hardware
// estimate and Newton steps (one on AVX-512's 14-bit estimate, two on AVX2's 12-bit one) or
// a division (generic). Error against
// float64 (test/ops/vmath.test.ts, every ISA through MDMT_CPU_ISA, a dense sweep of
// [−100, 100] plus the clamp edges), measured on 2·10⁶ points of [−87, 88]: exp ≤ 1.6e−7
// relative (< 2 ulp), sigmoid ≤ 1.9e−7, silu ≤ 2.4e−7; the test bound is 3e−7. Where σ(x)
// falls below FLT_MIN (x < −87.34) it is 0 (PyTorch's σ(−∞) = 0): absolute error
// < 1.2e−38·max(1, |x|). NaN in gives NaN out.
#pragma once
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif
#include <cstdint>
#include <string>

#include "../ops/activations.h"  // Act: the activations an epilogue applies

namespace mdmt {

namespace vmath {

// Array kernels, dispatched once per call to the best ISA here (MDMT_CPU_ISA caps it).
// y may equal x (in place). n may be 0.
void exp(const float* x, float* y, int64_t n);
void sigmoid(const float* x, float* y, int64_t n);
void silu(const float* x, float* y, int64_t n);
// dx = dy · s · (1 + x·(1 − s)),  s = sigmoid(x)
void silu_bwd(const float* dy, const float* x, float* dx, int64_t n);
// y[i] = act(y[i] + bias) in place (bias may be 0): the epilogue of a conv/GEMM row.
void bias_act(float* y, int64_t n, float bias, Act act);
// y[i] = act(y[i] + bias + r[i]) in place: the epilogue with a residual add.
void bias_add_act(float* y, const float* r, int64_t n, float bias, Act act);
// The same on a rows × cols block: y[i·ldy + j] = act(y[i·ldy + j] + bias[i] + r[i·ldr + j]);
// bias and r may be null. One dispatch per block (a GEMM tile).
void block_epilogue(float* y, int64_t ldy, int64_t rows, int64_t cols, const float* bias, const float* r, int64_t ldr, Act act);

// ---- per-register forms, for kernels that keep values in registers ----------------------
constexpr float kExpLo = -87.0f, kExpHi = 88.0f;
constexpr float kLog2e = 1.44269504088896341f, kLn2Hi = 0.693359375f, kLn2Lo = -2.12194440e-4f;
constexpr float kP0 = 1.9875691500e-4f, kP1 = 1.3981999507e-3f, kP2 = 8.3334519073e-3f, kP3 = 4.1665795894e-2f,
                kP4 = 1.6666665459e-1f, kP5 = 5.0000001201e-1f;

// Portable: the same steps as the vector forms, written so GCC vectorises a loop of them
// for the baseline SSE2 (no libm call, no roundf): n comes from adding 1.5·2²³, which
// rounds x·log2 e to the nearest integer in the low mantissa bits. A NaN x is computed as
// 0 and put back at the end.
inline float exp_scalar(float x) {
  const bool nan = x != x;
  float c = nan ? 0.0f : x;
  c = c < kExpLo ? kExpLo : c;
  c = c > kExpHi ? kExpHi : c;
  constexpr float kMagic = 12582912.0f;  // 1.5·2²³, bits 0x4B400000
  const float t = c * kLog2e + kMagic;
  const float fn = t - kMagic;
  float r = c - fn * kLn2Hi;
  r = r - fn * kLn2Lo;
  float p = kP0;
  p = p * r + kP1;
  p = p * r + kP2;
  p = p * r + kP3;
  p = p * r + kP4;
  p = p * r + kP5;
  p = p * r * r + r + 1.0f;
  int32_t tb;
  __builtin_memcpy(&tb, &t, 4);
  const int32_t eb = (tb - 0x4B400000 + 127) << 23;  // 2ⁿ
  float s;
  __builtin_memcpy(&s, &eb, 4);
  return nan ? x : p * s;
}
// below ln(FLT_MIN) σ(x) is not a normal float: 0 there, as PyTorch's σ(−∞)
constexpr float kSigmoidLo = -87.33654475f;
inline float sigmoid_scalar(float x) { return x < kSigmoidLo ? 0.0f : 1.0f / (1.0f + exp_scalar(-x)); }
inline float silu_scalar(float x) { return x * sigmoid_scalar(x); }
// as the hardswish op: x·clamp(x + 3, 0, 6)/6
inline float hardswish_scalar(float x) {
  float r = x + 3.f;
  r = r < 0.f ? 0.f : (r > 6.f ? 6.f : r);
  return x * r / 6.f;
}

#if defined(__x86_64__) || defined(__i386__)
// GCC 12 reports the _mm512_undefined_*() placeholders inside max/min/round/convert
// intrinsics as uninitialised wherever these inline functions land: a known false
// positive, silenced for the files that use them.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#define MDMT_VMATH_AVX512 __attribute__((target("avx512f"), always_inline)) inline
#define MDMT_VMATH_AVX2 __attribute__((target("avx2,fma"), always_inline)) inline

// The clamp is written max(lo, x), min(hi, ·): max/min return their second operand when one
// is NaN, so a NaN x passes through (no compare and blend), and 2ⁿ·p is one vscalefps
// (n within the clamp keeps it exact and normal, so it equals p times 2ⁿ built in the
// exponent bits, as the AVX2 and generic paths do): 5 of exp's 19 vector operations fewer,
// which a SiLU epilogue (~27 operations per vector against 9 FMAs of a 3×3 depthwise tap
// set) spends most of its time on.
MDMT_VMATH_AVX512 __m512 exp512(__m512 x) {
  const __m512 c = _mm512_min_ps(_mm512_set1_ps(kExpHi), _mm512_max_ps(_mm512_set1_ps(kExpLo), x));
  const __m512 fn = _mm512_roundscale_ps(_mm512_mul_ps(c, _mm512_set1_ps(kLog2e)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(fn, _mm512_set1_ps(kLn2Hi), c);
  r = _mm512_fnmadd_ps(fn, _mm512_set1_ps(kLn2Lo), r);
  __m512 p = _mm512_set1_ps(kP0);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kP1));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kP2));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kP3));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kP4));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kP5));
  p = _mm512_fmadd_ps(_mm512_mul_ps(p, r), r, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  return _mm512_scalef_ps(p, fn);
}
// 1/d from the 14-bit estimate and one Newton step: ~2⁻²⁷ relative, and a few
// times the throughput of a division (which dominated SiLU epilogues: a 16-lane vdivps
// costs about as much as the 25 FMAs of a 5×5 depthwise tap set)
// The step is written r + r·(1 − d·r): the correction 1 − d·r is exact in an FMA and small,
// so r lands on the rounded 1/d (r·(2 − d·r) rounds 2 − d·r to 1 near d = 1 and stays one
// ulp low: sigmoid(∞) would be 1 − 2⁻²⁴).
MDMT_VMATH_AVX512 __m512 recip512(__m512 d) {
  const __m512 r = _mm512_rcp14_ps(d);
  return _mm512_fmadd_ps(r, _mm512_fnmadd_ps(d, r, _mm512_set1_ps(1.0f)), r);
}
MDMT_VMATH_AVX512 __m512 sigmoid512(__m512 x) {
  const __m512 s = recip512(_mm512_add_ps(_mm512_set1_ps(1.0f), exp512(_mm512_sub_ps(_mm512_setzero_ps(), x))));
  return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(x, _mm512_set1_ps(kSigmoidLo), _CMP_NLT_UQ), s);  // 0 where x < kSigmoidLo
}
MDMT_VMATH_AVX512 __m512 silu512(__m512 x) {
  return _mm512_mul_ps(x, sigmoid512(x));
}

MDMT_VMATH_AVX512 __m512 act512(__m512 v, Act a) {
  switch (a) {
    // max/min return the second operand on a NaN: v second keeps NaN (relu(NaN) = NaN, as the op)
    case Act::Relu: return _mm512_max_ps(_mm512_setzero_ps(), v);
    case Act::Relu6: return _mm512_min_ps(_mm512_set1_ps(6.f), _mm512_max_ps(_mm512_setzero_ps(), v));
    case Act::Silu: return silu512(v);
    case Act::Sigmoid: return sigmoid512(v);
    case Act::Hardswish:  // x·clamp(x + 3, 0, 6)/6, divided as the hardswish op does (equal bit for bit)
      return _mm512_div_ps(_mm512_mul_ps(v, _mm512_min_ps(_mm512_max_ps(_mm512_add_ps(v, _mm512_set1_ps(3.f)), _mm512_setzero_ps()), _mm512_set1_ps(6.f))), _mm512_set1_ps(6.f));
    default: return v;
  }
}

MDMT_VMATH_AVX2 __m256 exp256(__m256 x) {
  const __m256 nan = _mm256_cmp_ps(x, x, _CMP_UNORD_Q);
  __m256 c = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(kExpLo)), _mm256_set1_ps(kExpHi));
  const __m256 fn = _mm256_round_ps(_mm256_mul_ps(c, _mm256_set1_ps(kLog2e)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(fn, _mm256_set1_ps(kLn2Hi), c);
  r = _mm256_fnmadd_ps(fn, _mm256_set1_ps(kLn2Lo), r);
  __m256 p = _mm256_set1_ps(kP0);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kP1));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kP2));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kP3));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kP4));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kP5));
  p = _mm256_fmadd_ps(_mm256_mul_ps(p, r), r, _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(fn), _mm256_set1_epi32(127)), 23);
  return _mm256_blendv_ps(_mm256_mul_ps(p, _mm256_castsi256_ps(e)), x, nan);
}
// 1/d from the 12-bit estimate and two Newton steps (as recip512's)
MDMT_VMATH_AVX2 __m256 recip256(__m256 d) {
  const __m256 one = _mm256_set1_ps(1.0f);
  __m256 r = _mm256_rcp_ps(d);
  r = _mm256_fmadd_ps(r, _mm256_fnmadd_ps(d, r, one), r);
  return _mm256_fmadd_ps(r, _mm256_fnmadd_ps(d, r, one), r);
}
MDMT_VMATH_AVX2 __m256 sigmoid256(__m256 x) {
  const __m256 s = recip256(_mm256_add_ps(_mm256_set1_ps(1.0f), exp256(_mm256_sub_ps(_mm256_setzero_ps(), x))));
  return _mm256_and_ps(s, _mm256_cmp_ps(x, _mm256_set1_ps(kSigmoidLo), _CMP_NLT_UQ));  // 0 where x < kSigmoidLo
}
MDMT_VMATH_AVX2 __m256 silu256(__m256 x) {
  return _mm256_mul_ps(x, sigmoid256(x));
}
MDMT_VMATH_AVX2 __m256 act256(__m256 v, Act a) {
  switch (a) {
    case Act::Relu: return _mm256_max_ps(_mm256_setzero_ps(), v);
    case Act::Relu6: return _mm256_min_ps(_mm256_set1_ps(6.f), _mm256_max_ps(_mm256_setzero_ps(), v));
    case Act::Silu: return silu256(v);
    case Act::Sigmoid: return sigmoid256(v);
    case Act::Hardswish:
      return _mm256_div_ps(_mm256_mul_ps(v, _mm256_min_ps(_mm256_max_ps(_mm256_add_ps(v, _mm256_set1_ps(3.f)), _mm256_setzero_ps()), _mm256_set1_ps(6.f))), _mm256_set1_ps(6.f));
    default: return v;
  }
}
#endif

}  // namespace vmath
}  // namespace mdmt
