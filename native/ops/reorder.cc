#include "reorder.h"

namespace mdmt {
namespace {

bool nhwc_attr(const OpCtx& c, const char* key) {
  const std::string s = c.attrs.s(c.op, key, "");
  if (s == "nchw") return false;
  if (s == "nhwc") return true;
  if (s == "nchw8c" || s == "nchw16c")
    MDMT_FAIL(code::kNotImpl, c.op, "layout '" << s << "' (attribute '" << key << "') has no reorder kernel yet");
  MDMT_FAIL(code::kInvalid, c.op, "attribute '" << key << "' must be 'nchw' or 'nhwc', got '" << s << "'");
}

bool floating(DType d) { return d == DType::F32 || d == DType::BF16; }

}  // namespace

ReorderSpec reorder_spec(const OpCtx& c) {
  c.expect_counts(1, 1);
  const Tensor& x = *c.in[0];
  const Tensor& y = *c.out[0];
  if (x.ndim() != 4) MDMT_FAIL(code::kShape, c.op, "input 'x' must have 4 dims [N, C, H, W], got " << x.shape_str());
  c.expect_shape(y, "y", x.shape);
  require_contiguous(c, x, "x");
  require_contiguous(c, y, "y");
  ReorderSpec s{x.shape[0], x.shape[1], x.shape[2] * x.shape[3], nhwc_attr(c, "from"), nhwc_attr(c, "to"), x.dtype != y.dtype};
  if (s.convert && !(floating(x.dtype) && floating(y.dtype)))
    MDMT_FAIL(code::kDType, c.op, "x is " << dtype_name(x.dtype) << " but y is " << dtype_name(y.dtype)
                                          << ": reorder converts between float32 and bfloat16 only");
  if (!floating(x.dtype) && x.dtype != DType::I32 && x.dtype != DType::U8)
    MDMT_FAIL(code::kDType, c.op, "input 'x' is " << dtype_name(x.dtype) << ": reorder takes float32, bfloat16, int32 or uint8");
  return s;
}

}  // namespace mdmt
