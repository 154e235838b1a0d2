#include "parallel.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

namespace mdmt {

namespace {

thread_local bool tl_in_parallel = false;

class Pool {
 public:
  explicit Pool(int n) { resize(n); }
  ~Pool() { stop(); }

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  // A new worker starts from the current generation: starting from 0 made it run a stale
  // extra round and decrement pending_ twice, so a later region could return early or wait
  // forever (seen as a hang in the fuzz test after setThreads).
  void resize(int n) {
    std::lock_guard<std::mutex> region(run_mu_);  // never while a region runs
    stop();
    stopping_ = false;
    for (int i = 1; i < n; ++i) workers_.emplace_back([this, g = generation_] { loop(g); });
  }

  // Runs task(chunk) for chunk in [0, nchunks) on the workers and the caller.
  void run(int64_t nchunks, const std::function<void(int64_t)>& task) {
    std::unique_lock<std::mutex> lk(run_mu_);  // one parallel region at a time
    {
      std::lock_guard<std::mutex> g(mu_);
      task_ = &task;
      nchunks_ = nchunks;
      next_.store(0);
      pending_ = static_cast<int>(workers_.size());
      ++generation_;
    }
    cv_.notify_all();
    drain();
    std::unique_lock<std::mutex> g(mu_);
    done_cv_.wait(g, [this] { return pending_ == 0; });
    task_ = nullptr;
  }

 private:
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
      {
        std::unique_lock<std::mutex> g(mu_);
        cv_.wait(g, [&] { return stopping_ || generation_ != seen; });
        if (stopping_) return;
        seen = generation_;
      }
      drain();
      {
        std::lock_guard<std::mutex> g(mu_);
        if (--pending_ == 0) done_cv_.notify_one();
      }
    }
  }
  void stop() {
    {
      std::lock_guard<std::mutex> g(mu_);
      stopping_ = true;
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
  int pending_ = 0;
  uint64_t generation_ = 0;
  bool stopping_ = false;
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
