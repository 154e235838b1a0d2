// The CUDA backend: per-device stream and library handles, a caching allocator, pinned
// host staging for transfers, device reports and error translation.
//
// Caching allocator: blocks are cudaMalloc'ed once and kept in size-keyed free lists after
// release, so a training step that repeats the same shapes never calls cudaMalloc or
// cudaFree. Requests up to 1 MiB round to 512 B and are reused only by the same rounded
// size; larger ones round to 128 KiB and may reuse a cached block up to 25 % larger. On
// cudaMalloc failure the cache is emptied and the call retried once; a second failure
// throws ENOMEM naming the request and the device's free/total memory.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "capture.h"
#include "common.h"
#include "dynload/loader.h"

namespace mdmt {
namespace cuda {

[[noreturn]] void throw_cuda(cudaError_t e, const std::string& op, const char* expr, const char* file, int line) {
  cudaGetLastError();  // clear a non-sticky error so the device stays usable
  std::ostringstream os;
  os << cudaGetErrorName(e) << ": " << cudaGetErrorString(e) << " (in " << expr << ")";
  throw MdmtException(code::kCuda, op, os.str(), file, line);
}
[[noreturn]] void throw_cudnn(cudnnStatus_t e, const std::string& op, const char* expr, const char* file, int line) {
  std::ostringstream os;
  os << cudnnGetErrorString(e) << " (in " << expr << ")";
  throw MdmtException(code::kCudnn, op, os.str(), file, line);
}
[[noreturn]] void throw_cublas(cublasStatus_t e, const std::string& op, const char* expr, const char* file, int line) {
  std::ostringstream os;
  os << cublasGetStatusName(e) << ": " << cublasGetStatusString(e) << " (in " << expr << ")";
  throw MdmtException(code::kCublas, op, os.str(), file, line);
}

bool tf32_enabled() {
  static const bool on = [] {
    const char* e = std::getenv("MDMT_TF32");
    return !(e && (std::strcmp(e, "0") == 0 || std::strcmp(e, "false") == 0));
  }();
  return on;
}

namespace {

constexpr size_t kSmall = 1 << 20;
constexpr size_t kStaging = 16 << 20;  // bytes per pinned staging buffer (two of them)

size_t round_size(size_t b) {
  if (b == 0) b = 1;
  if (b <= kSmall) return (b + 511) & ~size_t(511);
  return (b + (128 << 10) - 1) & ~size_t((128 << 10) - 1);
}

struct Device_ {
  DeviceCtx ctx;
  bool ready = false;
  // allocator
  std::multimap<size_t, void*> free_blocks;    // rounded size -> block
  std::unordered_map<void*, size_t> block_size;  // every block we own, in use or cached
  int64_t live = 0, peak = 0, cached = 0, live_buffers = 0;
  // staging: two pinned buffers, each guarded by an event recorded after its last copy
  void* pinned[2] = {nullptr, nullptr};
  cudaEvent_t pinned_done[2] = {nullptr, nullptr};
  int next_pinned = 0;
  bool pinned_failed = false;
};

int device_count() {
  static int n = [] {
    int c = 0;
    if (cudaGetDeviceCount(&c) != cudaSuccess) {
      cudaGetLastError();
      return 0;
    }
    return c;
  }();
  return n;
}

std::mutex& mu() {
  static std::mutex* m = new std::mutex();
  return *m;
}

Device_& dev_state(int index) {
  static std::vector<std::unique_ptr<Device_>>* devs = new std::vector<std::unique_ptr<Device_>>();
  if (devs->empty()) {
    int n = device_count();
    for (int i = 0; i < n; ++i) devs->emplace_back(new Device_());
  }
  return *(*devs)[index];
}

// Every CUDA entry point comes here first: a machine without a driver, a GPU or one of the
// libraries gets EDEVICE naming each missing piece (devices() and `mdmt doctor` say the same).
void check_index(const Device& dev, const std::string& op) {
  const std::string drv = dyn::driver_problem(), libs = dyn::libraries_problem();
  if (!drv.empty() || device_count() == 0)
    MDMT_FAIL(code::kDevice, op, "no CUDA device is available: " << (drv.empty() ? "no CUDA device found" : drv)
                                                                  << (libs.empty() ? "" : "; cuDNN/cuBLAS " + libs));
  const int n = device_count();
  if (dev.index < 0 || dev.index >= n)
    MDMT_FAIL(code::kDevice, op, "device " << dev.str() << " does not exist (" << n << " CUDA device(s))");
  if (!libs.empty()) MDMT_FAIL(code::kDevice, op, "CUDA device " << dev.str() << " cannot be used: cuDNN/cuBLAS " << libs);
}

void init_device(Device_& d, int index, const std::string& op) {
  d.ctx.index = index;
  cudaCheck(op, cudaSetDevice(index));
  cudaCheck(op, cudaStreamCreateWithFlags(&d.ctx.stream, cudaStreamNonBlocking));
  cudnnCheck(op, cudnnCreate(&d.ctx.cudnn));
  cudnnCheck(op, cudnnSetStream(d.ctx.cudnn, d.ctx.stream));
  cublasCheck(op, cublasCreate(&d.ctx.cublas));
  cublasCheck(op, cublasSetStream(d.ctx.cublas, d.ctx.stream));
  cublasCheck(op, cublasSetMathMode(d.ctx.cublas, tf32_enabled() ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
  cublasCheck(op, cublasLtCreate(&d.ctx.lt));
  d.ready = true;
}

Device_& get(const Device& dev, const std::string& op) {
  check_index(dev, op);
  Device_& d = dev_state(dev.index);
  cudaCheck(op, cudaSetDevice(dev.index));
  if (!d.ready) init_device(d, dev.index, op);
  return d;
}

void empty_cache(Device_& d) {
  for (auto& [sz, p] : d.free_blocks) {
    cudaFree(p);
    d.block_size.erase(p);
  }
  cudaGetLastError();
  d.free_blocks.clear();
  d.cached = 0;
}

void* alloc_block(Device_& d, const Device& dev, size_t bytes, const std::string& op) {
  const size_t want = round_size(bytes);
  auto it = d.free_blocks.lower_bound(want);
  if (it != d.free_blocks.end() && (want <= kSmall ? it->first == want : it->first <= want + want / 4)) {
    void* p = it->second;
    d.cached -= static_cast<int64_t>(it->first);
    d.free_blocks.erase(it);
    return p;
  }
  void* p = nullptr;
  cudaError_t e = cudaMalloc(&p, want);
  if (e != cudaSuccess) {
    cudaGetLastError();
    size_t free_b = 0, total_b = 0;
    cudaMemGetInfo(&free_b, &total_b);
    cudaGetLastError();
    if (want <= total_b && d.cached > 0) {
      empty_cache(d);
      e = cudaMalloc(&p, want);
      if (e != cudaSuccess) cudaGetLastError();
      cudaMemGetInfo(&free_b, &total_b);
      cudaGetLastError();
    }
    if (e != cudaSuccess)
      MDMT_FAIL(code::kNoMem, op, "out of memory on " << dev.str() << ": cannot allocate " << bytes << " bytes (device free "
                                                      << free_b << " of " << total_b << " bytes; "
                                                      << d.live << " bytes in live tensors)");
  }
  d.block_size[p] = want;
  return p;
}

class CudaBackend final : public Backend {
 public:
  DeviceType type() const override { return DeviceType::CUDA; }

  std::vector<DeviceInfo> devices() override { return dyn::device_infos(device_count()); }

  void* alloc(size_t bytes, const Device& dev) override {
    std::lock_guard<std::mutex> lk(mu());
    Device_& d = get(dev, "alloc");
    void* p = alloc_block(d, dev, bytes, "alloc");
    d.live += static_cast<int64_t>(bytes);
    d.live_buffers++;
    if (d.live > d.peak) d.peak = d.live;
    return p;
  }

  void release(void* p, size_t bytes, const Device& dev) noexcept override {
    std::lock_guard<std::mutex> lk(mu());
    if (!p || dev.index < 0 || dev.index >= device_count()) return;
    Device_& d = dev_state(dev.index);
    auto it = d.block_size.find(p);
    if (it == d.block_size.end()) return;
    d.free_blocks.emplace(it->second, p);
    d.cached += static_cast<int64_t>(it->second);
    d.live -= static_cast<int64_t>(bytes);
    d.live_buffers--;
  }

  void upload(void* dst, const void* src, size_t bytes, const Device& dev) override {
    std::lock_guard<std::mutex> lk(mu());
    Device_& d = get(dev, "upload");
    d.ctx.last_op = "upload";
    if (!ensure_pinned(d)) {
      cudaCheck("upload", cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, d.ctx.stream));
      cudaCheck("upload", cudaStreamSynchronize(d.ctx.stream));
      return;
    }
    // Double-buffered: copy a chunk into a pinned buffer, queue the DMA, go on; a buffer is
    // reused only after its previous DMA finished. Returns without waiting for the last one.
    for (size_t off = 0; off < bytes; off += kStaging) {
      size_t n = std::min(kStaging, bytes - off);
      int b = d.next_pinned;
      d.next_pinned ^= 1;
      cudaCheck("upload", cudaEventSynchronize(d.pinned_done[b]));
      std::memcpy(d.pinned[b], static_cast<const char*>(src) + off, n);
      cudaCheck("upload", cudaMemcpyAsync(static_cast<char*>(dst) + off, d.pinned[b], n, cudaMemcpyHostToDevice, d.ctx.stream));
      cudaCheck("upload", cudaEventRecord(d.pinned_done[b], d.ctx.stream));
    }
  }

  void download(void* dst, const void* src, size_t bytes, const Device& dev) override {
    std::lock_guard<std::mutex> lk(mu());
    Device_& d = get(dev, "download");
    if (!ensure_pinned(d)) {
      cudaCheck("download", cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, d.ctx.stream));
      sync_or_throw(d, "download");
      return;
    }
    for (size_t off = 0; off < bytes; off += kStaging) {
      size_t n = std::min(kStaging, bytes - off);
      int b = d.next_pinned;
      d.next_pinned ^= 1;
      cudaCheck("download", cudaMemcpyAsync(d.pinned[b], static_cast<const char*>(src) + off, n, cudaMemcpyDeviceToHost,
                                            d.ctx.stream));
      cudaCheck("download", cudaEventRecord(d.pinned_done[b], d.ctx.stream));
      cudaError_t e = cudaEventSynchronize(d.pinned_done[b]);
      if (e != cudaSuccess) async_error(d, e, "download");
      std::memcpy(static_cast<char*>(dst) + off, d.pinned[b], n);
    }
  }

  void copy(void* dst, const void* src, size_t bytes, const Device& dev) override {
    std::lock_guard<std::mutex> lk(mu());
    Device_& d = get(dev, "copy");
    cudaCheck("copy", cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, d.ctx.stream));
  }

