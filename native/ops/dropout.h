// Family "dropout" (docs/ops.md "dropout"): dropout (x -> y, mask uint8) and
// dropout_bwd (dy, mask -> dx). The mask of element i is a pure function of (seed, i):
// Philox4x32-10 with key (seed_lo, seed_hi) and counter (i/4, 0, 0, 0), lane i%4,
// u = (bits>>8)·2⁻²⁴, keep iff u ≥ p (kernels/philox.h, shared by both backends); p and
// the scale 1/(1−p) (formed in double, rounded once) are float32, so CPU and CUDA masks and
// outputs are bit-identical.
#pragma once
#include <utility>

#include "spec.h"

namespace mdmt {

struct DropoutSpec {
  float p, scale;
  int64_t n;
  bool seeded;             // seed_lo / seed_hi given
  uint32_t seed_lo, seed_hi;
  // The key of this run: the given seed, or without one the next seed of the global
  // stream (core/rng.h), drawn at every run so that a replayed step draws a fresh mask.
  std::pair<uint32_t, uint32_t> key() const;
};

DropoutSpec dropout_spec(const OpCtx& c);
DropoutSpec dropout_bwd_spec(const OpCtx& c);

}  // namespace mdmt
