// Seeds for random ops. Ops take their seed as attributes (seed_lo, seed_hi) so a call is
// reproducible on any backend; when the caller passes none, the next seed of this global
// stream (set by setSeed) is used.
#pragma once
#include <cstdint>

namespace mdmt {
void set_global_seed(uint64_t seed);
uint64_t next_seed();  // splitmix64 stream over the global seed
}  // namespace mdmt
