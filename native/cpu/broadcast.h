// NumPy broadcasting for CPU kernels: a walker that visits the output in runs along its
// last dimension so inner loops are simple strided loops the compiler vectorises. The
// shape rules and strides are the family's (native/ops/elementwise.h).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "../ops/elementwise.h"

namespace mdmt {

// Calls fn(out_offset, in_offsets[k], count, in_inner_strides[k]) for contiguous runs of
// the output along its last dim, over output elements [begin, end).
template <int K, class F>
void for_each_run(const Shape& out, const Shape (&strides)[K], int64_t begin, int64_t end, F&& fn) {
  const int nd = static_cast<int>(out.size());
  if (nd == 0) {
    int64_t offs[K] = {};
    int64_t inner[K] = {};
    if (begin < end) fn(int64_t(0), offs, int64_t(1), inner);
    return;
  }
  const int64_t last = out[nd - 1];
  if (last == 0) return;
  int64_t idx[kMaxBroadcastDims + 2] = {};
  int64_t rem = begin;
  for (int d = nd - 1; d >= 0; --d) {
    idx[d] = rem % out[d];
    rem /= out[d];
  }
  int64_t inner[K];
  for (int k = 0; k < K; ++k) inner[k] = strides[k][nd - 1];
  int64_t pos = begin;
  while (pos < end) {
    int64_t offs[K];
    for (int k = 0; k < K; ++k) {
      int64_t o = 0;
      for (int d = 0; d < nd; ++d) o += idx[d] * strides[k][d];
      offs[k] = o;
    }
    int64_t count = std::min<int64_t>(last - idx[nd - 1], end - pos);
    fn(pos, offs, count, inner);
    pos += count;
    idx[nd - 1] += count;
    for (int d = nd - 1; d > 0 && idx[d] >= out[d]; --d) {
      idx[d] = 0;
      idx[d - 1]++;
    }
  }
}

}  // namespace mdmt
