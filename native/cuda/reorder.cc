// reorder on CUDA (docs/ops.md "layout"): NCHW <-> NHWC, converting fp32 <-> bf16 on the way
// (kernels/reorder.cu); int32 / uint8 move without conversion. Messages as native/cpu/reorder.cc.
#include "common.h"
#include "mixed.h"

namespace mdmt {
namespace cuda {
namespace {

bool nhwc_attr(const OpCtx& c, const char* key) {
  const std::string s = c.attrs.s(c.op, key, "");
  if (s == "nchw") return false;
  if (s == "nhwc") return true;
  if (s == "nchw8c" || s == "nchw16c")
    MDMT_FAIL(code::kNotImpl, c.op, "layout '" << s << "' (attribute '" << key << "') has no reorder on cuda");
  MDMT_FAIL(code::kInvalid, c.op, "attribute '" << key << "' must be 'nchw' or 'nhwc', got '" << s << "'");
}

bool floating(DType d) { return d == DType::F32 || d == DType::BF16; }

void reorder_cuda(OpCtx& c) {
  c.expect_counts(1, 1);
  const Tensor& x = *c.in[0];
  Tensor& y = *c.out[0];
  if (x.ndim() != 4) MDMT_FAIL(code::kShape, c.op, "input 'x' must have 4 dims [N, C, H, W], got " << x.shape_str());
  c.expect_shape(y, "y", x.shape);
  const bool from = nhwc_attr(c, "from"), to = nhwc_attr(c, "to");
  const bool convert = x.dtype != y.dtype;
  if (convert && !(floating(x.dtype) && floating(y.dtype)))
    MDMT_FAIL(code::kDType, c.op, "x is " << dtype_name(x.dtype) << " but y is " << dtype_name(y.dtype)
                                          << ": reorder converts between float32 and bfloat16 only");
  if (!floating(x.dtype) && x.dtype != DType::I32 && x.dtype != DType::U8)
    MDMT_FAIL(code::kDType, c.op, "input 'x' is " << dtype_name(x.dtype) << ": reorder takes float32, bfloat16, int32 or uint8");
  DeviceCtx& d = ctx_of(c);
  if (x.numel() == 0) return;
  const int xd = static_cast<int>(x.dtype), yd = static_cast<int>(y.dtype);
  if (from == to) {  // a cast (or a copy)
    if (!convert) cudaCheck(c.op, cudaMemcpyAsync(y.raw(), x.raw(), x.nbytes(), cudaMemcpyDeviceToDevice, d.stream));
    else cudaCheck(c.op, k::cast(y.raw(), yd, x.raw(), xd, x.numel(), d.stream));
    return;
  }
  cudaCheck(c.op, k::reorder(y.raw(), yd, x.raw(), xd, x.shape[0], x.shape[1], x.shape[2] * x.shape[3], to, d.stream));
}

}  // namespace

MDMT_REGISTER_OP("reorder", CUDA, reorder_cuda);

}  // namespace cuda
}  // namespace mdmt
