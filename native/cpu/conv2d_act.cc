// conv2d_act (docs/ops.md): y = act(conv2d(x, w) + b + r), the convolution with its
// epilogue fused — folded BatchNorm (b), the residual add (optional r, shaped like y) and
// ReLU / ReLU6 / SiLU / sigmoid — so an inference plan writes each activation once
// instead of conv, add and activation passes over it.
//
// Algorithms (attribute algo, 'auto' by default; the others are for tests):
//   winograd4 / winograd2  3×3 stride 1 (winograd.h), epilogue in the output transform
//   gemm                   the conv2d kernel, then one epilogue pass per output row
// 'auto' takes Winograd F(4,3) for 3×3 stride-1 dense convs with enough tiles and
// channels to amortise the transforms, else gemm.
#include <algorithm>
#include <vector>

#include "../core/registry.h"
#include "gemm.h"
#include "parallel.h"
#include "vmath.h"
#include "winograd.h"

namespace mdmt {
namespace {

struct ConvAttrs {
  int64_t sh, sw, ph, pw, dh, dw, groups;
};

std::vector<int64_t> pair_of(const OpCtx& c, const char* k, int64_t def) {
  std::vector<int64_t> v = c.attrs.ints(c.op, k, {def, def});
  if (v.size() == 1) v.push_back(v[0]);
  if (v.size() != 2) MDMT_FAIL(code::kInvalid, c.op, "attribute '" << k << "' must have 2 values");
  return v;
}

ConvAttrs conv_attrs(const OpCtx& c) {
  const auto st = pair_of(c, "stride", 1), pd = pair_of(c, "padding", 0), dl = pair_of(c, "dilation", 1);
  return {st[0], st[1], pd[0], pd[1], dl[0], dl[1], c.attrs.i(c.op, "groups", 1)};
}

// Winograd F(m, 3) applies: 3×3, stride 1, dilation 1, one group.
bool winograd_fits(const ConvAttrs& a, const Shape& w) {
  return w[2] == 3 && w[3] == 3 && a.sh == 1 && a.sw == 1 && a.dh == 1 && a.dw == 1 && a.groups == 1;
}

// 'auto': F(4,3) when the GEMMs are big enough for the transforms (O(α²(C + K)) per tile)
// and the weight transform (O(α²·K·C) per call) to pay: ≥ 32 channels each way and at
// least as many tiles as output channels / 4.
bool winograd_pays(const winograd::Shape& s) {
  const int64_t tiles = s.N * ((s.P + 3) / 4) * ((s.Q + 3) / 4);
  return s.C >= 32 && s.K >= 32 && tiles >= 64 && 4 * tiles >= s.K;
}

thread_local std::vector<float> tl_u;  // transformed weights of the current call

void conv2d_act_cpu(OpCtx& c) {
  c.expect_counts(3, 4, 1, 1);
  const Tensor& x = c.input(0, "x", DType::F32, 4);
  const Tensor& w = c.input(1, "w", DType::F32, 4);
  const Tensor& b = c.input(2, "b", DType::F32, 1);
  Tensor& y = *c.out[0];
  if (y.dtype != DType::F32 || y.ndim() != 4) MDMT_FAIL(code::kShape, c.op, "output 'y' must be a 4-D float32 tensor, got " << y.shape_str());
  if (b.dim(0) != w.dim(0)) MDMT_FAIL(code::kShape, c.op, "b " << b.shape_str() << " must have " << w.dim(0) << " elements (w " << w.shape_str() << ")");
  const Tensor* r = c.in.size() == 4 ? &c.input(3, "r", DType::F32) : nullptr;
  if (r) c.expect_shape(*r, "r", y.shape);
  for (const Tensor* t : {&x, &w, &b, r, static_cast<const Tensor*>(&y)})
    if (t && !t->contiguous()) MDMT_FAIL(code::kInvalid, c.op, "operands must be contiguous");
  const Act act = parse_act(c.op, c.attrs.s(c.op, "act", "none"));
  const std::string algo = c.attrs.s(c.op, "algo", "auto");
  const GemmIsa isa = parse_gemm_isa(c.op, c.attrs.s(c.op, "isa", "auto"));
  const ConvAttrs a = conv_attrs(c);
  const winograd::Shape ws{x.dim(0), x.dim(1), x.dim(2), x.dim(3), w.dim(0), y.dim(2), y.dim(3), a.ph, a.pw};
  int m = 0;
  if (algo == "winograd4" || algo == "winograd2") {
    if (!winograd_fits(a, w.shape)) MDMT_FAIL(code::kInvalid, c.op, "algo '" << algo << "' needs a 3x3 kernel, stride 1, dilation 1 and groups 1");
    m = algo == "winograd4" ? 4 : 2;
  } else if (algo == "auto") {
    m = winograd_fits(a, w.shape) && winograd_pays(ws) ? 4 : 0;
  } else if (algo != "gemm") {
    MDMT_FAIL(code::kInvalid, c.op, "attribute 'algo' must be auto, gemm, winograd2 or winograd4, got '" << algo << "'");
  }
  // the conv2d kernel checks the geometry against x, w and y (and runs the gemm path)
  OpCtx conv{"conv2d", {c.in[0], c.in[1]}, {c.out[0]}, c.attrs, c.device};
  if (m) {
    const int64_t P = (x.dim(2) + 2 * a.ph - 3) + 1, Q = (x.dim(3) + 2 * a.pw - 3) + 1;
    const Shape ye{x.dim(0), w.dim(0), P, Q};
    if (y.shape != ye || w.dim(1) != x.dim(1))
      MDMT_FAIL(code::kShape, c.op, "x " << x.shape_str() << ", w " << w.shape_str() << " and y " << y.shape_str() << " do not match (y must be " << shape_str(ye) << ")");
    tl_u.resize(static_cast<size_t>(winograd::weights_floats(m, ws.K, ws.C)));
    winograd::transform_weights(m, ws.K, ws.C, w.data<float>(), tl_u.data());
    const int64_t tile_block = c.attrs.i(c.op, "tile_block", 0);
    if (tile_block < 0 || tile_block % 16) MDMT_FAIL(code::kInvalid, c.op, "attribute 'tile_block' must be a multiple of 16, got " << tile_block);
    winograd::forward(m, ws, x.data<float>(), tl_u.data(), b.data<float>(), r ? r->data<float>() : nullptr, act, y.data<float>(), isa, tile_block);
    return;
  }
  find_op("conv2d", DeviceType::CPU)(conv);
  const int64_t K = ws.K, PQ = ws.P * ws.Q;
  const float *pb = b.data<float>(), *pr = r ? r->data<float>() : nullptr;
  float* py = y.data<float>();
  parallel_for(0, ws.N * K, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, PQ)), [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      if (pr) vmath::bias_add_act(py + i * PQ, pr + i * PQ, PQ, pb[i % K], act);
      else vmath::bias_act(py + i * PQ, PQ, pb[i % K], act);
    }
  });
}

}  // namespace

MDMT_REGISTER_OP("conv2d_act", CPU, conv2d_act_cpu);

}  // namespace mdmt
