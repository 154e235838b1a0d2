// bf16 / NHWC forms of CUDA ops (native/cuda/lowp.h says which and why; kernels in
// kernels/mixed.h). Validation mirrors the fp32 forms: same argument names, same codes.
#include "lowp.h"

#include <cmath>
#include <cstring>
#include <vector>

#include "../cpu/broadcast.h"
#include "mixed.h"

namespace mdmt {
namespace cuda {
namespace {

bool act_dtype(DType d) { return d == DType::F32 || d == DType::BF16; }
int dcode(DType d) { return d == DType::BF16 ? k::kBF16 : k::kF32; }

// An activation operand: fp32 or bf16, of dtype `dt` when given.
const Tensor& act_in(const OpCtx& c, size_t i, const char* name, DType dt) {
  if (i >= c.in.size()) MDMT_FAIL(code::kInvalid, c.op, "missing input '" << name << "'");
  const Tensor& t = *c.in[i];
  if (t.dtype != dt)
    MDMT_FAIL(code::kDType, c.op, "input '" << name << "' must be " << dtype_name(dt) << " like the step's other activations, got "
                                            << dtype_name(t.dtype));
  return t;
}
Tensor& act_out(const OpCtx& c, size_t i, const char* name, DType dt, const Shape& shape) { return c.output(i, name, dt, shape); }

// 4-D NCHW logical shape, or [N, C] (BatchNorm1d): rows M and channels C of its NHWC view.
void rows_channels(const OpCtx& c, const Tensor& x, bool nhwc, int64_t* M, int64_t* C) {
  if (x.ndim() == 4 && !nhwc)
    MDMT_FAIL(code::kInvalid, c.op, "a " << dtype_name(x.dtype) << " 4-D input needs layout 'nhwc' on cuda (the plan's layout pass gives it)");
  if (x.ndim() != 4 && x.ndim() != 2) MDMT_FAIL(code::kShape, c.op, "input 'x' must have 2 or 4 dims, got " << x.shape_str());
  *C = x.shape[1];
  *M = *C ? x.numel() / *C : 0;
  if (*C > 65535) MDMT_FAIL(code::kShape, c.op, "at most 65535 channels, got " << *C);
}

int act_attr(const OpCtx& c) {
  const std::string a = c.attrs.s(c.op, "act", "");
  if (a == "relu") return 1;
  if (a == "relu6") return 2;
  MDMT_FAIL(code::kInvalid, c.op, "attribute 'act' must be \"relu\" or \"relu6\", got \"" << a << "\"");
}

const float* vec_f32(const OpCtx& c, size_t i, const char* name, int64_t C) {
  const Tensor& t = c.input(i, name, DType::F32, 1);
  c.expect_shape(t, name, Shape{C});
  return cfp(t);
}
float* out_f32(const OpCtx& c, size_t i, const char* name, int64_t C) { return fp(c.output(i, name, DType::F32, Shape{C})); }

void bn_train(OpCtx& c, bool fused, bool nhwc) {
  c.expect_counts(3, fused ? 4 : 3, 5, 5);
  const Tensor& x = *c.in[0];
  int64_t M, C;
  rows_channels(c, x, nhwc, &M, &C);
  const float *w = vec_f32(c, 1, "weight", C), *b = vec_f32(c, 2, "bias", C);
  const Tensor* r = c.in.size() == 4 ? &act_in(c, 3, "residual", x.dtype) : nullptr;
  if (r) c.expect_shape(*r, "residual", x.shape);
  Tensor& y = act_out(c, 0, "y", x.dtype, x.shape);
  float *mean = out_f32(c, 1, "save_mean", C), *inv = out_f32(c, 2, "save_invstd", C);
  float *rm = out_f32(c, 3, "running_mean", C), *rv = out_f32(c, 4, "running_var", C);
  if (M < 1 && C > 0) MDMT_FAIL(code::kShape, c.op, "input 'x' " << x.shape_str() << " has no values per channel");
  const float eps = static_cast<float>(c.attrs.f(c.op, "eps", 1e-5)), mom = static_cast<float>(c.attrs.f(c.op, "momentum", 0.1));
  if (!(eps > 0) || !std::isfinite(eps)) MDMT_FAIL(code::kInvalid, c.op, "attribute 'eps' must be > 0, got " << eps);
  DeviceCtx& d = ctx_of(c);
  Scratch ws(c.device, k::batchnorm_nhwc_ws_bytes(M, C), c.op);
  cudaCheck(c.op, k::batchnorm_act_train_nhwc(y.raw(), mean, inv, rm, rv, x.raw(), w, b, r ? r->raw() : nullptr,
                                              fused ? act_attr(c) : 0, dcode(x.dtype), M, C, eps, mom, ws.get(), d.stream));
}

// plain: dy, x, weight, mean, invstd -> dx, dw, db; fused: dy, y, x, weight, mean, invstd -> dx, dw, db[, dz]
void bn_bwd(OpCtx& c, bool fused, bool nhwc) {
  c.expect_counts(fused ? 6 : 5, fused ? 6 : 5, 3, fused ? 4 : 3);
  const size_t xi = fused ? 2 : 1;
  const Tensor& x = *c.in[xi];
  const Tensor& dy = act_in(c, 0, "dy", x.dtype);
  c.expect_shape(dy, "dy", x.shape);
  const Tensor* y = fused ? &act_in(c, 1, "y", x.dtype) : nullptr;
  if (y) c.expect_shape(*y, "y", x.shape);
  int64_t M, C;
  rows_channels(c, x, nhwc, &M, &C);
  const float *w = vec_f32(c, xi + 1, "weight", C), *mean = vec_f32(c, xi + 2, "save_mean", C);
  const float* inv = vec_f32(c, xi + 3, "save_invstd", C);
  Tensor& dx = act_out(c, 0, "dx", x.dtype, x.shape);
  float *dw = out_f32(c, 1, "dweight", C), *db = out_f32(c, 2, "dbias", C);
  Tensor* dz = c.out.size() == 4 ? &act_out(c, 3, "dz", x.dtype, x.shape) : nullptr;
  if (M < 1 && C > 0) MDMT_FAIL(code::kShape, c.op, "input 'x' " << x.shape_str() << " has no values per channel");
  DeviceCtx& d = ctx_of(c);
  Scratch ws(c.device, k::batchnorm_nhwc_ws_bytes(M, C), c.op);
  cudaCheck(c.op, k::batchnorm_act_bwd_nhwc(dx.raw(), dw, db, dz ? dz->raw() : nullptr, dy.raw(), y ? y->raw() : nullptr,
                                            x.raw(), w, mean, inv, fused ? act_attr(c) : 0, dcode(x.dtype), M, C,
                                            ws.get(), d.stream));
}

void bn_eval(OpCtx& c, bool nhwc) {
  c.expect_counts(5, 1);
  const Tensor& x = *c.in[0];
  int64_t M, C;
  rows_channels(c, x, nhwc, &M, &C);
  const float *w = vec_f32(c, 1, "weight", C), *b = vec_f32(c, 2, "bias", C);
  const float *rm = vec_f32(c, 3, "running_mean", C), *rv = vec_f32(c, 4, "running_var", C);
  Tensor& y = act_out(c, 0, "y", x.dtype, x.shape);
  DeviceCtx& d = ctx_of(c);
  cudaCheck(c.op, k::batchnorm_eval_nhwc(y.raw(), x.raw(), w, b, rm, rv, dcode(x.dtype), M, C,
                                         static_cast<float>(c.attrs.f(c.op, "eps", 1e-5)), d.stream));
}

}  // namespace

Shape stored_strides(const OpCtx& c, const Tensor& t, const Shape& out, bool nhwc) {
  Shape st = broadcast_strides(c.op, t.shape, out);
  if (!nhwc || t.ndim() != 4) return st;
  const int64_t C = t.shape[1], H = t.shape[2], W = t.shape[3];
  const int64_t packed[4] = {H * W * C, 1, W * C, C};
  for (int i = 0; i < 4; ++i) st[i] = st[i] == 0 ? 0 : packed[i];
  return st;
}

namespace {

// Dims walking `out` (logical shape) in stored order — (N, H, W, C) for a 4-D NHWC output,
// so it is written contiguously — reading a (and b) through their stored strides.
k::Dims walk(const OpCtx& c, const Shape& out, const Tensor& a, const Tensor* b, bool nhwc) {
  const bool phys = nhwc && out.size() == 4;
  const Shape sa = stored_strides(c, a, out, phys), sb = b ? stored_strides(c, *b, out, phys) : Shape(out.size(), 0);
  k::Dims dims{};
  dims.nd = static_cast<int>(out.size());
  const int perm4[4] = {0, 2, 3, 1};
  for (int i = 0; i < dims.nd; ++i) {
    const int l = phys ? perm4[i] : i;
    dims.size[i] = out[l];
    dims.stride_a[i] = sa[l];
    dims.stride_b[i] = sb[l];
  }
  return dims;
}

}  // namespace

bool maybe_lowp(const OpCtx& c) {
  if (c.attrs.has("layout")) return nhwc_layout(c);
  for (const Tensor* t : c.in)
    if (t->dtype == DType::BF16) return true;
  for (const Tensor* t : c.out)
    if (t->dtype == DType::BF16) return true;
  return false;
}

Fp32View::Fp32View(const OpCtx& c) {
  auto copy = [](const std::vector<Tensor*>& from, std::vector<Tensor>& to, std::vector<Tensor*>& ptrs) {
    to.reserve(from.size());
    for (const Tensor* t : from) {
      to.push_back(*t);
      if (to.back().dtype == DType::BF16) to.back().dtype = DType::F32;
    }
    for (Tensor& t : to) ptrs.push_back(&t);
  };
  ctx.op = c.op;
  ctx.attrs = c.attrs;
  ctx.device = c.device;
  copy(c.in, in, ctx.in);
  copy(c.out, out, ctx.out);
}

bool expand_lowp(OpCtx& c) {
  const bool nhwc = nhwc_layout(c);
  if (c.in.size() != 1 || c.out.size() != 1) return false;
  const Tensor& x = *c.in[0];
  if (x.dtype != DType::BF16 && !nhwc) return false;
  if (!act_dtype(x.dtype)) MDMT_FAIL(code::kDType, c.op, "input 'x' must be float32 or bfloat16, got " << dtype_name(x.dtype));
  Tensor& y = *c.out[0];
  if (y.dtype != x.dtype) MDMT_FAIL(code::kDType, c.op, "output 'y' must be " << dtype_name(x.dtype) << ", got " << dtype_name(y.dtype));
  if (y.ndim() > kMaxBroadcastDims) MDMT_FAIL(code::kShape, c.op, "at most " << kMaxBroadcastDims << " dims");
  const k::Dims d = walk(c, y.shape, x, nullptr, nhwc);
  DeviceCtx& dc = ctx_of(c);
  if (x.dtype == DType::BF16) cudaCheck(c.op, k::gather_2b(y.raw(), x.raw(), d, y.numel(), dc.stream));
  else cudaCheck(c.op, k::gather(fp(y), cfp(x), d, y.numel(), dc.stream));
  return true;
}

bool nhwc_layout(const OpCtx& c) {
  const std::string l = c.attrs.s(c.op, "layout", "nchw");
  if (l == "nchw") return false;
  if (l == "nhwc") return true;
  MDMT_FAIL(code::kInvalid, c.op, "attribute 'layout' must be \"nchw\" or \"nhwc\", got \"" << l << "\"");
}

bool batchnorm_lowp(OpCtx& c) {
  const bool nhwc = nhwc_layout(c);
  const bool bwd = c.op == "batchnorm_bwd" || c.op == "batchnorm_act_bwd";
  const size_t xi = c.op == "batchnorm_act_bwd" ? 2 : bwd ? 1 : 0;
  if (c.in.size() <= xi) return false;  // the fp32 form reports the missing input
  const DType dt = c.in[xi]->dtype;
  if (!nhwc && dt == DType::F32) return false;
  if (!act_dtype(dt)) MDMT_FAIL(code::kDType, c.op, "input 'x' must be float32 or bfloat16, got " << dtype_name(dt));
  const bool fused = c.op.rfind("batchnorm_act", 0) == 0;
  if (c.op == "batchnorm_eval") bn_eval(c, nhwc);
  else if (bwd) bn_bwd(c, fused, nhwc);
  else bn_train(c, fused, nhwc);
  return true;
}

bool activation_lowp(OpCtx& c, k::Act a, bool backward) {
  if (c.in.empty() || c.in[0]->dtype != DType::BF16) return false;
  DeviceCtx& d = ctx_of(c);
  if (!backward) {
    c.expect_counts(1, 1);
    const Tensor& x = *c.in[0];
    Tensor& y = act_out(c, 0, "y", DType::BF16, x.shape);
    cudaCheck(c.op, k::act_fwd_bf16(y.raw(), x.raw(), x.numel(), a, d.stream));
    return true;
  }
  c.expect_counts(2, 1);
  const char* tname = (a == k::Act::Relu || a == k::Act::Sigmoid) ? "y" : "x";
  const Tensor& dy = *c.in[0];
  const Tensor& t = act_in(c, 1, tname, DType::BF16);
  c.expect_shape(t, tname, dy.shape);
  Tensor& dx = act_out(c, 0, "dx", DType::BF16, dy.shape);
  cudaCheck(c.op, k::act_bwd_bf16(dx.raw(), dy.raw(), t.raw(), dy.numel(), a, d.stream));
  return true;
}

bool binary_lowp(OpCtx& c, k::Bin op) {
  const bool nhwc = nhwc_layout(c);
  if (c.in.size() != 2 || c.out.size() != 1) return false;
  const Tensor& a = *c.in[0];
  const bool low = a.dtype == DType::BF16 || c.in[1]->dtype == DType::BF16;
  if (!low && (!nhwc || a.shape == c.in[1]->shape)) return false;  // the fp32 NCHW forms serve
  if (!act_dtype(a.dtype)) MDMT_FAIL(code::kDType, c.op, "input 'a' must be float32 or bfloat16, got " << dtype_name(a.dtype));
  const Tensor& b = act_in(c, 1, "b", a.dtype);
  const Shape shape = broadcast_shape(c.op, a.shape, b.shape);
  Tensor& y = act_out(c, 0, "y", a.dtype, shape);
  DeviceCtx& d = ctx_of(c);
  const int64_t n = y.numel();
  if (a.shape == b.shape) {  // elementwise: the layout does not matter
    cudaCheck(c.op, k::binary_flat_bf16(y.raw(), a.raw(), b.raw(), n, op, d.stream));
    return true;
  }
  const k::Dims dims = walk(c, shape, a, &b, nhwc);
  if (a.dtype == DType::BF16) cudaCheck(c.op, k::binary_bf16(y.raw(), a.raw(), b.raw(), dims, n, op, d.stream));
  else cudaCheck(c.op, k::binary(fp(y), cfp(a), cfp(b), dims, n, op, d.stream));
  return true;
}

bool affine_lowp(OpCtx& c) {
  if (c.in.empty() || c.in[0]->dtype != DType::BF16) return false;
  c.expect_counts(1, 1);
  const Tensor& x = *c.in[0];
  Tensor& y = act_out(c, 0, "y", DType::BF16, x.shape);
  const float alpha = static_cast<float>(c.attrs.f(c.op, "alpha", 1.0)), beta = static_cast<float>(c.attrs.f(c.op, "beta", 0.0));
  cudaCheck(c.op, k::affine_bf16(y.raw(), x.raw(), alpha, beta, x.numel(), ctx_of(c).stream));
  return true;
}

bool global_avgpool_lowp(OpCtx& c, bool backward) {
  const bool nhwc = nhwc_layout(c);
  if (c.in.size() != 1 || c.out.size() != 1) return false;
  const DType dt = c.in[0]->dtype;
  if (!nhwc && dt == DType::F32) return false;
  if (!act_dtype(dt)) MDMT_FAIL(code::kDType, c.op, "input must be float32 or bfloat16, got " << dtype_name(dt));
  if (!nhwc) MDMT_FAIL(code::kInvalid, c.op, "a bfloat16 map needs layout 'nhwc' on cuda (the plan's layout pass gives it)");
  const Tensor& big = backward ? *c.out[0] : *c.in[0];  // the [N, C, H, W] side
  if (big.ndim() != 4) MDMT_FAIL(code::kShape, c.op, "'" << (backward ? "dx" : "x") << "' must have 4 dims, got " << big.shape_str());
  const int64_t N = big.shape[0], C = big.shape[1], HW = big.shape[2] * big.shape[3];
  if (HW == 0 && N * C > 0) MDMT_FAIL(code::kShape, c.op, "'" << (backward ? "dx" : "x") << "' " << big.shape_str() << " has empty planes");
  const Shape small{N, C, 1, 1};
  DeviceCtx& d = ctx_of(c);
  if (!backward) {
    Tensor& y = act_out(c, 0, "y", dt, small);
    cudaCheck(c.op, k::global_avgpool_nhwc(y.raw(), big.raw(), dcode(dt), N, HW, C, d.stream));
  } else {
    if (big.dtype != dt) MDMT_FAIL(code::kDType, c.op, "output 'dx' must be " << dtype_name(dt) << ", got " << dtype_name(big.dtype));
    c.expect_shape(*c.in[0], "dy", small);
    cudaCheck(c.op, k::global_avgpool_bwd_nhwc(big.raw(), c.in[0]->raw(), dcode(dt), N, HW, C, d.stream));
  }
  return true;
}

// concat / split of NHWC tensors: the same strided block copies over the stored dims
// (N, H, W, C), with the logical axis mapped to its stored position (C: last).
static void nhwc_parts(OpCtx& c, bool concat) {
  Tensor& whole = concat ? *c.out[0] : *c.in[0];
  std::vector<Tensor*>& parts = concat ? c.in : c.out;
  if (whole.ndim() != 4) MDMT_FAIL(code::kShape, c.op, "layout 'nhwc' needs 4-D tensors, got " << whole.shape_str());
  int64_t axis = c.attrs.i(c.op, "axis", 1);
  if (axis < -4 || axis >= 4) MDMT_FAIL(code::kInvalid, c.op, "axis " << axis << " out of range for 4 dims");
  if (axis < 0) axis += 4;
  const int stored[4] = {0, 3, 1, 2};  // logical dim -> position in (N, H, W, C)
  auto phys = [](const Shape& s) { return Shape{s[0], s[2], s[3], s[1]}; };
  const Shape W = phys(whole.shape);
  const int pa = stored[axis];
  int64_t total = 0;
  for (size_t i = 0; i < parts.size(); ++i) {
    const Tensor& t = *parts[i];
    bool ok = t.ndim() == 4 && t.dtype == whole.dtype;
    for (int dd = 0; ok && dd < 4; ++dd) ok = dd == axis || t.shape[dd] == whole.shape[dd];
    if (!ok) MDMT_FAIL(code::kShape, c.op, "part " << i << " " << dtype_name(t.dtype) << " " << t.shape_str() << " does not match "
                                                << dtype_name(whole.dtype) << " " << whole.shape_str() << " outside axis " << axis);
    total += t.shape[axis];
  }
  if (total != whole.shape[axis])
    MDMT_FAIL(code::kShape, c.op, "sizes along axis " << axis << " add up to " << total << " but " << whole.shape_str() << " has " << whole.shape[axis]);
  const int64_t es = static_cast<int64_t>(dtype_size(whole.dtype));
  int64_t outer = 1, inner = 1;
  for (int dd = 0; dd < pa; ++dd) outer *= W[dd];
  for (int dd = pa + 1; dd < 4; ++dd) inner *= W[dd];
  const int64_t row = W[pa] * inner * es;  // bytes of one outer slice of the whole
  DeviceCtx& d = ctx_of(c);
  int64_t start = 0;
  for (Tensor* t : parts) {
    const int64_t n = t->shape[axis] * inner * es;
    char* w = static_cast<char*>(whole.raw()) + start;
    char* p = static_cast<char*>(t->raw());
    if (n > 0 && outer > 0) {
      if (concat) cudaCheck(c.op, k::copy2d_bytes(w, row, p, n, outer, n, d.stream));
      else cudaCheck(c.op, k::copy2d_bytes(p, n, w, row, outer, n, d.stream));
    }
    start += n;
  }
}

bool layout_lowp(OpCtx& c) {
  const bool nhwc = nhwc_layout(c);
  if (c.op == "concat" || c.op == "split") {
    if (!nhwc) return false;  // the NCHW form copies any dtype
    nhwc_parts(c, c.op == "concat");
    return true;
  }
  // channel_shuffle
  if (c.in.size() != 1 || c.out.size() != 1) return false;
  const Tensor& x = *c.in[0];
  if (!nhwc && x.dtype != DType::BF16) return false;
  c.expect_counts(1, 1);
  if (x.ndim() != 4) MDMT_FAIL(code::kShape, c.op, "input 'x' must have 4 dims [N, C, H, W], got " << x.shape_str());
  Tensor& y = c.output(0, "y", x.dtype, x.shape);
  const int64_t g = c.attrs.i(c.op, "groups"), N = x.shape[0], C = x.shape[1], HW = x.shape[2] * x.shape[3];
  if (g < 1 || C % g != 0) MDMT_FAIL(code::kInvalid, c.op, "groups must be a positive divisor of C = " << C << ", got " << g);
  // NHWC: N·H·W images of one pixel each
  const int64_t images = nhwc ? N * HW : N, pixels = nhwc ? 1 : HW;
  DeviceCtx& d = ctx_of(c);
  if (dtype_size(x.dtype) == 2) cudaCheck(c.op, k::channel_shuffle_2b(y.raw(), x.raw(), images, C, pixels, g, d.stream));
  else if (dtype_size(x.dtype) == 4) cudaCheck(c.op, k::channel_shuffle(fp(y), cfp(x), images, C, pixels, g, d.stream));
  else MDMT_FAIL(code::kDType, c.op, "input 'x' must have 2- or 4-byte elements, got " << dtype_name(x.dtype));
  return true;
}

}  // namespace cuda
}  // namespace mdmt
