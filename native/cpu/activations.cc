// CPU activations and their backward ops (docs/ops.md "activations"): one functor each.
#include <cmath>

#include "../core/registry.h"
#include "parallel.h"

namespace mdmt {
namespace {

constexpr int64_t kGrain = 1 << 14;

template <class F>
void unary(OpCtx& c, F f) {
  c.expect_counts(1, 1);
  const Tensor& x = c.input(0, "x", DType::F32);
  Tensor& y = c.output(0, "y", DType::F32, x.shape);
  const float* px = x.data<float>();
  float* py = y.data<float>();
  parallel_for(0, x.numel(), kGrain, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) py[i] = f(px[i]);
  });
}

// dx = g(dy, t) where t is x or y as the op's contract says
template <class G>
void backward(OpCtx& c, const char* tname, G g) {
  c.expect_counts(2, 1);
  const Tensor& dy = c.input(0, "dy", DType::F32);
  const Tensor& t = c.input(1, tname, DType::F32);
  c.expect_shape(t, tname, dy.shape);
  Tensor& dx = c.output(0, "dx", DType::F32, dy.shape);
  const float* pd = dy.data<float>();
  const float* pt = t.data<float>();
  float* po = dx.data<float>();
  parallel_for(0, dy.numel(), kGrain, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) po[i] = g(pd[i], pt[i]);
  });
}

inline float sigm(float x) { return 1.0f / (1.0f + std::exp(-x)); }

// NaN propagates as in IEEE and PyTorch: every comparison is written so that NaN takes the
// identity branch (relu(NaN) = NaN; a backward passes dy where x or y is NaN, as
// threshold_backward / hardtanh_backward / hardswish_backward do).
void relu(OpCtx& c) { unary(c, [](float x) { return x < 0.f ? 0.f : x; }); }
void relu_bwd(OpCtx& c) { backward(c, "y", [](float d, float y) { return y <= 0.f ? 0.f : d; }); }
void relu6(OpCtx& c) { unary(c, [](float x) { return x < 0.f ? 0.f : (x > 6.f ? 6.f : x); }); }
void relu6_bwd(OpCtx& c) { backward(c, "x", [](float d, float x) { return x <= 0.f || x >= 6.f ? 0.f : d; }); }
void silu(OpCtx& c) { unary(c, [](float x) { return x * sigm(x); }); }
void silu_bwd(OpCtx& c) {
  backward(c, "x", [](float d, float x) { float s = sigm(x); return d * s * (1.f + x * (1.f - s)); });
}
void sigmoid(OpCtx& c) { unary(c, [](float x) { return sigm(x); }); }
void sigmoid_bwd(OpCtx& c) { backward(c, "y", [](float d, float y) { return d * y * (1.f - y); }); }
void hardswish(OpCtx& c) {
  unary(c, [](float x) { float r = x + 3.f; r = r < 0.f ? 0.f : (r > 6.f ? 6.f : r); return x * r / 6.f; });
}
void hardswish_bwd(OpCtx& c) {
  backward(c, "x", [](float d, float x) { return x < -3.f ? 0.f : (x <= 3.f ? d * (2.f * x + 3.f) / 6.f : d); });
}

}  // namespace

MDMT_REGISTER_OP("relu", CPU, relu);
MDMT_REGISTER_OP("relu_bwd", CPU, relu_bwd);
MDMT_REGISTER_OP("relu6", CPU, relu6);
MDMT_REGISTER_OP("relu6_bwd", CPU, relu6_bwd);
MDMT_REGISTER_OP("silu", CPU, silu);
MDMT_REGISTER_OP("silu_bwd", CPU, silu_bwd);
MDMT_REGISTER_OP("sigmoid", CPU, sigmoid);
MDMT_REGISTER_OP("sigmoid_bwd", CPU, sigmoid_bwd);
MDMT_REGISTER_OP("hardswish", CPU, hardswish);
MDMT_REGISTER_OP("hardswish_bwd", CPU, hardswish_bwd);

}  // namespace mdmt
