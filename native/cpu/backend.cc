// The CPU backend: 64-byte aligned host memory with live/peak accounting.
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <new>
#include <string>

#include "../core/backend.h"
#include "../core/error.h"
#include "cpu_features.h"
#include "parallel.h"

namespace mdmt {

namespace {

std::string cpu_model() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("model name", 0) == 0) {
      auto p = line.find(':');
      if (p != std::string::npos) return line.substr(p + 2);
    }
  return "unknown CPU";
}

class CpuBackend final : public Backend {
 public:
  DeviceType type() const override { return DeviceType::CPU; }

  std::vector<DeviceInfo> devices() override {
    DeviceInfo d;
    d.name = "cpu";
    d.type = "cpu";
    d.available = true;
    d.description = cpu_model();
    d.props = {{"threads", std::to_string(num_threads())}, {"isa", cpu_isa()}};
    return {d};
  }

  void* alloc(size_t bytes, const Device&) override {
    size_t rounded = ((bytes + 63) / 64) * 64;
    if (rounded == 0) rounded = 64;
    void* p = std::aligned_alloc(64, rounded);
    if (!p) MDMT_FAIL(code::kNoMem, "alloc", "cannot allocate " << bytes << " bytes on cpu");
    int64_t now = live_.fetch_add(static_cast<int64_t>(bytes)) + static_cast<int64_t>(bytes);
    buffers_.fetch_add(1);
    int64_t peak = peak_.load();
    while (now > peak && !peak_.compare_exchange_weak(peak, now)) {
    }
    return p;
  }
  void release(void* p, size_t bytes, const Device&) noexcept override {
    std::free(p);
    live_.fetch_sub(static_cast<int64_t>(bytes));
    buffers_.fetch_sub(1);
  }
  void upload(void* dst, const void* src, size_t bytes, const Device&) override { std::memcpy(dst, src, bytes); }
  void download(void* dst, const void* src, size_t bytes, const Device&) override { std::memcpy(dst, src, bytes); }
  void copy(void* dst, const void* src, size_t bytes, const Device&) override { std::memmove(dst, src, bytes); }
  void memset0(void* dst, size_t bytes, const Device&) override { std::memset(dst, 0, bytes); }
  void synchronize(const Device&) override {}
  MemStats mem_stats(const Device&) override {
    MemStats s;
    s.live_bytes = live_.load();
    s.peak_bytes = peak_.load();
    s.live_buffers = buffers_.load();
    return s;
  }
  void reset_peak(const Device&) override { peak_.store(live_.load()); }

 private:
  std::atomic<int64_t> live_{0}, peak_{0}, buffers_{0};
};

}  // namespace

Backend& cpu_backend() {
  static CpuBackend* b = new CpuBackend();  // never destroyed: storages may outlive statics
  return *b;
}

Backend& backend_for(const Device& dev) {
  if (dev.type == DeviceType::CPU) return cpu_backend();
  return cuda_backend();
}

}  // namespace mdmt
