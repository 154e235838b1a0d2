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

// Allocations from this size on are checked against the room (CpuNoRoom in backend.h); reading
// it costs a few file reads, nothing next to faulting in that much memory.
constexpr size_t kCpuRoomCheckBytes = size_t(64) << 20;

// A field of a cgroup memory.stat file ("inactive_file 123"), or -1.
int64_t stat_field(const std::string& path, const char* key) {
  std::ifstream f(path);
  std::string k;
  int64_t v = 0;
  while (f >> k >> v)
    if (k == key) return v;
  return -1;
}

// This process's cgroup folder under `mount`: the mount plus the path /proc/self/cgroup gives
// on the line of `v2` ("0::<path>") or of the v1 memory controller ("4:memory:<path>") — a
// service's MemoryMax= or a container without its own cgroup namespace lives below the
// root —, else the mount itself (a container's namespace shows its own cgroup there).
std::string cgroup_dir(const std::string& mount, bool v2, const char* probe) {
  std::ifstream f("/proc/self/cgroup");
  std::string line;
  while (std::getline(f, line)) {
    const size_t a = line.find(':'), b = a == std::string::npos ? a : line.find(':', a + 1);
    if (b == std::string::npos) continue;
    const std::string ctl = "," + line.substr(a + 1, b - a - 1) + ",";
    if (v2 ? ctl != ",," : ctl.find(",memory,") == std::string::npos) continue;
    const std::string d = mount + line.substr(b + 1);
    if (std::ifstream(d + "/" + probe)) return d;
  }
  return mount;
}

// This process's cgroup memory limit and its room (the limit less what the kernel cannot
// reclaim of the usage: usage counts page cache — images read, checkpoints written — which
// grows towards the limit and is given back on demand, so inactive_file is taken off). On v2
// every cgroup from this one up to the root is read and the tightest kept (Slurm and systemd
// set MemoryMax= on a parent; the leaf says "max"); v1 gives its hierarchical limit. False
// when there is no limit or it cannot be read.
bool cgroup_memory(int64_t* limit, int64_t* room) {
  const auto unreclaimable = [](int64_t cur, int64_t cache) { return std::max<int64_t>(cur - std::max<int64_t>(cache, 0), 0); };
  constexpr int64_t kUnlimited = int64_t(1) << 60;  // v1 says "no limit" as ~2^63
  const std::string mount = "/sys/fs/cgroup";
  bool found = false;
  for (std::string d = cgroup_dir(mount, true, "memory.current");; d = d.substr(0, d.rfind('/'))) {
    const int64_t lim = read_number((d + "/memory.max").c_str()), cur = read_number((d + "/memory.current").c_str());
    if (lim >= 0 && lim < kUnlimited && cur >= 0) {
      const int64_t r = std::max<int64_t>(lim - unreclaimable(cur, stat_field(d + "/memory.stat", "inactive_file")), 0);
      if (!found || lim < *limit) *limit = lim;
      if (!found || r < *room) *room = r;
      found = true;
    }
    if (d.size() <= mount.size() || d.rfind('/') == std::string::npos) break;
  }
  if (found) return true;
  const std::string v1 = cgroup_dir(mount + "/memory", false, "memory.limit_in_bytes");
  int64_t lim = read_number((v1 + "/memory.limit_in_bytes").c_str());
  const int64_t above = stat_field(v1 + "/memory.stat", "hierarchical_memory_limit");  // a parent's, when lower
  if (above >= 0 && (lim < 0 || above < lim)) lim = above;
  const int64_t cur = read_number((v1 + "/memory.usage_in_bytes").c_str());
  if (lim < 0 || lim >= kUnlimited || cur < 0) return false;
  *limit = lim;
  *room = std::max<int64_t>(lim - unreclaimable(cur, stat_field(v1 + "/memory.stat", "total_inactive_file")), 0);
  return true;
}

size_t physical_bytes() {
  long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page > 0 ? static_cast<size_t>(pages) * static_cast<size_t>(page) : (size_t(1) << 36);
}

// The memory this process may hold in all (physical memory, at most its cgroup's limit) and
// the free memory the machine and the cgroup can back now.
struct Memory {
  size_t total, free;
};
Memory memory_now() {
  Memory m{physical_bytes(), physical_bytes()};  // when /proc/meminfo is unreadable
  const int64_t avail = mem_available();
  if (avail >= 0) m.free = std::min(m.free, static_cast<size_t>(avail));
  int64_t lim = 0, room = 0;
  if (cgroup_memory(&lim, &room)) {
    m.total = std::min(m.total, static_cast<size_t>(lim));
    m.free = std::min(m.free, static_cast<size_t>(room));
  }
  return m;
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
      if (rounded > r) throw CpuNoRoom(bytes, r, __FILE__, __LINE__);
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
  // Frees every cached buffer; returns their bytes.
  int64_t flush() noexcept {
    std::lock_guard<std::mutex> g(mu_);
    for (auto& [sz, v] : cache_)
      for (void* q : v) std::free(q);
    cache_.clear();
    const int64_t n = cached_;
    cached_ = 0;
    return n;
  }
  int64_t empty_cache(const Device&) override { return flush(); }
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
  // See CpuNoRoom in backend.h.
  size_t room() {
    if (const size_t o = max_alloc_override()) return o;
    const size_t live = static_cast<size_t>(std::max<int64_t>(live_.load(), 0));
    const Memory m = memory_now();  // file reads: not under mu_
    // MemAvailable and the cgroup's usage do not yet count buffers handed out but never
    // written (a 16 GB weight then its 16 GB init temporary both fit): this process's live
    // bytes count against its total (physical memory, or the cgroup's limit) too.
    const size_t own = m.total > live ? m.total - live : 0;
    size_t cached;
    {
      std::lock_guard<std::mutex> g(mu_);
      cached = static_cast<size_t>(cached_);
    }
    return std::min(m.free + cached, own);
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

Backend& cpu_backend() {
  static CpuBackend* b = new CpuBackend();  // never destroyed: storages may outlive statics
  return *b;
}

Backend& backend_for(const Device& dev) {
  if (dev.type == DeviceType::CPU) return cpu_backend();
  return cuda_backend();
}

}  // namespace mdmt
