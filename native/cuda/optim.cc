// adam / sgd on CUDA (docs/ops.md "optimisers"): every parameter in one launch. The host
// builds a table of tensors and a table of 8192-element chunks, copies both to the device
// in one transfer (workspace from the caching allocator) and launches one block per chunk.
// Validation and the scalar maths (in double, as PyTorch) mirror native/cpu/optim.cc.
#include <cmath>
#include <cstring>
#include <vector>

#include "common.h"

namespace mdmt {
namespace cuda {
namespace {

Tensor& state(const OpCtx& c, size_t k, const char* kind, size_t i, const Tensor& g) {
  std::string name = std::string(kind) + std::to_string(i + 1);
  Tensor& t = *c.out[k];
  if (t.dtype != DType::F32) MDMT_FAIL(code::kDType, c.op, "output '" << name << "' must be float32, got " << dtype_name(t.dtype));
  if (t.shape != g.shape)
    MDMT_FAIL(code::kShape, c.op, "output '" << name << "' has shape " << t.shape_str() << " but its gradient 'g" << i + 1
                                             << "' has " << g.shape_str());
  return t;
}

const Tensor& grad(const OpCtx& c, size_t i) {
  const Tensor& g = *c.in[i];
  if (g.dtype != DType::F32) MDMT_FAIL(code::kDType, c.op, "input 'g" << i + 1 << "' must be float32, got " << dtype_name(g.dtype));
  return g;
}

double ranged(const OpCtx& c, const char* key, double lo, double hi, bool lo_open = false) {
  double v = c.attrs.f(c.op, key);
  if (!std::isfinite(v) || (lo_open ? !(v > lo) : !(v >= lo)) || !(v <= hi))
    MDMT_FAIL(code::kInvalid, c.op, "attribute '" << key << "' must be in " << (lo_open ? "(" : "[") << lo << ", " << hi
                                                  << "], got " << v);
  return v;
}

// Uploads [tensors | chunks] and launches `launch(dev_tensors, dev_chunks, nchunks)`.
template <class T, class L>
void run_tables(OpCtx& c, const std::vector<T>& tensors, L launch) {
  std::vector<k::OptChunk> chunks;
  for (size_t i = 0; i < tensors.size(); ++i)
    for (int64_t s = 0; s < tensors[i].n; s += k::kOptChunk) chunks.push_back({static_cast<int32_t>(i), s});
  DeviceCtx& d = ctx_of(c);
  if (chunks.empty()) return;
  const size_t tb = (sizeof(T) * tensors.size() + 255) & ~size_t(255);
  const size_t cb = sizeof(k::OptChunk) * chunks.size();
  std::vector<char> host(tb + cb);
  std::memcpy(host.data(), tensors.data(), sizeof(T) * tensors.size());
  std::memcpy(host.data() + tb, chunks.data(), cb);
  Scratch table(c.device, host.size(), c.op);
  cudaCheck(c.op, cudaMemcpyAsync(table.get(), host.data(), host.size(), cudaMemcpyHostToDevice, d.stream));
  const T* dt = static_cast<const T*>(table.get());
  const k::OptChunk* dc = reinterpret_cast<const k::OptChunk*>(static_cast<char*>(table.get()) + tb);
  cudaCheck(c.op, launch(dt, dc, static_cast<int64_t>(chunks.size()), d.stream));
}

void adam(OpCtx& c) {
  const size_t n = c.in.size();
  if (n < 1) MDMT_FAIL(code::kInvalid, c.op, "expects at least one gradient input");
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
  std::vector<k::AdamTensor> ts;
  for (size_t i = 0; i < n; ++i) {  // validate everything before updating anything
    const Tensor& g = grad(c, i);
    Tensor& p = state(c, i, "p", i, g);
    Tensor& m = state(c, n + i, "m", i, g);
    Tensor& v = state(c, 2 * n + i, "v", i, g);
    ts.push_back({fp(p), cfp(g), fp(m), fp(v), g.numel()});
  }
  k::AdamHyper h{static_cast<float>(lr / bc1), static_cast<float>(b2), static_cast<float>(1.0 - b1),
                 static_cast<float>(1.0 - b2), eps, static_cast<float>(wd), static_cast<float>(std::sqrt(bc2)),
                 static_cast<float>(1.0 - lr * wd), decoupled};
  run_tables(c, ts, [&](const k::AdamTensor* t, const k::OptChunk* ch, int64_t nc, cudaStream_t s) {
    return k::adam(t, ch, nc, h, s);
  });
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
    MDMT_FAIL(code::kInvalid, c.op, "nesterov needs momentum > 0 and dampening = 0 (got momentum " << mu << ", dampening "
                                                                                                << damp << ")");
  const bool has_buf = mu != 0.f;
  if (c.out.size() != (has_buf ? 2 * n : n))
    MDMT_FAIL(code::kInvalid, c.op, "expects " << (has_buf ? "2 outputs per gradient (p, buf)" : "1 output per gradient (p) when momentum = 0")
                                               << ": " << n << " gradients need " << (has_buf ? 2 * n : n) << " outputs, got "
                                               << c.out.size());
  std::vector<k::SgdTensor> ts;
  for (size_t i = 0; i < n; ++i) {
    const Tensor& g = grad(c, i);
    Tensor& p = state(c, i, "p", i, g);
    float* buf = has_buf ? fp(state(c, n + i, "buf", i, g)) : nullptr;
    ts.push_back({fp(p), cfp(g), buf, g.numel()});
  }
  k::SgdHyper h{lr, mu, omd, wd, nesterov, first};
  run_tables(c, ts, [&](const k::SgdTensor* t, const k::OptChunk* ch, int64_t nc, cudaStream_t s) {
    return k::sgd(t, ch, nc, h, s);
  });
}

}  // namespace

MDMT_REGISTER_OP("adam", CUDA, adam);
MDMT_REGISTER_OP("sgd", CUDA, sgd);

}  // namespace cuda
}  // namespace mdmt
