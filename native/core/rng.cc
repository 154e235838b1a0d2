#include "rng.h"

#include <atomic>

namespace mdmt {
namespace {
std::atomic<uint64_t> g_state{0x853c49e6748fea9bULL};
}
void set_global_seed(uint64_t seed) { g_state.store(seed); }
uint64_t next_seed() {
  uint64_t z = g_state.fetch_add(0x9e3779b97f4a7c15ULL) + 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
}  // namespace mdmt
