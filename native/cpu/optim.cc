// CPU optimisers (docs/ops.md "optim"; the update rules, the operand order and the
// contract in native/ops/optim.h): every parameter in one call, PyTorch's update rules in
// float32 in PyTorch's order of operations; Adam in chunks of all tensors in one parallel
// region, SGD parallel over each tensor's elements.
#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "../ops/optim.h"
#include "cpu_features.h"
#include "parallel.h"

namespace mdmt {
namespace {

constexpr int64_t kGrain = 1 << 14;
#define MDMT_SI_ADAM inline __attribute__((always_inline))

// The update of elements [0, n) of one tensor. Per ISA (one source, compiled for the
// baseline, AVX2 and AVX-512 and chosen at run time like the GEMM's kernels): the baseline
// build is SSE2, where this loop's sqrt and division bound it at ~8 GB/s a core (resnet18's
// 11.2 M parameters, 2 threads: 20.5 ms a step, 12 % of its training step); restrict
// pointers and the weight-decay branch taken out of the loop let it vectorise. IEEE sqrt
// and division round the same in every width, so the ISAs differ at most where the
// compiler contracts a multiply-add.
struct AdamConsts {
  float b2, omb1, omb2, eps, wd, decay, step_size, bc2_sqrt;
};
template <int WD>  // 0 none, 1 L2 (g += wd·p), 2 decoupled (p *= decay)
MDMT_SI_ADAM void adam_body(const AdamConsts& k, int64_t n, const float* __restrict pg, float* __restrict pp, float* __restrict pm,
                            float* __restrict pv) {
  for (int64_t j = 0; j < n; ++j) {
    float g = pg[j];
    float p = pp[j];
    if (WD == 2) p *= k.decay;
    if (WD == 1) g += k.wd * p;
    const float m = pm[j] + k.omb1 * (g - pm[j]);  // m.lerp_(g, 1 − β1), as torch
    const float v = k.b2 * pv[j] + k.omb2 * g * g;
    const float denom = std::sqrt(v) / k.bc2_sqrt + k.eps;
    pp[j] = p - k.step_size * (m / denom);
    pm[j] = m;
    pv[j] = v;
  }
}
#define MDMT_ADAM_ISA(NAME, TARGET)                                                                              \
  TARGET void adam_##NAME(const AdamConsts& k, int wd, int64_t n, const float* pg, float* pp, float* pm, float* pv) { \
    if (wd == 2) adam_body<2>(k, n, pg, pp, pm, pv);                                                             \
    else if (wd == 1) adam_body<1>(k, n, pg, pp, pm, pv);                                                        \
    else adam_body<0>(k, n, pg, pp, pm, pv);                                                                     \
  }
MDMT_EACH_ISA(MDMT_ADAM_ISA)

void adam(OpCtx& c, const AdamSpec& s) {
  const size_t n = s.n;
  const AdamConsts k{s.beta2, s.omb1, s.omb2, s.eps, s.wd, s.decay, s.step_size, s.bc2_sqrt};
  const int wd = s.wd == 0.f ? 0 : s.decoupled ? 2 : 1;
  auto fn = adam_generic;
#if defined(__x86_64__) || defined(__i386__)
  if (cpu_has_avx512f()) fn = adam_avx512;
  else if (cpu_has_avx2_fma()) fn = adam_avx2;
#endif
  // Multi-tensor: every parameter cut into chunks of kGrain elements, all chunks in one
  // parallel region (a network's many small tensors no longer run one region each).
  thread_local std::vector<std::pair<int32_t, int64_t>> tl_chunks;  // (tensor, first element); grow-only
  auto& chunks = tl_chunks;  // the caller's: a thread_local named inside the workers would be theirs
  chunks.clear();
  for (size_t i = 0; i < n; ++i)
    for (int64_t st = 0; st < c.in[i]->numel(); st += kGrain) chunks.emplace_back(static_cast<int32_t>(i), st);
  parallel_for(0, static_cast<int64_t>(chunks.size()), 1, [&](int64_t c0, int64_t c1) {
    for (int64_t ci = c0; ci < c1; ++ci) {
      const size_t i = static_cast<size_t>(chunks[ci].first);
      const int64_t lo = chunks[ci].second, len = std::min(kGrain, c.in[i]->numel() - lo);
      fn(k, wd, len, c.in[i]->data<float>() + lo, c.out[i]->data<float>() + lo, c.out[n + i]->data<float>() + lo,
         c.out[2 * n + i]->data<float>() + lo);
    }
  });
}

void sgd(OpCtx& c, const SgdSpec& s) {
  const size_t n = s.n;
  const float lr = s.lr, mu = s.momentum, omd = s.omd, wd = s.wd;
  const bool nesterov = s.nesterov, first = s.first_step, has_buf = s.has_buf;
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

MDMT_REGISTER_SPEC_OP("adam", CPU, adam_spec, adam);
MDMT_REGISTER_SPEC_OP("sgd", CPU, sgd_spec, sgd);

}  // namespace mdmt
