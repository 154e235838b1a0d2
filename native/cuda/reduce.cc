// sum / mean over sorted axes on CUDA (docs/ops.md "reduce"; contract in
// native/ops/reduce.h). In a bf16 / NHWC plan (native/cuda/lowp.h) x may be bf16 and NHWC;
// y is fp32 always (the precision policy: reductions write fp32).
#include <vector>

#include "../ops/reduce.h"
#include "common.h"
#include "lowp.h"
#include "mixed.h"

namespace mdmt {
namespace cuda {
namespace {

// The family's checks (native/ops/reduce.h) within the kernel's k::kMaxDims.
ReduceSpec reduce_prepare(const OpCtx& c) {
  ReduceSpec s = reduce_spec(c);
  if (s.nd > k::kMaxDims) MDMT_FAIL(code::kShape, c.op, "at most " << k::kMaxDims << " dims");
  return s;
}

// An NHWC x: its stored strides, and a 4-D (keepdim) output enumerated in its stored order too.
k::ReducePlan nhwc_plan(const OpCtx& c, const Tensor& x, const Tensor& y, const ReduceSpec& s) {
  std::vector<bool> red(4, false);
  for (int64_t a : c.attrs.ints(c.op, "axes")) red[a] = true;  // checked by the family's prepare
  const Shape xs = stored_strides(c, x, x.shape, true);
  const bool out4 = y.ndim() == 4;
  const int perm4[4] = {0, 2, 3, 1};
  k::ReducePlan p{};
  for (int i = 0; i < 4; ++i) {
    const int d = out4 ? perm4[i] : i;
    if (red[d]) p.rsize[p.nr] = x.shape[d], p.rstride[p.nr++] = xs[d];
    else p.ksize[p.nk] = x.shape[d], p.kstride[p.nk++] = xs[d];
  }
  p.nred = s.nred;
  p.nout = s.nout;
  return p;
}

void reduce(OpCtx& c, const ReduceSpec& s) {
  const Tensor& x = *c.in[0];
  Tensor& y = *c.out[0];
  k::ReducePlan p{};
  if (nhwc_layout(c) && x.ndim() == 4) {
    p = nhwc_plan(c, x, y, s);
  } else {
    p.nk = static_cast<int>(s.kdim.size());
    p.nr = static_cast<int>(s.rdim.size());
    for (int i = 0; i < p.nk; ++i) p.ksize[i] = s.kdim[i], p.kstride[i] = s.kstr[i];
    for (int i = 0; i < p.nr; ++i) p.rsize[i] = s.rdim[i], p.rstride[i] = s.rstr[i];
    p.nred = s.nred;
    p.nout = s.nout;
  }
  if (x.dtype != DType::F32 && x.dtype != DType::BF16)
    MDMT_FAIL(code::kDType, c.op, "input 'x' must be float32 (or bfloat16 in a plan), got " << dtype_name(x.dtype));
  if (y.dtype != DType::F32) MDMT_FAIL(code::kDType, c.op, "output 'y' must be float32, got " << dtype_name(y.dtype));
  DeviceCtx& dc = ctx_of(c);
  if (p.nout == 0) return;
  if (p.nred == 0) {  // an empty sum is 0, an empty mean NaN (0x7fc00000), as on the CPU
    cudaCheck(c.op, k::fill(y.raw(), s.mean ? 0x7fc00000u : 0u, 4, p.nout, dc.stream));
    return;
  }
  float scale = s.mean ? static_cast<float>(1.0 / static_cast<double>(p.nred)) : 1.f;
  if (x.dtype == DType::BF16) cudaCheck(c.op, k::reduce_sum_bf16(fp(y), x.raw(), p, scale, dc.stream));
  else cudaCheck(c.op, k::reduce_sum(fp(y), cfp(x), p, scale, dc.stream));
}

}  // namespace

MDMT_REGISTER_SPEC_OP("sum", CUDA, fp32_viewed<reduce_prepare>, reduce);
MDMT_REGISTER_SPEC_OP("mean", CUDA, fp32_viewed<reduce_prepare>, reduce);

}  // namespace cuda
}  // namespace mdmt
