// A small fixed thread pool for CPU kernels. parallel_for splits [begin, end) into chunks
// of at least `grain` iterations and runs them on the pool plus the calling thread.
// Threads: MDMT_NUM_THREADS, else the machine's hardware concurrency. Nested calls run
// serially (a kernel called from inside a parallel region does not oversubscribe).
#pragma once
#include <cstdint>
#include <functional>

namespace mdmt {

int num_threads();
void set_num_threads(int n);
// true on a thread running a parallel_for chunk (a nested parallel_for runs serially)
bool in_parallel_region();
void parallel_for(int64_t begin, int64_t end, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

}  // namespace mdmt
