#include "memory.h"

namespace mdmt {

FillSpec fill_spec(const OpCtx& c) {
  c.expect_counts(0, 1);
  const Tensor& y = *c.out[0];
  return {y.dtype, c.attrs.f(c.op, "value"), y.numel()};
}

CopySpec copy_spec(const OpCtx& c) {
  c.expect_counts(1, 1);
  const Tensor& x = *c.in[0];
  const Tensor& y = *c.out[0];
  if (x.dtype != y.dtype)
    MDMT_FAIL(code::kDType, c.op, "x is " << dtype_name(x.dtype) << " but y is " << dtype_name(y.dtype) << " (use cast)");
  if (x.numel() != y.numel())
    MDMT_FAIL(code::kShape, c.op, "x " << x.shape_str() << " and y " << y.shape_str() << " differ in size");
  return {x.nbytes()};
}

CastSpec cast_spec(const OpCtx& c) {
  c.expect_counts(1, 1);
  const Tensor& x = *c.in[0];
  const Tensor& y = *c.out[0];
  if (x.shape != y.shape) MDMT_FAIL(code::kShape, c.op, "x " << x.shape_str() << " and y " << y.shape_str() << " differ");
  return {x.dtype, y.dtype, x.numel(), x.nbytes()};
}

}  // namespace mdmt
