// A step plan replayed as one CUDA graph (native/core/plan_replay.h: the contract and why;
// native/cuda/capture.h: what ops do differently while captured).
//   run 1   eager, on the device stream: cuDNN autotunes, cuBLAS and the allocator warm up
//   run 2   the same steps captured (cudaStreamBeginCapture, relaxed mode so the graph's own
//           pool may cudaMalloc), instantiated, then launched: capture queues no work itself
//   run 3+  cudaGraphLaunch
// Before every run the per-run scalars go host → pinned buffer → device array (an ordinary
// async copy on the stream, ahead of the launch), and run() first waits for the previous run:
// the pinned buffer and the deferred checks' flags are then free to reuse and read.
#include <cstring>
#include <map>
#include <unordered_map>
#include <vector>

#include "../core/plan_replay.h"
#include "capture.h"
#include "common.h"

namespace mdmt {
namespace cuda {

namespace {
thread_local CaptureScope* g_scope = nullptr;
thread_local int g_index = -1;
}  // namespace

CaptureScope* CaptureScope::current(int index) { return g_scope && g_index == index ? g_scope : nullptr; }
void CaptureScope::set_current(int index, CaptureScope* s) {
  g_scope = s;
  g_index = s ? index : -1;
}

namespace {

constexpr const char* kOp = "plan (cuda graph)";

// The memory and checks one captured graph owns.
class GraphPool final : public CaptureScope {
 public:
  GraphPool(const Device& dev, cudaStream_t s) : dev_(dev), stream_(s) {}
  ~GraphPool() override {
    for (auto& [p, sz] : size_) cudaFree(p);
    for (auto& c : checks_) cudaFreeHost(c.host);
    for (void* p : host_) cudaFreeHost(p);
    cudaGetLastError();
  }

  void* alloc(size_t bytes, const std::string& op) override {
    const size_t want = ((bytes ? bytes : 1) + 511) & ~size_t(511);
    auto it = free_.lower_bound(want);
    if (it != free_.end() && it->first <= want + want / 4) {
      void* p = it->second;
      free_.erase(it);
      return p;
    }
    void* p = nullptr;
    if (cudaMalloc(&p, want) != cudaSuccess) {
      cudaGetLastError();
      MDMT_FAIL(code::kNoMem, op, "out of memory on " << dev_.str() << " while capturing a plan: cannot allocate " << bytes
                                                      << " bytes for the graph's workspaces");
    }
    size_[p] = want;
    return p;
  }
  bool owns(void* p) const override { return size_.count(p) > 0; }
  void release(void* p) override { free_.emplace(size_.at(p), p); }
  void* pinned(size_t bytes, const std::string& op) override {
    void* p = nullptr;
    cudaCheck(op, cudaHostAlloc(&p, bytes ? bytes : 1, cudaHostAllocDefault));
    host_.push_back(p);
    return p;
  }

  void defer_check(const int32_t* flags, int count, const std::string& code, const std::string& op,
                   std::function<std::string(const int32_t*)> message) override {
    Check c{nullptr, count, code, op, std::move(message)};
    cudaCheck(op, cudaHostAlloc(reinterpret_cast<void**>(&c.host), count * sizeof(int32_t), cudaHostAllocDefault));
    std::memset(c.host, 0, count * sizeof(int32_t));
    checks_.push_back(std::move(c));
    // captured: every launch copies the flags out at this point of the step
    cudaCheck(op, cudaMemcpyAsync(checks_.back().host, flags, count * sizeof(int32_t), cudaMemcpyDeviceToHost, stream_));
  }

  // After a launch has finished: the first check whose flag is set, as an exception.
  void throw_failed() const {
    for (const auto& c : checks_)
      if (c.host[0] != 0) throw MdmtException(c.code, c.op, c.message(c.host) + " (in the previous step of a captured plan)", __FILE__, __LINE__);
  }

 private:
  struct Check {
    int32_t* host;
    int count;
    std::string code, op;
    std::function<std::string(const int32_t*)> message;
  };
  Device dev_;
  cudaStream_t stream_;
  std::unordered_map<void*, size_t> size_;
  std::multimap<size_t, void*> free_;
  std::vector<Check> checks_;
  std::vector<void*> host_;
};

class CudaPlanReplay final : public PlanReplay {
 public:
  CudaPlanReplay(const Device& dev, size_t n) : dev_(dev), n_(n) {
    device_ctx(dev_, kOp);  // initialises the device (stream, handles) and makes it current
    const size_t bytes = (n_ ? n_ : 1) * sizeof(double);
    cudaCheck(kOp, cudaMalloc(reinterpret_cast<void**>(&scalars_), bytes));
    cudaCheck(kOp, cudaHostAlloc(reinterpret_cast<void**>(&pinned_), bytes, cudaHostAllocDefault));
    cudaCheck(kOp, cudaEventCreateWithFlags(&done_, cudaEventDisableTiming));
  }
  ~CudaPlanReplay() override {
    cudaSetDevice(dev_.index);
    if (pending_) cudaEventSynchronize(done_);
    drop();
    cudaEventDestroy(done_);
    cudaFreeHost(pinned_);
    cudaFree(scalars_);
    cudaGetLastError();
  }

