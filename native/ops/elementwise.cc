#include "elementwise.h"

#include <algorithm>

namespace mdmt {

Shape broadcast_shape(const std::string& op, const Shape& a, const Shape& b) {
  size_t nd = std::max(a.size(), b.size());
  if (nd > kMaxBroadcastDims) MDMT_FAIL(code::kShape, op, "broadcasting supports at most " << kMaxBroadcastDims << " dims");
  Shape out(nd);
  for (size_t i = 0; i < nd; ++i) {
    int64_t da = i < nd - a.size() ? 1 : a[i - (nd - a.size())];
    int64_t db = i < nd - b.size() ? 1 : b[i - (nd - b.size())];
    if (da != db && da != 1 && db != 1)
      MDMT_FAIL(code::kShape, op, "shapes " << shape_str(a) << " and " << shape_str(b) << " do not broadcast (dim " << i << ")");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

Shape broadcast_strides(const std::string& op, const Shape& in, const Shape& out) {
  if (in.size() > out.size())
    MDMT_FAIL(code::kShape, op, "cannot broadcast " << shape_str(in) << " to " << shape_str(out));
  Shape cs = contiguous_strides(in);
  Shape s(out.size(), 0);
  size_t off = out.size() - in.size();
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == out[i + off]) s[i + off] = in[i] == 1 ? 0 : cs[i];
    else if (in[i] == 1) s[i + off] = 0;
    else MDMT_FAIL(code::kShape, op, "cannot broadcast " << shape_str(in) << " to " << shape_str(out));
  }
  return s;
}

BinarySpec binary_spec(const OpCtx& c) {
  c.expect_counts(2, 1);
  const Tensor& a = c.input(0, "a", DType::F32);
  const Tensor& b = c.input(1, "b", DType::F32);
  BinarySpec s;
  s.out = broadcast_shape(c.op, a.shape, b.shape);
  s.a = a.shape, s.b = b.shape;
  const Tensor& y = c.output(0, "y", DType::F32, s.out);
  s.same = a.shape == b.shape;
  if (!s.same) s.sa = broadcast_strides(c.op, a.shape, s.out), s.sb = broadcast_strides(c.op, b.shape, s.out);
  s.n = y.numel();
  return s;
}

AffineSpec affine_spec(const OpCtx& c) {
  c.expect_counts(1, 1);
  const Tensor& x = c.input(0, "x", DType::F32);
  c.output(0, "y", DType::F32, x.shape);
  const float alpha = static_cast<float>(c.attrs.f(c.op, "alpha", 1.0));
  const float beta = static_cast<float>(c.attrs.f(c.op, "beta", 0.0));
  return {alpha, beta, x.numel()};
}

ExpandSpec expand_spec(const OpCtx& c) {
  c.expect_counts(1, 1);
  const Tensor& x = c.input(0, "x", DType::F32);
  const Tensor& y = *c.out[0];
  if (y.dtype != DType::F32) MDMT_FAIL(code::kDType, c.op, "output 'y' must be float32");
  if (y.ndim() > kMaxBroadcastDims) MDMT_FAIL(code::kShape, c.op, "at most " << kMaxBroadcastDims << " dims");
  return {y.shape, broadcast_strides(c.op, x.shape, y.shape), y.numel(), x.numel() == y.numel()};
}

}  // namespace mdmt
