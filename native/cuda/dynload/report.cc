// What devices() says about the CUDA side whatever the machine: the build, the driver and
// each run-time library (found: version and path; missing: every place looked at).
//
// The CUDA runtime is linked statically (libcudart_static.a, CMakeLists.txt): the addon
// carries its runtime, so no libcudart needs to be installed, and it opens the driver
// (libcuda.so.1) itself at first use. Like cuDNN and cuBLAS (which also carry a static
// runtime), it works in the driver's primary context of each device, and a cudaStream_t is the
// driver's CUstream, so the streams mdmt hands to cudnnSetStream / cublasSetStream /
// cublasLtMatmul are the very streams its own kernels are launched on.
#include <cuda_runtime_api.h>

#include <algorithm>

#include "../common.h"
#include "loader.h"

#ifndef MDMT_CUDA_ARCHS
#define MDMT_CUDA_ARCHS "unknown"
#endif

namespace mdmt {
namespace dyn {
namespace {

std::string cuda_version(int v) {  // 13000 -> "13.0"
  return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10);
}

int driver_version() {
  static int v = [] {
    int d = 0;
    if (cudaDriverGetVersion(&d) != cudaSuccess) d = 0;
    cudaGetLastError();
    return d;
  }();
  return v;
}

std::string join(const std::vector<std::string>& parts, const char* sep) {
  std::string out;
  for (const std::string& p : parts) out += (out.empty() ? "" : sep) + p;
  return out;
}

}  // namespace

std::string driver_problem() {
  static std::string problem = [] {
    const int drv = driver_version();
    if (drv == 0)
      return std::string("no NVIDIA driver: libcuda.so.1 cannot be loaded (a CPU-only machine, or the driver is not installed)");
    // Within a major version, newer runtimes run on older drivers (minor version compatibility).
    if (drv / 1000 < CUDART_VERSION / 1000)
      return "the NVIDIA driver supports CUDA " + cuda_version(drv) + ", older than this build's CUDA runtime " +
             cuda_version(CUDART_VERSION) + ": update the driver";
    int n = 0;
    const cudaError_t e = cudaGetDeviceCount(&n);
    cudaGetLastError();
    if (e != cudaSuccess) return std::string("no usable CUDA device: ") + cudaGetErrorName(e) + ": " + cudaGetErrorString(e);
    if (n == 0) return std::string("no CUDA device found");
    return std::string();
  }();
  return problem;
}

std::vector<std::pair<std::string, std::string>> cuda_props() {
  std::vector<std::pair<std::string, std::string>> p;
  p.emplace_back("build", "CUDA runtime " + cuda_version(CUDART_VERSION) + " (static), kernels " + MDMT_CUDA_ARCHS);
  const int drv = driver_version();
  p.emplace_back("driver", drv ? cuda_version(drv) : std::string("none"));
  p.emplace_back("runtime", cuda_version(CUDART_VERSION));
  for (const LibraryReport& r : libraries()) {
    p.emplace_back(r.key, r.found ? r.version : std::string("missing"));
    if (r.found)
      p.emplace_back(r.key + "_path", r.path);
    else
      p.emplace_back(r.key + "_searched", join(r.searched, "; "));
  }
  return p;
}

std::vector<DeviceInfo> device_infos(int device_count) {
  std::vector<DeviceInfo> out;
  const auto common = cuda_props();
  const std::string drv = driver_problem(), libs = libraries_problem();
  const int n = drv.empty() ? device_count : 0;
  for (int i = 0; i < std::max(n, 1); ++i) {
    DeviceInfo d;
    d.name = "cuda:" + std::to_string(i);
    d.type = "cuda";
    d.index = i;
    cudaDeviceProp p;
    if (n == 0) {
      d.reason = drv.empty() ? "no CUDA device found" : drv;
      if (!libs.empty()) d.reason += "; cuDNN/cuBLAS " + libs;
    } else if (cudaGetDeviceProperties(&p, i) != cudaSuccess) {
      cudaGetLastError();
      d.reason = "cudaGetDeviceProperties failed";
    } else {
      d.description = p.name;
      d.available = libs.empty();
      if (!d.available) d.reason = "cuDNN/cuBLAS " + libs;
      d.props = {{"compute_capability", std::to_string(p.major) + "." + std::to_string(p.minor)},
                 {"memory_bytes", std::to_string(p.totalGlobalMem)},
                 {"sm_count", std::to_string(p.multiProcessorCount)},
                 {"tf32", cuda::tf32_enabled() ? "allowed" : "off"},
                 {"conv_layout", "NCHW"}};
    }
    d.props.insert(d.props.begin(), common.begin(), common.end());
    out.push_back(d);
  }
  return out;
}

}  // namespace dyn
}  // namespace mdmt
