// conv2d_act on CUDA (docs/ops.md): cuDNN's convolution, then the activation kernel over its
// output in place, on the device's stream (native/core/compose.h). A fused cuDNN
// conv-bias-activation call replaces this registration when it lands.
#include "../core/compose.h"
#include "common.h"

namespace mdmt {
MDMT_REGISTER_OP("conv2d_act", CUDA, conv2d_act_composed);
}  // namespace mdmt
