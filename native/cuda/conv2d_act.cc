// conv2d_act on CUDA (docs/ops.md): cuDNN's convolution, then the activation kernel over its
// output in place, on the device's stream (native/core/compose.h). A fused cuDNN
// conv-bias-activation call replaces this registration when it lands.
#include "../core/compose.h"
#include "common.h"
#include "lowp.h"

namespace mdmt {
namespace {
// A bf16 or NHWC step (a plan's precision / layout passes) is checked on its fp32 view, as
// conv2d's own registration does; conv2d, add and the activation then run its low form.
void conv2d_act_cuda(OpCtx& c) {
  if (!cuda::maybe_lowp(c)) return conv2d_act_composed(c);
  cuda::Fp32View v(c);
  conv2d_act_compose(c, conv2d_act_spec(v.ctx));
}
}  // namespace
MDMT_REGISTER_OP("conv2d_act", CUDA, conv2d_act_cuda);
}  // namespace mdmt
