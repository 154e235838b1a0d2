// CPU reorder (docs/ops.md "reorder"; contract in native/ops/reorder.h): NCHW <-> NHWC. Per
// image both layouts are matrices, [C][HW] and [HW][C], so either direction is a transpose.
// A plan's layout passes (ts/plan/passes/nhwc.ts on CUDA, the blocked NCHWc pass on the
// CPU) insert it at the edges of a region that runs in another layout; users never see a
// reordered tensor. The CPU moves bytes only (any dtype, x and y the same): converting to
// bf16 on the way is CUDA's, where mixed precision runs.
#include <algorithm>
#include <cstring>

#include "../ops/reorder.h"
#include "parallel.h"

namespace mdmt {
namespace {

ReorderSpec cpu_prepare(const OpCtx& c) {
  const ReorderSpec s = reorder_spec(c);
  if (s.convert)
    MDMT_FAIL(code::kDType, c.op, "x is " << dtype_name(c.in[0]->dtype) << " but y is " << dtype_name(c.out[0]->dtype)
                                          << ": reorder converts dtypes on cuda only");
  return s;
}

// Pixel p of image n: NCHW holds its C values HW apart, NHWC side by side.
template <class T>
void permute(const T* x, T* y, int64_t N, int64_t C, int64_t HW, bool to_nhwc) {
  parallel_for(0, N * HW, std::max<int64_t>(1, 4096 / std::max<int64_t>(1, C)), [&](int64_t lo, int64_t hi) {
    for (int64_t p = lo; p < hi; ++p) {
      const int64_t n = p / HW, planar = n * C * HW + p % HW, packed = p * C;
      for (int64_t ch = 0; ch < C; ++ch) {
        if (to_nhwc) y[packed + ch] = x[planar + ch * HW];
        else y[planar + ch * HW] = x[packed + ch];
      }
    }
  });
}

void reorder_cpu(OpCtx& c, const ReorderSpec& s) {
  const Tensor& x = *c.in[0];
  Tensor& y = *c.out[0];
  if (x.numel() == 0) return;
  if (s.from_nhwc == s.to_nhwc) {
    std::memcpy(y.raw(), x.raw(), x.nbytes());
    return;
  }
  switch (dtype_size(x.dtype)) {
    case 4: permute(x.data<uint32_t>(), y.data<uint32_t>(), s.N, s.C, s.HW, s.to_nhwc); break;
    case 2: permute(x.data<uint16_t>(), y.data<uint16_t>(), s.N, s.C, s.HW, s.to_nhwc); break;
    default: permute(x.data<uint8_t>(), y.data<uint8_t>(), s.N, s.C, s.HW, s.to_nhwc); break;
  }
}

}  // namespace

MDMT_REGISTER_SPEC_OP("reorder", CPU, cpu_prepare, reorder_cpu);

}  // namespace mdmt
