// Running ops: run(op, inputs, outputs, attrs) through the registry (native/core/registry.h),
// ops() -> [{op, device}], setSeed(seed) for the random ops' default stream.
// MDMT_OP_PREPARED=1 runs every op as its two halves, prepare() then run() on a heap spec
// (how a step plan replays it), instead of the eager call: tests use it to check that both
// paths give the same results and errors.
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "../core/backend.h"
#include "../core/rng.h"
#include "common.h"

namespace mdmt {
namespace napi {
namespace {

bool prepared_mode() {
  static const bool on = [] {
    const char* e = std::getenv("MDMT_OP_PREPARED");
    return e && std::strcmp(e, "1") == 0;
  }();
  return on;
}

// The call's context: every tensor on one device (the first output's, else the first
// input's), inputs contiguous. `held` keeps the tensors alive for the call.
OpCtx make_ctx(const Napi::CallbackInfo& info, const std::string& op, std::vector<std::shared_ptr<Tensor>>* held) {
  auto ins = arg_tensor_list(info[1], op, "inputs");
  auto outs = arg_tensor_list(info[2], op, "outputs");
  OpCtx ctx;
  ctx.op = op;
  if (info.Length() == 4) parse_attrs(info[3], &ctx.attrs, op);
  if (ins.empty() && outs.empty()) MDMT_FAIL(code::kInvalid, op, "needs at least one tensor");
  ctx.device = !outs.empty() ? outs[0]->device : ins[0]->device;
  for (size_t i = 0; i < ins.size(); ++i) {
    if (ins[i]->device != ctx.device)
      MDMT_FAIL(code::kDevice, op, "input " << i << " is on " << ins[i]->device.str() << ", expected " << ctx.device.str());
    if (!ins[i]->contiguous()) MDMT_FAIL(code::kInvalid, op, "input " << i << " is not contiguous");
    ctx.in.push_back(ins[i].get());
  }
  for (size_t i = 0; i < outs.size(); ++i) {
    if (outs[i]->device != ctx.device)
      MDMT_FAIL(code::kDevice, op, "output " << i << " is on " << outs[i]->device.str() << ", expected " << ctx.device.str());
    ctx.out.push_back(outs[i].get());
  }
  held->insert(held->end(), ins.begin(), ins.end());
  held->insert(held->end(), outs.begin(), outs.end());
  return ctx;
}

Napi::Value Run(const Napi::CallbackInfo& info) {
  return guarded(info, "run", [&]() -> Napi::Value {
    expect_argc(info, "run", 3, 4);
    std::string op = arg_string(info[0], "run", "op");
    if (!is_known_op(op)) MDMT_FAIL(code::kInvalid, "run", "unknown op '" << op << "'");
    std::vector<std::shared_ptr<Tensor>> held;
    OpCtx ctx = make_ctx(info, op, &held);
    const OpKernel kernel = find_op(op, ctx.device.type);
    if (!kernel) {
      if (ctx.device.type == DeviceType::CUDA && !cuda_compiled()) MDMT_FAIL(code::kNotImpl, op, "mdmt was built without CUDA");
      MDMT_FAIL(code::kNotImpl, op, "not implemented on " << ctx.device.str());
    }
    const auto t0 = std::chrono::steady_clock::now();
    if (prepared_mode()) {
      const Prepared spec = kernel.prepare(ctx);
      kernel.run(ctx, spec.get());
    } else {
      kernel(ctx);
    }
    if (debug_enabled())
      debug_log(ctx, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    return info.Env().Undefined();
  });
}

Napi::Value Ops(const Napi::CallbackInfo& info) {
  return guarded(info, "ops", [&]() -> Napi::Value {
    expect_argc(info, "ops", 0, 0);
    Napi::Env env = info.Env();
    Napi::Array arr = Napi::Array::New(env);
    uint32_t k = 0;
    for (auto& [name, dev] : registered_ops()) {
      Napi::Object o = Napi::Object::New(env);
      o.Set("op", name);
      o.Set("device", dev == DeviceType::CPU ? "cpu" : "cuda");
      arr.Set(k++, o);
    }
    return arr;
  });
}

Napi::Value SetSeed(const Napi::CallbackInfo& info) {
  return guarded(info, "setSeed", [&]() -> Napi::Value {
    expect_argc(info, "setSeed", 1, 1);
    if (!info[0].IsNumber()) MDMT_FAIL(code::kInvalid, "setSeed", "seed must be a number");
    double d = info[0].As<Napi::Number>().DoubleValue();
    if (!std::isfinite(d) || d < 0 || std::floor(d) != d || d > 9007199254740991.0)
      MDMT_FAIL(code::kInvalid, "setSeed", "seed must be a non-negative safe integer, got " << d);
    set_global_seed(static_cast<uint64_t>(d));
    return info.Env().Undefined();
  });
}

}  // namespace

void register_ops_api(Napi::Env env, Napi::Object exports) {
  export_all(env, exports, {{"run", Run}, {"ops", Ops}, {"setSeed", SetSeed}});
}

}  // namespace napi
}  // namespace mdmt
