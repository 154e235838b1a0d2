// batchnorm_train / batchnorm_eval / batchnorm_bwd on CUDA (docs/ops.md "normalisation"),
// our kernels (kernels/batchnorm.cu); validation mirrors native/cpu/batchnorm.cc.
#include <cmath>

#include "common.h"

namespace mdmt {
namespace cuda {
namespace {

struct Dims {
  int64_t N, C, HW;
};

Dims bn_dims(const OpCtx& c, const Tensor& x) {
  if (x.ndim() != 2 && x.ndim() != 4)
    MDMT_FAIL(code::kShape, c.op, "input 'x' must be [N, C, H, W] or [N, C], got " << x.shape_str());
  Dims d{x.shape[0], x.shape[1], x.ndim() == 4 ? x.shape[2] * x.shape[3] : 1};
  if (d.C < 1) MDMT_FAIL(code::kShape, c.op, "input 'x' has no channels: " << x.shape_str());
  if (d.C > 65535) MDMT_FAIL(code::kShape, c.op, "at most 65535 channels on cuda, got " << d.C);
  return d;
}

const Tensor& per_channel(const OpCtx& c, size_t i, const char* name, int64_t C) {
  const Tensor& t = c.input(i, name, DType::F32, 1);
  c.expect_shape(t, name, Shape{C});
  return t;
}

double eps_attr(const OpCtx& c) {
  double eps = c.attrs.f(c.op, "eps", 1e-5);
  if (!(eps > 0) || !std::isfinite(eps)) MDMT_FAIL(code::kInvalid, c.op, "attribute 'eps' must be > 0, got " << eps);
  return eps;
}

void batchnorm_train(OpCtx& c) {
  c.expect_counts(3, 5);
  const Tensor& x = c.input(0, "x", DType::F32);
  Dims d = bn_dims(c, x);
  const Tensor& w = per_channel(c, 1, "weight", d.C);
  const Tensor& b = per_channel(c, 2, "bias", d.C);
  Tensor& y = c.output(0, "y", DType::F32, x.shape);
  Tensor& smean = c.output(1, "save_mean", DType::F32, Shape{d.C});
  Tensor& sinv = c.output(2, "save_invstd", DType::F32, Shape{d.C});
  Tensor& rmean = c.output(3, "running_mean", DType::F32, Shape{d.C});
  Tensor& rvar = c.output(4, "running_var", DType::F32, Shape{d.C});
  const double eps = eps_attr(c);
  const double mom = c.attrs.f(c.op, "momentum", 0.1);
  if (!(mom >= 0 && mom <= 1)) MDMT_FAIL(code::kInvalid, c.op, "attribute 'momentum' must be in [0, 1], got " << mom);
  if (d.N * d.HW < 2)
    MDMT_FAIL(code::kInvalid, c.op, "training needs more than 1 value per channel, got input 'x' " << x.shape_str());
  DeviceCtx& dc = ctx_of(c);
  Scratch ws(c.device, k::batchnorm_ws_bytes(d.C), c.op);
  cudaCheck(c.op, k::batchnorm_train(fp(y), fp(smean), fp(sinv), fp(rmean), fp(rvar), cfp(x), cfp(w), cfp(b), d.N, d.C,
                                     d.HW, static_cast<float>(eps), static_cast<float>(mom), ws.get(), dc.stream));
}

void batchnorm_eval(OpCtx& c) {
  c.expect_counts(5, 1);
  const Tensor& x = c.input(0, "x", DType::F32);
  Dims d = bn_dims(c, x);
  const Tensor& w = per_channel(c, 1, "weight", d.C);
  const Tensor& b = per_channel(c, 2, "bias", d.C);
  const Tensor& rm = per_channel(c, 3, "running_mean", d.C);
  const Tensor& rv = per_channel(c, 4, "running_var", d.C);
  Tensor& y = c.output(0, "y", DType::F32, x.shape);
  const double eps = eps_attr(c);
  // (The CPU also rejects running_var + eps <= 0; that needs a device read here, so a
  // negative running_var gives NaN on CUDA instead of an exception.)
  DeviceCtx& dc = ctx_of(c);
  cudaCheck(c.op, k::batchnorm_eval(fp(y), cfp(x), cfp(w), cfp(b), cfp(rm), cfp(rv), d.N, d.C, d.HW,
                                    static_cast<float>(eps), dc.stream));
}

void batchnorm_bwd(OpCtx& c) {
  c.expect_counts(5, 3);
  const Tensor& dy = c.input(0, "dy", DType::F32);
  const Tensor& x = c.input(1, "x", DType::F32);
  Dims d = bn_dims(c, x);
  c.expect_shape(dy, "dy", x.shape);
  const Tensor& w = per_channel(c, 2, "weight", d.C);
  const Tensor& mean = per_channel(c, 3, "save_mean", d.C);
  const Tensor& invstd = per_channel(c, 4, "save_invstd", d.C);
  Tensor& dx = c.output(0, "dx", DType::F32, x.shape);
  Tensor& dw = c.output(1, "dweight", DType::F32, Shape{d.C});
  Tensor& db = c.output(2, "dbias", DType::F32, Shape{d.C});
  if (d.N * d.HW < 1) MDMT_FAIL(code::kShape, c.op, "input 'x' " << x.shape_str() << " is empty");
  DeviceCtx& dc = ctx_of(c);
  Scratch ws(c.device, k::batchnorm_ws_bytes(d.C), c.op);
  cudaCheck(c.op, k::batchnorm_bwd(fp(dx), fp(dw), fp(db), cfp(dy), cfp(x), cfp(w), cfp(mean), cfp(invstd), d.N, d.C,
                                   d.HW, ws.get(), dc.stream));
}

}  // namespace

MDMT_REGISTER_OP("batchnorm_train", CUDA, batchnorm_train);
MDMT_REGISTER_OP("batchnorm_eval", CUDA, batchnorm_eval);
MDMT_REGISTER_OP("batchnorm_bwd", CUDA, batchnorm_bwd);

}  // namespace cuda
}  // namespace mdmt
