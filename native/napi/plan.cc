// N-API entry of step plans (native/core/plan.h):
//   planCreate(spec) -> { id, inputs: [tensor ids], outputs: [tensor ids], arenaBytes }
//                                           spec.shareArena: a plan id whose arena this one
//                                           shares (grown when needed; never run together)
//   planRun(id, scalars: Float64Array)      one replay; throws EDISPOSED when a bound
//                                           tensor (parameter, moment) was disposed
//   planFree(id)                            frees the plan and its arena (the input and
//                                           output views keep it alive until freed too)
//   planProfile(id, on) -> [{ op, shapes, ms }]  per-step times summed since the last call
//   planGraphLaunches(id) -> number         CUDA-graph launches so far (-1: not a graph plan)
// spec: { device, arenaBytes, nscalars, values: [{ kind, dtype, shape, offset, tensor, name }],
//         steps: [{ op, inputs, outputs, attrs, dynamic: [attr, scalarIndex, ...] }], inputs, outputs,
//         graph?: replay as one CUDA graph (native/core/plan_replay.h) }
#include <cmath>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "../core/plan.h"
#include "common.h"

namespace mdmt {
namespace napi {
namespace {

struct Entry {
  std::unique_ptr<Plan> plan;
  std::vector<std::pair<int64_t, std::string>> bound;  // JS ids of the bound tensors, for liveness
  uint64_t owner = 0;                                   // the environment that made it (env_token)
};
// Shared by every environment of the process (as the tensor table, handles.cc): a mutex
// guards the map, and a running plan is kept alive by its shared_ptr, not by the lock.
struct Plans {
  std::mutex mu;
  std::unordered_map<int64_t, std::shared_ptr<Entry>> map;
  int64_t next = 1;
};
Plans& plans() {
  static Plans* p = new Plans();
  return *p;
}

Napi::Object arg_object(const Napi::Value& v, const char* what) {
  if (!v.IsObject() || v.IsArray()) MDMT_FAIL(code::kInvalid, "planCreate", what << " must be an object");
  return v.As<Napi::Object>();
}

Napi::Array arg_array(const Napi::Object& o, const char* key, const char* what) {
  Napi::Value v = o.Get(key);
  if (!v.IsArray()) MDMT_FAIL(code::kInvalid, "planCreate", what << "." << key << " must be an array");
  return v.As<Napi::Array>();
}

int arg_int(const Napi::Value& v, const char* what, double lo, double hi) {
  if (!v.IsNumber()) MDMT_FAIL(code::kInvalid, "planCreate", what << " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || std::floor(d) != d || d < lo || d > hi)
    MDMT_FAIL(code::kInvalid, "planCreate", what << " must be an integer in [" << lo << ", " << hi << "], got " << d);
  return static_cast<int>(d);
}

std::vector<int> arg_indices(const Napi::Array& a, const char* what, int n) {
  std::vector<int> r;
  for (uint32_t i = 0; i < a.Length(); ++i) r.push_back(arg_int(a.Get(i), what, 0, n - 1));
  return r;
}

PlanValueSpec parse_value(const Napi::Object& o, Entry& e) {
  PlanValueSpec v;
  v.kind = static_cast<PlanValueSpec::Kind>(arg_int(o.Get("kind"), "value.kind", 0, 3));
  std::string ds = arg_string(o.Get("dtype"), "planCreate", "value.dtype");
  if (!parse_dtype(ds, &v.dtype)) MDMT_FAIL(code::kDType, "planCreate", "unknown dtype '" << ds << "'");
  v.shape = arg_shape(o.Get("shape"), "planCreate");
  if (o.Get("name").IsString()) v.name = o.Get("name").As<Napi::String>().Utf8Value();
  if (o.Get("offset").IsNumber()) v.offset = static_cast<int64_t>(arg_int(o.Get("offset"), "value.offset", 0, 9.0e15));
  if (v.kind == PlanValueSpec::kParam || v.kind == PlanValueSpec::kConst) {
    int64_t id = arg_id(o.Get("tensor"), "planCreate", "value.tensor");
    v.bound = lookup(id, "planCreate", "bound tensor '" + v.name + "'");
    e.bound.emplace_back(id, v.name);
  }
  return v;
}

PlanStepSpec parse_step(const Napi::Object& o, int nv, int nscalars) {
  PlanStepSpec s;
  s.op = arg_string(o.Get("op"), "planCreate", "step.op");
  if (s.op != "reshape" && !is_known_op(s.op)) MDMT_FAIL(code::kInvalid, "planCreate", "unknown op '" << s.op << "'");
  s.inputs = arg_indices(arg_array(o, "inputs", "step"), "step.inputs[]", nv);
  s.outputs = arg_indices(arg_array(o, "outputs", "step"), "step.outputs[]", nv);
  parse_attrs(o.Get("attrs"), &s.attrs, s.op);
  if (o.Has("dynamic")) {
    Napi::Array d = arg_array(o, "dynamic", "step");
    if (d.Length() % 2) MDMT_FAIL(code::kInvalid, "planCreate", "step.dynamic must hold [attribute, scalar index] pairs");
    for (uint32_t i = 0; i + 1 < d.Length(); i += 2)
      s.dynamic.emplace_back(arg_string(d.Get(i), "planCreate", "step.dynamic attribute"),
                             arg_int(d.Get(i + 1), "step.dynamic index", 0, nscalars - 1));
  }
  return s;
}

Napi::Array register_views(Napi::Env env, const Plan& p, bool inputs) {
  size_t n = inputs ? p.num_inputs() : p.num_outputs();
  Napi::Array a = Napi::Array::New(env, n);
  for (size_t i = 0; i < n; ++i) {
    // a fresh Tensor struct sharing the arena: freeing the JS handle never frees the plan's value
    auto t = std::make_shared<Tensor>(*(inputs ? p.input_view(i) : p.output_view(i)));
    a.Set(static_cast<uint32_t>(i), static_cast<double>(register_tensor(std::move(t))));
  }
  return a;
}


std::shared_ptr<Entry> find_plan(const Napi::Value& v, const char* fn) {
  int64_t id = arg_id(v, fn, "plan");
  {
    std::lock_guard<std::mutex> g(plans().mu);
    auto it = plans().map.find(id);
    if (it != plans().map.end()) return it->second;
  }
  MDMT_FAIL(code::kDisposed, fn, "plan #" << id << " has been freed");
}

Napi::Value PlanCreate(const Napi::CallbackInfo& info) {
  return guarded(info, "planCreate", [&]() -> Napi::Value {
    expect_argc(info, "planCreate", 1, 1);
    Napi::Object o = arg_object(info[0], "spec");
    PlanSpec spec;
    spec.device = arg_device(o.Get("device"), "planCreate");
    Napi::Value ab = o.Get("arenaBytes");
    if (!ab.IsNumber() || !(ab.As<Napi::Number>().DoubleValue() >= 0) || ab.As<Napi::Number>().DoubleValue() > 1.0e15)
      MDMT_FAIL(code::kInvalid, "planCreate", "spec.arenaBytes must be a non-negative number");
    spec.arena_bytes = static_cast<size_t>(ab.As<Napi::Number>().DoubleValue());
    spec.nscalars = arg_int(o.Get("nscalars"), "spec.nscalars", 0, 1 << 20);
    auto ep = std::make_shared<Entry>();
    Entry& e = *ep;
    e.owner = env_token();
    Napi::Array vals = arg_array(o, "values", "spec");
    for (uint32_t i = 0; i < vals.Length(); ++i) spec.values.push_back(parse_value(arg_object(vals.Get(i), "spec.values[]"), e));
    const int nv = static_cast<int>(spec.values.size());
    Napi::Array steps = arg_array(o, "steps", "spec");
    for (uint32_t i = 0; i < steps.Length(); ++i) spec.steps.push_back(parse_step(arg_object(steps.Get(i), "spec.steps[]"), nv, spec.nscalars));
    spec.inputs = arg_indices(arg_array(o, "inputs", "spec"), "spec.inputs[]", nv);
    spec.outputs = arg_indices(arg_array(o, "outputs", "spec"), "spec.outputs[]", nv);
    if (o.Has("graph") && !o.Get("graph").IsUndefined()) {
      if (!o.Get("graph").IsBoolean()) MDMT_FAIL(code::kInvalid, "planCreate", "spec.graph must be a boolean");
      spec.graph = o.Get("graph").As<Napi::Boolean>().Value();
    }
    std::shared_ptr<Storage> shared;
    if (o.Has("shareArena") && !o.Get("shareArena").IsUndefined()) shared = find_plan(o.Get("shareArena"), "planCreate")->plan->arena();
    e.plan = std::make_unique<Plan>(std::move(spec), std::move(shared));
    e.plan->set_profiling(debug_enabled());
    Napi::Env env = info.Env();
    Napi::Object r = Napi::Object::New(env);
    r.Set("inputs", register_views(env, *e.plan, true));
    r.Set("outputs", register_views(env, *e.plan, false));
    r.Set("arenaBytes", static_cast<double>(e.plan->arena_bytes()));
    int64_t id;
    {
      std::lock_guard<std::mutex> g(plans().mu);
      id = plans().next++;
      plans().map.emplace(id, std::move(ep));
    }
    r.Set("id", static_cast<double>(id));
    return r;
  });
}

Napi::Value PlanRun(const Napi::CallbackInfo& info) {
  return guarded(info, "planRun", [&]() -> Napi::Value {
    expect_argc(info, "planRun", 2, 2);
    std::shared_ptr<Entry> ep = find_plan(info[0], "planRun");
    Entry& e = *ep;
    if (!info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array)
      MDMT_FAIL(code::kInvalid, "planRun", "scalars must be a Float64Array");
    Napi::Float64Array s = info[1].As<Napi::Float64Array>();
    for (auto& [id, name] : e.bound)
      if (!is_alive(id))
        MDMT_FAIL(code::kDisposed, "planRun", "bound tensor '" << name << "' (#" << id << ") has been disposed: "
                                              << "the plan's model or optimizer state is gone");
    e.plan->run(s.Data(), s.ElementLength());
    return info.Env().Undefined();
  });
}

Napi::Value PlanFree(const Napi::CallbackInfo& info) {
  return guarded(info, "planFree", [&]() -> Napi::Value {
    expect_argc(info, "planFree", 1, 1);
    int64_t id = arg_id(info[0], "planFree", "plan");
    std::shared_ptr<Entry> gone;  // freed after the lock is let go
    std::lock_guard<std::mutex> g(plans().mu);
    auto it = plans().map.find(id);
    if (it != plans().map.end()) {  // freeing twice is harmless
      gone = std::move(it->second);
      plans().map.erase(it);
    }
    return info.Env().Undefined();
  });
}

Napi::Value PlanProfile(const Napi::CallbackInfo& info) {
  return guarded(info, "planProfile", [&]() -> Napi::Value {
    expect_argc(info, "planProfile", 1, 2);
    std::shared_ptr<Entry> ep = find_plan(info[0], "planProfile");
    Plan& p = *ep->plan;
    Napi::Env env = info.Env();
    Napi::Array a = Napi::Array::New(env, p.num_steps());
    for (size_t i = 0; i < p.num_steps(); ++i) {
      Napi::Object o = Napi::Object::New(env);
      o.Set("op", p.step_op(i));
      o.Set("shapes", p.step_shapes(i));
      o.Set("ms", p.step_ms()[i]);
      a.Set(static_cast<uint32_t>(i), o);
    }
    if (info.Length() == 2) {
      if (!info[1].IsBoolean()) MDMT_FAIL(code::kInvalid, "planProfile", "on must be a boolean");
      p.set_profiling(info[1].As<Napi::Boolean>().Value());
    }
    return a;
  });
}

}  // namespace

Napi::Value PlanGraphLaunches(const Napi::CallbackInfo& info) {
  return guarded(info, "planGraphLaunches", [&]() -> Napi::Value {
    expect_argc(info, "planGraphLaunches", 1, 1);
    return Napi::Number::New(info.Env(), find_plan(info[0], "planGraphLaunches")->plan->graph_launches());
  });
}

size_t release_env_plans(uint64_t owner) {
  std::vector<std::shared_ptr<Entry>> gone;
  {
    std::lock_guard<std::mutex> g(plans().mu);
    auto& m = plans().map;
    for (auto it = m.begin(); it != m.end();) {
      if (it->second->owner == owner) {
        gone.push_back(std::move(it->second));
        it = m.erase(it);
      } else {
        ++it;
      }
    }
  }
  return gone.size();
}

void register_plan_api(Napi::Env env, Napi::Object exports) {
  exports.Set("planGraphLaunches", Napi::Function::New(env, PlanGraphLaunches, "planGraphLaunches"));
  exports.Set("planCreate", Napi::Function::New(env, PlanCreate, "planCreate"));
  exports.Set("planRun", Napi::Function::New(env, PlanRun, "planRun"));
  exports.Set("planFree", Napi::Function::New(env, PlanFree, "planFree"));
  exports.Set("planProfile", Napi::Function::New(env, PlanProfile, "planProfile"));
}

}  // namespace napi
}  // namespace mdmt
