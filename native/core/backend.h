// A backend owns memory on one kind of device and moves bytes to and from the host.
// CPU is always present; CUDA is native/cuda (real) or native/no_cuda (stub whose
// available() says why). Ops are not part of this interface: they live in the registry.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "error.h"
#include "tensor.h"

namespace mdmt {

struct MemStats {
  int64_t live_bytes = 0;    // bytes held by live tensors
  int64_t peak_bytes = 0;    // high-water mark of live_bytes since start / reset
  int64_t cached_bytes = 0;  // held by a caching allocator but not in use
  int64_t live_buffers = 0;
  int64_t device_total = 0;  // device capacity, 0 if unknown
  int64_t device_free = 0;
};

struct DeviceInfo {
  std::string name;  // "cpu", "cuda:0"
  std::string type;  // "cpu" | "cuda"
  int index = 0;
  bool available = false;
  std::string reason;  // why not available
  std::string description;  // CPU model / GPU name
  std::vector<std::pair<std::string, std::string>> props;  // versions, features, threads
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual DeviceType type() const = 0;
  virtual std::vector<DeviceInfo> devices() = 0;
  // Allocation failures throw MdmtException(ENOMEM) naming the request.
  virtual void* alloc(size_t bytes, const Device& dev) = 0;
  virtual void release(void* p, size_t bytes, const Device& dev) noexcept = 0;
  virtual void upload(void* dst, const void* host_src, size_t bytes, const Device& dev) = 0;
  virtual void download(void* host_dst, const void* src, size_t bytes, const Device& dev) = 0;
  virtual void copy(void* dst, const void* src, size_t bytes, const Device& dev) = 0;
  virtual void memset0(void* dst, size_t bytes, const Device& dev) = 0;
  // Waits for queued work; surfaces asynchronous errors as MdmtException.
  virtual void synchronize(const Device& dev) = 0;
  virtual MemStats mem_stats(const Device& dev) = 0;
  virtual void reset_peak(const Device& dev) = 0;
  // Gives the freed buffers a caching allocator keeps back to the system; returns their bytes.
  virtual int64_t empty_cache(const Device&) { return 0; }
};

Backend& cpu_backend();
// What the CPU backend's alloc() throws (ENOMEM) for a new allocation of 64 MiB or more that
// the machine cannot back, instead of succeeding (overcommit) and getting the process
// OOM-killed when first written. `room` is the bytes it could take: $MDMT_MAX_ALLOC_BYTES
// when set, else the memory the kernel reports available (MemAvailable, and the room under
// this process's cgroup limit less its unreclaimable usage) plus what the allocator caches,
// and at most physical memory (or the cgroup limit) less this process's live CPU bytes.
class CpuNoRoom : public MdmtException {
 public:
  CpuNoRoom(size_t bytes, size_t room, const char* file, int line)
      : MdmtException(code::kNoMem, "alloc", "cannot allocate " + std::to_string(bytes) + " bytes on cpu: only " + std::to_string(room) + " bytes of memory are available", file, line),
        room(room) {}
  size_t room;
};
// Implemented by native/cuda/backend.cc or by the native/no_cuda stub.
Backend& cuda_backend();
bool cuda_compiled();
Backend& backend_for(const Device& dev);

}  // namespace mdmt
