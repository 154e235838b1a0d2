// The CPU backend: 64-byte aligned host memory with live/peak accounting.
#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <new>
#include <mutex>
#include <string>
#include <unistd.h>
#include <unordered_map>
#include <vector>

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

// The first number in a file (a /sys/fs/cgroup limit or usage), or -1: unreadable or "max".
int64_t read_number(const char* path) {
  std::ifstream f(path);
  int64_t v = -1;
  if (!(f >> v)) return -1;
  return v;
}

// MemAvailable from /proc/meminfo in bytes, or -1.
int64_t mem_available() {
  std::ifstream f("/proc/meminfo");
  std::string key;
  int64_t kb = 0;
  std::string unit;
  while (f >> key >> kb) {
    std::getline(f, unit);
    if (key == "MemAvailable:") return kb * 1024;
  }
  return -1;
}

// The room left under this process's cgroup memory limit (v2, else v1), or -1 when unlimited.
int64_t cgroup_room() {
  int64_t lim = read_number("/sys/fs/cgroup/memory.max"), used = read_number("/sys/fs/cgroup/memory.current");
  if (lim < 0) {
    lim = read_number("/sys/fs/cgroup/memory/memory.limit_in_bytes");
    used = read_number("/sys/fs/cgroup/memory/memory.usage_in_bytes");
  }
  if (lim < 0 || used < 0 || lim >= (int64_t(1) << 60)) return -1;  // v1 reports "no limit" as ~2^63
  return std::max<int64_t>(lim - used, 0);
}

size_t physical_bytes() {
  long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page > 0 ? static_cast<size_t>(pages) * static_cast<size_t>(page) : (size_t(1) << 36);
}

// The free memory the machine (and cgroup) can back now, at most physical memory.
size_t free_memory() {
  size_t room = physical_bytes();  // when /proc/meminfo is unreadable
  const int64_t avail = mem_available(), cg = cgroup_room();
  if (avail >= 0) room = std::min(room, static_cast<size_t>(avail));
  if (cg >= 0) room = std::min(room, static_cast<size_t>(cg));
  return room;
}

size_t max_alloc_override() {
  static const size_t v = [] {
    const char* e = std::getenv("MDMT_MAX_ALLOC_BYTES");
    return e && *e ? static_cast<size_t>(std::strtoull(e, nullptr, 10)) : size_t(0);
  }();
  return v;
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

  // A caching allocator: a training step allocates the same activation sizes every
  // iteration, and returning large buffers to the OS makes every step page-fault them in
  // again. Freed buffers are kept per exact (64-byte rounded) size and reused; the cache
  // is capped (MDMT_CPU_CACHE_BYTES, default an eighth of physical memory, at most 4 GiB) and flushed
  // before an allocation is reported as failed.
  void* alloc(size_t bytes, const Device&) override {
    const size_t rounded = round_size(bytes);
    void* p = nullptr;
    {
      std::lock_guard<std::mutex> g(mu_);
      auto it = cache_.find(rounded);
      if (it != cache_.end() && !it->second.empty()) {
        p = it->second.back();
        it->second.pop_back();
        cached_ -= static_cast<int64_t>(rounded);
      }
    }
    if (!p && rounded >= kCpuRoomCheckBytes) {
      // malloc succeeds beyond what the machine can back (overcommit); the first write then
      // gets the process OOM-killed. Refuse it here; cached buffers count as free.
      if (rounded > room()) flush();
      const size_t r = room();
      if (rounded > r)
        MDMT_FAIL(code::kNoMem, "alloc", "cannot allocate " << bytes << " bytes on cpu: only " << r << " bytes of memory are available");
    }
    if (!p) p = std::aligned_alloc(64, rounded);
    if (!p) {
      flush();
      p = std::aligned_alloc(64, rounded);
    }
    if (!p) MDMT_FAIL(code::kNoMem, "alloc", "cannot allocate " << bytes << " bytes on cpu");
    int64_t now = live_.fetch_add(static_cast<int64_t>(bytes)) + static_cast<int64_t>(bytes);
    buffers_.fetch_add(1);
    int64_t peak = peak_.load();
    while (now > peak && !peak_.compare_exchange_weak(peak, now)) {
    }
    return p;
  }
  void release(void* p, size_t bytes, const Device&) noexcept override {
    live_.fetch_sub(static_cast<int64_t>(bytes));
    buffers_.fetch_sub(1);
    const size_t rounded = round_size(bytes);
    {
      std::lock_guard<std::mutex> g(mu_);
      if (cached_ + static_cast<int64_t>(rounded) <= cache_limit()) {
        try {
          cache_[rounded].push_back(p);
          cached_ += static_cast<int64_t>(rounded);
          return;
        } catch (...) {  // no memory for the list entry: free the buffer instead
        }
      }
    }
    std::free(p);
  }
  // Frees every cached buffer.
  void flush() noexcept {
    std::lock_guard<std::mutex> g(mu_);
    for (auto& [sz, v] : cache_)
      for (void* q : v) std::free(q);
    cache_.clear();
    cached_ = 0;
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
    std::lock_guard<std::mutex> g(mu_);
    s.cached_bytes = cached_;
    return s;
  }
  void reset_peak(const Device&) override { peak_.store(live_.load()); }
  // See cpu_alloc_room() in backend.h.
  size_t room() {
    if (const size_t o = max_alloc_override()) return o;
    const size_t live = static_cast<size_t>(std::max<int64_t>(live_.load(), 0));
    // MemAvailable does not yet count buffers handed out but never written (a 16 GB weight
    // then its 16 GB init temporary both fit): this process's live bytes count against
    // physical memory too.
    const size_t phys = physical_bytes(), own = phys > live ? phys - live : 0;
    std::lock_guard<std::mutex> g(mu_);
    return std::min(free_memory() + static_cast<size_t>(cached_), own);
  }

 private:
  static size_t round_size(size_t bytes) {
    size_t r = ((bytes + 63) / 64) * 64;
    return r == 0 ? 64 : r;
  }
  static int64_t cache_limit() {
    static const int64_t v = [] {
      if (const char* e = std::getenv("MDMT_CPU_CACHE_BYTES")) return static_cast<int64_t>(std::strtoll(e, nullptr, 10));
      long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
      const int64_t eighth = pages > 0 && page > 0 ? static_cast<int64_t>(pages) * page / 8 : (int64_t(1) << 30);
      return std::min<int64_t>(eighth, int64_t(4) << 30);
    }();
    return v;
  }

  std::atomic<int64_t> live_{0}, peak_{0}, buffers_{0};
  std::mutex mu_;
  std::unordered_map<size_t, std::vector<void*>> cache_;
  int64_t cached_ = 0;
};

}  // namespace

namespace {
CpuBackend& the_cpu_backend() {
  static CpuBackend* b = new CpuBackend();  // never destroyed: storages may outlive statics
  return *b;
}
}  // namespace

Backend& cpu_backend() { return the_cpu_backend(); }

size_t cpu_alloc_room() { return the_cpu_backend().room(); }

Backend& backend_for(const Device& dev) {
  if (dev.type == DeviceType::CPU) return cpu_backend();
  return cuda_backend();
}

}  // namespace mdmt
