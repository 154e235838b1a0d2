// Argument readers of the N-API functions: each checks type and range and names the
// function and the argument on bad input.
#include <cmath>

#include "common.h"

namespace mdmt {
namespace napi {

void expect_argc(const Napi::CallbackInfo& info, const char* fn, size_t lo, size_t hi) {
  if (info.Length() < lo || info.Length() > hi) {
    if (lo == hi) MDMT_FAIL(code::kInvalid, fn, "expects " << lo << " argument(s), got " << info.Length());
    MDMT_FAIL(code::kInvalid, fn, "expects " << lo << ".." << hi << " arguments, got " << info.Length());
  }
}

int64_t arg_id(const Napi::Value& v, const char* fn, const char* what) {
  if (!v.IsNumber()) MDMT_FAIL(code::kInvalid, fn, what << " must be a tensor id (number)");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || d < 1 || std::floor(d) != d || d > 9.0e15)
    MDMT_FAIL(code::kInvalid, fn, what << " is not a valid tensor id: " << d);
  return static_cast<int64_t>(d);
}

std::string arg_string(const Napi::Value& v, const char* fn, const char* what) {
  if (!v.IsString()) MDMT_FAIL(code::kInvalid, fn, what << " must be a string");
  return v.As<Napi::String>().Utf8Value();
}

Shape arg_shape(const Napi::Value& v, const char* fn) {
  if (!v.IsArray()) MDMT_FAIL(code::kInvalid, fn, "shape must be an array of non-negative integers");
  Napi::Array a = v.As<Napi::Array>();
  if (a.Length() > kMaxDims) MDMT_FAIL(code::kShape, fn, "shape has " << a.Length() << " dims; at most " << kMaxDims);
  Shape s;
  double total = 1;
  for (uint32_t i = 0; i < a.Length(); ++i) {
    Napi::Value e = a.Get(i);
    if (!e.IsNumber()) MDMT_FAIL(code::kInvalid, fn, "shape[" << i << "] must be a number");
    double d = e.As<Napi::Number>().DoubleValue();
    if (!std::isfinite(d) || d < 0 || std::floor(d) != d)
      MDMT_FAIL(code::kShape, fn, "shape[" << i << "] must be a non-negative integer, got " << d);
    total *= d;
    if (total > 4.0e15) MDMT_FAIL(code::kShape, fn, "shape " << "is too large");
    s.push_back(static_cast<int64_t>(d));
  }
  return s;
}

Device arg_device(const Napi::Value& v, const char* fn) {
  std::string s = arg_string(v, fn, "device");
  Device d;
  if (!parse_device(s, &d)) MDMT_FAIL(code::kDevice, fn, "unknown device '" << s << "' (use cpu, cuda or cuda:N)");
  return d;
}

}  // namespace napi
}  // namespace mdmt
