#include "pool.h"

#include <limits>

namespace mdmt {
namespace {

int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

// PyTorch pooling_output_shape (dilation 1).
int64_t out_size(int64_t in, int64_t k, int64_t s, int64_t p, bool ceil) {
  int64_t o = floor_div(in + 2 * p - (k - 1) - 1 + (ceil ? s - 1 : 0), s) + 1;
  if (ceil && (o - 1) * s >= in + p) --o;
  return o;
}

int64_t attr_pair(const OpCtx& c, const char* key, int idx, int64_t def, bool required) {
  std::vector<int64_t> v = required || c.attrs.has(key) ? c.attrs.ints(c.op, key) : std::vector<int64_t>{def, def};
  if (v.size() == 1) v.push_back(v[0]);
  if (v.size() != 2) MDMT_FAIL(code::kInvalid, c.op, "attribute '" << key << "' must have 2 values, got " << v.size());
  return v[idx];
}

// Reads kernel/stride/padding/ceil_mode and checks them against the input plane (H, W)
// exactly as PyTorch does (pad <= kernel/2, output >= 1).
PoolSpec window(const OpCtx& c, const Shape& xs) {
  PoolSpec p{};
  p.N = xs[0], p.C = xs[1], p.H = xs[2], p.W = xs[3];
  p.kh = attr_pair(c, "kernel", 0, 0, true), p.kw = attr_pair(c, "kernel", 1, 0, true);
  p.sh = attr_pair(c, "stride", 0, p.kh, false), p.sw = attr_pair(c, "stride", 1, p.kw, false);
  p.ph = attr_pair(c, "padding", 0, 0, false), p.pw = attr_pair(c, "padding", 1, 0, false);
  p.ceil = c.attrs.b(c.op, "ceil_mode", false);
  if (p.H < 1 || p.W < 1) MDMT_FAIL(code::kShape, c.op, "input " << shape_str(xs) << " has an empty H×W plane");
  const int64_t kMax = 1 << 20;
  if (p.kh < 1 || p.kw < 1 || p.kh > kMax || p.kw > kMax)
    MDMT_FAIL(code::kInvalid, c.op, "kernel must be in [1, " << kMax << "], got [" << p.kh << ", " << p.kw << "]");
  if (p.sh < 1 || p.sw < 1 || p.sh > kMax || p.sw > kMax)
    MDMT_FAIL(code::kInvalid, c.op, "stride must be in [1, " << kMax << "], got [" << p.sh << ", " << p.sw << "]");
  if (p.ph < 0 || p.pw < 0 || 2 * p.ph > p.kh || 2 * p.pw > p.kw)
    MDMT_FAIL(code::kInvalid, c.op, "padding must be >= 0 and at most half the kernel, got [" << p.ph << ", " << p.pw
                                                                   << "] for kernel [" << p.kh << ", " << p.kw << "]");
  p.P = out_size(p.H, p.kh, p.sh, p.ph, p.ceil);
  p.Q = out_size(p.W, p.kw, p.sw, p.pw, p.ceil);
  if (p.P < 1 || p.Q < 1)
    MDMT_FAIL(code::kShape, c.op, "input " << shape_str(xs) << " is too small for kernel [" << p.kh << ", " << p.kw
                                           << "] with padding [" << p.ph << ", " << p.pw << "]: output would be "
                                           << p.P << "x" << p.Q);
  return p;
}

// The backward ops' output dx: float32, [N, C, H, W].
const Tensor& dx4(const OpCtx& c) {
  const Tensor& dx = *c.out[0];
  if (dx.dtype != DType::F32) MDMT_FAIL(code::kDType, c.op, "output 'dx' must be float32, got " << dtype_name(dx.dtype));
  if (dx.ndim() != 4) MDMT_FAIL(code::kShape, c.op, "output 'dx' must have 4 dims, got " << dx.shape_str());
  return dx;
}

}  // namespace

PoolSpec maxpool2d_spec(const OpCtx& c) {
  c.expect_counts(1, 1, 1, 2);  // the indices are optional: eval asks for y only
  const Tensor& x = c.input(0, "x", DType::F32, 4);
  PoolSpec p = window(c, x.shape);
  const Shape ys = {p.N, p.C, p.P, p.Q};
  c.output(0, "y", DType::F32, ys);
  p.indices = c.out.size() == 2;
  if (p.indices) {
    c.output(1, "indices", DType::I32, ys);
    if (p.H * p.W > std::numeric_limits<int32_t>::max())
      MDMT_FAIL(code::kShape, c.op, "plane " << p.H << "x" << p.W << " too large for int32 indices");
  }
  return p;
}

PoolSpec maxpool2d_bwd_spec(const OpCtx& c) {
  c.expect_counts(2, 1);
  const Tensor& dy = c.input(0, "dy", DType::F32, 4);
  const Tensor& ix = c.input(1, "indices", DType::I32, 4);
  c.expect_shape(ix, "indices", dy.shape);
  const Tensor& dx = *c.out[0];
  if (dx.dtype != DType::F32) MDMT_FAIL(code::kDType, c.op, "output 'dx' must be float32, got " << dtype_name(dx.dtype));
  if (dx.ndim() != 4 || dx.shape[0] != dy.shape[0] || dx.shape[1] != dy.shape[1])
    MDMT_FAIL(code::kShape, c.op, "output 'dx' must be [N, C, H, W] with N, C of dy " << dy.shape_str() << ", got "
                                                                                  << dx.shape_str());
  PoolSpec p{};
  p.N = dy.shape[0], p.C = dy.shape[1], p.P = dy.shape[2], p.Q = dy.shape[3], p.H = dx.shape[2], p.W = dx.shape[3];
  return p;
}

PoolSpec avgpool2d_spec(const OpCtx& c) {
  c.expect_counts(1, 1);
  const Tensor& x = c.input(0, "x", DType::F32, 4);
  PoolSpec p = window(c, x.shape);
  p.count_include_pad = c.attrs.b(c.op, "count_include_pad", true);
  c.output(0, "y", DType::F32, {p.N, p.C, p.P, p.Q});
  return p;
}

PoolSpec avgpool2d_bwd_spec(const OpCtx& c) {
  c.expect_counts(1, 1);
  const Tensor& dy = c.input(0, "dy", DType::F32, 4);
  PoolSpec p = window(c, dx4(c).shape);
  p.count_include_pad = c.attrs.b(c.op, "count_include_pad", true);
  c.expect_shape(dy, "dy", {p.N, p.C, p.P, p.Q});
  return p;
}

PoolSpec global_avgpool_spec(const OpCtx& c) {
  c.expect_counts(1, 1);
  const Tensor& x = c.input(0, "x", DType::F32, 4);
  PoolSpec p{};
  p.N = x.shape[0], p.C = x.shape[1], p.H = x.shape[2], p.W = x.shape[3], p.P = 1, p.Q = 1;
  if (p.H * p.W == 0 && p.N * p.C > 0) MDMT_FAIL(code::kShape, c.op, "input 'x' " << x.shape_str() << " has empty planes");
  c.output(0, "y", DType::F32, {p.N, p.C, 1, 1});
  return p;
}

PoolSpec global_avgpool_bwd_spec(const OpCtx& c) {
  c.expect_counts(1, 1);
  const Tensor& dy = c.input(0, "dy", DType::F32, 4);
  const Tensor& dx = dx4(c);
  c.expect_shape(dy, "dy", {dx.shape[0], dx.shape[1], 1, 1});
  PoolSpec p{};
  p.N = dx.shape[0], p.C = dx.shape[1], p.H = dx.shape[2], p.W = dx.shape[3], p.P = 1, p.Q = 1;
  return p;
}

}  // namespace mdmt
