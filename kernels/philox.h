// Philox4x32-10 counter-based RNG (Salmon et al., SC'11), header-only, usable from C++
// and CUDA. The dropout mask of element i is a pure function of (seed, i), so the CPU and
// CUDA backends produce bit-identical masks (docs/ops.md, dropout row):
//   key     = (seed_lo, seed_hi)
//   counter = (i / 4, 0, 0, 0)  -- the high 32 bits of i/4 go into counter[1], which is
//                                  0 for every tensor below 2^34 elements
//   lane    = i % 4 of the 4 output words
//   u       = (bits >> 8) * 2^-24  in [0, 1)
//   keep   iff u >= p
#pragma once
#include <stdint.h>

#ifndef MDMT_HD
#if defined(__CUDACC__)
#define MDMT_HD __host__ __device__
#else
#define MDMT_HD
#endif
#endif

namespace mdmt {
namespace philox {

struct U4 {
  uint32_t x, y, z, w;
};

static constexpr uint32_t kM0 = 0xD2511F53u;
static constexpr uint32_t kM1 = 0xCD9E8D57u;
static constexpr uint32_t kW0 = 0x9E3779B9u;  // golden ratio
static constexpr uint32_t kW1 = 0xBB67AE85u;  // sqrt(3) - 1

MDMT_HD inline void mulhilo(uint32_t a, uint32_t b, uint32_t* hi, uint32_t* lo) {
#if defined(__CUDA_ARCH__)
  *lo = a * b;
  *hi = __umulhi(a, b);
#else
  uint64_t p = static_cast<uint64_t>(a) * static_cast<uint64_t>(b);
  *lo = static_cast<uint32_t>(p);
  *hi = static_cast<uint32_t>(p >> 32);
#endif
}

MDMT_HD inline U4 round(U4 c, uint32_t k0, uint32_t k1) {
  uint32_t hi0, lo0, hi1, lo1;
  mulhilo(kM0, c.x, &hi0, &lo0);
  mulhilo(kM1, c.z, &hi1, &lo1);
  U4 r;
  r.x = hi1 ^ c.y ^ k0;
  r.y = lo1;
  r.z = hi0 ^ c.w ^ k1;
  r.w = lo0;
  return r;
}

// Ten rounds of Philox4x32 on counter c with key (k0, k1).
MDMT_HD inline U4 philox4x32_10(U4 c, uint32_t k0, uint32_t k1) {
  for (int i = 0; i < 9; ++i) {
    c = round(c, k0, k1);
    k0 += kW0;
    k1 += kW1;
  }
  return round(c, k0, k1);
}

// The 4 random words for the block of elements [4q, 4q+4).
MDMT_HD inline U4 block(uint64_t q, uint32_t seed_lo, uint32_t seed_hi) {
  U4 c;
  c.x = static_cast<uint32_t>(q);
  c.y = static_cast<uint32_t>(q >> 32);
  c.z = 0u;
  c.w = 0u;
  return philox4x32_10(c, seed_lo, seed_hi);
}

MDMT_HD inline uint32_t lane(const U4& r, int l) {
  return l == 0 ? r.x : l == 1 ? r.y : l == 2 ? r.z : r.w;
}

// Uniform in [0, 1) with 24 bits, exactly representable in float32.
MDMT_HD inline float to_uniform(uint32_t bits) { return static_cast<float>(bits >> 8) * (1.0f / 16777216.0f); }

// The random word of element i (slow path: one Philox call per element; kernels that
// handle 4 consecutive elements should call block() once).
MDMT_HD inline uint32_t bits_at(uint64_t i, uint32_t seed_lo, uint32_t seed_hi) {
  return lane(block(i >> 2, seed_lo, seed_hi), static_cast<int>(i & 3));
}

MDMT_HD inline float uniform_at(uint64_t i, uint32_t seed_lo, uint32_t seed_hi) {
  return to_uniform(bits_at(i, seed_lo, seed_hi));
}

// Dropout keep decision of element i: keep iff u >= p.
MDMT_HD inline bool keep_at(uint64_t i, uint32_t seed_lo, uint32_t seed_hi, float p) {
  return uniform_at(i, seed_lo, seed_hi) >= p;
}

}  // namespace philox
}  // namespace mdmt
