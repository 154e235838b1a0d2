// add / sub / mul (NumPy broadcasting), affine and expand on CUDA (docs/ops.md). Shape
// rules and messages are the CPU's (native/cpu/broadcast.h), so both backends reject the
// same inputs the same way.
#include "../cpu/broadcast.h"
#include "common.h"

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
void binary(OpCtx& c) {
  c.expect_counts(2, 1);
  const Tensor& a = c.input(0, "a", DType::F32);
  const Tensor& b = c.input(1, "b", DType::F32);
  Shape shape = broadcast_shape(c.op, a.shape, b.shape);
  Tensor& y = c.output(0, "y", DType::F32, shape);
  DeviceCtx& d = ctx_of(c);
  int64_t n = y.numel(), N, C, HW;
  if (a.shape == b.shape) {
    cudaCheck(c.op, k::binary_flat(fp(y), cfp(a), cfp(b), n, B, d.stream));
  } else if (a.shape == shape && channel_form(shape, b.shape, &N, &C, &HW)) {
    cudaCheck(c.op, k::channel_binary(fp(y), cfp(a), cfp(b), N, C, HW, B, d.stream));
  } else {
    k::Dims dims = make_dims(shape, broadcast_strides(c.op, a.shape, shape), broadcast_strides(c.op, b.shape, shape));
    cudaCheck(c.op, k::binary(fp(y), cfp(a), cfp(b), dims, n, B, d.stream));
  }
}

void affine(OpCtx& c) {
  c.expect_counts(1, 1);
  const Tensor& x = c.input(0, "x", DType::F32);
  Tensor& y = c.output(0, "y", DType::F32, x.shape);
  const float alpha = static_cast<float>(c.attrs.f(c.op, "alpha", 1.0));
  const float beta = static_cast<float>(c.attrs.f(c.op, "beta", 0.0));
  DeviceCtx& d = ctx_of(c);
  cudaCheck(c.op, k::affine(fp(y), cfp(x), alpha, beta, x.numel(), d.stream));
}

void expand(OpCtx& c) {
  c.expect_counts(1, 1);
  const Tensor& x = c.input(0, "x", DType::F32);
  Tensor& y = *c.out[0];
  if (y.dtype != DType::F32) MDMT_FAIL(code::kDType, c.op, "output 'y' must be float32");
  if (y.ndim() > kMaxBroadcastDims) MDMT_FAIL(code::kShape, c.op, "at most " << kMaxBroadcastDims << " dims");
  Shape st = broadcast_strides(c.op, x.shape, y.shape);
  DeviceCtx& d = ctx_of(c);
  if (x.numel() == y.numel()) {
    if (x.nbytes()) cudaCheck(c.op, cudaMemcpyAsync(y.raw(), x.raw(), x.nbytes(), cudaMemcpyDeviceToDevice, d.stream));
    return;
  }
  cudaCheck(c.op, k::gather(fp(y), cfp(x), make_dims(y.shape, st, {}), y.numel(), d.stream));
}

}  // namespace

MDMT_REGISTER_OP("add", CUDA, binary<k::Bin::Add>);
MDMT_REGISTER_OP("sub", CUDA, binary<k::Bin::Sub>);
MDMT_REGISTER_OP("mul", CUDA, binary<k::Bin::Mul>);
MDMT_REGISTER_OP("affine", CUDA, affine);
MDMT_REGISTER_OP("expand", CUDA, expand);

}  // namespace cuda
}  // namespace mdmt
