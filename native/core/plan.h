// Step plans (DESIGN §2 "planned"): a recorded step replayed natively. The plan owns one
// arena per device holding every temporary and the input staging at offsets fixed by the
// TypeScript memory pass (ts/plan/passes/memory.ts), binds the persistent tensors
// (parameters, statistics, optimiser moments, constants) by sharing their storage, and
// pre-builds one OpCtx per step, prepared once (the op's checks and geometry: registry.h):
// a run patches the per-run scalar attributes (lr, bias corrections, dropout seeds; those
// steps prepare again) and runs the kernels in order. Nothing else is allocated and nothing
// returns to JavaScript during a run.
//
// CUDA: kernels run on the backend's stream into fixed arena addresses and the inputs are
// staged at fixed addresses too, so run() can be captured as one CUDA graph and replayed
// (spec.graph; native/core/plan_replay.h): the per-run scalars then come from a staged
// device copy of the scalar array, which the steps with per-run attributes read.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "plan_replay.h"
#include "registry.h"
#include "tensor.h"

namespace mdmt {

struct PlanValueSpec {
  enum Kind { kInput = 0, kParam = 1, kConst = 2, kTemp = 3 };
  Kind kind = kTemp;
  DType dtype = DType::F32;
  Shape shape;
  int64_t offset = -1;               // arena byte offset (inputs and temps that are not views)
  std::shared_ptr<Tensor> bound;     // param / const: the bound tensor
  std::string name;
};

struct PlanStepSpec {
  std::string op;  // a registered op, or "reshape" (a view: the output aliases the input)
  std::vector<int> inputs, outputs;  // value indices
  Attrs attrs;
  std::vector<std::pair<std::string, int>> dynamic;  // attribute ← scalar index
};

struct PlanSpec {
  Device device;
  size_t arena_bytes = 0;
  std::vector<PlanValueSpec> values;
  std::vector<PlanStepSpec> steps;
  std::vector<int> inputs, outputs;
  int nscalars = 0;
  bool graph = false;  // replay as one CUDA graph (CUDA plans only)
};

class Plan {
 public:
  // Validates the spec (indices, offsets inside the arena, registered ops, bound tensors on
  // the plan's device with the recorded shape) and allocates the arena. Throws an
  // MdmtException naming the step or value.
  // `shared`: the arena of another plan of the same device that never runs at the same time
  // (the same step at another batch size, the evaluation forward): grown in place when this
  // plan needs more. Tensors reach the arena through its Storage, so every plan sharing it
  // sees the new buffer (contents do not survive between runs anyway).
  explicit Plan(PlanSpec spec, std::shared_ptr<Storage> shared = nullptr);
  const std::shared_ptr<Storage>& arena() const { return arena_; }
  // One replay. scalars has nscalars() entries.
  void run(const double* scalars, size_t n);

  const Device& device() const { return device_; }
  size_t arena_bytes() const { return arena_bytes_; }
  size_t num_steps() const { return steps_.size(); }
  int nscalars() const { return nscalars_; }
  // Views on the arena slots of the plan's inputs and outputs (the caller registers them).
  std::shared_ptr<Tensor> input_view(size_t i) const { return values_[inputs_[i]]; }
  std::shared_ptr<Tensor> output_view(size_t i) const { return values_[outputs_[i]]; }
  size_t num_inputs() const { return inputs_.size(); }
  size_t num_outputs() const { return outputs_.size(); }
  // CUDA-graph launches so far; -1 for a plan that runs op by op.
  int graph_launches() const { return replay_ ? replay_->launches() : -1; }
  // Per-step milliseconds summed over runs since the last reset (when profiling is on).
  void set_profiling(bool on) {
    profile_ = on;
    step_ms_.assign(steps_.size(), 0.0);
  }
  const std::vector<double>& step_ms() const { return step_ms_; }
  const std::string& step_op(size_t i) const { return steps_[i].ctx.op; }
  std::string step_shapes(size_t i) const;

 private:
  void use_graph();
  struct Step {
    OpKernel fn;
    OpCtx ctx;
    Prepared spec;  // prepared once when the step has no per-run attribute
    std::vector<std::pair<std::string, int>> dynamic;
    void run() {
      if (dynamic.empty()) fn.run(ctx, spec.get());
      else fn(ctx);  // attributes changed since the last run: prepare again (registry.h)
    }
  };
  Device device_;
  size_t arena_bytes_ = 0;
  std::shared_ptr<Storage> arena_;
  std::vector<std::shared_ptr<Tensor>> values_;
  std::vector<Step> steps_;
  std::vector<int> inputs_, outputs_;
  int nscalars_ = 0;
  std::unique_ptr<PlanReplay> replay_;  // spec.graph: the run captured once, then replayed
  bool profile_ = false;
  std::vector<double> step_ms_;
};

}  // namespace mdmt
