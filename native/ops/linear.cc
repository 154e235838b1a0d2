#include "linear.h"

namespace mdmt {

LinearSpec linear_spec(const OpCtx& c) {
  c.expect_counts(2, 3, 1, 1);
  const Tensor& x = c.input(0, "x", DType::F32, 2);
  const Tensor& w = c.input(1, "w", DType::F32, 2);
  LinearSpec s{x.dim(0), x.dim(1), w.dim(0), c.in.size() == 3};
  if (w.dim(1) != s.I)
    MDMT_FAIL(code::kShape, c.op, "x " << x.shape_str() << " has " << s.I << " features but w " << w.shape_str()
                                       << " expects " << w.dim(1));
  if (s.bias) {
    const Tensor& b = c.input(2, "b", DType::F32, 1);
    if (b.dim(0) != s.O)
      MDMT_FAIL(code::kShape, c.op, "b " << b.shape_str() << " must have " << s.O << " elements (w " << w.shape_str() << ")");
  }
  c.output(0, "y", DType::F32, {s.N, s.O});
  require_contiguous(c, x, "x");
  require_contiguous(c, w, "w");
  return s;
}

MatmulSpec matmul_spec(const OpCtx& c) {
  c.expect_counts(2, 1);
  const Tensor& a = c.input(0, "a", DType::F32, 2);
  const Tensor& b = c.input(1, "b", DType::F32, 2);
  MatmulSpec s{};
  s.ta = c.attrs.b(c.op, "transA", false), s.tb = c.attrs.b(c.op, "transB", false);
  s.M = s.ta ? a.dim(1) : a.dim(0), s.K = s.ta ? a.dim(0) : a.dim(1);
  const int64_t Kb = s.tb ? b.dim(1) : b.dim(0);
  s.N = s.tb ? b.dim(0) : b.dim(1);
  if (s.K != Kb)
    MDMT_FAIL(code::kShape, c.op, "inner dimensions differ: op(a) is " << s.M << "x" << s.K << " (a " << a.shape_str()
                                     << (s.ta ? ", transA" : "") << "), op(b) is " << Kb << "x" << s.N << " (b "
                                     << b.shape_str() << (s.tb ? ", transB" : "") << ")");
  c.output(0, "c", DType::F32, {s.M, s.N});
  require_contiguous(c, a, "a");
  require_contiguous(c, b, "b");
  s.lda = a.dim(1), s.ldb = b.dim(1);
  return s;
}

}  // namespace mdmt
