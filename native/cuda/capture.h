// What a CUDA op must know while its work is being captured into a plan's graph
// (native/cuda/graph.cc, native/core/plan_replay.h). Captured kernel launches are replayed
// later with the same arguments, so during capture:
//   - memory the captured work touches must stay valid and unshared for every replay: the
//     caching allocator (device_alloc / device_free, hence Scratch) serves requests from a
//     pool the graph owns while a capture is current on this thread (a block freed during
//     capture may be reused by later captured work: graph nodes run in capture order);
//   - no host synchronisation and no transfer from pageable memory: an op that reads a result
//     back to check it (masked_xent's label check) defers the check instead — the graph
//     copies the flags to pinned memory at its end and the next run() throws if one is set.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

namespace mdmt {
namespace cuda {

class CaptureScope {
 public:
  virtual ~CaptureScope() = default;
  // The scope capturing work for device `index` on this thread, or null.
  static CaptureScope* current(int index);
  // Device memory owned by the graph (never returned to the caching allocator before the
  // graph is destroyed); release() makes it reusable by later captured work.
  virtual void* alloc(size_t bytes, const std::string& op) = 0;
  virtual bool owns(void* p) const = 0;
  virtual void release(void* p) = 0;
  // Pinned host memory that lives as long as the graph: the source of a captured upload
  // (a transfer from pageable memory cannot be captured).
  virtual void* pinned(size_t bytes, const std::string& op) = 0;
  // After every launch, `count` ints at device address `flags` are copied to the host; when
  // the first is nonzero the next run throws MdmtException(code, op, message(values)).
  virtual void defer_check(const int32_t* flags, int count, const std::string& code, const std::string& op,
                           std::function<std::string(const int32_t*)> message) = 0;

 protected:
  static void set_current(int index, CaptureScope* s);
};

}  // namespace cuda
}  // namespace mdmt
