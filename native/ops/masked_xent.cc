#include "masked_xent.h"

namespace mdmt {

MaskedXentSpec masked_xent_spec(const OpCtx& c) {
  c.expect_counts(3, 2);
  const Tensor& z = c.input(0, "logits", DType::F32, 2);
  MaskedXentSpec s{z.shape[0], z.shape[1], false};
  const Tensor& lab = c.input(1, "labels", DType::I32, 1);
  c.expect_shape(lab, "labels", Shape{s.N});
  const Tensor& msk = c.input(2, "mask", DType::F32, 1);
  c.expect_shape(msk, "mask", Shape{s.N});
  c.output(0, "loss", DType::F32, Shape{});
  c.output(1, "dlogits", DType::F32, z.shape);
  const std::string norm = c.attrs.s(c.op, "normalize", "batch");
  if (norm != "batch" && norm != "masked")
    MDMT_FAIL(code::kInvalid, c.op, "attribute 'normalize' must be \"batch\" or \"masked\", got \"" << norm << "\"");
  s.masked = norm == "masked";
  if (s.C < 1) MDMT_FAIL(code::kShape, c.op, "input 'logits' needs at least one class, got " << z.shape_str());
  if (s.N < 1) MDMT_FAIL(code::kShape, c.op, "input 'logits' has no rows, got " << z.shape_str() << ": the loss of an empty batch is 0/0");
  return s;
}

}  // namespace mdmt