  void memset0(void* dst, size_t bytes, const Device& dev) override {
    std::lock_guard<std::mutex> lk(mu());
    Device_& d = get(dev, "memset");
    cudaCheck("memset", cudaMemsetAsync(dst, 0, bytes, d.ctx.stream));
  }

  void synchronize(const Device& dev) override {
    std::lock_guard<std::mutex> lk(mu());
    Device_& d = get(dev, "sync");
    sync_or_throw(d, "sync");
  }

  int64_t empty_cache(const Device& dev) override {
    std::lock_guard<std::mutex> lk(mu());
    if (dev.index < 0 || dev.index >= device_count()) return 0;
    Device_& d = get(dev, "emptyCache");
    const int64_t n = d.cached;
    cuda::empty_cache(d);  // the free function, not this member
    return n;
  }
  MemStats mem_stats(const Device& dev) override {
    std::lock_guard<std::mutex> lk(mu());
    MemStats s;
    if (dev.index < 0 || dev.index >= device_count()) return s;
    Device_& d = get(dev, "memStats");
    s.live_bytes = d.live;
    s.peak_bytes = d.peak;
    s.cached_bytes = d.cached;
    s.live_buffers = d.live_buffers;
    size_t f = 0, t = 0;
    if (cudaMemGetInfo(&f, &t) == cudaSuccess) {
      s.device_free = static_cast<int64_t>(f);
      s.device_total = static_cast<int64_t>(t);
    } else {
      cudaGetLastError();
    }
    return s;
  }

