// CPU dense ops on the GEMM (docs/ops.md): linear y = x wᵀ + b, matmul c = op(a)·op(b).
// Both accept the attribute isa = auto|generic|avx2|avx512 to force a GEMM micro-kernel
// (tests use it to exercise every path on one machine).
#include <algorithm>

#include "../core/registry.h"
#include "gemm.h"
#include "parallel.h"

namespace mdmt {

namespace {

void require_contiguous(const OpCtx& c, const Tensor& t, const char* name) {
  if (!t.contiguous()) MDMT_FAIL(code::kInvalid, c.op, "'" << name << "' must be contiguous");
}

// x[N,I], w[O,I], b[O]? -> y[N,O]
void linear_cpu(OpCtx& c) {
  c.expect_counts(2, 3, 1, 1);
  const Tensor& x = c.input(0, "x", DType::F32, 2);
  const Tensor& w = c.input(1, "w", DType::F32, 2);
  const int64_t N = x.dim(0), I = x.dim(1), O = w.dim(0);
  if (w.dim(1) != I)
    MDMT_FAIL(code::kShape, c.op, "x " << x.shape_str() << " has " << I << " features but w " << w.shape_str() << " expects " << w.dim(1));
  const Tensor* b = c.in.size() == 3 ? &c.input(2, "b", DType::F32, 1) : nullptr;
  if (b && b->dim(0) != O) MDMT_FAIL(code::kShape, c.op, "b " << b->shape_str() << " must have " << O << " elements (w " << w.shape_str() << ")");
  Tensor& y = c.output(0, "y", DType::F32, {N, O});
  require_contiguous(c, x, "x");
  require_contiguous(c, w, "w");
  const GemmIsa isa = parse_gemm_isa(c.op, c.attrs.s(c.op, "isa", "auto"));
  float* py = y.data<float>();
  float beta = 0.f;
  if (b) {  // y starts as the bias broadcast over rows, then the GEMM accumulates into it
    const float* pb = b->data<float>();
    parallel_for(0, N, std::max<int64_t>(1, 16384 / std::max<int64_t>(O, 1)), [&](int64_t lo, int64_t hi) {
      for (int64_t n = lo; n < hi; ++n) std::copy(pb, pb + O, py + n * O);
    });
    beta = 1.f;
  }
  sgemm(false, true, N, O, I, 1.f, x.data<float>(), I, w.data<float>(), I, beta, py, O, isa);
}

// a (2-D), b (2-D) -> c = op(a)·op(b); transA / transB attributes
void matmul_cpu(OpCtx& c) {
  c.expect_counts(2, 1);
  const Tensor& a = c.input(0, "a", DType::F32, 2);
  const Tensor& b = c.input(1, "b", DType::F32, 2);
  const bool ta = c.attrs.b(c.op, "transA", false), tb = c.attrs.b(c.op, "transB", false);
  const int64_t M = ta ? a.dim(1) : a.dim(0), K = ta ? a.dim(0) : a.dim(1);
  const int64_t Kb = tb ? b.dim(1) : b.dim(0), N = tb ? b.dim(0) : b.dim(1);
  if (K != Kb)
    MDMT_FAIL(code::kShape, c.op, "inner dimensions differ: op(a) is " << M << "x" << K << " (a " << a.shape_str()
                                     << (ta ? ", transA" : "") << "), op(b) is " << Kb << "x" << N << " (b " << b.shape_str()
                                     << (tb ? ", transB" : "") << ")");
  Tensor& y = c.output(0, "c", DType::F32, {M, N});
  require_contiguous(c, a, "a");
  require_contiguous(c, b, "b");
  const GemmIsa isa = parse_gemm_isa(c.op, c.attrs.s(c.op, "isa", "auto"));
  sgemm(ta, tb, M, N, K, 1.f, a.data<float>(), a.dim(1), b.data<float>(), b.dim(1), 0.f, y.data<float>(), N, isa);
}

}  // namespace

MDMT_REGISTER_OP("linear", CPU, linear_cpu);
MDMT_REGISTER_OP("matmul", CPU, matmul_cpu);

}  // namespace mdmt
