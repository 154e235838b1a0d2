// fill / copy / cast on CUDA (docs/ops.md "memory"; contract in native/ops/memory.h);
// bf16 and f16 are CUDA-only dtypes.
#include <cmath>
#include <cstring>

#include "../ops/memory.h"
#include "common.h"

namespace mdmt {
namespace cuda {
namespace {

uint16_t f32_to_bf16_bits(float f) {  // round to nearest even, NaN kept quiet
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if (std::isnan(f)) return 0x7fc0;
  u += 0x7fff + ((u >> 16) & 1);
  return static_cast<uint16_t>(u >> 16);
}

uint16_t f32_to_f16_bits(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000u;
  int32_t exp = static_cast<int32_t>((x >> 23) & 0xff) - 127 + 15;
  uint32_t mant = x & 0x7fffffu;
  if (((x >> 23) & 0xff) == 0xff) return static_cast<uint16_t>(sign | 0x7c00u | (mant ? 0x200u : 0));
  if (exp >= 31) return static_cast<uint16_t>(sign | 0x7c00u);
  if (exp <= 0) {
    if (exp < -10) return static_cast<uint16_t>(sign);
    mant |= 0x800000u;
    uint32_t shift = static_cast<uint32_t>(14 - exp);
    uint32_t half = mant >> shift;
    uint32_t rem = mant & ((1u << shift) - 1), mid = 1u << (shift - 1);
    if (rem > mid || (rem == mid && (half & 1))) ++half;
    return static_cast<uint16_t>(sign | half);
  }
  uint32_t h = sign | (static_cast<uint32_t>(exp) << 10) | (mant >> 13);
  uint32_t rem = mant & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1))) ++h;
  return static_cast<uint16_t>(h);
}

void fill_cuda(OpCtx& c, const FillSpec& s) {
  Tensor& y = *c.out[0];
  uint32_t bits = 0;
  switch (s.dtype) {
    case DType::F32: { float f = static_cast<float>(s.value); std::memcpy(&bits, &f, 4); break; }
    case DType::I32: { int32_t i = static_cast<int32_t>(s.value); std::memcpy(&bits, &i, 4); break; }
    case DType::U8: bits = static_cast<uint8_t>(s.value); break;
    case DType::BF16: bits = f32_to_bf16_bits(static_cast<float>(s.value)); break;
    case DType::F16: bits = f32_to_f16_bits(static_cast<float>(s.value)); break;
  }
  DeviceCtx& d = ctx_of(c);
  cudaCheck(c.op, k::fill(y.raw(), bits, static_cast<int>(dtype_size(s.dtype)), s.n, d.stream));
}

void copy_cuda(OpCtx& c, const CopySpec& s) {
  const Tensor& x = *c.in[0];
  Tensor& y = *c.out[0];
  DeviceCtx& d = ctx_of(c);
  if (s.bytes && x.raw() != y.raw())
    cudaCheck(c.op, cudaMemcpyAsync(y.raw(), x.raw(), s.bytes, cudaMemcpyDeviceToDevice, d.stream));
}

void cast_cuda(OpCtx& c, const CastSpec& s) {
  const Tensor& x = *c.in[0];
  Tensor& y = *c.out[0];
  DeviceCtx& d = ctx_of(c);
  if (s.from == s.to) {
    if (s.bytes) cudaCheck(c.op, cudaMemcpyAsync(y.raw(), x.raw(), s.bytes, cudaMemcpyDeviceToDevice, d.stream));
    return;
  }
  cudaCheck(c.op, k::cast(y.raw(), static_cast<int>(s.to), x.raw(), static_cast<int>(s.from), s.n, d.stream));
}

}  // namespace

MDMT_REGISTER_SPEC_OP("fill", CUDA, fill_spec, fill_cuda);
MDMT_REGISTER_SPEC_OP("copy", CUDA, copy_spec, copy_cuda);
MDMT_REGISTER_SPEC_OP("cast", CUDA, cast_spec, cast_cuda);

}  // namespace cuda
}  // namespace mdmt