  void reset_peak(const Device& dev) override {
    std::lock_guard<std::mutex> lk(mu());
    if (dev.index < 0 || dev.index >= device_count()) return;
    Device_& d = dev_state(dev.index);
    d.peak = d.live;
  }

 private:
  static bool ensure_pinned(Device_& d) {
    if (d.pinned[0]) return true;
    if (d.pinned_failed) return false;
    for (int b = 0; b < 2; ++b) {
      if (cudaMallocHost(&d.pinned[b], kStaging) != cudaSuccess ||
          cudaEventCreateWithFlags(&d.pinned_done[b], cudaEventDisableTiming) != cudaSuccess) {
        cudaGetLastError();
        d.pinned_failed = true;
        for (int j = 0; j <= b; ++j) {
          if (d.pinned[j]) cudaFreeHost(d.pinned[j]);
          d.pinned[j] = nullptr;
        }
        return false;
      }
    }
    return true;
  }
  [[noreturn]] static void async_error(Device_& d, cudaError_t e, const char* where) {
    cudaGetLastError();
    MDMT_FAIL(code::kCuda, where, "asynchronous CUDA error " << cudaGetErrorName(e) << ": " << cudaGetErrorString(e)
                                                             << " (raised by work queued up to op '" << d.ctx.last_op
                                                             << "'; set CUDA_LAUNCH_BLOCKING=1 to pinpoint it)");
  }
  static void sync_or_throw(Device_& d, const char* where) {
    cudaError_t e = cudaStreamSynchronize(d.ctx.stream);
    if (e != cudaSuccess) async_error(d, e, where);
  }
};

}  // namespace

DeviceCtx& device_ctx(const Device& dev, const std::string& op) {
  std::lock_guard<std::mutex> lk(mu());
  Device_& d = get(dev, op);
  d.ctx.last_op = op;
  return d.ctx;
}

void* device_alloc(const Device& dev, size_t bytes, const std::string& op) {
  // while a plan is captured into a CUDA graph its workspaces come from the graph's own pool
  if (CaptureScope* s = CaptureScope::current(dev.index)) return s->alloc(bytes, op);
  std::lock_guard<std::mutex> lk(mu());
  Device_& d = get(dev, op);
  return alloc_block(d, dev, bytes, op);
}

void device_free(const Device& dev, void* p) noexcept {
  if (CaptureScope* s = CaptureScope::current(dev.index); s && s->owns(p)) return s->release(p);
  std::lock_guard<std::mutex> lk(mu());
  if (!p || dev.index < 0 || dev.index >= device_count()) return;
  Device_& d = dev_state(dev.index);
  auto it = d.block_size.find(p);
  if (it == d.block_size.end()) return;
  d.free_blocks.emplace(it->second, p);
  d.cached += static_cast<int64_t>(it->second);
}

}  // namespace cuda

Backend& cuda_backend() {
  static cuda::CudaBackend* b = new cuda::CudaBackend();
  return *b;
}
bool cuda_compiled() { return true; }

}  // namespace mdmt
