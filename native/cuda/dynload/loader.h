// Finds and opens cuBLASLt, cuBLAS and cuDNN at run time (dlopen) and fills the function
// tables of cublas_api.h / cudnn_api.h, so one addon binary runs on CPU-only machines and
// uses the GPU libraries wherever they are installed, without the CUDA toolkit.
//
// Search order, per library, first usable hit wins:
//   1. $MDMT_CUDA_LIB_DIR (one or more directories, ':'-separated)
//   2. each directory of $LD_LIBRARY_PATH
//   3. the system: dlopen by soname (ld.so.cache, /lib, /usr/lib, the dynamic linker's rules)
//   4. the pip layout PyTorch uses: <site-packages>/nvidia/{cudnn,cublas,cu13,cu12}/lib
// Sonames: libcudnn.so.9; libcublasLt.so.13 + libcublas.so.13, else the .so.12 pair (both of
// one pair from the same place). A candidate that opens but lacks a symbol mdmt calls, or has
// another major version, is recorded and the search goes on.
#pragma once
#include <string>

#include "../../core/backend.h"
#include <utility>
#include <vector>

namespace mdmt {
namespace dyn {

struct LibraryReport {
  std::string key;      // devices() prop name: "cudnn", "cublas", "cublasLt"
  std::string name;     // "cuDNN 9"
  std::string wanted;   // "libcudnn.so.9"
  bool found = false;   // opened, every symbol resolved, right major version
  std::string path;     // the file in use
  std::string version;  // "9.14.0"
  std::vector<std::string> searched;  // every place looked at and what happened there
};

// Loads the three libraries on the first call (thread-safe, once per process) and reports.
const std::vector<LibraryReport>& libraries();

// "" when cuBLASLt, cuBLAS and cuDNN are all usable; else one sentence naming each missing
// library, for errors and devices()' reason.
std::string libraries_problem();

// "" when the driver can run this build's CUDA runtime and sees at least one GPU; else why
// not (no driver, a driver older than the runtime, no device). Probed once.
std::string driver_problem();

// devices() props shared by every CUDA entry: the build (runtime, kernel architectures), the
// driver, and per library its version and path, or "missing" and everywhere it was looked for.
std::vector<std::pair<std::string, std::string>> cuda_props();

// devices()' CUDA entries: one per GPU (or one "cuda:0" saying why there is none), each
// with cuda_props() and, for a GPU, its name, compute capability and memory; available only
// when the driver, the GPU and every library are usable, else the reason names each missing piece.
std::vector<DeviceInfo> device_infos(int device_count);

}  // namespace dyn
}  // namespace mdmt
