// CPU activations and their backward ops (docs/ops.md "activations"; contract in
// native/ops/activations.h): one functor each; the exp-based ones (silu, sigmoid) through
// vmath.h's per-ISA polynomial, since a scalar libm exp made SiLU 7x slower than ReLU.
#include "../ops/activations.h"
#include "parallel.h"
#include "vmath.h"

namespace mdmt {
namespace {

constexpr int64_t kGrain = 1 << 14;

// y = f over chunks of x: f(x, y, m) is an array kernel
template <class F>
void unary_array(OpCtx& c, int64_t n, F f) {
  const float* px = c.in[0]->data<float>();
  float* py = c.out[0]->data<float>();
  parallel_for(0, n, kGrain, [&](int64_t lo, int64_t hi) { f(px + lo, py + lo, hi - lo); });
}
// y = f(x) elementwise
template <class F>
void unary(OpCtx& c, int64_t n, F f) {
  unary_array(c, n, [&](const float* x, float* y, int64_t m) {
    for (int64_t i = 0; i < m; ++i) y[i] = f(x[i]);
  });
}

// dx = g(dy, t) over chunks, t is x or y as the op's contract says; g(dy, t, dx, m)
template <class G>
void backward_array(OpCtx& c, int64_t n, G g) {
  const float* pd = c.in[0]->data<float>();
  const float* pt = c.in[1]->data<float>();
  float* po = c.out[0]->data<float>();
  parallel_for(0, n, kGrain, [&](int64_t lo, int64_t hi) { g(pd + lo, pt + lo, po + lo, hi - lo); });
}
// dx = g(dy, t) elementwise
template <class G>
void backward(OpCtx& c, int64_t n, G g) {
  backward_array(c, n, [&](const float* d, const float* t, float* o, int64_t m) {
    for (int64_t i = 0; i < m; ++i) o[i] = g(d[i], t[i]);
  });
}

// NaN propagates as in IEEE and PyTorch: every comparison is written so that NaN takes the
// identity branch (relu(NaN) = NaN; a backward passes dy where x or y is NaN, as
// threshold_backward / hardtanh_backward / hardswish_backward do).
using Spec = ActivationSpec;
void relu(OpCtx& c, const Spec& s) { unary(c, s.n, [](float x) { return x < 0.f ? 0.f : x; }); }
void relu_bwd(OpCtx& c, const Spec& s) { backward(c, s.n, [](float d, float y) { return y <= 0.f ? 0.f : d; }); }
void relu6(OpCtx& c, const Spec& s) { unary(c, s.n, [](float x) { return x < 0.f ? 0.f : (x > 6.f ? 6.f : x); }); }
void relu6_bwd(OpCtx& c, const Spec& s) { backward(c, s.n, [](float d, float x) { return x <= 0.f || x >= 6.f ? 0.f : d; }); }
void silu(OpCtx& c, const Spec& s) { unary_array(c, s.n, vmath::silu); }
void silu_bwd(OpCtx& c, const Spec& s) { backward_array(c, s.n, vmath::silu_bwd); }
void sigmoid(OpCtx& c, const Spec& s) { unary_array(c, s.n, vmath::sigmoid); }
void sigmoid_bwd(OpCtx& c, const Spec& s) { backward(c, s.n, [](float d, float y) { return d * y * (1.f - y); }); }
void hardswish(OpCtx& c, const Spec& s) {
  unary(c, s.n, [](float x) { float r = x + 3.f; r = r < 0.f ? 0.f : (r > 6.f ? 6.f : r); return x * r / 6.f; });
}
void hardswish_bwd(OpCtx& c, const Spec& s) {
  backward(c, s.n, [](float d, float x) { return x < -3.f ? 0.f : (x <= 3.f ? d * (2.f * x + 3.f) / 6.f : d); });
}

}  // namespace

MDMT_REGISTER_SPEC_OP("relu", CPU, activation_spec, relu);
MDMT_REGISTER_SPEC_OP("relu_bwd", CPU, activation_bwd_spec, relu_bwd);
MDMT_REGISTER_SPEC_OP("relu6", CPU, activation_spec, relu6);
MDMT_REGISTER_SPEC_OP("relu6_bwd", CPU, activation_bwd_spec, relu6_bwd);
MDMT_REGISTER_SPEC_OP("silu", CPU, activation_spec, silu);
MDMT_REGISTER_SPEC_OP("silu_bwd", CPU, activation_bwd_spec, silu_bwd);
MDMT_REGISTER_SPEC_OP("sigmoid", CPU, activation_spec, sigmoid);
MDMT_REGISTER_SPEC_OP("sigmoid_bwd", CPU, activation_bwd_spec, sigmoid_bwd);
MDMT_REGISTER_SPEC_OP("hardswish", CPU, activation_spec, hardswish);
MDMT_REGISTER_SPEC_OP("hardswish_bwd", CPU, activation_bwd_spec, hardswish_bwd);

}  // namespace mdmt
