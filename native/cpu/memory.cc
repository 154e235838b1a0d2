// CPU memory ops fill / copy / cast (docs/ops.md "memory"; contract in native/ops/memory.h).
// The CPU stores float32, int32 and uint8 only: fill and cast check that here.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "../ops/memory.h"
#include "parallel.h"

namespace mdmt {
namespace {

constexpr int64_t kGrain = 1 << 14;

FillSpec fill_prepare(const OpCtx& c) {
  FillSpec s = fill_spec(c);
  if (s.dtype != DType::F32 && s.dtype != DType::I32 && s.dtype != DType::U8)
    MDMT_FAIL(code::kDType, c.op, "fill on cpu supports float32, int32, uint8; got " << dtype_name(s.dtype));
  return s;
}

void fill_cpu(OpCtx& c, const FillSpec& s) {
  Tensor& y = *c.out[0];
  switch (s.dtype) {
    case DType::F32: {
      float* p = y.data<float>();
      const float f = static_cast<float>(s.value);
      parallel_for(0, s.n, kGrain, [&](int64_t lo, int64_t hi) { std::fill(p + lo, p + hi, f); });
      break;
    }
    case DType::I32: std::fill(y.data<int32_t>(), y.data<int32_t>() + s.n, static_cast<int32_t>(s.value)); break;
    default: std::fill(y.data<uint8_t>(), y.data<uint8_t>() + s.n, static_cast<uint8_t>(s.value)); break;
  }
}

void copy_cpu(OpCtx& c, const CopySpec& s) { std::memcpy(c.out[0]->raw(), c.in[0]->raw(), s.bytes); }

// The conversions the CPU runs: float32, int32, uint8 to each other (and to themselves).
int cast_key(DType a, DType b) { return static_cast<int>(a) * 8 + static_cast<int>(b); }

CastSpec cast_prepare(const OpCtx& c) {
  CastSpec s = cast_spec(c);
  auto stored = [](DType d) { return d == DType::F32 || d == DType::I32 || d == DType::U8; };
  if (s.from != s.to && !(stored(s.from) && stored(s.to)))
    MDMT_FAIL(code::kDType, c.op, "cast " << dtype_name(s.from) << " -> " << dtype_name(s.to) << " is not supported on cpu");
  return s;
}

// float → int32 as CUDA's cvt.rzi converts (kernels/memory.cu): toward zero, saturated at the
// int32 range, NaN → 0. A plain static_cast is undefined out of range (x86 gives INT32_MIN for
// NaN and 3e10 alike), and float → uint8 would be undefined from 256 on.
inline int32_t float_to_int32(float v) {
  if (!(v == v)) return 0;
  if (v >= 2147483648.0f) return INT32_MAX;
  if (v <= -2147483648.0f) return INT32_MIN;
  return static_cast<int32_t>(v);
}

template <class S, class D>
D convert_one(S v) {
  if constexpr (std::is_same_v<S, float> && std::is_same_v<D, int32_t>) return float_to_int32(v);
  // the int32 value's low 8 bits (300 → 44, −1 → 255), as CUDA's and PyTorch's narrowing
  else if constexpr (std::is_same_v<S, float> && std::is_same_v<D, uint8_t>) return static_cast<uint8_t>(float_to_int32(v));
  else return static_cast<D>(v);
}

template <class S, class D>
void convert(const Tensor& x, Tensor& y, int64_t n) {
  const S* s = x.data<S>();
  D* d = y.data<D>();
  parallel_for(0, n, kGrain, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) d[i] = convert_one<S, D>(s[i]);
  });
}

void cast_cpu(OpCtx& c, const CastSpec& s) {
  const Tensor& x = *c.in[0];
  Tensor& y = *c.out[0];
  switch (cast_key(s.from, s.to)) {
    case 0 * 8 + 1: convert<float, int32_t>(x, y, s.n); break;
    case 0 * 8 + 2: convert<float, uint8_t>(x, y, s.n); break;
    case 1 * 8 + 0: convert<int32_t, float>(x, y, s.n); break;
    case 1 * 8 + 2: convert<int32_t, uint8_t>(x, y, s.n); break;
    case 2 * 8 + 0: convert<uint8_t, float>(x, y, s.n); break;
    case 2 * 8 + 1: convert<uint8_t, int32_t>(x, y, s.n); break;
    default: std::memcpy(y.raw(), x.raw(), s.bytes); break;  // same dtype (cast_prepare)
  }
}

}  // namespace

MDMT_REGISTER_SPEC_OP("fill", CPU, fill_prepare, fill_cpu);
MDMT_REGISTER_SPEC_OP("copy", CPU, copy_spec, copy_cpu);
MDMT_REGISTER_SPEC_OP("cast", CPU, cast_prepare, cast_cpu);

}  // namespace mdmt
