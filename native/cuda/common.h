// Shared by native/cuda/*.cc: the per-device context (stream, cuDNN / cuBLAS / cuBLASLt
// handles, caching allocator), one check macro per library and scratch buffers.
// Every library status goes through cudaCheck / cudnnCheck / cublasCheck, which throw an
// MdmtException (ECUDA / ECUDNN / ECUBLAS) naming the op, the failing call, file and line.
// cuDNN and cuBLAS(Lt) are not linked: dynload/ declares the functions we call and opens the
// libraries at run time, so this backend builds wherever nvcc is and runs wherever they are.
#pragma once
#include <cuda_runtime_api.h>

#include "dynload/cublas_api.h"
#include "dynload/cudnn_api.h"

#include <cstddef>
#include <cstdint>
#include <string>

#include "../core/backend.h"
#include "../core/error.h"
#include "../core/registry.h"
#include "../core/tensor.h"
#include "kernels.h"

namespace mdmt {
namespace cuda {

[[noreturn]] void throw_cuda(cudaError_t e, const std::string& op, const char* expr, const char* file, int line);
[[noreturn]] void throw_cudnn(cudnnStatus_t e, const std::string& op, const char* expr, const char* file, int line);
[[noreturn]] void throw_cublas(cublasStatus_t e, const std::string& op, const char* expr, const char* file, int line);

#define cudaCheck(OP, EXPR)                                                                          \
  do {                                                                                               \
    cudaError_t mdmt_e_ = (EXPR);                                                                    \
    if (mdmt_e_ != cudaSuccess) ::mdmt::cuda::throw_cuda(mdmt_e_, (OP), #EXPR, __FILE__, __LINE__);  \
  } while (0)
#define cudnnCheck(OP, EXPR)                                                                                 \
  do {                                                                                                       \
    cudnnStatus_t mdmt_e_ = (EXPR);                                                                          \
    if (mdmt_e_ != CUDNN_STATUS_SUCCESS) ::mdmt::cuda::throw_cudnn(mdmt_e_, (OP), #EXPR, __FILE__, __LINE__); \
  } while (0)
#define cublasCheck(OP, EXPR)                                                                                  \
  do {                                                                                                         \
    cublasStatus_t mdmt_e_ = (EXPR);                                                                           \
    if (mdmt_e_ != CUBLAS_STATUS_SUCCESS) ::mdmt::cuda::throw_cublas(mdmt_e_, (OP), #EXPR, __FILE__, __LINE__); \
  } while (0)

// The per-device state. Everything mdmt does on a device is ordered on its one stream, so
// a freed block can be handed to the next request at once (stream-ordered reuse).
struct DeviceCtx {
  int index = 0;
  cudaStream_t stream = nullptr;
  cudnnHandle_t cudnn = nullptr;
  cublasHandle_t cublas = nullptr;
  cublasLtHandle_t lt = nullptr;
  std::string last_op;  // the op that last queued work: named when an async error surfaces
};

// Makes dev current (cudaSetDevice), initialises it on first use and records `op` as the
// last op queued on it. Throws EDEVICE for an index that does not exist.
DeviceCtx& device_ctx(const Device& dev, const std::string& op);
inline DeviceCtx& ctx_of(const OpCtx& c) { return device_ctx(c.device, c.op); }

// Caching allocator entry points (backend.cc), also used for workspaces.
void* device_alloc(const Device& dev, size_t bytes, const std::string& op);
void device_free(const Device& dev, void* p) noexcept;

// A workspace from the caching allocator, returned when it goes out of scope. Safe
// because all work is ordered on the device's single stream.
class Scratch {
 public:
  Scratch(const Device& dev, size_t bytes, const std::string& op) : dev_(dev), p_(nullptr), bytes_(bytes) {
    if (bytes) p_ = device_alloc(dev, bytes, op);
  }
  ~Scratch() {
    if (p_) device_free(dev_, p_);
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  void* get() const { return p_; }
  size_t size() const { return bytes_; }

 private:
  Device dev_;
  void* p_;
  size_t bytes_;
};

// MDMT_TF32=0 disables TF32 in cuDNN convolutions and cuBLAS GEMMs (default: allowed).
bool tf32_enabled();

// Small helpers for op validation shared by the CUDA ops.
inline float* fp(const Tensor& t) { return static_cast<float*>(t.raw()); }
inline const float* cfp(const Tensor& t) { return static_cast<const float*>(t.raw()); }

}  // namespace cuda
}  // namespace mdmt
