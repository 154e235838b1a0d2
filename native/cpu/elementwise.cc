// CPU elementwise ops: add/sub/mul with NumPy broadcasting, affine and expand. See
// docs/ops.md for the contract.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "../core/backend.h"
#include "../core/registry.h"
#include "broadcast.h"
#include "parallel.h"

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

namespace {

constexpr int64_t kGrain = 1 << 14;

template <class F>
void binary(OpCtx& c, F f) {
  c.expect_counts(2, 1);
  const Tensor& a = c.input(0, "a", DType::F32);
  const Tensor& b = c.input(1, "b", DType::F32);
  Shape shape = broadcast_shape(c.op, a.shape, b.shape);
  Tensor& y = c.output(0, "y", DType::F32, shape);
  const float* pa = a.data<float>();
  const float* pb = b.data<float>();
  float* py = y.data<float>();
  if (a.shape == b.shape) {  // fast path: same shape
    parallel_for(0, y.numel(), kGrain, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) py[i] = f(pa[i], pb[i]);
    });
    return;
  }
  Shape st[2] = {broadcast_strides(c.op, a.shape, shape), broadcast_strides(c.op, b.shape, shape)};
  parallel_for(0, y.numel(), kGrain, [&](int64_t lo, int64_t hi) {
    for_each_run<2>(shape, st, lo, hi, [&](int64_t o, const int64_t* off, int64_t n, const int64_t* inner) {
      const float* x0 = pa + off[0];
      const float* x1 = pb + off[1];
      float* out = py + o;
      if (inner[0] == 1 && inner[1] == 1) for (int64_t i = 0; i < n; ++i) out[i] = f(x0[i], x1[i]);
      else if (inner[0] == 1 && inner[1] == 0) { float v = *x1; for (int64_t i = 0; i < n; ++i) out[i] = f(x0[i], v); }
      else if (inner[0] == 0 && inner[1] == 1) { float v = *x0; for (int64_t i = 0; i < n; ++i) out[i] = f(v, x1[i]); }
      else for (int64_t i = 0; i < n; ++i) out[i] = f(x0[i * inner[0]], x1[i * inner[1]]);
    });
  });
}

void add_cpu(OpCtx& c) { binary(c, [](float x, float y) { return x + y; }); }
void sub_cpu(OpCtx& c) { binary(c, [](float x, float y) { return x - y; }); }
void mul_cpu(OpCtx& c) { binary(c, [](float x, float y) { return x * y; }); }

void affine_cpu(OpCtx& c) {
  c.expect_counts(1, 1);
  const Tensor& x = c.input(0, "x", DType::F32);
  Tensor& y = c.output(0, "y", DType::F32, x.shape);
  const float alpha = static_cast<float>(c.attrs.f(c.op, "alpha", 1.0));
  const float beta = static_cast<float>(c.attrs.f(c.op, "beta", 0.0));
  const float* px = x.data<float>();
  float* py = y.data<float>();
  parallel_for(0, x.numel(), kGrain, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) py[i] = alpha * px[i] + beta;
  });
}

void expand_cpu(OpCtx& c) {
  c.expect_counts(1, 1);
  const Tensor& x = c.input(0, "x", DType::F32);
  Tensor& y = *c.out[0];
  if (y.dtype != DType::F32) MDMT_FAIL(code::kDType, c.op, "output 'y' must be float32");
  if (y.ndim() > kMaxBroadcastDims) MDMT_FAIL(code::kShape, c.op, "at most " << kMaxBroadcastDims << " dims");
  Shape st[1] = {broadcast_strides(c.op, x.shape, y.shape)};
  const float* px = x.data<float>();
  float* py = y.data<float>();
  parallel_for(0, y.numel(), kGrain, [&](int64_t lo, int64_t hi) {
    for_each_run<1>(y.shape, st, lo, hi, [&](int64_t o, const int64_t* off, int64_t n, const int64_t* inner) {
      const float* s = px + off[0];
      if (inner[0] == 0) std::fill(py + o, py + o + n, *s);
      else for (int64_t i = 0; i < n; ++i) py[o + i] = s[i * inner[0]];
    });
  });
}

}  // namespace

MDMT_REGISTER_OP("add", CPU, add_cpu);
MDMT_REGISTER_OP("sub", CPU, sub_cpu);
MDMT_REGISTER_OP("mul", CPU, mul_cpu);
MDMT_REGISTER_OP("affine", CPU, affine_cpu);
MDMT_REGISTER_OP("expand", CPU, expand_cpu);

}  // namespace mdmt