  const double* device_scalars() const override { return scalars_; }
  int launches() const override { return launches_; }

  void run(const double* scalars, size_t n, const void* arena, const std::function<void()>& steps) override {
    if (n != n_) MDMT_FAIL(code::kInvalid, kOp, "run needs " << n_ << " scalars, got " << n);
    DeviceCtx& d = device_ctx(dev_, kOp);
    if (pending_) {
      pending_ = false;
      cudaCheck(kOp, cudaEventSynchronize(done_));
      if (pool_) pool_->throw_failed();
    }
    if (n_) {
      std::memcpy(pinned_, scalars, n_ * sizeof(double));
      cudaCheck(kOp, cudaMemcpyAsync(scalars_, pinned_, n_ * sizeof(double), cudaMemcpyHostToDevice, d.stream));
    }
    if (exec_ && arena != arena_) drop();  // its kernels point into a buffer that is gone
    if (runs_++ == 0) {
      steps();
    } else {
      if (!exec_) {
        capture(d, steps);
        arena_ = arena;
      }
      cudaCheck(kOp, cudaGraphLaunch(exec_, d.stream));
      ++launches_;
    }
    cudaCheck(kOp, cudaEventRecord(done_, d.stream));
    pending_ = true;
  }

 private:
  // Forgets the captured graph (the previous launch has finished: run() waited for it).
  void drop() {
    if (exec_) cudaGraphExecDestroy(exec_);
    if (graph_) cudaGraphDestroy(graph_);
    exec_ = nullptr;
    graph_ = nullptr;
    pool_.reset();
    cudaGetLastError();
  }

  void capture(DeviceCtx& d, const std::function<void()>& steps) {
    auto pool = std::make_unique<GraphPool>(dev_, d.stream);
    cudaCheck(kOp, cudaStreamBeginCapture(d.stream, cudaStreamCaptureModeRelaxed));
    GraphPool* scope = pool.get();
    struct Current {  // the scope is current exactly while the steps are captured
      Current(int i, GraphPool* s) : index(i) { Scope::set(i, s); }
      ~Current() { Scope::set(index, nullptr); }
      int index;
    } current(dev_.index, scope);
    try {
      steps();
    } catch (...) {
      cudaGraph_t g = nullptr;
      cudaStreamEndCapture(d.stream, &g);  // ends the (invalidated) capture so the stream works again
      if (g) cudaGraphDestroy(g);
      cudaGetLastError();
      throw;
    }
    cudaGraph_t g = nullptr;
    cudaCheck(kOp, cudaStreamEndCapture(d.stream, &g));
    cudaGraphExec_t e = nullptr;
    const cudaError_t st = cudaGraphInstantiate(&e, g, 0);
    if (st != cudaSuccess) {
      cudaGraphDestroy(g);
      throw_cuda(st, kOp, "cudaGraphInstantiate", __FILE__, __LINE__);
    }
    graph_ = g;
    exec_ = e;
    pool_ = std::move(pool);
  }

  // CaptureScope::set_current is protected: this class may call it through a friend-like shim.
  struct Scope : CaptureScope {
    static void set(int i, CaptureScope* s) { set_current(i, s); }
  };

  Device dev_;
  size_t n_;
  double* scalars_ = nullptr;
  double* pinned_ = nullptr;
  cudaEvent_t done_ = nullptr;
  cudaGraph_t graph_ = nullptr;
  cudaGraphExec_t exec_ = nullptr;
  std::unique_ptr<GraphPool> pool_;
  const void* arena_ = nullptr;  // the arena address the graph was captured with
  int runs_ = 0, launches_ = 0;
  bool pending_ = false;
};

}  // namespace
}  // namespace cuda

std::unique_ptr<PlanReplay> make_plan_replay(const Device& dev, size_t nscalars) {
  if (dev.type != DeviceType::CUDA)
    MDMT_FAIL(code::kNotImpl, "plan", "CUDA graph replay needs a CUDA device, the plan is on " << dev.str());
  return std::make_unique<cuda::CudaPlanReplay>(dev, nscalars);
}

}  // namespace mdmt
