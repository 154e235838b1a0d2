// Devices and memory: devices() -> [{name, type, index, available, reason, description,
// props}], memStats(device, resetPeak?), emptyCache(device) -> bytes, sync(device), setThreads(n?) -> n,
// cudaCompiled.
#include <cmath>

#include "../core/backend.h"
#include "../cpu/parallel.h"
#include "common.h"

namespace mdmt {
namespace napi {
namespace {

Napi::Value Devices(const Napi::CallbackInfo& info) {
  return guarded(info, "devices", [&]() -> Napi::Value {
    expect_argc(info, "devices", 0, 0);
    Napi::Env env = info.Env();
    Napi::Array arr = Napi::Array::New(env);
    uint32_t k = 0;
    for (Backend* b : {&cpu_backend(), &cuda_backend()}) {
      for (const DeviceInfo& d : b->devices()) {
        Napi::Object o = Napi::Object::New(env);
        o.Set("name", d.name);
        o.Set("type", d.type);
        o.Set("index", d.index);
        o.Set("available", d.available);
        if (!d.reason.empty()) o.Set("reason", d.reason);
        o.Set("description", d.description);
        Napi::Object p = Napi::Object::New(env);
        for (auto& [key, val] : d.props) p.Set(key, val);
        o.Set("props", p);
        arr.Set(k++, o);
      }
    }
    return arr;
  });
}

// emptyCache(device) -> bytes given back: the freed buffers the device's allocator keeps.
Napi::Value EmptyCache(const Napi::CallbackInfo& info) {
  return guarded(info, "emptyCache", [&]() -> Napi::Value {
    expect_argc(info, "emptyCache", 1, 1);
    Device dev = arg_device(info[0], "emptyCache");
    const bool stub = dev.type == DeviceType::CUDA && !cuda_compiled();
    return Napi::Number::New(info.Env(), stub ? 0. : static_cast<double>(backend_for(dev).empty_cache(dev)));
  });
}

Napi::Value MemStatsFn(const Napi::CallbackInfo& info) {
  return guarded(info, "memStats", [&]() -> Napi::Value {
    expect_argc(info, "memStats", 1, 2);
    Device dev = arg_device(info[0], "memStats");
    bool reset = false;
    if (info.Length() == 2) {
      if (!info[1].IsBoolean()) MDMT_FAIL(code::kInvalid, "memStats", "resetPeak must be a boolean");
      reset = info[1].As<Napi::Boolean>().Value();
    }
    Napi::Env env = info.Env();
    Backend& b = backend_for(dev);
    const bool stub = dev.type == DeviceType::CUDA && !cuda_compiled();
    MemStats s = stub ? MemStats{} : b.mem_stats(dev);
    Napi::Object o = Napi::Object::New(env);
    o.Set("liveTensors", static_cast<double>(live_tensors(dev)));
    o.Set("liveBytes", static_cast<double>(s.live_bytes));
    o.Set("peakBytes", static_cast<double>(s.peak_bytes));
    o.Set("cachedBytes", static_cast<double>(s.cached_bytes));
    o.Set("liveBuffers", static_cast<double>(s.live_buffers));
    o.Set("deviceTotal", static_cast<double>(s.device_total));
    o.Set("deviceFree", static_cast<double>(s.device_free));
    if (reset && !stub) b.reset_peak(dev);
    return o;
  });
}

// Waits for queued work and surfaces asynchronous errors.
Napi::Value Sync(const Napi::CallbackInfo& info) {
  return guarded(info, "sync", [&]() -> Napi::Value {
    expect_argc(info, "sync", 1, 1);
    Device dev = arg_device(info[0], "sync");
    backend_for(dev).synchronize(dev);
    return info.Env().Undefined();
  });
}

Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  return guarded(info, "setThreads", [&]() -> Napi::Value {
    expect_argc(info, "setThreads", 0, 1);
    if (info.Length() == 1) {
      if (!info[0].IsNumber()) MDMT_FAIL(code::kInvalid, "setThreads", "n must be a number");
      double n = info[0].As<Napi::Number>().DoubleValue();
      if (!std::isfinite(n) || n < 1 || n > 1024 || std::floor(n) != n)
        MDMT_FAIL(code::kInvalid, "setThreads", "n must be an integer in [1, 1024], got " << n);
      set_num_threads(static_cast<int>(n));
    }
    return Napi::Number::New(info.Env(), num_threads());
  });
}

}  // namespace

void register_devices_api(Napi::Env env, Napi::Object exports) {
  export_all(env, exports, {{"devices", Devices}, {"memStats", MemStatsFn}, {"emptyCache", EmptyCache}, {"sync", Sync}, {"setThreads", SetThreads}});
  exports.Set("cudaCompiled", Napi::Boolean::New(env, cuda_compiled()));
}

}  // namespace napi
}  // namespace mdmt
