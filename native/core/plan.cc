#include "plan.h"

#include <chrono>
#include <sstream>

#include "backend.h"
#include "error.h"

namespace mdmt {

namespace {

constexpr const char* kOp = "plan";

std::shared_ptr<Tensor> arena_value(const PlanValueSpec& v, const std::shared_ptr<Storage>& arena, const Device& dev,
                                    size_t arena_bytes, size_t i) {
  auto t = std::make_shared<Tensor>();
  t->dtype = v.dtype;
  t->device = dev;
  t->shape = v.shape;
  t->strides = contiguous_strides(v.shape);
  t->storage = arena;
  if (v.offset < 0 || static_cast<size_t>(v.offset) + t->nbytes() > arena_bytes)
    MDMT_FAIL(code::kInvalid, kOp, "value " << i << " (" << v.name << ", " << t->nbytes() << " bytes at offset " << v.offset
                                            << ") lies outside the arena of " << arena_bytes << " bytes");
  t->offset = static_cast<size_t>(v.offset);
  return t;
}

std::shared_ptr<Tensor> bound_value(const PlanValueSpec& v, const Device& dev, size_t i) {
  if (!v.bound) MDMT_FAIL(code::kInvalid, kOp, "value " << i << " (" << v.name << ") has no bound tensor");
  const Tensor& b = *v.bound;
  if (b.device != dev)
    MDMT_FAIL(code::kDevice, kOp, "bound tensor '" << v.name << "' is on " << b.device.str() << ", the plan on " << dev.str());
  if (b.shape != v.shape || b.dtype != v.dtype)
    MDMT_FAIL(code::kShape, kOp, "bound tensor '" << v.name << "' is " << dtype_name(b.dtype) << " " << b.shape_str()
                                                   << ", the plan recorded " << dtype_name(v.dtype) << " " << shape_str(v.shape));
  if (!b.contiguous()) MDMT_FAIL(code::kInvalid, kOp, "bound tensor '" << v.name << "' is not contiguous");
  return v.bound;  // shared: the plan keeps the storage alive, the JS handle decides liveness
}

// A reshape output: the source's bytes under another shape.
std::shared_ptr<Tensor> view_of(const Tensor& src, const PlanValueSpec& v, size_t i) {
  if (shape_numel(v.shape) != src.numel() || v.dtype != src.dtype)
    MDMT_FAIL(code::kShape, kOp, "reshape to value " << i << " " << shape_str(v.shape) << " does not match its source "
                                                     << src.shape_str());
  auto t = std::make_shared<Tensor>(src);
  t->shape = v.shape;
  t->strides = contiguous_strides(v.shape);
  return t;
}

}  // namespace

Plan::Plan(PlanSpec spec, std::shared_ptr<Storage> shared)
    : device_(spec.device), arena_bytes_(spec.arena_bytes), nscalars_(spec.nscalars) {
  Backend& be = backend_for(device_);
  const size_t need = arena_bytes_ ? arena_bytes_ : 1;  // at least one byte: every view has storage
  if (shared) {
    if (shared->device != device_)
      MDMT_FAIL(code::kDevice, kOp, "cannot share an arena on " << shared->device.str() << " with a plan on " << device_.str());
    if (shared->bytes < need) {  // grow in place: the old buffer goes back first, so the peak stays one arena
      be.release(shared->data, shared->bytes, device_);
      shared->data = nullptr;
      shared->bytes = 0;
      shared->data = be.alloc(need, device_);
      shared->bytes = need;
    }
    arena_ = std::move(shared);
  } else {
    // one allocation for the whole step
    void* p = be.alloc(need, device_);
    arena_ = std::make_shared<Storage>(p, need, device_);
  }
  const size_t nv = spec.values.size();
  values_.resize(nv);
  std::vector<bool> is_view(nv, false);
  for (auto& s : spec.steps) {
    if (s.op != "reshape") continue;
    if (s.inputs.size() != 1 || s.outputs.size() != 1) MDMT_FAIL(code::kInvalid, kOp, "a reshape step takes one input and one output");
    if (s.outputs[0] < 0 || static_cast<size_t>(s.outputs[0]) >= nv) MDMT_FAIL(code::kInvalid, kOp, "reshape output out of range");
    is_view[s.outputs[0]] = true;
  }
  for (size_t i = 0; i < nv; ++i) {
    const PlanValueSpec& v = spec.values[i];
    if (is_view[i]) continue;  // made when its reshape step is reached
    if (v.kind == PlanValueSpec::kParam || v.kind == PlanValueSpec::kConst) values_[i] = bound_value(v, device_, i);
    else values_[i] = arena_value(v, arena_, device_, arena_bytes_, i);
  }
  auto value = [&](int k, const std::string& op) -> Tensor* {
    if (k < 0 || static_cast<size_t>(k) >= nv || !values_[k])
      MDMT_FAIL(code::kInvalid, kOp, "step '" << op << "' refers to value " << k << " that is out of range or not yet made");
    return values_[k].get();
  };
  for (auto& s : spec.steps) {
    if (s.op == "reshape") {
      values_[s.outputs[0]] = view_of(*value(s.inputs[0], s.op), spec.values[s.outputs[0]], s.outputs[0]);
      continue;
    }
    Step st;
    st.fn = find_op(s.op, device_.type);
    if (!st.fn) MDMT_FAIL(code::kNotImpl, s.op, "not implemented on " << device_.str());
    st.ctx.op = s.op;
    st.ctx.device = device_;
    st.ctx.attrs = std::move(s.attrs);
    for (int k : s.inputs) st.ctx.in.push_back(value(k, s.op));
    for (int k : s.outputs) st.ctx.out.push_back(value(k, s.op));
    for (auto& [attr, idx] : s.dynamic) {
      if (idx < 0 || idx >= nscalars_) MDMT_FAIL(code::kInvalid, kOp, "step '" << s.op << "' reads scalar " << idx << " of " << nscalars_);
      st.dynamic.emplace_back(attr, idx);
    }
    // the op's checks run here, once: a replay only computes
    if (st.dynamic.empty()) st.spec = st.fn.prepare(st.ctx);
    steps_.push_back(std::move(st));
  }
  for (int k : spec.inputs) {
    value(k, "input");
    inputs_.push_back(k);
  }
  for (int k : spec.outputs) {
    value(k, "output");
    outputs_.push_back(k);
  }
  step_ms_.assign(steps_.size(), 0.0);
  if (spec.graph) use_graph();
}

// The steps with per-run attributes read them from the replay's device copy of the scalars
// (OpCtx::device_scalars): a captured kernel cannot see the host attributes change.
void Plan::use_graph() {
  replay_ = make_plan_replay(device_, static_cast<size_t>(nscalars_));
  for (auto& s : steps_)
    for (auto& [attr, idx] : s.dynamic) s.ctx.device_scalars.emplace_back(attr, replay_->device_scalars() + idx);
}

void Plan::run(const double* scalars, size_t n) {
  if (static_cast<int>(n) != nscalars_) MDMT_FAIL(code::kInvalid, kOp, "run needs " << nscalars_ << " scalars, got " << n);
  if (!arena_->data || arena_->bytes < arena_bytes_)
    MDMT_FAIL(code::kNoMem, kOp, "the arena this plan shares could not grow for another plan (out of memory): record the step again");
  for (auto& s : steps_)
    for (auto& [attr, idx] : s.dynamic) s.ctx.attrs.set(attr, scalars[idx]);
  if (replay_) {  // one CUDA graph: no host work between the kernels, so no per-step profile
    replay_->run(scalars, n, arena_->data, [this] {
      for (auto& s : steps_) s.run();
    });
    return;
  }
  if (!profile_) {
    for (auto& s : steps_) s.run();
    return;
  }
  // profiling: a device sync after each step, so that CUDA times are kernel times, not launches
  Backend& be = backend_for(device_);
  for (size_t i = 0; i < steps_.size(); ++i) {
    auto t0 = std::chrono::steady_clock::now();
    steps_[i].run();
    be.synchronize(device_);
    step_ms_[i] += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  }
}

std::string Plan::step_shapes(size_t i) const {
  std::ostringstream os;
  for (auto* t : steps_[i].ctx.in) os << t->shape_str() << " ";
  os << "->";
  for (auto* t : steps_[i].ctx.out) os << " " << t->shape_str();
  return os.str();
}

}  // namespace mdmt
