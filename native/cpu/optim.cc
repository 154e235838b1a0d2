// CPU optimisers (docs/ops.md "optimisers"): every parameter in one call, PyTorch's
// update rules in float32 in PyTorch's order of operations. Bias corrections are computed
// by the caller (TS keeps the step count) and passed as attributes.
//   adam: inputs g1..gn; outputs p1..pn, m1..mn, v1..vn (all in/out)
//   sgd:  inputs g1..gn; outputs p1..pn, buf1..bufn (in/out; omitted when momentum = 0)
#include <cmath>
#include <string>

#include "../core/registry.h"
#include "parallel.h"

namespace mdmt {
namespace {

constexpr int64_t kGrain = 1 << 14;

// Checks that out[k] is a float32 tensor of g's shape; names it e.g. "m3".
Tensor& state(const OpCtx& c, size_t k, const char* kind, size_t i, const Tensor& g) {
  std::string name = std::string(kind) + std::to_string(i + 1);
  Tensor& t = *c.out[k];
  if (t.dtype != DType::F32)
    MDMT_FAIL(code::kDType, c.op, "output '" << name << "' must be float32, got " << dtype_name(t.dtype));
  if (t.shape != g.shape)
    MDMT_FAIL(code::kShape, c.op, "output '" << name << "' has shape " << t.shape_str() << " but its gradient 'g" << i + 1 << "' has " << g.shape_str());
  return t;
}

const Tensor& grad(const OpCtx& c, size_t i) {
  const Tensor& g = *c.in[i];
  if (g.dtype != DType::F32)
    MDMT_FAIL(code::kDType, c.op, "input 'g" << i + 1 << "' must be float32, got " << dtype_name(g.dtype));
  return g;
}

double ranged(const OpCtx& c, const char* k, double lo, double hi, bool lo_open = false) {
  double v = c.attrs.f(c.op, k);
  if (!std::isfinite(v) || (lo_open ? !(v > lo) : !(v >= lo)) || !(v <= hi))
    MDMT_FAIL(code::kInvalid, c.op, "attribute '" << k << "' must be in " << (lo_open ? "(" : "[") << lo << ", " << hi << "], got " << v);
  return v;
}

void adam(OpCtx& c) {
  const size_t n = c.in.size();
  if (n < 1) MDMT_FAIL(code::kInvalid, c.op, "expects at least one gradient input");
  if (c.out.size() != 3 * n)
    MDMT_FAIL(code::kInvalid, c.op, "expects 3 outputs per gradient (p, m, v): " << n << " gradients need " << 3 * n << " outputs, got " << c.out.size());
  const double inf = INFINITY;
  const double lr_d = ranged(c, "lr", 0, inf);
  const double b1_d = ranged(c, "beta1", 0, 1), b2_d = ranged(c, "beta2", 0, 1);
  if (b1_d >= 1 || b2_d >= 1) MDMT_FAIL(code::kInvalid, c.op, "attributes 'beta1' and 'beta2' must be < 1, got " << b1_d << ", " << b2_d);
  // PyTorch forms 1 − β in double and rounds once (1 − float(0.999) would be off by 1e-5)
  const float b2 = static_cast<float>(b2_d);
  const float omb1 = static_cast<float>(1.0 - b1_d), omb2 = static_cast<float>(1.0 - b2_d);
  const float eps = static_cast<float>(ranged(c, "eps", 0, inf));
  const double wd_d = ranged(c, "weight_decay", 0, inf);
  const float wd = static_cast<float>(wd_d);
  const bool decoupled = c.attrs.b(c.op, "decoupled", false);
  const double bc1 = ranged(c, "bias_correction1", 0, 1, true);
  const double bc2 = ranged(c, "bias_correction2", 0, 1, true);
  // PyTorch computes these scalars in double: step_size = lr / bc1; denom = sqrt(v) / sqrt(bc2) + eps
  const float step_size = static_cast<float>(lr_d / bc1);
  const float bc2_sqrt = static_cast<float>(std::sqrt(bc2));
  const float decay = static_cast<float>(1.0 - lr_d * wd_d);  // AdamW: p *= 1 − lr·wd
  for (size_t i = 0; i < n; ++i) {  // validate everything before updating anything
    const Tensor& g = grad(c, i);
    state(c, i, "p", i, g);
    state(c, n + i, "m", i, g);
    state(c, 2 * n + i, "v", i, g);
  }
  for (size_t i = 0; i < n; ++i) {
    const float* pg = c.in[i]->data<float>();
    float* pp = c.out[i]->data<float>();
    float* pm = c.out[n + i]->data<float>();
    float* pv = c.out[2 * n + i]->data<float>();
    parallel_for(0, c.in[i]->numel(), kGrain, [&](int64_t lo, int64_t hi) {
      for (int64_t j = lo; j < hi; ++j) {
        float g = pg[j];
        float p = pp[j];
        if (wd != 0.f) {
          if (decoupled) p *= decay;
          else g += wd * p;
        }
        float m = pm[j] + omb1 * (g - pm[j]);  // m.lerp_(g, 1 − β1), as torch
        float v = b2 * pv[j] + omb2 * g * g;
        float denom = std::sqrt(v) / bc2_sqrt + eps;
        pp[j] = p - step_size * (m / denom);
        pm[j] = m;
        pv[j] = v;
      }
    });
  }
}

void sgd(OpCtx& c) {
  const size_t n = c.in.size();
  if (n < 1) MDMT_FAIL(code::kInvalid, c.op, "expects at least one gradient input");
  const double inf = INFINITY;
  const float lr = static_cast<float>(ranged(c, "lr", 0, inf));
  const float mu = static_cast<float>(ranged(c, "momentum", 0, inf));
  const double damp_d = c.attrs.has("dampening") ? ranged(c, "dampening", 0, 1) : 0.0;
  const float damp = static_cast<float>(damp_d), omd = static_cast<float>(1.0 - damp_d);
  const float wd = static_cast<float>(c.attrs.has("weight_decay") ? ranged(c, "weight_decay", 0, inf) : 0.0);
  const bool nesterov = c.attrs.b(c.op, "nesterov", false);
  const bool first = c.attrs.b(c.op, "first_step", false);
  if (nesterov && (mu <= 0.f || damp != 0.f))
    MDMT_FAIL(code::kInvalid, c.op, "nesterov needs momentum > 0 and dampening = 0 (got momentum " << mu << ", dampening " << damp << ")");
  const bool has_buf = mu != 0.f;
  if (c.out.size() != (has_buf ? 2 * n : n))
    MDMT_FAIL(code::kInvalid, c.op, "expects " << (has_buf ? "2 outputs per gradient (p, buf)" : "1 output per gradient (p) when momentum = 0")
                                   << ": " << n << " gradients need " << (has_buf ? 2 * n : n) << " outputs, got " << c.out.size());
  for (size_t i = 0; i < n; ++i) {
    const Tensor& g = grad(c, i);
    state(c, i, "p", i, g);
    if (has_buf) state(c, n + i, "buf", i, g);
  }
  for (size_t i = 0; i < n; ++i) {
    const float* pg = c.in[i]->data<float>();
    float* pp = c.out[i]->data<float>();
    float* pb = has_buf ? c.out[n + i]->data<float>() : nullptr;
    parallel_for(0, c.in[i]->numel(), kGrain, [&](int64_t lo, int64_t hi) {
      for (int64_t j = lo; j < hi; ++j) {
        float d = pg[j];
        if (wd != 0.f) d += wd * pp[j];
        if (has_buf) {
          float b = first ? d : mu * pb[j] + omd * d;
          pb[j] = b;
          d = nesterov ? d + mu * b : b;
        }
        pp[j] -= lr * d;
      }
    });
  }
}

}  // namespace

MDMT_REGISTER_OP("adam", CPU, adam);
MDMT_REGISTER_OP("sgd", CPU, sgd);

}  // namespace mdmt
