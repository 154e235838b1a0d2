// Family "linear" (docs/ops.md "linear"): linear (x[N,I], w[O,I], b[O]? ->
// y[N,O] = x wᵀ + b) and matmul (a, b 2-D -> c = op(a)·op(b), attributes transA, transB).
// Row-major operands; lda/ldb are the stored row lengths.
#pragma once
#include "spec.h"

namespace mdmt {

struct LinearSpec {
  int64_t N, I, O;
  bool bias;
};
struct MatmulSpec {
  int64_t M, N, K;  // op(a) is M×K, op(b) K×N
  bool ta, tb;
  int64_t lda, ldb;
};

LinearSpec linear_spec(const OpCtx& c);
MatmulSpec matmul_spec(const OpCtx& c);

}  // namespace mdmt
