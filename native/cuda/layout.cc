// concat / split / channel_shuffle / transpose / pad2d / pad2d_bwd on CUDA (docs/ops.md
// "layout"); validation and messages mirror native/cpu/layout.cc. concat and split run one
// strided block copy per part (any dtype); transpose and channel_shuffle handle 4-byte
// dtypes (float32, int32).
#include <vector>

#include "common.h"

namespace mdmt {
namespace cuda {
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

void check_parts(const OpCtx& c, const Tensor& whole, const char* wname, const std::vector<Tensor*>& parts,
                 const char* pname, int64_t axis) {
  int64_t total = 0;
  for (size_t i = 0; i < parts.size(); ++i) {
    const Tensor& t = *parts[i];
    if (t.dtype != whole.dtype)
      MDMT_FAIL(code::kDType, c.op, pname << "[" << i << "] is " << dtype_name(t.dtype) << " but " << wname << " is "
                                          << dtype_name(whole.dtype));
    bool ok = t.ndim() == whole.ndim();
    for (int d = 0; ok && d < t.ndim(); ++d) ok = d == axis || t.shape[d] == whole.shape[d];
    if (!ok)
      MDMT_FAIL(code::kShape, c.op, pname << "[" << i << "] " << t.shape_str() << " does not match " << wname << " "
                                          << whole.shape_str() << " outside axis " << axis);
    total += t.shape[axis];
  }
  if (total != whole.shape[axis])
    MDMT_FAIL(code::kShape, c.op, "sizes along axis " << axis << " add up to " << total << " but " << wname << " "
                                                      << whole.shape_str() << " has " << whole.shape[axis]);
}

// Whole = [outer, sum_i a_i * inner]; part i = [outer, a_i * inner] at column start_i.
void gather_scatter(const OpCtx& c, const Tensor& whole, const std::vector<Tensor*>& parts, int64_t axis,
                    bool to_whole) {
  DeviceCtx& d = ctx_of(c);
  const int64_t es = static_cast<int64_t>(dtype_size(whole.dtype));
  const int64_t outer = prod(whole.shape, 0, axis);
  const int64_t inner = prod(whole.shape, axis + 1, whole.shape.size());
  const int64_t row = whole.shape[axis] * inner;
  int64_t start = 0;
  for (Tensor* t : parts) {
    const int64_t n = t->shape[axis] * inner;
    char* w = static_cast<char*>(whole.raw()) + start * es;
    char* p = static_cast<char*>(t->raw());
    if (n > 0 && outer > 0) {
      if (es == 4) {
        if (to_whole) cudaCheck(c.op, k::copy2d(reinterpret_cast<float*>(w), row, reinterpret_cast<float*>(p), n, outer, n, d.stream));
        else cudaCheck(c.op, k::copy2d(reinterpret_cast<float*>(p), n, reinterpret_cast<float*>(w), row, outer, n, d.stream));
      } else {
        if (to_whole) cudaCheck(c.op, k::copy2d_bytes(w, row * es, p, n * es, outer, n * es, d.stream));
        else cudaCheck(c.op, k::copy2d_bytes(p, n * es, w, row * es, outer, n * es, d.stream));
      }
    }
    start += n;
  }
}

void concat(OpCtx& c) {
  c.expect_counts(1, 100000, 1, 1);
  Tensor& y = *c.out[0];
  if (y.ndim() == 0) MDMT_FAIL(code::kShape, c.op, "output 'y' must have at least 1 dim");
  const int64_t axis = axis_attr(c, y.ndim());
  check_parts(c, y, "y", c.in, "inputs", axis);
  gather_scatter(c, y, c.in, axis, true);
}

void split(OpCtx& c) {
  c.expect_counts(1, 1, 1, 100000);
  const Tensor& x = *c.in[0];
  if (x.ndim() == 0) MDMT_FAIL(code::kShape, c.op, "input 'x' must have at least 1 dim");
  const int64_t axis = axis_attr(c, x.ndim());
  check_parts(c, x, "x", c.out, "outputs", axis);
  gather_scatter(c, x, c.out, axis, false);
}

void need_4byte(const OpCtx& c, const Tensor& x) {
  if (dtype_size(x.dtype) != 4)
    MDMT_FAIL(code::kDType, c.op, "on cuda supports float32 and int32, got " << dtype_name(x.dtype));
}

void channel_shuffle(OpCtx& c) {
  c.expect_counts(1, 1);
  const Tensor& x = *c.in[0];
  if (x.ndim() != 4) MDMT_FAIL(code::kShape, c.op, "input 'x' must have 4 dims [N, C, H, W], got " << x.shape_str());
  Tensor& y = *c.out[0];
  if (y.dtype != x.dtype) MDMT_FAIL(code::kDType, c.op, "output 'y' must be " << dtype_name(x.dtype) << ", got " << dtype_name(y.dtype));
  c.expect_shape(y, "y", x.shape);
  const int64_t g = c.attrs.i(c.op, "groups");
  const int64_t C = x.shape[1];
  if (g < 1 || C % g != 0) MDMT_FAIL(code::kInvalid, c.op, "groups must be a positive divisor of C = " << C << ", got " << g);
  need_4byte(c, x);
  DeviceCtx& d = ctx_of(c);
  cudaCheck(c.op, k::channel_shuffle(fp(y), cfp(x), x.shape[0], C, x.shape[2] * x.shape[3], g, d.stream));
}

void transpose(OpCtx& c) {
  c.expect_counts(1, 1);
  const Tensor& x = *c.in[0];
  Tensor& y = *c.out[0];
  const int nd = x.ndim();
  if (nd > k::kMaxDims) MDMT_FAIL(code::kShape, c.op, "at most " << k::kMaxDims << " dims, got " << x.shape_str());
  std::vector<int64_t> perm = c.attrs.ints(c.op, "perm");
  if (static_cast<int>(perm.size()) != nd)
    MDMT_FAIL(code::kInvalid, c.op, "perm has " << perm.size() << " entries for " << nd << "-dim input " << x.shape_str());
  std::vector<bool> seen(nd, false);
  for (int64_t p : perm) {
    if (p < 0 || p >= nd || seen[p]) MDMT_FAIL(code::kInvalid, c.op, "perm must be a permutation of 0.." << nd - 1);
    seen[p] = true;
  }
  Shape ys(nd);
  for (int i = 0; i < nd; ++i) ys[i] = x.shape[perm[i]];
  if (y.dtype != x.dtype) MDMT_FAIL(code::kDType, c.op, "output 'y' must be " << dtype_name(x.dtype) << ", got " << dtype_name(y.dtype));
  c.expect_shape(y, "y", ys);
  need_4byte(c, x);
  DeviceCtx& d = ctx_of(c);
  if (x.numel() == 0) return;
  const Shape xs = contiguous_strides(x.shape);
  k::Dims dims{};
  dims.nd = nd;
  for (int i = 0; i < nd; ++i) {
    dims.size[i] = ys[i];
    dims.stride_a[i] = xs[perm[i]];
  }
  cudaCheck(c.op, k::gather(fp(y), cfp(x), dims, y.numel(), d.stream));
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

void pad2d(OpCtx& c) {
  c.expect_counts(1, 1);
  const Tensor& x = c.input(0, "x", DType::F32);
  if (x.ndim() < 2) MDMT_FAIL(code::kShape, c.op, "input 'x' needs at least 2 dims, got " << x.shape_str());
  const Pads p = pads_attr(c);
  const float value = static_cast<float>(c.attrs.f(c.op, "value", 0.0));
  Tensor& y = c.output(0, "y", DType::F32, padded_shape(x.shape, p));
  const int64_t H = x.dim(-2), W = x.dim(-1);
  const int64_t planes = prod(x.shape, 0, x.shape.size() - 2);
  DeviceCtx& d = ctx_of(c);
  cudaCheck(c.op, k::pad2d(fp(y), cfp(x), planes, H, W, p.top, p.bottom, p.left, p.right, value, d.stream));
}

void pad2d_bwd(OpCtx& c) {
  c.expect_counts(1, 1);
  const Tensor& dy = c.input(0, "dy", DType::F32);
  Tensor& dx = *c.out[0];
  if (dx.dtype != DType::F32) MDMT_FAIL(code::kDType, c.op, "output 'dx' must be float32, got " << dtype_name(dx.dtype));
  if (dx.ndim() < 2) MDMT_FAIL(code::kShape, c.op, "output 'dx' needs at least 2 dims, got " << dx.shape_str());
  const Pads p = pads_attr(c);
  c.expect_shape(dy, "dy", padded_shape(dx.shape, p));
  const int64_t H = dx.dim(-2), W = dx.dim(-1);
  const int64_t planes = prod(dx.shape, 0, dx.shape.size() - 2);
  DeviceCtx& d = ctx_of(c);
  cudaCheck(c.op, k::pad2d_bwd(fp(dx), cfp(dy), planes, H, W, p.top, p.bottom, p.left, p.right, d.stream));
}

}  // namespace

MDMT_REGISTER_OP("concat", CUDA, concat);
MDMT_REGISTER_OP("split", CUDA, split);
MDMT_REGISTER_OP("channel_shuffle", CUDA, channel_shuffle);
MDMT_REGISTER_OP("transpose", CUDA, transpose);
MDMT_REGISTER_OP("pad2d", CUDA, pad2d);
MDMT_REGISTER_OP("pad2d_bwd", CUDA, pad2d_bwd);

}  // namespace cuda
}  // namespace mdmt
