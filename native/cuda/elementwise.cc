// add / sub / mul (NumPy broadcasting), affine and expand on CUDA (docs/ops.md; contract in
// native/ops/elementwise.h, so both backends reject the same inputs the same way).
#include "../ops/elementwise.h"
#include "common.h"
#include "lowp.h"

namespace mdmt {
namespace cuda {
namespace {

// Collapses the output dims into Dims for the general kernel.
k::Dims make_dims(const Shape& out, const Shape& sa, const Shape& sb) {
  k::Dims d{};
  d.nd = static_cast<int>(out.size());
  for (int i = 0; i < d.nd; ++i) {
    d.size[i] = out[i];
    d.stride_a[i] = sa[i];
    d.stride_b[i] = sb.empty() ? 0 : sb[i];
  }
  return d;
}

// b broadcast as a per-channel vector of a [N, C, ...]: shape [C,1,..] or [1,C,1,..].
bool channel_form(const Shape& a, const Shape& b, int64_t* N, int64_t* C, int64_t* HW) {
  if (a.size() < 2 || b.size() > a.size()) return false;
  size_t off = a.size() - b.size();
  int ch = -1;
  for (size_t i = 0; i < b.size(); ++i) {
    if (b[i] == 1) continue;
    if (ch >= 0 || b[i] != a[i + off]) return false;
    ch = static_cast<int>(i + off);
  }
  if (ch < 0) return false;
  *N = 1;
  *HW = 1;
  for (int i = 0; i < ch; ++i) *N *= a[i];
  *C = a[ch];
  for (size_t i = ch + 1; i < a.size(); ++i) *HW *= a[i];
  return true;
}

template <k::Bin B>
void binary(OpCtx& c, const BinarySpec& s) {
  const float* a = cfp(*c.in[0]);
  const float* b = cfp(*c.in[1]);
  float* y = fp(*c.out[0]);
  DeviceCtx& d = ctx_of(c);
  int64_t N, C, HW;
  if (s.same) {
    cudaCheck(c.op, k::binary_flat(y, a, b, s.n, B, d.stream));
  } else if (s.a == s.out && channel_form(s.out, s.b, &N, &C, &HW)) {
    cudaCheck(c.op, k::channel_binary(y, a, b, N, C, HW, B, d.stream));
  } else {
    cudaCheck(c.op, k::binary(y, a, b, make_dims(s.out, s.sa, s.sb), s.n, B, d.stream));
  }
}

void affine(OpCtx& c, const AffineSpec& s) {
  DeviceCtx& d = ctx_of(c);
  cudaCheck(c.op, k::affine(fp(*c.out[0]), cfp(*c.in[0]), s.alpha, s.beta, s.n, d.stream));
}

void expand(OpCtx& c, const ExpandSpec& s) {
  const Tensor& x = *c.in[0];
  Tensor& y = *c.out[0];
  DeviceCtx& d = ctx_of(c);
  if (s.same) {
    if (x.nbytes()) cudaCheck(c.op, cudaMemcpyAsync(y.raw(), x.raw(), x.nbytes(), cudaMemcpyDeviceToDevice, d.stream));
    return;
  }
  cudaCheck(c.op, k::gather(fp(y), cfp(x), make_dims(s.out, s.sx, {}), s.n, d.stream));
}

}  // namespace

MDMT_REGISTER_LOWP_OP("add", binary_spec, binary<k::Bin::Add>, binary_lowp_of<k::Bin::Add>);
MDMT_REGISTER_LOWP_OP("sub", binary_spec, binary<k::Bin::Sub>, binary_lowp_of<k::Bin::Sub>);
MDMT_REGISTER_LOWP_OP("mul", binary_spec, binary<k::Bin::Mul>, binary_lowp_of<k::Bin::Mul>);
MDMT_REGISTER_LOWP_OP("affine", affine_spec, affine, affine_lowp);
MDMT_REGISTER_LOWP_OP("expand", expand_spec, expand, expand_lowp);

}  // namespace cuda
}  // namespace mdmt
