// CPU reductions sum / mean over a sorted list of axes (docs/ops.md "reduce"; contract
// in native/ops/reduce.h).
// Each output element sums its reduced sub-block in double (bias gradients sum millions
// of terms); parallel over output elements, or over the reduction when there are few.
#include <algorithm>
#include <cmath>
#include <vector>

#include "../ops/reduce.h"
#include "parallel.h"

namespace mdmt {
namespace {

void reduce(OpCtx& c, const ReduceSpec& s) {
  const std::vector<int64_t>& kdim = s.kdim;
  const std::vector<int64_t>& kstr = s.kstr;
  const std::vector<int64_t>& rdim = s.rdim;
  const std::vector<int64_t>& rstr = s.rstr;
  const int64_t nout = s.nout, nred = s.nred;
  // an empty reduction: sum 0, mean NaN (PyTorch)
  const double scale = s.mean ? (nred > 0 ? 1.0 / static_cast<double>(nred) : std::nan("")) : 1.0;
  const float* px = c.in[0]->data<float>();
  float* py = c.out[0]->data<float>();
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
        double rs = 0;
        for (int64_t i = 0; i < run; ++i) rs += p[i];
        acc += rs;
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
      double total = 0;
      for (double p : part) total += p;
      py[o] = static_cast<float>(total * scale);
    }
  }
}

}  // namespace

MDMT_REGISTER_SPEC_OP("sum", CPU, reduce_spec, reduce);
MDMT_REGISTER_SPEC_OP("mean", CPU, reduce_spec, reduce);

}  // namespace mdmt
