// reorder on CUDA (docs/ops.md "reorder"; contract in native/ops/reorder.h): NCHW <-> NHWC,
// converting float32 <-> bfloat16 on the way (kernels/reorder.cu); int32 / uint8 move
// without conversion.
#include "../ops/reorder.h"
#include "common.h"
#include "mixed.h"

namespace mdmt {
namespace cuda {
namespace {

void reorder_cuda(OpCtx& c, const ReorderSpec& s) {
  const Tensor& x = *c.in[0];
  Tensor& y = *c.out[0];
  DeviceCtx& d = ctx_of(c);
  if (x.numel() == 0) return;
  const int xd = static_cast<int>(x.dtype), yd = static_cast<int>(y.dtype);
  if (s.from_nhwc == s.to_nhwc) {  // a cast (or a copy)
    if (!s.convert) cudaCheck(c.op, cudaMemcpyAsync(y.raw(), x.raw(), x.nbytes(), cudaMemcpyDeviceToDevice, d.stream));
    else cudaCheck(c.op, k::cast(y.raw(), yd, x.raw(), xd, x.numel(), d.stream));
    return;
  }
  cudaCheck(c.op, k::reorder(y.raw(), yd, x.raw(), xd, s.N, s.C, s.HW, s.to_nhwc, d.stream));
}

}  // namespace

MDMT_REGISTER_SPEC_OP("reorder", CUDA, reorder_spec, reorder_cuda);

}  // namespace cuda
}  // namespace mdmt
