// Replay of a step plan as one CUDA graph (issue 14; DESIGN §2 "planned"). A plan hands its
// step loop to PlanReplay::run. The CUDA implementation (native/cuda/graph.cc) runs the loop
// eagerly the first time (cuDNN autotuning, allocator warm-up, every lazy initialisation),
// captures it into a graph the second time, and from then on launches that graph: one launch
// per training step instead of one per op, with no host work between kernels.
//
// What a replay cannot see changes in: kernel arguments are frozen at capture. So per-run
// scalars (lr, bias corrections, dropout seeds) are staged — run() copies them to a fixed
// device array before each launch and the capturable kernels (adam, dropout) read them there
// (OpCtx::device_scalars); the plan's inputs already live at fixed arena addresses; and
// workspaces taken during capture come from a pool the graph owns (native/cuda/capture.h).
// A replay equals an uncaptured run of the same plan bit for bit (test/cuda/graph.test.ts).
#pragma once
#include <cstddef>
#include <functional>
#include <memory>

#include "tensor.h"

namespace mdmt {

class PlanReplay {
 public:
  virtual ~PlanReplay() = default;
  // nscalars doubles on the device, refreshed by every run() before the steps read them.
  virtual const double* device_scalars() const = 0;
  // One run of `steps` (which queues the plan's kernels on the device stream) with these
  // per-run scalars: eager, captured-then-launched, or launched, as above. `arena` is the
  // base address of the plan's arena: when it moved (plans sharing an arena grow it), the
  // graph, whose kernels hold the old addresses, is captured again. Throws what a step throws
  // (an error during capture leaves the plan uncaptured: the next run retries) and an error a
  // captured check deferred from the previous launch (a bad label).
  virtual void run(const double* scalars, size_t n, const void* arena, const std::function<void()>& steps) = 0;
  // Graph launches so far (0 until the third run).
  virtual int launches() const = 0;
};

// A replay for a plan on `dev`; throws ENOTIMPL where graphs do not exist (the CPU, a build
// without CUDA).
std::unique_ptr<PlanReplay> make_plan_replay(const Device& dev, size_t nscalars);

}  // namespace mdmt
