// Tensor storage: dtype, logical shape (PyTorch order: N, C, H, W), strides in elements,
// device and a shared byte buffer. Several tensors may share one Storage (views made by
// reshape); the buffer is returned to its device's allocator when the last one goes.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace mdmt {

enum class DType : int { F32 = 0, I32 = 1, U8 = 2, BF16 = 3, F16 = 4 };
size_t dtype_size(DType d);
const char* dtype_name(DType d);
bool parse_dtype(const std::string& s, DType* out);

enum class DeviceType : int { CPU = 0, CUDA = 1 };
struct Device {
  DeviceType type = DeviceType::CPU;
  int index = 0;
  bool operator==(const Device& o) const { return type == o.type && index == o.index; }
  bool operator!=(const Device& o) const { return !(*this == o); }
  std::string str() const;
};
// "cpu", "cuda", "cuda:1"; returns false on anything else.
bool parse_device(const std::string& s, Device* out);

struct Storage {
  void* data = nullptr;
  size_t bytes = 0;
  Device device;
  Storage(void* d, size_t b, Device dev) : data(d), bytes(b), device(dev) {}
  ~Storage();  // hands the buffer back to the device's backend
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
};

using Shape = std::vector<int64_t>;

struct Tensor {
  DType dtype = DType::F32;
  Device device;
  Shape shape;
  Shape strides;  // in elements
  std::shared_ptr<Storage> storage;
  size_t offset = 0;  // in bytes

  int64_t numel() const;
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype); }
  int ndim() const { return static_cast<int>(shape.size()); }
  bool contiguous() const;
  void* raw() const { return static_cast<char*>(storage->data) + offset; }
  template <class T>
  T* data() const { return static_cast<T*>(raw()); }
  std::string shape_str() const;  // "[2, 3, 4]"
  int64_t dim(int i) const { return shape[i < 0 ? i + ndim() : i]; }
};

Shape contiguous_strides(const Shape& shape);
int64_t shape_numel(const Shape& shape);
std::string shape_str(const Shape& shape);

}  // namespace mdmt
