#include "conv2d.h"

namespace mdmt {
namespace {

std::vector<int64_t> pair_attr(const OpCtx& c, const char* k, int64_t def, int64_t min) {
  std::vector<int64_t> v = c.attrs.ints(c.op, k, {def, def});
  if (v.size() == 1) v.push_back(v[0]);
  if (v.size() != 2 || v[0] < min || v[1] < min)
    MDMT_FAIL(code::kInvalid, c.op, "attribute '" << k << "' must be two integers >= " << min);
  return v;
}

// Reads the attributes and checks x [N,C,H,W], w [K,C/G,R,S] and y [N,K,P,Q] against each
// other (each op gets two of x, w, y as inputs and the third as its output).
Conv2dSpec geometry(const OpCtx& c, const Shape& x, const Shape& w, const Shape& y) {
  Conv2dSpec g{};
  auto st = pair_attr(c, "stride", 1, 1), pd = pair_attr(c, "padding", 0, 0), dl = pair_attr(c, "dilation", 1, 1);
  g.sh = st[0], g.sw = st[1], g.ph = pd[0], g.pw = pd[1], g.dh = dl[0], g.dw = dl[1];
  g.G = c.attrs.i(c.op, "groups", 1);
  if (g.G < 1) MDMT_FAIL(code::kInvalid, c.op, "attribute 'groups' must be >= 1, got " << g.G);
  g.N = x[0], g.C = x[1], g.H = x[2], g.W = x[3];
  g.K = w[0], g.R = w[2], g.S = w[3];
  if (g.C % g.G || g.K % g.G)
    MDMT_FAIL(code::kShape, c.op, "groups " << g.G << " must divide in-channels " << g.C << " and out-channels " << g.K);
  g.Cg = g.C / g.G, g.Kg = g.K / g.G;
  if (w[1] != g.Cg)
    MDMT_FAIL(code::kShape, c.op, "w " << shape_str(w) << " must have C/groups = " << g.Cg << " input channels (x "
                                       << shape_str(x) << ", groups " << g.G << ")");
  if (g.R < 1 || g.S < 1) MDMT_FAIL(code::kShape, c.op, "w " << shape_str(w) << " has an empty kernel");
  const int64_t eh = g.H + 2 * g.ph - g.dh * (g.R - 1) - 1, ew = g.W + 2 * g.pw - g.dw * (g.S - 1) - 1;
  if (eh < 0 || ew < 0)
    MDMT_FAIL(code::kShape, c.op, "kernel " << g.R << "x" << g.S << " (dilation " << g.dh << "," << g.dw
                                            << ") is larger than the padded input " << shape_str(x));
  g.P = eh / g.sh + 1, g.Q = ew / g.sw + 1;
  const Shape ye{g.N, g.K, g.P, g.Q};
  if (y != ye)
    MDMT_FAIL(code::kShape, c.op, "output/gradient " << shape_str(y) << " must have shape " << shape_str(ye) << " for x "
                                                     << shape_str(x) << " and w " << shape_str(w));
  return g;
}

void require4(const OpCtx& c, const Tensor& t, const char* name) {
  if (t.ndim() != 4) MDMT_FAIL(code::kShape, c.op, "'" << name << "' must have 4 dims, got " << t.shape_str());
  require_contiguous(c, t, name);
}

// Operands of the three ops: float32 and 4-D, named as in docs/ops.md.
const Tensor& in4(const OpCtx& c, size_t i, const char* name) {
  const Tensor& t = c.input(i, name, DType::F32);
  require4(c, t, name);
  return t;
}
const Tensor& out4(const OpCtx& c, const char* name) {
  const Tensor& t = *c.out[0];
  if (t.dtype != DType::F32) MDMT_FAIL(code::kDType, c.op, "output '" << name << "' must be float32");
  require4(c, t, name);
  return t;
}
void same_batch(const OpCtx& c, const Tensor& a, const char* an, const Tensor& b, const char* bn) {
  if (a.dim(0) != b.dim(0))
    MDMT_FAIL(code::kShape, c.op, an << " " << a.shape_str() << " and " << bn << " " << b.shape_str() << " differ in batch");
}

}  // namespace

Conv2dSpec conv2d_spec(const OpCtx& c) {
  c.expect_counts(2, 3, 1, 1);
  const Tensor& x = in4(c, 0, "x");
  const Tensor& w = in4(c, 1, "w");
  const Tensor& y = out4(c, "y");
  Conv2dSpec g = geometry(c, x.shape, w.shape, y.shape);
  g.bias = c.in.size() == 3;
  if (g.bias) {
    const Tensor& b = c.input(2, "b", DType::F32, 1);
    if (b.dim(0) != g.K) MDMT_FAIL(code::kShape, c.op, "b " << b.shape_str() << " must have " << g.K << " elements");
  }
  return g;
}

// The backward ops read dy and `b` and write `o`: dx from (dy, w), dw from (dy, x).
static Conv2dSpec backward_spec(const OpCtx& c, const char* bname, const char* oname, bool data) {
  c.expect_counts(2, 1);
  const Tensor& dy = in4(c, 0, "dy");
  const Tensor& b = in4(c, 1, bname);
  const Tensor& o = out4(c, oname);
  const Tensor& x = data ? o : b;
  const Tensor& w = data ? b : o;
  same_batch(c, x, data ? "dx" : "x", dy, "dy");
  return geometry(c, x.shape, w.shape, dy.shape);
}

Conv2dSpec conv2d_bwd_data_spec(const OpCtx& c) { return backward_spec(c, "w", "dx", true); }
Conv2dSpec conv2d_bwd_filter_spec(const OpCtx& c) { return backward_spec(c, "x", "dw", false); }

Conv2dActSpec conv2d_act_spec(const OpCtx& c) {
  c.expect_counts(2, 4, 1, 1);
  const int64_t m = c.attrs.i(c.op, "winograd", 0);
  if (m != 0 && m != 2 && m != 4) MDMT_FAIL(code::kInvalid, c.op, "attribute 'winograd' must be 0, 2 or 4, got " << m);
  const Tensor& x = in4(c, 0, "x");
  const Tensor& w = c.input(1, m ? "U" : "w", DType::F32, m ? 3 : 4);
  require_contiguous(c, w, m ? "U" : "w");
  const Tensor& y = out4(c, "y");
  if (m && w.dim(0) != (m + 2) * (m + 2))
    MDMT_FAIL(code::kShape, c.op, "U " << w.shape_str() << " must have " << (m + 2) * (m + 2) << " rows of K×C (winograd " << m << ")");
  Conv2dActSpec g;
  static_cast<Conv2dSpec&>(g) = geometry(c, x.shape, m ? Shape{w.dim(1), w.dim(2), 3, 3} : w.shape, y.shape);
  g.winograd = static_cast<int>(m);
  if (m && (g.sh != 1 || g.sw != 1 || g.dh != 1 || g.dw != 1 || g.G != 1))
    MDMT_FAIL(code::kInvalid, c.op, "pre-transformed weights (winograd " << m << ") need stride 1, dilation 1 and groups 1");
  g.bias = c.in.size() >= 3;
  if (g.bias) {
    const Tensor& b = c.input(2, "b", DType::F32, 1);
    if (b.dim(0) != g.K) MDMT_FAIL(code::kShape, c.op, "b " << b.shape_str() << " must have " << g.K << " elements");
  }
  g.residual = c.in.size() == 4;
  if (g.residual) {
    const Tensor& r = c.input(3, "residual", DType::F32);
    c.expect_shape(r, "residual", y.shape);
    require_contiguous(c, r, "residual");
  }
  g.act = parse_act(c.op, c.attrs.s(c.op, "act", "none"));
  return g;
}

WinogradWeightsSpec winograd_weights_spec(const OpCtx& c) {
  c.expect_counts(1, 1);
  const Tensor& w = in4(c, 0, "w");
  const int64_t m = c.attrs.i(c.op, "m");
  if (m != 2 && m != 4) MDMT_FAIL(code::kInvalid, c.op, "attribute 'm' must be 2 or 4, got " << m);
  if (w.dim(2) != 3 || w.dim(3) != 3) MDMT_FAIL(code::kShape, c.op, "w " << w.shape_str() << " must be a 3x3 kernel");
  c.output(0, "U", DType::F32, {(m + 2) * (m + 2), w.dim(0), w.dim(1)});
  return {w.dim(0), w.dim(1), static_cast<int>(m)};
}

}  // namespace mdmt
