#include "optim.h"

#include <cmath>

namespace mdmt {
namespace {

// Checks that out[k] is a float32 tensor of g's shape; names it e.g. "m3".
void state(const OpCtx& c, size_t k, const char* kind, size_t i, const Tensor& g) {
  std::string name = std::string(kind) + std::to_string(i + 1);
  const Tensor& t = *c.out[k];
  if (t.dtype != DType::F32) MDMT_FAIL(code::kDType, c.op, "output '" << name << "' must be float32, got " << dtype_name(t.dtype));
  if (t.shape != g.shape)
    MDMT_FAIL(code::kShape, c.op, "output '" << name << "' has shape " << t.shape_str() << " but its gradient 'g" << i + 1
                                             << "' has " << g.shape_str());
}

const Tensor& grad(const OpCtx& c, size_t i) {
  const Tensor& g = *c.in[i];
  if (g.dtype != DType::F32) MDMT_FAIL(code::kDType, c.op, "input 'g" << i + 1 << "' must be float32, got " << dtype_name(g.dtype));
  return g;
}

double ranged(const OpCtx& c, const char* k, double lo, double hi, bool lo_open = false) {
  double v = c.attrs.f(c.op, k);
  if (!std::isfinite(v) || (lo_open ? !(v > lo) : !(v >= lo)) || !(v <= hi))
    MDMT_FAIL(code::kInvalid, c.op, "attribute '" << k << "' must be in " << (lo_open ? "(" : "[") << lo << ", " << hi
                                                  << "], got " << v);
  return v;
}

size_t gradients(const OpCtx& c) {
  if (c.in.empty()) MDMT_FAIL(code::kInvalid, c.op, "expects at least one gradient input");
  return c.in.size();
}

}  // namespace

AdamSpec adam_spec(const OpCtx& c) {
  const size_t n = gradients(c);
  if (c.out.size() != 3 * n)
    MDMT_FAIL(code::kInvalid, c.op, "expects 3 outputs per gradient (p, m, v): " << n << " gradients need " << 3 * n
                                                                                 << " outputs, got " << c.out.size());
  const double inf = INFINITY;
  const double lr = ranged(c, "lr", 0, inf);
  const double b1 = ranged(c, "beta1", 0, 1), b2 = ranged(c, "beta2", 0, 1);
  if (b1 >= 1 || b2 >= 1)
    MDMT_FAIL(code::kInvalid, c.op, "attributes 'beta1' and 'beta2' must be < 1, got " << b1 << ", " << b2);
  const float eps = static_cast<float>(ranged(c, "eps", 0, inf));
  const double wd = ranged(c, "weight_decay", 0, inf);
  const bool decoupled = c.attrs.b(c.op, "decoupled", false);
  const double bc1 = ranged(c, "bias_correction1", 0, 1, true);
  const double bc2 = ranged(c, "bias_correction2", 0, 1, true);
  for (size_t i = 0; i < n; ++i) {  // validate everything before updating anything
    const Tensor& g = grad(c, i);
    state(c, i, "p", i, g);
    state(c, n + i, "m", i, g);
    state(c, 2 * n + i, "v", i, g);
  }
  return {n, static_cast<float>(lr / bc1), static_cast<float>(b2), static_cast<float>(1.0 - b1),
          static_cast<float>(1.0 - b2), eps, static_cast<float>(wd), static_cast<float>(std::sqrt(bc2)),
          static_cast<float>(1.0 - lr * wd), decoupled};
}

SgdSpec sgd_spec(const OpCtx& c) {
  const size_t n = gradients(c);
  const double inf = INFINITY;
  SgdSpec s{};
  s.n = n;
  s.lr = static_cast<float>(ranged(c, "lr", 0, inf));
  s.momentum = static_cast<float>(ranged(c, "momentum", 0, inf));
  const double damp_d = c.attrs.has("dampening") ? ranged(c, "dampening", 0, 1) : 0.0;
  const float damp = static_cast<float>(damp_d);
  s.omd = static_cast<float>(1.0 - damp_d);
  s.wd = static_cast<float>(c.attrs.has("weight_decay") ? ranged(c, "weight_decay", 0, inf) : 0.0);
  s.nesterov = c.attrs.b(c.op, "nesterov", false);
  s.first_step = c.attrs.b(c.op, "first_step", false);
  if (s.nesterov && (s.momentum <= 0.f || damp != 0.f))
    MDMT_FAIL(code::kInvalid, c.op, "nesterov needs momentum > 0 and dampening = 0 (got momentum " << s.momentum
                                                                                                << ", dampening " << damp << ")");
  s.has_buf = s.momentum != 0.f;
  if (c.out.size() != (s.has_buf ? 2 * n : n))
    MDMT_FAIL(code::kInvalid, c.op, "expects " << (s.has_buf ? "2 outputs per gradient (p, buf)" : "1 output per gradient (p) when momentum = 0")
                                               << ": " << n << " gradients need " << (s.has_buf ? 2 * n : n)
                                               << " outputs, got " << c.out.size());
  for (size_t i = 0; i < n; ++i) {
    const Tensor& g = grad(c, i);
    state(c, i, "p", i, g);
    if (s.has_buf) state(c, n + i, "buf", i, g);
  }
  return s;
}

}  // namespace mdmt
