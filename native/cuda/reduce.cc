// sum / mean over sorted axes on CUDA (docs/ops.md "reductions"); validation as the CPU's.
#include <vector>

#include "common.h"

namespace mdmt {
namespace cuda {
namespace {

void reduce(OpCtx& c, bool mean) {
  c.expect_counts(1, 1);
  const Tensor& x = c.input(0, "x", DType::F32);
  std::vector<int64_t> axes = c.attrs.ints(c.op, "axes");
  bool keepdim = c.attrs.b(c.op, "keepdim", false);
  const int nd = x.ndim();
  if (nd > k::kMaxDims) MDMT_FAIL(code::kShape, c.op, "at most " << k::kMaxDims << " dims");
  std::vector<bool> red(nd, false);
  for (size_t i = 0; i < axes.size(); ++i) {
    int64_t a = axes[i];
    if (a < 0 || a >= nd) MDMT_FAIL(code::kInvalid, c.op, "axis " << a << " out of range for shape " << x.shape_str());
    if (i > 0 && a <= axes[i - 1]) MDMT_FAIL(code::kInvalid, c.op, "axes must be sorted and unique");
    red[a] = true;
  }
  Shape oshape;
  for (int d = 0; d < nd; ++d)
    if (!red[d]) oshape.push_back(x.shape[d]);
    else if (keepdim) oshape.push_back(1);
  Tensor& y = c.output(0, "y", DType::F32, oshape);

  k::ReducePlan p{};
  Shape xs = contiguous_strides(x.shape);
  p.nred = 1;
  for (int d = 0; d < nd; ++d) {
    if (red[d]) {
      p.rsize[p.nr] = x.shape[d];
      p.rstride[p.nr++] = xs[d];
      p.nred *= x.shape[d];
    } else {
      p.ksize[p.nk] = x.shape[d];
      p.kstride[p.nk++] = xs[d];
    }
  }
  p.nout = y.numel();
  DeviceCtx& dc = ctx_of(c);
  if (p.nout == 0) return;
  if (p.nred == 0) {
    cudaCheck(c.op, k::fill(y.raw(), 0u, 4, p.nout, dc.stream));
    return;
  }
  float scale = mean ? static_cast<float>(1.0 / static_cast<double>(p.nred)) : 1.f;
  cudaCheck(c.op, k::reduce_sum(fp(y), cfp(x), p, scale, dc.stream));
}

void sum_cuda(OpCtx& c) { reduce(c, false); }
void mean_cuda(OpCtx& c) { reduce(c, true); }

}  // namespace

MDMT_REGISTER_OP("sum", CUDA, sum_cuda);
MDMT_REGISTER_OP("mean", CUDA, mean_cuda);

}  // namespace cuda
}  // namespace mdmt
