// CPU reorder (docs/ops.md "layout"): the bytes of a 4-D tensor of logical shape
// [N, C, H, W] rearranged from one physical layout to another. A plan's layout passes
// (ts/plan/passes/nhwc.ts on CUDA, the blocked NCHWc pass on the CPU) insert it at the
// edges of a region that runs in another layout; users never see a reordered tensor.
//   nchw  element (n, c, h, w) at ((n·C + c)·H + h)·W + w
//   nhwc  element (n, c, h, w) at ((n·H + h)·W + w)·C + c
// The CPU moves bytes only (any dtype, x and y the same); dtype conversion on the way
// (fp32 master → bf16 copy) is CUDA's, where mixed precision runs. The blocked layouts
// nchw8c / nchw16c belong to the same family but pad C to the block and have no kernel yet.
#include <algorithm>
#include <cstring>
#include <string>

#include "../core/registry.h"
#include "parallel.h"

namespace mdmt {
namespace {

enum class Layout { NCHW, NHWC };

Layout layout_attr(const OpCtx& c, const char* key) {
  const std::string s = c.attrs.s(c.op, key, "");
  if (s == "nchw") return Layout::NCHW;
  if (s == "nhwc") return Layout::NHWC;
  if (s == "nchw8c" || s == "nchw16c")
    MDMT_FAIL(code::kNotImpl, c.op, "layout '" << s << "' (attribute '" << key << "') has no reorder on cpu yet");
  MDMT_FAIL(code::kInvalid, c.op, "attribute '" << key << "' must be 'nchw' or 'nhwc', got '" << s << "'");
}

// y[n, h, w, c] = x[n, c, h, w] (to_nhwc) or the inverse, one (n, h) row of W·C per task.
template <class T>
void permute(const T* x, T* y, int64_t N, int64_t C, int64_t H, int64_t W, bool to_nhwc) {
  const int64_t HW = H * W;
  parallel_for(0, N * H, std::max<int64_t>(1, 4096 / std::max<int64_t>(1, W * C)), [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      const int64_t n = r / H, h = r % H;
      const int64_t planar = n * C * HW + h * W;  // (n, 0, h, 0) in NCHW
      const int64_t packed = r * W * C;           // (n, h, 0, 0) in NHWC
      for (int64_t w = 0; w < W; ++w)
        for (int64_t ch = 0; ch < C; ++ch) {
          const int64_t a = planar + ch * HW + w, b = packed + w * C + ch;
          if (to_nhwc) y[b] = x[a];
          else y[a] = x[b];
        }
    }
  });
}

void reorder_cpu(OpCtx& c) {
  c.expect_counts(1, 1);
  const Tensor& x = *c.in[0];
  Tensor& y = *c.out[0];
  if (x.ndim() != 4) MDMT_FAIL(code::kShape, c.op, "input 'x' must have 4 dims [N, C, H, W], got " << x.shape_str());
  c.expect_shape(y, "y", x.shape);
  const Layout from = layout_attr(c, "from"), to = layout_attr(c, "to");
  if (y.dtype != x.dtype)
    MDMT_FAIL(code::kDType, c.op, "x is " << dtype_name(x.dtype) << " but y is " << dtype_name(y.dtype)
                                          << ": reorder converts dtypes on cuda only");
  if (x.numel() == 0) return;
  if (from == to) {
    std::memcpy(y.raw(), x.raw(), x.nbytes());
    return;
  }
  const int64_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3];
  const bool to_nhwc = to == Layout::NHWC;
  switch (dtype_size(x.dtype)) {
    case 4: permute(x.data<uint32_t>(), y.data<uint32_t>(), N, C, H, W, to_nhwc); break;
    case 2: permute(x.data<uint16_t>(), y.data<uint16_t>(), N, C, H, W, to_nhwc); break;
    default: permute(x.data<uint8_t>(), y.data<uint8_t>(), N, C, H, W, to_nhwc); break;
  }
}

}  // namespace

MDMT_REGISTER_OP("reorder", CPU, reorder_cpu);

}  // namespace mdmt
