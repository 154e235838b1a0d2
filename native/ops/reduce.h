// Family "reduce" (docs/ops.md "reduce"): sum and mean of x over a sorted list of
// distinct axes (attribute axes), keepdim keeping them as size-1 dims. x's dims split into
// kept dims (enumerating the outputs in row-major order) and reduced dims (the summands),
// each with its stride in x. An empty reduction: sum 0, mean NaN (PyTorch).
#pragma once
#include "spec.h"

namespace mdmt {

struct ReduceSpec {
  int nd;                      // x's rank
  std::vector<int64_t> kdim, kstr;  // kept dims of x and their strides
  std::vector<int64_t> rdim, rstr;  // reduced dims and their strides
  int64_t nout, nred;          // outputs, summands per output
  bool mean;
};

ReduceSpec reduce_spec(const OpCtx& c);  // sum or mean by c.op

}  // namespace mdmt
