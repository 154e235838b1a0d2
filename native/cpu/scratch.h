// Grow-only, 64-byte-aligned float scratch for the CPU kernels, used as one thread_local
// instance per buffer and calling thread; a call shares its buffers with the pool through
// pointers. 64-byte alignment matters: the kernels store whole 16-float vectors at
// multiples of 16 floats (Winograd's transformed tiles, im2col columns), and a vector that
// straddles two cache lines costs two (a std::vector's large blocks sit 16 bytes past a
// page: a 64-channel F(4,3) convolution ran 6–8 % slower on them). Contents are not kept
// when a buffer grows, and new space is not zeroed.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "../core/error.h"

namespace mdmt {

class Scratch {
 public:
  explicit Scratch(const char* owner) : owner_(owner) {}
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  ~Scratch() { std::free(p_); }
  float* get(int64_t count) {
    const size_t floats = static_cast<size_t>(count < 0 ? 0 : count);
    if (floats > n_) {
      std::free(p_);
      p_ = nullptr;
      n_ = 0;
      const size_t bytes = (floats * sizeof(float) + 63) / 64 * 64;
      p_ = static_cast<float*>(std::aligned_alloc(64, bytes));
      if (!p_) MDMT_FAIL(code::kNoMem, owner_, "cannot allocate " << bytes << " bytes of scratch");
      n_ = floats;
    }
    return p_;
  }

 private:
  const char* owner_;
  float* p_ = nullptr;
  size_t n_ = 0;
};

}  // namespace mdmt
