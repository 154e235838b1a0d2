#include "batchnorm.h"

#include <cmath>
#include <string>

namespace mdmt {
namespace {

BatchnormSpec bn_dims(const OpCtx& c, const Tensor& x) {
  if (x.ndim() != 2 && x.ndim() != 4)
    MDMT_FAIL(code::kShape, c.op, "input 'x' must be [N, C, H, W] or [N, C], got " << x.shape_str());
  BatchnormSpec s{x.shape[0], x.shape[1], x.ndim() == 4 ? x.shape[2] * x.shape[3] : 1, 0, 0};
  if (s.C < 1) MDMT_FAIL(code::kShape, c.op, "input 'x' has no channels: " << x.shape_str());
  return s;
}

void per_channel(const OpCtx& c, size_t i, const char* name, int64_t C) {
  const Tensor& t = c.input(i, name, DType::F32, 1);
  c.expect_shape(t, name, Shape{C});
}

double eps_attr(const OpCtx& c) {
  double eps = c.attrs.f(c.op, "eps", 1e-5);
  if (!(eps > 0) || !std::isfinite(eps)) MDMT_FAIL(code::kInvalid, c.op, "attribute 'eps' must be > 0, got " << eps);
  return eps;
}

}  // namespace

namespace {
int act_attr(const OpCtx& c) {
  const std::string a = c.attrs.s(c.op, "act", "relu");
  if (a == "relu") return 1;
  if (a == "relu6") return 2;
  MDMT_FAIL(code::kInvalid, c.op, "attribute 'act' must be 'relu' or 'relu6', got '" << a << "'");
}

// batchnorm_train's checks; with `inputs` 4 the fourth is the residual (shape of x).
BatchnormSpec train_spec(const OpCtx& c, size_t inputs) {
  c.expect_counts(inputs, 5);
  const Tensor& x = c.input(0, "x", DType::F32);
  BatchnormSpec s = bn_dims(c, x);
  per_channel(c, 1, "weight", s.C);
  per_channel(c, 2, "bias", s.C);
  c.output(0, "y", DType::F32, x.shape);
  int i = 1;
  for (const char* name : {"save_mean", "save_invstd", "running_mean", "running_var"})
    c.output(i++, name, DType::F32, Shape{s.C});
  s.eps = eps_attr(c);
  s.momentum = c.attrs.f(c.op, "momentum", 0.1);
  if (!(s.momentum >= 0 && s.momentum <= 1))
    MDMT_FAIL(code::kInvalid, c.op, "attribute 'momentum' must be in [0, 1], got " << s.momentum);
  if (s.N * s.HW < 2)
    MDMT_FAIL(code::kInvalid, c.op, "training needs more than 1 value per channel, got input 'x' " << x.shape_str());
  if (inputs == 4) {
    c.expect_shape(c.input(3, "residual", DType::F32), "residual", x.shape);
    s.residual = true;
  }
  return s;
}
}  // namespace

BatchnormSpec batchnorm_train_spec(const OpCtx& c) { return train_spec(c, 3); }

BatchnormSpec batchnorm_act_train_spec(const OpCtx& c) {
  BatchnormSpec s = train_spec(c, c.in.size() == 4 ? 4 : 3);
  s.act = act_attr(c);
  return s;
}

BatchnormSpec batchnorm_eval_spec(const OpCtx& c) {
  c.expect_counts(5, 1);
  const Tensor& x = c.input(0, "x", DType::F32);
  BatchnormSpec s = bn_dims(c, x);
  int i = 1;
  for (const char* name : {"weight", "bias", "running_mean", "running_var"}) per_channel(c, i++, name, s.C);
  c.output(0, "y", DType::F32, x.shape);
  s.eps = eps_attr(c);
  return s;
}

namespace {
// batchnorm_bwd's checks; `o` = 1 when y sits before x (the fused form)
BatchnormSpec bwd_spec(const OpCtx& c, size_t o) {
  const Tensor& dy = c.input(0, "dy", DType::F32);
  const Tensor& x = c.input(1 + o, "x", DType::F32);
  BatchnormSpec s = bn_dims(c, x);
  c.expect_shape(dy, "dy", x.shape);
  if (o) c.expect_shape(c.input(1, "y", DType::F32), "y", x.shape);
  int i = 2 + static_cast<int>(o);
  for (const char* name : {"weight", "save_mean", "save_invstd"}) per_channel(c, i++, name, s.C);
  c.output(0, "dx", DType::F32, x.shape);
  c.output(1, "dweight", DType::F32, Shape{s.C});
  c.output(2, "dbias", DType::F32, Shape{s.C});
  if (s.N * s.HW < 1) MDMT_FAIL(code::kShape, c.op, "input 'x' " << x.shape_str() << " is empty");
  return s;
}
}  // namespace

BatchnormSpec batchnorm_bwd_spec(const OpCtx& c) {
  c.expect_counts(5, 3);
  return bwd_spec(c, 0);
}

BatchnormSpec batchnorm_act_bwd_spec(const OpCtx& c) {
  c.expect_counts(6, 6, 3, 4);
  BatchnormSpec s = bwd_spec(c, 1);
  s.act = act_attr(c);
  if (c.out.size() == 4) {
    c.output(3, "dz", DType::F32, c.in[2]->shape);
    s.dz = true;
  }
  return s;
}

}  // namespace mdmt
