// CPU dense ops on the GEMM (docs/ops.md; contract in native/ops/linear.h): linear
// y = x wᵀ + b, matmul c = op(a)·op(b). Both accept the attribute isa = auto|generic|avx2|avx512 to force a GEMM micro-kernel
// (tests use it to exercise every path on one machine).
#include <algorithm>

#include "../ops/linear.h"
#include "gemm.h"
#include "parallel.h"

namespace mdmt {
namespace {

// The family's checks (native/ops/linear.h) plus the CPU-only GEMM isa.
template <class Spec>
struct WithIsa : Spec {
  GemmIsa isa;
};
template <class Spec, Spec (*SPEC)(const OpCtx&)>
WithIsa<Spec> with_isa(const OpCtx& c) {
  return {SPEC(c), parse_gemm_isa(c.op, c.attrs.s(c.op, "isa", "auto"))};
}
using Linear = WithIsa<LinearSpec>;
using Matmul = WithIsa<MatmulSpec>;

// y[N,O] = x[N,I] wᵀ + b
void linear_cpu(OpCtx& c, const Linear& s) {
  float* py = c.out[0]->data<float>();
  float beta = 0.f;
  if (s.bias) {  // y starts as the bias broadcast over rows, then the GEMM accumulates into it
    const float* pb = c.in[2]->data<float>();
    parallel_for(0, s.N, std::max<int64_t>(1, 16384 / std::max<int64_t>(s.O, 1)), [&](int64_t lo, int64_t hi) {
      for (int64_t n = lo; n < hi; ++n) std::copy(pb, pb + s.O, py + n * s.O);
    });
    beta = 1.f;
  }
  sgemm(false, true, s.N, s.O, s.I, 1.f, c.in[0]->data<float>(), s.I, c.in[1]->data<float>(), s.I, beta, py, s.O, s.isa);
}

// c = op(a)·op(b)
void matmul_cpu(OpCtx& c, const Matmul& s) {
  sgemm(s.ta, s.tb, s.M, s.N, s.K, 1.f, c.in[0]->data<float>(), s.lda, c.in[1]->data<float>(), s.ldb, 0.f,
        c.out[0]->data<float>(), s.N, s.isa);
}

}  // namespace

MDMT_REGISTER_SPEC_OP("linear", CPU, (with_isa<LinearSpec, linear_spec>), linear_cpu);
MDMT_REGISTER_SPEC_OP("matmul", CPU, (with_isa<MatmulSpec, matmul_spec>), matmul_cpu);

}  // namespace mdmt
