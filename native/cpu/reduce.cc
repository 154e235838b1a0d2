// CPU reductions sum / mean over a sorted list of axes (docs/ops.md "reductions").
// Each output element sums its reduced sub-block in double (bias gradients sum millions
// of terms); parallel over output elements, or over the reduction when there are few.
#include <algorithm>
#include <cmath>
#include <vector>

#include "../core/registry.h"
#include "parallel.h"

namespace mdmt {
namespace {

void reduce(OpCtx& c, bool mean) {
  c.expect_counts(1, 1);
  const Tensor& x = c.input(0, "x", DType::F32);
  std::vector<int64_t> axes = c.attrs.ints(c.op, "axes");
  bool keepdim = c.attrs.b(c.op, "keepdim", false);
  const int nd = x.ndim();
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

  // kept dims (outer iteration) and reduced dims (inner), with x's strides
  Shape xs = contiguous_strides(x.shape);
  std::vector<int64_t> kdim, kstr, rdim, rstr;
  for (int d = 0; d < nd; ++d) {
    if (red[d]) { rdim.push_back(x.shape[d]); rstr.push_back(xs[d]); }
    else { kdim.push_back(x.shape[d]); kstr.push_back(xs[d]); }
  }
  int64_t nout = y.numel(), nred = 1;
  for (auto d : rdim) nred *= d;
  // an empty reduction: sum 0, mean NaN (PyTorch)
  const double scale = mean ? (nred > 0 ? 1.0 / static_cast<double>(nred) : std::nan("")) : 1.0;
  const float* px = x.data<float>();
  float* py = y.data<float>();
  // innermost reduced dim contiguous? then sum it as a run
  const bool inner_contig = !rdim.empty() && rstr.back() == 1;
  auto sum_block = [&](int64_t base, int64_t rlo, int64_t rhi) {
    double acc = 0;
    const int nr = static_cast<int>(rdim.size());
    if (nr == 0) return static_cast<double>(px[base]);
    int64_t run = inner_contig ? rdim.back() : 1;
    int64_t nouter = run > 0 ? nred / run : 0;
    for (int64_t r = rlo; r < std::min(rhi, nouter); ++r) {
      int64_t rem = r, off = base;
      for (int d = nr - (inner_contig ? 2 : 1); d >= 0; --d) { off += (rem % rdim[d]) * rstr[d]; rem /= rdim[d]; }
      if (inner_contig) {
        const float* p = px + off;
        double s = 0;
        for (int64_t i = 0; i < run; ++i) s += p[i];
        acc += s;
      } else acc += px[off];
    }
    return acc;
  };
  auto base_of = [&](int64_t o) {
    int64_t rem = o, off = 0;
    for (int d = static_cast<int>(kdim.size()) - 1; d >= 0; --d) { off += (rem % kdim[d]) * kstr[d]; rem /= kdim[d]; }
    return off;
  };
  int64_t run = inner_contig ? rdim.back() : 1;
  int64_t nouter = rdim.empty() ? 1 : (run > 0 ? nred / run : 0);
  if (nout >= num_threads() * 4 || nouter < 2) {
    parallel_for(0, nout, std::max<int64_t>(1, 65536 / std::max<int64_t>(nred, 1)), [&](int64_t lo, int64_t hi) {
      for (int64_t o = lo; o < hi; ++o) py[o] = static_cast<float>(sum_block(base_of(o), 0, nouter) * scale);
    });
  } else {  // few outputs (e.g. a loss): split each reduction across threads
    for (int64_t o = 0; o < nout; ++o) {
      int64_t base = base_of(o);
      int nt = num_threads();
      std::vector<double> part(nt * 4, 0.0);
      int64_t step = (nouter + nt * 4 - 1) / (nt * 4);
      parallel_for(0, nt * 4, 1, [&](int64_t lo, int64_t hi) {
        for (int64_t k = lo; k < hi; ++k) part[k] = sum_block(base, k * step, (k + 1) * step);
      });
      double s = 0;
      for (double p : part) s += p;
      py[o] = static_cast<float>(s * scale);
    }
  }
}

void sum_cpu(OpCtx& c) { reduce(c, false); }
void mean_cpu(OpCtx& c) { reduce(c, true); }

}  // namespace

MDMT_REGISTER_OP("sum", CPU, sum_cpu);
MDMT_REGISTER_OP("mean", CPU, mean_cpu);

}  // namespace mdmt
