// CPU memory ops fill / copy / cast (docs/ops.md "memory").
#include <algorithm>
#include <cstring>

#include "../core/registry.h"
#include "parallel.h"

namespace mdmt {
namespace {

constexpr int64_t kGrain = 1 << 14;

void fill_cpu(OpCtx& c) {
  c.expect_counts(0, 1);
  Tensor& y = *c.out[0];
  double v = c.attrs.f(c.op, "value");
  int64_t n = y.numel();
  switch (y.dtype) {
    case DType::F32: { float* p = y.data<float>(); float f = static_cast<float>(v); parallel_for(0, n, kGrain, [&](int64_t lo, int64_t hi) { std::fill(p + lo, p + hi, f); }); break; }
    case DType::I32: { int32_t* p = y.data<int32_t>(); int32_t f = static_cast<int32_t>(v); std::fill(p, p + n, f); break; }
    case DType::U8: { uint8_t* p = y.data<uint8_t>(); std::fill(p, p + n, static_cast<uint8_t>(v)); break; }
    default: MDMT_FAIL(code::kDType, c.op, "fill on cpu supports float32, int32, uint8; got " << dtype_name(y.dtype));
  }
}

void copy_cpu(OpCtx& c) {
  c.expect_counts(1, 1);
  const Tensor& x = *c.in[0];
  Tensor& y = *c.out[0];
  if (x.dtype != y.dtype) MDMT_FAIL(code::kDType, c.op, "x is " << dtype_name(x.dtype) << " but y is " << dtype_name(y.dtype) << " (use cast)");
  if (x.numel() != y.numel()) MDMT_FAIL(code::kShape, c.op, "x " << x.shape_str() << " and y " << y.shape_str() << " differ in size");
  std::memcpy(y.raw(), x.raw(), x.nbytes());
}

template <class S, class D>
void convert(const Tensor& x, Tensor& y) {
  const S* s = x.data<S>();
  D* d = y.data<D>();
  int64_t n = x.numel();
  parallel_for(0, n, kGrain, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) d[i] = static_cast<D>(s[i]);
  });
}

void cast_cpu(OpCtx& c) {
  c.expect_counts(1, 1);
  const Tensor& x = *c.in[0];
  Tensor& y = *c.out[0];
  if (x.shape != y.shape) MDMT_FAIL(code::kShape, c.op, "x " << x.shape_str() << " and y " << y.shape_str() << " differ");
  auto k = [](DType a, DType b) { return static_cast<int>(a) * 8 + static_cast<int>(b); };
  switch (k(x.dtype, y.dtype)) {
    case 0 * 8 + 1: convert<float, int32_t>(x, y); break;
    case 0 * 8 + 2: convert<float, uint8_t>(x, y); break;
    case 1 * 8 + 0: convert<int32_t, float>(x, y); break;
    case 1 * 8 + 2: convert<int32_t, uint8_t>(x, y); break;
    case 2 * 8 + 0: convert<uint8_t, float>(x, y); break;
    case 2 * 8 + 1: convert<uint8_t, int32_t>(x, y); break;
    default:
      if (x.dtype == y.dtype) { std::memcpy(y.raw(), x.raw(), x.nbytes()); break; }
      MDMT_FAIL(code::kDType, c.op, "cast " << dtype_name(x.dtype) << " -> " << dtype_name(y.dtype) << " is not supported on cpu");
  }
}

}  // namespace

MDMT_REGISTER_OP("fill", CPU, fill_cpu);
MDMT_REGISTER_OP("copy", CPU, copy_cpu);
MDMT_REGISTER_OP("cast", CPU, cast_cpu);

}  // namespace mdmt
