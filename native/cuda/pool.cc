// max / avg / global-average pooling and backward on CUDA (docs/ops.md "pooling").
// Parameter checks and output sizes are those of native/cpu/pool.cc (PyTorch's rules).
#include <algorithm>
#include <climits>

#include "common.h"

namespace mdmt {
namespace cuda {
namespace {

int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

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

k::Pool2d pool_params(const OpCtx& c, const Shape& xs) {
  int64_t N = xs[0], C = xs[1], H = xs[2], W = xs[3];
  int64_t kh = attr_pair(c, "kernel", 0, 0, true), kw = attr_pair(c, "kernel", 1, 0, true);
  int64_t sh = attr_pair(c, "stride", 0, kh, false), sw = attr_pair(c, "stride", 1, kw, false);
  int64_t ph = attr_pair(c, "padding", 0, 0, false), pw = attr_pair(c, "padding", 1, 0, false);
  bool ceil = c.attrs.b(c.op, "ceil_mode", false);
  if (H < 1 || W < 1) MDMT_FAIL(code::kShape, c.op, "input " << shape_str(xs) << " has an empty H×W plane");
  const int64_t kMax = 1 << 20;
  if (kh < 1 || kw < 1 || kh > kMax || kw > kMax)
    MDMT_FAIL(code::kInvalid, c.op, "kernel must be in [1, " << kMax << "], got [" << kh << ", " << kw << "]");
  if (sh < 1 || sw < 1 || sh > kMax || sw > kMax)
    MDMT_FAIL(code::kInvalid, c.op, "stride must be in [1, " << kMax << "], got [" << sh << ", " << sw << "]");
  if (ph < 0 || pw < 0 || 2 * ph > kh || 2 * pw > kw)
    MDMT_FAIL(code::kInvalid, c.op, "padding must be >= 0 and at most half the kernel, got [" << ph << ", " << pw
                                                                   << "] for kernel [" << kh << ", " << kw << "]");
  k::Pool2d p{};
  p.NC = N * C;
  p.H = H;
  p.W = W;
  p.P = out_size(H, kh, sh, ph, ceil);
  p.Q = out_size(W, kw, sw, pw, ceil);
  if (p.P < 1 || p.Q < 1)
    MDMT_FAIL(code::kShape, c.op, "input " << shape_str(xs) << " is too small for kernel [" << kh << ", " << kw
                                           << "] with padding [" << ph << ", " << pw << "]: output would be " << p.P
                                           << "x" << p.Q);
  p.kh = static_cast<int>(kh); p.kw = static_cast<int>(kw);
  p.sh = static_cast<int>(sh); p.sw = static_cast<int>(sw);
  p.ph = static_cast<int>(ph); p.pw = static_cast<int>(pw);
  p.count_include_pad = c.attrs.b(c.op, "count_include_pad", true);
  return p;
}

void maxpool2d(OpCtx& c) {
  c.expect_counts(1, 2);
  const Tensor& x = c.input(0, "x", DType::F32, 4);
  k::Pool2d p = pool_params(c, x.shape);
  const Shape ys = {x.shape[0], x.shape[1], p.P, p.Q};
  Tensor& y = c.output(0, "y", DType::F32, ys);
  Tensor& ix = c.output(1, "indices", DType::I32, ys);
  if (p.H * p.W > INT32_MAX) MDMT_FAIL(code::kShape, c.op, "plane " << p.H << "x" << p.W << " too large for int32 indices");
  DeviceCtx& d = ctx_of(c);
  cudaCheck(c.op, k::maxpool2d(fp(y), static_cast<int32_t*>(ix.raw()), cfp(x), p, d.stream));
}

void maxpool2d_bwd(OpCtx& c) {
  c.expect_counts(2, 1);
  const Tensor& dy = c.input(0, "dy", DType::F32, 4);
  const Tensor& ix = c.input(1, "indices", DType::I32, 4);
  c.expect_shape(ix, "indices", dy.shape);
  Tensor& dx = *c.out[0];
  if (dx.dtype != DType::F32) MDMT_FAIL(code::kDType, c.op, "output 'dx' must be float32, got " << dtype_name(dx.dtype));
  if (dx.ndim() != 4 || dx.shape[0] != dy.shape[0] || dx.shape[1] != dy.shape[1])
    MDMT_FAIL(code::kShape, c.op, "output 'dx' must be [N, C, H, W] with N, C of dy " << dy.shape_str() << ", got "
                                                                                  << dx.shape_str());
  k::Pool2d p{};
  p.NC = dy.shape[0] * dy.shape[1];
  p.P = dy.shape[2];
  p.Q = dy.shape[3];
  p.H = dx.shape[2];
  p.W = dx.shape[3];
  DeviceCtx& d = ctx_of(c);
  cudaCheck(c.op, k::maxpool2d_bwd(fp(dx), cfp(dy), static_cast<const int32_t*>(ix.raw()), p, d.stream));
}

void avgpool2d(OpCtx& c) {
  c.expect_counts(1, 1);
  const Tensor& x = c.input(0, "x", DType::F32, 4);
  k::Pool2d p = pool_params(c, x.shape);
  Tensor& y = c.output(0, "y", DType::F32, {x.shape[0], x.shape[1], p.P, p.Q});
  DeviceCtx& d = ctx_of(c);
  cudaCheck(c.op, k::avgpool2d(fp(y), cfp(x), p, d.stream));
}

void avgpool2d_bwd(OpCtx& c) {
  c.expect_counts(1, 1);
  const Tensor& dy = c.input(0, "dy", DType::F32, 4);
  Tensor& dx = *c.out[0];
  if (dx.dtype != DType::F32) MDMT_FAIL(code::kDType, c.op, "output 'dx' must be float32, got " << dtype_name(dx.dtype));
  if (dx.ndim() != 4) MDMT_FAIL(code::kShape, c.op, "output 'dx' must have 4 dims, got " << dx.shape_str());
  k::Pool2d p = pool_params(c, dx.shape);
  c.expect_shape(dy, "dy", {dx.shape[0], dx.shape[1], p.P, p.Q});
  DeviceCtx& d = ctx_of(c);
  cudaCheck(c.op, k::avgpool2d_bwd(fp(dx), cfp(dy), p, d.stream));
}

void global_avgpool(OpCtx& c) {
  c.expect_counts(1, 1);
  const Tensor& x = c.input(0, "x", DType::F32, 4);
  const int64_t planes = x.shape[0] * x.shape[1], hw = x.shape[2] * x.shape[3];
  if (hw == 0 && planes > 0) MDMT_FAIL(code::kShape, c.op, "input 'x' " << x.shape_str() << " has empty planes");
  Tensor& y = c.output(0, "y", DType::F32, {x.shape[0], x.shape[1], 1, 1});
  DeviceCtx& d = ctx_of(c);
  cudaCheck(c.op, k::global_avgpool(fp(y), cfp(x), planes, hw, d.stream));
}

void global_avgpool_bwd(OpCtx& c) {
  c.expect_counts(1, 1);
  const Tensor& dy = c.input(0, "dy", DType::F32, 4);
  Tensor& dx = *c.out[0];
  if (dx.dtype != DType::F32) MDMT_FAIL(code::kDType, c.op, "output 'dx' must be float32, got " << dtype_name(dx.dtype));
  if (dx.ndim() != 4) MDMT_FAIL(code::kShape, c.op, "output 'dx' must have 4 dims, got " << dx.shape_str());
  c.expect_shape(dy, "dy", {dx.shape[0], dx.shape[1], 1, 1});
  DeviceCtx& d = ctx_of(c);
  cudaCheck(c.op, k::global_avgpool_bwd(fp(dx), cfp(dy), dx.shape[0] * dx.shape[1], dx.shape[2] * dx.shape[3], d.stream));
}

}  // namespace

MDMT_REGISTER_OP("maxpool2d", CUDA, maxpool2d);
MDMT_REGISTER_OP("maxpool2d_bwd", CUDA, maxpool2d_bwd);
MDMT_REGISTER_OP("avgpool2d", CUDA, avgpool2d);
MDMT_REGISTER_OP("avgpool2d_bwd", CUDA, avgpool2d_bwd);
MDMT_REGISTER_OP("global_avgpool", CUDA, global_avgpool);
MDMT_REGISTER_OP("global_avgpool_bwd", CUDA, global_avgpool_bwd);

}  // namespace cuda
}  // namespace mdmt
