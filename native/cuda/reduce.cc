// sum / mean over sorted axes on CUDA (docs/ops.md "reduce"; contract in
// native/ops/reduce.h).
#include <vector>

#include "../ops/reduce.h"
#include "common.h"

namespace mdmt {
namespace cuda {
namespace {

// The family's checks (native/ops/reduce.h) within the kernel's k::kMaxDims.
ReduceSpec reduce_prepare(const OpCtx& c) {
  ReduceSpec s = reduce_spec(c);
  if (s.nd > k::kMaxDims) MDMT_FAIL(code::kShape, c.op, "at most " << k::kMaxDims << " dims");
  return s;
}

void reduce(OpCtx& c, const ReduceSpec& s) {
  Tensor& y = *c.out[0];
  k::ReducePlan p{};
  p.nk = static_cast<int>(s.kdim.size());
  p.nr = static_cast<int>(s.rdim.size());
  for (int i = 0; i < p.nk; ++i) p.ksize[i] = s.kdim[i], p.kstride[i] = s.kstr[i];
  for (int i = 0; i < p.nr; ++i) p.rsize[i] = s.rdim[i], p.rstride[i] = s.rstr[i];
  p.nred = s.nred;
  p.nout = s.nout;
  DeviceCtx& dc = ctx_of(c);
  if (p.nout == 0) return;
  if (p.nred == 0) {  // an empty sum is 0, an empty mean NaN (0x7fc00000), as on the CPU
    cudaCheck(c.op, k::fill(y.raw(), s.mean ? 0x7fc00000u : 0u, 4, p.nout, dc.stream));
    return;
  }
  float scale = s.mean ? static_cast<float>(1.0 / static_cast<double>(p.nred)) : 1.f;
  cudaCheck(c.op, k::reduce_sum(fp(y), cfp(*c.in[0]), p, scale, dc.stream));
}

}  // namespace

MDMT_REGISTER_SPEC_OP("sum", CUDA, reduce_prepare, reduce);
MDMT_REGISTER_SPEC_OP("mean", CUDA, reduce_prepare, reduce);

}  // namespace cuda
}  // namespace mdmt
