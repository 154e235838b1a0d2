// masked_xent_fwd_bwd on CUDA (docs/ops.md "loss"): two launches (rows, then a
// deterministic reduction), then a 8-byte read-back of the validity flag so a bad mask or
// an active row with an out-of-range label throws exactly as on the CPU. That read-back
// waits for the stream: the loss is read every step anyway, so it costs no extra sync in
// training. (Inside a captured step plan the check would move into the plan's epilogue.)
#include "common.h"

namespace mdmt {
namespace cuda {
namespace {

void masked_xent_fwd_bwd(OpCtx& c) {
  c.expect_counts(3, 2);
  const Tensor& z = c.input(0, "logits", DType::F32, 2);
  const int64_t N = z.shape[0], C = z.shape[1];
  const Tensor& lab = c.input(1, "labels", DType::I32, 1);
  c.expect_shape(lab, "labels", Shape{N});
  const Tensor& msk = c.input(2, "mask", DType::F32, 1);
  c.expect_shape(msk, "mask", Shape{N});
  Tensor& loss = c.output(0, "loss", DType::F32, Shape{});
  Tensor& dz = c.output(1, "dlogits", DType::F32, z.shape);
  const std::string norm = c.attrs.s(c.op, "normalize", "batch");
  if (norm != "batch" && norm != "masked")
    MDMT_FAIL(code::kInvalid, c.op, "attribute 'normalize' must be \"batch\" or \"masked\", got \"" << norm << "\"");
  if (C < 1) MDMT_FAIL(code::kShape, c.op, "input 'logits' needs at least one class, got " << z.shape_str());
  if (N >= 0x7fffffff) MDMT_FAIL(code::kShape, c.op, "too many rows: " << N);
  DeviceCtx& d = ctx_of(c);
  if (N == 0) {
    cudaCheck(c.op, cudaMemsetAsync(loss.raw(), 0, sizeof(float), d.stream));
    return;
  }
  Scratch ws(c.device, k::masked_xent_ws_bytes(N), c.op);
  Scratch flag(c.device, 2 * sizeof(int32_t), c.op);
  cudaCheck(c.op, k::masked_xent_fwd_bwd(fp(loss), fp(dz), static_cast<int32_t*>(flag.get()), cfp(z),
                                         static_cast<const int32_t*>(lab.raw()), cfp(msk), N, C, norm == "masked",
                                         ws.get(), d.stream));
  int32_t bad[2] = {0, 0};
  cudaCheck(c.op, cudaMemcpyAsync(bad, flag.get(), sizeof(bad), cudaMemcpyDeviceToHost, d.stream));
  cudaCheck(c.op, cudaStreamSynchronize(d.stream));
  if (bad[0] > 0) {
    const int64_t row = bad[0] - 1;
    if (bad[1] == 2) MDMT_FAIL(code::kInvalid, c.op, "input 'mask' must be 0 or 1, row " << row << " is not");
    int32_t y = 0;
    cudaCheck(c.op, cudaMemcpy(&y, static_cast<const int32_t*>(lab.raw()) + row, sizeof(y), cudaMemcpyDeviceToHost));
    MDMT_FAIL(code::kInvalid, c.op, "input 'labels': row " << row << " is active with label " << y << ", outside [0, " << C << ")");
  }
}

}  // namespace

MDMT_REGISTER_OP("masked_xent_fwd_bwd", CUDA, masked_xent_fwd_bwd);

}  // namespace cuda
}  // namespace mdmt
