#include "reduce.h"

namespace mdmt {

ReduceSpec reduce_spec(const OpCtx& c) {
  c.expect_counts(1, 1);
  const Tensor& x = c.input(0, "x", DType::F32);
  std::vector<int64_t> axes = c.attrs.ints(c.op, "axes");
  bool keepdim = c.attrs.b(c.op, "keepdim", false);
  ReduceSpec s{};
  s.nd = x.ndim();
  s.mean = c.op == "mean";
  std::vector<bool> red(s.nd, false);
  for (size_t i = 0; i < axes.size(); ++i) {
    int64_t a = axes[i];
    if (a < 0 || a >= s.nd) MDMT_FAIL(code::kInvalid, c.op, "axis " << a << " out of range for shape " << x.shape_str());
    if (i > 0 && a <= axes[i - 1]) MDMT_FAIL(code::kInvalid, c.op, "axes must be sorted and unique");
    red[a] = true;
  }
  Shape oshape;
  for (int d = 0; d < s.nd; ++d)
    if (!red[d]) oshape.push_back(x.shape[d]);
    else if (keepdim) oshape.push_back(1);
  const Tensor& y = c.output(0, "y", DType::F32, oshape);
  const Shape xs = contiguous_strides(x.shape);
  s.nred = 1;
  for (int d = 0; d < s.nd; ++d) {
    if (red[d]) {
      s.rdim.push_back(x.shape[d]), s.rstr.push_back(xs[d]);
      s.nred *= x.shape[d];
    } else {
      s.kdim.push_back(x.shape[d]), s.kstr.push_back(xs[d]);
    }
  }
  s.nout = y.numel();
  return s;
}

}  // namespace mdmt
