// masked_xent_fwd_bwd on CUDA (docs/ops.md "masked_xent"; native/ops/masked_xent.h): two
// launches (rows, then a deterministic reduction), then a 8-byte read-back of the validity
// flag so a bad mask or an active row with an out-of-range label throws exactly as on the
// CPU. That read-back waits for the stream: the loss is read every step anyway, so it
// costs no extra sync in training. Inside a plan captured as a CUDA graph no read-back may
// wait: the check is deferred (native/cuda/capture.h) and the next run of the plan throws
// the same error; the step's loss is NaN meanwhile (kernels/masked_xent.cu), so the last
// step cannot hide one.
#include "../ops/masked_xent.h"
#include "capture.h"
#include "common.h"

namespace mdmt {
namespace cuda {
namespace {

// The family's checks (native/ops/masked_xent.h); the kernel indexes rows in int32.
MaskedXentSpec masked_xent_prepare(const OpCtx& c) {
  MaskedXentSpec s = masked_xent_spec(c);
  if (s.N >= 0x7fffffff) MDMT_FAIL(code::kShape, c.op, "too many rows: " << s.N);
  return s;
}

void masked_xent_fwd_bwd(OpCtx& c, const MaskedXentSpec& s) {
  const int64_t N = s.N, C = s.C;
  const Tensor& z = *c.in[0];
  const Tensor& lab = *c.in[1];
  const Tensor& msk = *c.in[2];
  Tensor& loss = *c.out[0];
  Tensor& dz = *c.out[1];
  DeviceCtx& d = ctx_of(c);
  if (N == 0) {
    cudaCheck(c.op, cudaMemsetAsync(loss.raw(), 0, sizeof(float), d.stream));
    return;
  }
  Scratch ws(c.device, k::masked_xent_ws_bytes(N), c.op);
  Scratch flag(c.device, 2 * sizeof(int32_t), c.op);
  cudaCheck(c.op, k::masked_xent_fwd_bwd(fp(loss), fp(dz), static_cast<int32_t*>(flag.get()), cfp(z),
                                         static_cast<const int32_t*>(lab.raw()), cfp(msk), N, C, s.masked,
                                         ws.get(), d.stream));
  if (CaptureScope* cs = CaptureScope::current(d.index)) {
    cs->defer_check(static_cast<const int32_t*>(flag.get()), 2, code::kInvalid, c.op, [C](const int32_t* bad) {
      std::ostringstream os;
      if (bad[1] == 2) os << "input 'mask' must be 0 or 1, row " << bad[0] - 1 << " is not";
      else os << "input 'labels': row " << bad[0] - 1 << " is active with a label outside [0, " << C << ")";
      return os.str();
    });
    return;
  }
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

MDMT_REGISTER_SPEC_OP("masked_xent_fwd_bwd", CUDA, masked_xent_prepare, masked_xent_fwd_bwd);

}  // namespace cuda
}  // namespace mdmt
