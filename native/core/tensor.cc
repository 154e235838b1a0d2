#include "tensor.h"

#include <sstream>

#include "backend.h"

namespace mdmt {

size_t dtype_size(DType d) {
  switch (d) {
    case DType::F32: return 4;
    case DType::I32: return 4;
    case DType::U8: return 1;
    case DType::BF16: return 2;
    case DType::F16: return 2;
  }
  return 0;
}

const char* dtype_name(DType d) {
  switch (d) {
    case DType::F32: return "float32";
    case DType::I32: return "int32";
    case DType::U8: return "uint8";
    case DType::BF16: return "bfloat16";
    case DType::F16: return "float16";
  }
  return "?";
}

bool parse_dtype(const std::string& s, DType* out) {
  static const std::pair<const char*, DType> table[] = {
      {"float32", DType::F32}, {"int32", DType::I32}, {"uint8", DType::U8},
      {"bfloat16", DType::BF16}, {"float16", DType::F16}};
  for (auto& [n, d] : table)
    if (s == n) { *out = d; return true; }
  return false;
}

std::string Device::str() const {
  if (type == DeviceType::CPU) return "cpu";
  return "cuda:" + std::to_string(index);
}

bool parse_device(const std::string& s, Device* out) {
  if (s == "cpu") { *out = Device{DeviceType::CPU, 0}; return true; }
  if (s == "cuda") { *out = Device{DeviceType::CUDA, 0}; return true; }
  if (s.rfind("cuda:", 0) == 0 && s.size() > 5 && s.size() < 8) {
    int idx = 0;
    for (size_t i = 5; i < s.size(); ++i) {
      if (s[i] < '0' || s[i] > '9') return false;
      idx = idx * 10 + (s[i] - '0');
    }
    *out = Device{DeviceType::CUDA, idx};
    return true;
  }
  return false;
}

Storage::~Storage() {
  if (data) backend_for(device).release(data, bytes, device);
}

int64_t shape_numel(const Shape& shape) {
  int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

Shape contiguous_strides(const Shape& shape) {
  Shape s(shape.size());
  int64_t acc = 1;
  for (int i = static_cast<int>(shape.size()) - 1; i >= 0; --i) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

std::string shape_str(const Shape& shape) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < shape.size(); ++i) os << (i ? ", " : "") << shape[i];
  os << "]";
  return os.str();
}

int64_t Tensor::numel() const { return shape_numel(shape); }

bool Tensor::contiguous() const { return strides == contiguous_strides(shape); }

std::string Tensor::shape_str() const { return ::mdmt::shape_str(shape); }

}  // namespace mdmt
