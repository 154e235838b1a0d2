#include "parallel.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

namespace mdmt {

namespace {

thread_local bool tl_in_parallel = false;

// Default spin (MDMT_SPIN_US). Measured (2 threads, wall, bench:models mobilenet_v2 b1,
// plan/ORT in alternating runs): 0 µs 0.67-0.68, 50 µs 0.79, 200 µs 0.79-0.82, 1-5 ms
// 0.80-0.81: without a spin the worker sleeps between regions, and a futex wake-up (10-50
// µs) is longer than most regions of a batch-1 network, so the caller did nearly all the
// work. 100 µs covers the gap between two ops (the JS side of a plan step, ~10-20 µs) with
// room; the budget still halves whenever the machine is busy (see run).
constexpr long kDefaultSpinUs = 100;

// Workers may spin for a while (MDMT_SPIN_US) after each region before they sleep on
// the condition variable, and the caller spins before it sleeps waiting for them: an
// inference runs hundreds of short regions back to back (several per conv), and a
// futex wake-up costs 10–50 µs each way — at batch 1 that was most of a small network's
// time (onnxruntime's pool spins the same way). A worker that found nothing to do within
// the spin sleeps, so an idle process costs nothing; on a busy machine the spin shrinks
// (see run).
class Pool {
 public:
  explicit Pool(int n) { resize(n); }
  ~Pool() { stop(); }

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  // A new worker starts from the current generation (from 0 it would run a stale round).
  void resize(int n) {
    std::lock_guard<std::mutex> region(run_mu_);  // never while a region runs
    stop();
    stopping_.store(false);
    for (int i = 1; i < n; ++i) workers_.emplace_back([this, g = generation_.load()] { loop(g); });
  }

  // Runs task(chunk) for chunk in [0, nchunks) on the workers and the caller.
  //
  // The caller never waits for a worker to wake up: it takes chunks itself until none are
  // left, then closes the region, and waits only for the workers that entered it before it
  // was closed (a woken worker counts itself in `active_` and then checks `closed_`; the
  // caller sets `closed_` and then reads `active_`; both sequentially consistent, so a
  // worker either is seen or sees the closure and leaves the task alone). A short region
  // used to cost a futex wake-up of the worker on the caller's path even when the caller
  // had done all the work (batch-1 networks ran slower on 2 threads than on 1).
  void run(int64_t nchunks, const std::function<void(int64_t)>& task) {
    std::unique_lock<std::mutex> lk(run_mu_);  // one parallel region at a time
    task_ = &task;
    nchunks_ = nchunks;
    next_.store(0);
    uint64_t gen;
    {
      std::lock_guard<std::mutex> g(mu_);  // a worker about to sleep checks generation_ under mu_
      gen = generation_.fetch_add(1, std::memory_order_release) + 1;
    }
    cv_.notify_all();
    drain();
    closed_.store(gen, std::memory_order_seq_cst);
    // Entered workers finish their chunks about when the caller does on an idle machine;
    // when they do not within the spin, the machine is busy (the threads wait for a CPU):
    // halve the spin budget, so spinning never competes with a loaded machine for long.
    const bool quick = spin_until([this] { return active_.load(std::memory_order_seq_cst) == 0; });
    const int64_t b = budget_.load(std::memory_order_relaxed);
    budget_.store(quick ? std::min(spin_us(), 2 * b + 1) : b / 2, std::memory_order_relaxed);
    if (!quick) {
      std::unique_lock<std::mutex> g(mu_);
      done_cv_.wait(g, [this] { return active_.load(std::memory_order_acquire) == 0; });
    }
    task_ = nullptr;
  }

 private:
  template <class P>
  bool spin_until(P done) const {
    const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(budget_.load(std::memory_order_relaxed));
    for (int i = 0;; ++i) {
      if (done()) return true;
      cpu_relax();
      if ((i & 63) == 63) {
        if (std::chrono::steady_clock::now() >= until) return done();
        std::this_thread::yield();  // on a loaded machine the thread we wait for may need this CPU
      }
    }
  }
  static void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
  }
  static int64_t spin_us() {
    static const int64_t us = [] {
      const char* e = std::getenv("MDMT_SPIN_US");
      const long v = e && *e ? std::atol(e) : kDefaultSpinUs;  // empty = unset, as the TS check reads it
      return static_cast<int64_t>(std::max(0L, std::min(v, 100000L)));
    }();
    return us;
  }
  void drain() {
    tl_in_parallel = true;
    for (;;) {
      int64_t c = next_.fetch_add(1);
      if (c >= nchunks_) break;
      (*task_)(c);
    }
    tl_in_parallel = false;
  }
  void loop(uint64_t seen) {
    for (;;) {
      auto fresh = [&] { return stopping_.load(std::memory_order_acquire) || generation_.load(std::memory_order_acquire) != seen; };
      if (!spin_until(fresh)) {
        std::unique_lock<std::mutex> g(mu_);
        cv_.wait(g, fresh);
      }
      if (stopping_.load()) return;
      seen = generation_.load(std::memory_order_acquire);
      active_.fetch_add(1, std::memory_order_seq_cst);
      // closed_ only grows: a region at or below it is finished (its caller may be in a later
      // region already, with another task_), one above it still waits for this worker
      if (closed_.load(std::memory_order_seq_cst) < seen) drain();
      if (active_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        std::lock_guard<std::mutex> g(mu_);  // the caller may be asleep in done_cv_
        done_cv_.notify_one();
      }
    }
  }
  void stop() {
    {
      std::lock_guard<std::mutex> g(mu_);
      stopping_.store(true);
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
  }

  std::vector<std::thread> workers_;
  std::mutex mu_, run_mu_;
  std::condition_variable cv_, done_cv_;
  const std::function<void(int64_t)>* task_ = nullptr;
  int64_t nchunks_ = 0;
  std::atomic<int64_t> next_{0};
  std::atomic<int> active_{0};           // workers inside the current region
  std::atomic<uint64_t> generation_{0};  // regions started
  std::atomic<uint64_t> closed_{0};      // the last region whose chunks are all done or taken
  std::atomic<bool> stopping_{false};
  std::atomic<int64_t> budget_{spin_us()};  // current spin, µs (adapted in run)
};

int default_threads() {
  if (const char* e = std::getenv("MDMT_NUM_THREADS")) {
    int n = std::atoi(e);
    if (n > 0 && n <= 1024) return n;
  }
  unsigned hc = std::thread::hardware_concurrency();
  return hc ? static_cast<int>(hc) : 1;
}

Pool& pool() {
  static Pool* p = new Pool(default_threads());  // leaked on purpose: no join at exit
  return *p;
}

}  // namespace

int num_threads() { return pool().size(); }
bool in_parallel_region() { return tl_in_parallel; }
void set_num_threads(int n) { pool().resize(std::max(1, n)); }

void parallel_for(int64_t begin, int64_t end, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (end <= begin) return;
  int64_t n = end - begin;
  grain = std::max<int64_t>(1, grain);
  int threads = tl_in_parallel ? 1 : num_threads();
  int64_t max_chunks = (n + grain - 1) / grain;
  int64_t nchunks = std::min<int64_t>(max_chunks, static_cast<int64_t>(threads) * 4);
  if (threads <= 1 || nchunks <= 1) {
    fn(begin, end);
    return;
  }
  int64_t step = (n + nchunks - 1) / nchunks;
  std::function<void(int64_t)> task = [&](int64_t c) {
    int64_t b = begin + c * step, e = std::min(end, b + step);
    if (b < e) fn(b, e);
  };
  pool().run(nchunks, task);
}

}  // namespace mdmt
