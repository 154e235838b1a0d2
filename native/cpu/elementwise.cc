// CPU elementwise ops: add/sub/mul with NumPy broadcasting, affine and expand (docs/ops.md;
// contract in native/ops/elementwise.h).
#include <algorithm>

#include "../ops/elementwise.h"
#include "broadcast.h"
#include "parallel.h"

namespace mdmt {
namespace {

constexpr int64_t kGrain = 1 << 14;

template <class F>
void binary(OpCtx& c, const BinarySpec& s, F f) {
  const float* pa = c.in[0]->data<float>();
  const float* pb = c.in[1]->data<float>();
  float* py = c.out[0]->data<float>();
  if (s.same) {  // fast path: same shape
    parallel_for(0, s.n, kGrain, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) py[i] = f(pa[i], pb[i]);
    });
    return;
  }
  const Shape st[2] = {s.sa, s.sb};
  parallel_for(0, s.n, kGrain, [&](int64_t lo, int64_t hi) {
    for_each_run<2>(s.out, st, lo, hi, [&](int64_t o, const int64_t* off, int64_t n, const int64_t* inner) {
      const float* x0 = pa + off[0];
      const float* x1 = pb + off[1];
      float* out = py + o;
      if (inner[0] == 1 && inner[1] == 1) for (int64_t i = 0; i < n; ++i) out[i] = f(x0[i], x1[i]);
      else if (inner[0] == 1 && inner[1] == 0) { float v = *x1; for (int64_t i = 0; i < n; ++i) out[i] = f(x0[i], v); }
      else if (inner[0] == 0 && inner[1] == 1) { float v = *x0; for (int64_t i = 0; i < n; ++i) out[i] = f(v, x1[i]); }
      else for (int64_t i = 0; i < n; ++i) out[i] = f(x0[i * inner[0]], x1[i * inner[1]]);
    });
  });
}

void add_cpu(OpCtx& c, const BinarySpec& s) { binary(c, s, [](float x, float y) { return x + y; }); }
void sub_cpu(OpCtx& c, const BinarySpec& s) { binary(c, s, [](float x, float y) { return x - y; }); }
void mul_cpu(OpCtx& c, const BinarySpec& s) { binary(c, s, [](float x, float y) { return x * y; }); }

void affine_cpu(OpCtx& c, const AffineSpec& s) {
  const float* px = c.in[0]->data<float>();
  float* py = c.out[0]->data<float>();
  parallel_for(0, s.n, kGrain, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) py[i] = s.alpha * px[i] + s.beta;
  });
}

void expand_cpu(OpCtx& c, const ExpandSpec& s) {
  const Shape st[1] = {s.sx};
  const float* px = c.in[0]->data<float>();
  float* py = c.out[0]->data<float>();
  parallel_for(0, s.n, kGrain, [&](int64_t lo, int64_t hi) {
    for_each_run<1>(s.out, st, lo, hi, [&](int64_t o, const int64_t* off, int64_t n, const int64_t* inner) {
      const float* src = px + off[0];
      if (inner[0] == 0) std::fill(py + o, py + o + n, *src);
      else for (int64_t i = 0; i < n; ++i) py[o + i] = src[i * inner[0]];
    });
  });
}

}  // namespace

MDMT_REGISTER_SPEC_OP("add", CPU, binary_spec, add_cpu);
MDMT_REGISTER_SPEC_OP("sub", CPU, binary_spec, sub_cpu);
MDMT_REGISTER_SPEC_OP("mul", CPU, binary_spec, mul_cpu);
MDMT_REGISTER_SPEC_OP("affine", CPU, affine_spec, affine_cpu);
MDMT_REGISTER_SPEC_OP("expand", CPU, expand_spec, expand_cpu);

}  // namespace mdmt
