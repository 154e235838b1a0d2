// Linked when the build finds no nvcc / CUDA runtime (and always by binding.gyp, the
// node-gyp fallback): the CUDA backend exists but reports why it is unavailable, and every
// entry throws. (cuDNN and cuBLAS are never needed to build: they are opened at run time.)
#include "../core/backend.h"
#include "../core/error.h"

#ifndef MDMT_NO_CUDA_REASON
#define MDMT_NO_CUDA_REASON "mdmt was built without CUDA"
#endif

namespace mdmt {

namespace {
[[noreturn]] void no_cuda(const char* what) {
  MDMT_FAIL(code::kDevice, what, MDMT_NO_CUDA_REASON << " (rebuild with nvcc on PATH: npm run build, or npm rebuild mdmt in a project using it)");
}

class NoCudaBackend final : public Backend {
 public:
  DeviceType type() const override { return DeviceType::CUDA; }
  std::vector<DeviceInfo> devices() override {
    DeviceInfo d;
    d.name = "cuda:0";
    d.type = "cuda";
    d.available = false;
    d.reason = MDMT_NO_CUDA_REASON;
    return {d};
  }
  void* alloc(size_t, const Device&) override { no_cuda("alloc"); }
  void release(void*, size_t, const Device&) noexcept override {}
  void upload(void*, const void*, size_t, const Device&) override { no_cuda("upload"); }
  void download(void*, const void*, size_t, const Device&) override { no_cuda("download"); }
  void copy(void*, const void*, size_t, const Device&) override { no_cuda("copy"); }
  void memset0(void*, size_t, const Device&) override { no_cuda("memset"); }
  void synchronize(const Device&) override { no_cuda("sync"); }
  MemStats mem_stats(const Device&) override { return MemStats{}; }
  void reset_peak(const Device&) override {}
};
}  // namespace

Backend& cuda_backend() {
  static NoCudaBackend* b = new NoCudaBackend();
  return *b;
}
bool cuda_compiled() { return false; }

}  // namespace mdmt
