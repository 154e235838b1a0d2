#include "layout.h"

namespace mdmt {
namespace {

int64_t prod(const Shape& s, size_t a, size_t b) {
  int64_t p = 1;
  for (size_t i = a; i < b; ++i) p *= s[i];
  return p;
}

int64_t axis_attr(const OpCtx& c, int nd) {
  int64_t a = c.attrs.i(c.op, "axis", 1);
  if (a < -nd || a >= nd) MDMT_FAIL(code::kInvalid, c.op, "axis " << a << " out of range for " << nd << " dims");
  return a < 0 ? a + nd : a;
}

// Checks that the parts agree with the whole on every dim but `axis` and add up to it
// along `axis`, and lays them out.
ConcatSpec parts(const OpCtx& c, const Tensor& whole, const char* wname, const std::vector<Tensor*>& ps,
                 const char* pname) {
  ConcatSpec s{};
  s.axis = axis_attr(c, whole.ndim());
  int64_t total = 0;
  for (size_t i = 0; i < ps.size(); ++i) {
    const Tensor& t = *ps[i];
    if (t.dtype != whole.dtype)
      MDMT_FAIL(code::kDType, c.op, pname << "[" << i << "] is " << dtype_name(t.dtype) << " but " << wname << " is "
                                          << dtype_name(whole.dtype));
    bool ok = t.ndim() == whole.ndim();
    for (int d = 0; ok && d < t.ndim(); ++d) ok = d == s.axis || t.shape[d] == whole.shape[d];
    if (!ok)
      MDMT_FAIL(code::kShape, c.op, pname << "[" << i << "] " << t.shape_str() << " does not match " << wname << " "
                                          << whole.shape_str() << " outside axis " << s.axis);
    total += t.shape[s.axis];
  }
  if (total != whole.shape[s.axis])
    MDMT_FAIL(code::kShape, c.op, "sizes along axis " << s.axis << " add up to " << total << " but " << wname << " "
                                                      << whole.shape_str() << " has " << whole.shape[s.axis]);
  s.outer = prod(whole.shape, 0, s.axis);
  s.inner = prod(whole.shape, s.axis + 1, whole.shape.size());
  s.row = whole.shape[s.axis] * s.inner;
  s.elem = dtype_size(whole.dtype);
  int64_t off = 0;
  for (Tensor* t : ps) {
    s.start.push_back(off);
    s.cols.push_back(t->shape[s.axis] * s.inner);
    off += s.cols.back();
  }
  return s;
}

struct Pads {
  int64_t top, bottom, left, right;
};
Pads pads_attr(const OpCtx& c) {
  std::vector<int64_t> p = c.attrs.ints(c.op, "pads");
  if (p.size() != 4) MDMT_FAIL(code::kInvalid, c.op, "pads must be [top, bottom, left, right], got " << p.size() << " values");
  const int64_t kMax = int64_t(1) << 24;
  for (int64_t v : p)
    if (v < 0 || v > kMax) MDMT_FAIL(code::kInvalid, c.op, "pads must be in [0, " << kMax << "], got " << v);
  return {p[0], p[1], p[2], p[3]};
}

Shape padded_shape(const Shape& s, const Pads& p) {
  Shape r = s;
  r[r.size() - 2] += p.top + p.bottom;
  r[r.size() - 1] += p.left + p.right;
  return r;
}

PadSpec pad_spec(const Pads& p, float value, const Shape& unpadded) {
  const size_t nd = unpadded.size();
  return {p.top, p.bottom, p.left, p.right, value, prod(unpadded, 0, nd - 2), unpadded[nd - 2], unpadded[nd - 1]};
}

void same_dtype(const OpCtx& c, const Tensor& x, const Tensor& y) {
  if (y.dtype != x.dtype)
    MDMT_FAIL(code::kDType, c.op, "output 'y' must be " << dtype_name(x.dtype) << ", got " << dtype_name(y.dtype));
}

}  // namespace

ConcatSpec concat_spec(const OpCtx& c) {
  c.expect_counts(1, 100000, 1, 1);
  const Tensor& y = *c.out[0];
  if (y.ndim() == 0) MDMT_FAIL(code::kShape, c.op, "output 'y' must have at least 1 dim");
  return parts(c, y, "y", c.in, "inputs");
}

ConcatSpec split_spec(const OpCtx& c) {
  c.expect_counts(1, 1, 1, 100000);
  const Tensor& x = *c.in[0];
  if (x.ndim() == 0) MDMT_FAIL(code::kShape, c.op, "input 'x' must have at least 1 dim");
  return parts(c, x, "x", c.out, "outputs");
}

ShuffleSpec channel_shuffle_spec(const OpCtx& c) {
  c.expect_counts(1, 1);
  const Tensor& x = *c.in[0];
  if (x.ndim() != 4) MDMT_FAIL(code::kShape, c.op, "input 'x' must have 4 dims [N, C, H, W], got " << x.shape_str());
  const Tensor& y = *c.out[0];
  same_dtype(c, x, y);
  c.expect_shape(y, "y", x.shape);
  const int64_t g = c.attrs.i(c.op, "groups");
  const int64_t C = x.shape[1];
  if (g < 1 || C % g != 0) MDMT_FAIL(code::kInvalid, c.op, "groups must be a positive divisor of C = " << C << ", got " << g);
  return {x.shape[0], C, x.shape[2] * x.shape[3], g, dtype_size(x.dtype)};
}

TransposeSpec transpose_spec(const OpCtx& c) {
  c.expect_counts(1, 1);
  const Tensor& x = *c.in[0];
  const Tensor& y = *c.out[0];
  TransposeSpec s{};
  s.nd = x.ndim();
  if (s.nd > kMaxTransposeDims)
    MDMT_FAIL(code::kShape, c.op, "at most " << kMaxTransposeDims << " dims, got " << x.shape_str());
  std::vector<int64_t> perm = c.attrs.ints(c.op, "perm");
  if (static_cast<int>(perm.size()) != s.nd)
    MDMT_FAIL(code::kInvalid, c.op, "perm has " << perm.size() << " entries for " << s.nd << "-dim input " << x.shape_str());
  std::vector<bool> seen(s.nd, false);
  for (int64_t p : perm) {
    if (p < 0 || p >= s.nd || seen[p]) MDMT_FAIL(code::kInvalid, c.op, "perm must be a permutation of 0.." << s.nd - 1);
    seen[p] = true;
  }
  const Shape xs = contiguous_strides(x.shape);
  for (int d = 0; d < s.nd; ++d) s.out.push_back(x.shape[perm[d]]), s.src_stride.push_back(xs[perm[d]]);
  same_dtype(c, x, y);
  c.expect_shape(y, "y", s.out);
  s.n = x.numel();
  s.elem = dtype_size(x.dtype);
  return s;
}

PadSpec pad2d_spec(const OpCtx& c) {
  c.expect_counts(1, 1);
  const Tensor& x = c.input(0, "x", DType::F32);
  if (x.ndim() < 2) MDMT_FAIL(code::kShape, c.op, "input 'x' needs at least 2 dims, got " << x.shape_str());
  const Pads p = pads_attr(c);
  const float value = static_cast<float>(c.attrs.f(c.op, "value", 0.0));
  c.output(0, "y", DType::F32, padded_shape(x.shape, p));
  return pad_spec(p, value, x.shape);
}

PadSpec pad2d_bwd_spec(const OpCtx& c) {
  c.expect_counts(1, 1);
  const Tensor& dy = c.input(0, "dy", DType::F32);
  const Tensor& dx = *c.out[0];
  if (dx.dtype != DType::F32) MDMT_FAIL(code::kDType, c.op, "output 'dx' must be float32, got " << dtype_name(dx.dtype));
  if (dx.ndim() < 2) MDMT_FAIL(code::kShape, c.op, "output 'dx' needs at least 2 dims, got " << dx.shape_str());
  const Pads p = pads_attr(c);
  c.expect_shape(dy, "dy", padded_shape(dx.shape, p));
  return pad_spec(p, 0.f, dx.shape);
}

}  // namespace mdmt
