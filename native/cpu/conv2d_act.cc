// conv2d_act on the CPU (docs/ops.md): the convolution kernel, then the activation over its
// output in place (native/core/compose.h). A GEMM-epilogue kernel (the CPU kernel work)
// replaces this registration when it lands.
#include "../core/compose.h"

namespace mdmt {
MDMT_REGISTER_OP("conv2d_act", CPU, conv2d_act_composed);
}  // namespace mdmt
