// The N-API surface of mdmt: a dozen functions over integer tensor ids. Every argument is
// checked here (type, count, range) before native code sees it, and every failure, ours or
// a library's, is thrown to JavaScript as an Error with name "MdmtError" and the fields
// code, op and detail. Nothing here may abort the process.
#include <napi.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <unistd.h>
#include <unordered_map>

#include "core/backend.h"
#include "core/error.h"
#include "core/registry.h"
#include "core/rng.h"
#include "core/tensor.h"
#include "cpu/parallel.h"

namespace mdmt {
namespace {

constexpr int kMaxDims = 8;

struct State {
  std::unordered_map<int64_t, std::shared_ptr<Tensor>> tensors;
  int64_t next_id = 1;  // ids are never reused: a stale id is always reported as disposed
  bool debug = std::getenv("MDMT_DEBUG") != nullptr;
};
State& state() {
  static State* s = new State();
  return *s;
}

size_t max_alloc_bytes() {
  static size_t v = [] {
    if (const char* e = std::getenv("MDMT_MAX_ALLOC_BYTES")) return static_cast<size_t>(std::strtoull(e, nullptr, 10));
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    return pages > 0 && page > 0 ? static_cast<size_t>(pages) * static_cast<size_t>(page) : (size_t(1) << 36);
  }();
  return v;
}

Napi::Error to_js(Napi::Env env, const MdmtException& e) {
  Napi::Error err = Napi::Error::New(env, e.what());
  Napi::Object o = err.Value();
  o.Set("name", "MdmtError");
  o.Set("code", e.code());
  o.Set("op", e.op());
  o.Set("detail", e.detail());
  if (!e.file().empty()) {
    o.Set("nativeFile", e.file());
    o.Set("nativeLine", e.line());
  }
  return err;
}

// Wraps a function body so that every C++ exception becomes a JS MdmtError.
template <class F>
Napi::Value guarded(const Napi::CallbackInfo& info, const char* fn, F&& body) {
  Napi::Env env = info.Env();
  try {
    return body();
  } catch (const MdmtException& e) {
    to_js(env, e).ThrowAsJavaScriptException();
  } catch (const Napi::Error& e) {
    throw;  // already a JS exception
  } catch (const std::bad_alloc&) {
    to_js(env, MdmtException(code::kNoMem, fn, "out of host memory")).ThrowAsJavaScriptException();
  } catch (const std::exception& e) {
    to_js(env, MdmtException(code::kInternal, fn, e.what())).ThrowAsJavaScriptException();
  } catch (...) {
    to_js(env, MdmtException(code::kInternal, fn, "unknown native exception")).ThrowAsJavaScriptException();
  }
  return env.Undefined();
}

void expect_argc(const Napi::CallbackInfo& info, const char* fn, size_t lo, size_t hi) {
  if (info.Length() < lo || info.Length() > hi) {
    if (lo == hi) MDMT_FAIL(code::kInvalid, fn, "expects " << lo << " argument(s), got " << info.Length());
    MDMT_FAIL(code::kInvalid, fn, "expects " << lo << ".." << hi << " arguments, got " << info.Length());
  }
}

int64_t arg_id(const Napi::Value& v, const char* fn, const char* what) {
  if (!v.IsNumber()) MDMT_FAIL(code::kInvalid, fn, what << " must be a tensor id (number)");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || d < 1 || std::floor(d) != d || d > 9.0e15)
    MDMT_FAIL(code::kInvalid, fn, what << " is not a valid tensor id: " << d);
  return static_cast<int64_t>(d);
}

std::shared_ptr<Tensor> lookup(int64_t id, const char* fn, const std::string& what) {
  auto& t = state().tensors;
  auto it = t.find(id);
  if (it == t.end()) {
    if (id > 0 && id < state().next_id) MDMT_FAIL(code::kDisposed, fn, what << " (tensor #" << id << ") has been disposed");
    MDMT_FAIL(code::kDisposed, fn, what << " (tensor #" << id << ") does not exist");
  }
  return it->second;
}

std::string arg_string(const Napi::Value& v, const char* fn, const char* what) {
  if (!v.IsString()) MDMT_FAIL(code::kInvalid, fn, what << " must be a string");
  return v.As<Napi::String>().Utf8Value();
}

Shape arg_shape(const Napi::Value& v, const char* fn) {
  if (!v.IsArray()) MDMT_FAIL(code::kInvalid, fn, "shape must be an array of non-negative integers");
  Napi::Array a = v.As<Napi::Array>();
  if (a.Length() > kMaxDims) MDMT_FAIL(code::kShape, fn, "shape has " << a.Length() << " dims; at most " << kMaxDims);
  Shape s;
  double total = 1;
  for (uint32_t i = 0; i < a.Length(); ++i) {
    Napi::Value e = a.Get(i);
    if (!e.IsNumber()) MDMT_FAIL(code::kInvalid, fn, "shape[" << i << "] must be a number");
    double d = e.As<Napi::Number>().DoubleValue();
    if (!std::isfinite(d) || d < 0 || std::floor(d) != d)
      MDMT_FAIL(code::kShape, fn, "shape[" << i << "] must be a non-negative integer, got " << d);
    total *= d;
    if (total > 4.0e15) MDMT_FAIL(code::kShape, fn, "shape " << "is too large");
    s.push_back(static_cast<int64_t>(d));
  }
  return s;
}

Device arg_device(const Napi::Value& v, const char* fn) {
  std::string s = arg_string(v, fn, "device");
  Device d;
  if (!parse_device(s, &d)) MDMT_FAIL(code::kDevice, fn, "unknown device '" << s << "' (use cpu, cuda or cuda:N)");
  return d;
}

int64_t register_tensor(std::shared_ptr<Tensor> t) {
  int64_t id = state().next_id++;
  state().tensors.emplace(id, std::move(t));
  return id;
}

// ---- alloc(shape, dtype, device) -> id ------------------------------------------------
Napi::Value Alloc(const Napi::CallbackInfo& info) {
  return guarded(info, "alloc", [&]() -> Napi::Value {
    expect_argc(info, "alloc", 3, 3);
    Shape shape = arg_shape(info[0], "alloc");
    std::string ds = arg_string(info[1], "alloc", "dtype");
    DType dt;
    if (!parse_dtype(ds, &dt)) MDMT_FAIL(code::kDType, "alloc", "unknown dtype '" << ds << "'");
    Device dev = arg_device(info[2], "alloc");
    auto t = std::make_shared<Tensor>();
    t->dtype = dt;
    t->device = dev;
    t->shape = shape;
    t->strides = contiguous_strides(shape);
    size_t bytes = t->nbytes();
    if (dev.type == DeviceType::CPU && bytes > max_alloc_bytes())
      MDMT_FAIL(code::kNoMem, "alloc", "cannot allocate " << bytes << " bytes for a " << ds << " tensor of shape "
                                                          << shape_str(shape) << " on cpu (more than physical memory)");
    Backend& b = backend_for(dev);
    void* p = b.alloc(bytes, dev);
    t->storage = std::make_shared<Storage>(p, bytes, dev);
    return Napi::Number::New(info.Env(), static_cast<double>(register_tensor(std::move(t))));
  });
}

// ---- free(id) ---------------------------------------------------------------------------
Napi::Value Free(const Napi::CallbackInfo& info) {
  return guarded(info, "free", [&]() -> Napi::Value {
    expect_argc(info, "free", 1, 1);
    int64_t id = arg_id(info[0], "free", "tensor");
    lookup(id, "free", "tensor");
    state().tensors.erase(id);
    return info.Env().Undefined();
  });
}

// ---- view(id, shape) -> id: same storage, new shape (reshape / flatten) ----------------
Napi::Value View(const Napi::CallbackInfo& info) {
  return guarded(info, "view", [&]() -> Napi::Value {
    expect_argc(info, "view", 2, 2);
    auto src = lookup(arg_id(info[0], "view", "tensor"), "view", "tensor");
    Shape shape = arg_shape(info[1], "view");
    if (shape_numel(shape) != src->numel())
      MDMT_FAIL(code::kShape, "view", "cannot view " << src->shape_str() << " (" << src->numel() << " elements) as "
                                                     << shape_str(shape));
    if (!src->contiguous()) MDMT_FAIL(code::kInvalid, "view", "tensor is not contiguous");
    auto t = std::make_shared<Tensor>(*src);
    t->shape = shape;
    t->strides = contiguous_strides(shape);
    return Napi::Number::New(info.Env(), static_cast<double>(register_tensor(std::move(t))));
  });
}

// The data pointer of a typed array, also when it views a SharedArrayBuffer (worker
// batches): node-addon-api's ArrayBuffer() rejects shared buffers, napi_get_typedarray_info
// does not.
uint8_t* typed_array_data(napi_env env, const Napi::TypedArray& ta, const char* fn) {
  void* data = nullptr;
  size_t len = 0;
  napi_typedarray_type type;
  napi_value ab;
  size_t off = 0;
  if (napi_get_typedarray_info(env, ta, &type, &len, &data, &ab, &off) != napi_ok)
    MDMT_FAIL(code::kInvalid, fn, "cannot read the typed array's memory");
  return static_cast<uint8_t*>(data);
}

bool typed_array_matches(napi_typedarray_type tt, DType dt) {
  switch (dt) {
    case DType::F32: return tt == napi_float32_array;
    case DType::I32: return tt == napi_int32_array;
    case DType::U8: return tt == napi_uint8_array || tt == napi_uint8_clamped_array;
    case DType::BF16:
    case DType::F16: return tt == napi_uint16_array;
  }
  return false;
}

const char* typed_array_name(DType dt) {
  switch (dt) {
    case DType::F32: return "Float32Array";
    case DType::I32: return "Int32Array";
    case DType::U8: return "Uint8Array";
    default: return "Uint16Array";
  }
}

// ---- upload(id, typedArray): host data into the tensor --------------------------------
Napi::Value Upload(const Napi::CallbackInfo& info) {
  return guarded(info, "upload", [&]() -> Napi::Value {
    expect_argc(info, "upload", 2, 2);
    auto t = lookup(arg_id(info[0], "upload", "tensor"), "upload", "tensor");
    if (!info[1].IsTypedArray()) MDMT_FAIL(code::kInvalid, "upload", "data must be a typed array");
    Napi::TypedArray ta = info[1].As<Napi::TypedArray>();
    if (!typed_array_matches(ta.TypedArrayType(), t->dtype))
      MDMT_FAIL(code::kDType, "upload", "a " << dtype_name(t->dtype) << " tensor takes a " << typed_array_name(t->dtype));
    if (static_cast<int64_t>(ta.ElementLength()) != t->numel())
      MDMT_FAIL(code::kShape, "upload", "data has " << ta.ElementLength() << " elements, tensor " << t->shape_str()
                                                    << " has " << t->numel());
    const uint8_t* src = typed_array_data(info.Env(), ta, "upload");
    backend_for(t->device).upload(t->raw(), src, t->nbytes(), t->device);
    return info.Env().Undefined();
  });
}

// ---- download(id, out?) -> typed array ---------------------------------------------------
Napi::Value Download(const Napi::CallbackInfo& info) {
  return guarded(info, "download", [&]() -> Napi::Value {
    expect_argc(info, "download", 1, 2);
    Napi::Env env = info.Env();
    auto t = lookup(arg_id(info[0], "download", "tensor"), "download", "tensor");
    size_t n = static_cast<size_t>(t->numel());
    // V8 aborts the process when asked for a typed array over 2^32 elements (kMaxLength)
    if (n > 0xFFFFFFFFull)
      MDMT_FAIL(code::kInvalid, "download", "tensor " << t->shape_str() << " has " << n
                                            << " elements; a JavaScript typed array holds at most 2^32 - 1");
    Napi::TypedArray out;
    if (info.Length() == 2 && !info[1].IsUndefined()) {
      if (!info[1].IsTypedArray()) MDMT_FAIL(code::kInvalid, "download", "out must be a typed array");
      out = info[1].As<Napi::TypedArray>();
      if (!typed_array_matches(out.TypedArrayType(), t->dtype))
        MDMT_FAIL(code::kDType, "download", "a " << dtype_name(t->dtype) << " tensor downloads into a " << typed_array_name(t->dtype));
      if (out.ElementLength() != n)
        MDMT_FAIL(code::kShape, "download", "out has " << out.ElementLength() << " elements, tensor has " << n);
    } else {
      switch (t->dtype) {
        case DType::F32: out = Napi::Float32Array::New(env, n); break;
        case DType::I32: out = Napi::Int32Array::New(env, n); break;
        case DType::U8: out = Napi::Uint8Array::New(env, n); break;
        default: out = Napi::Uint16Array::New(env, n); break;
      }
    }
    uint8_t* dst = typed_array_data(env, out, "download");
    if (n) backend_for(t->device).download(dst, t->raw(), t->nbytes(), t->device);
    return out;
  });
}

void parse_attrs(const Napi::Value& v, Attrs* attrs, const std::string& op) {
  if (v.IsUndefined() || v.IsNull()) return;
  if (!v.IsObject() || v.IsArray()) MDMT_FAIL(code::kInvalid, op, "attrs must be a plain object");
  Napi::Object o = v.As<Napi::Object>();
  Napi::Array keys = o.GetPropertyNames();
  for (uint32_t i = 0; i < keys.Length(); ++i) {
    std::string k = keys.Get(i).ToString().Utf8Value();
    Napi::Value e = o.Get(k);
    if (e.IsBoolean()) attrs->set(k, e.As<Napi::Boolean>().Value());
    else if (e.IsNumber()) attrs->set(k, e.As<Napi::Number>().DoubleValue());
    else if (e.IsString()) attrs->set(k, e.As<Napi::String>().Utf8Value());
    else if (e.IsArray()) {
      Napi::Array a = e.As<Napi::Array>();
      if (a.Length() > 4096) MDMT_FAIL(code::kInvalid, op, "attribute '" << k << "' is too long");
      std::vector<double> vals;
      for (uint32_t j = 0; j < a.Length(); ++j) {
        Napi::Value x = a.Get(j);
        if (!x.IsNumber()) MDMT_FAIL(code::kInvalid, op, "attribute '" << k << "'[" << j << "] must be a number");
        vals.push_back(x.As<Napi::Number>().DoubleValue());
      }
      attrs->set(k, std::move(vals));
    } else if (!e.IsUndefined()) {
      MDMT_FAIL(code::kInvalid, op, "attribute '" << k << "' must be a number, boolean, string or number array");
    }
  }
}

std::vector<std::shared_ptr<Tensor>> arg_tensor_list(const Napi::Value& v, const std::string& op, const char* what) {
  if (!v.IsArray()) MDMT_FAIL(code::kInvalid, op, what << " must be an array of tensor ids");
  Napi::Array a = v.As<Napi::Array>();
  if (a.Length() > 100000) MDMT_FAIL(code::kInvalid, op, "too many " << what);
  std::vector<std::shared_ptr<Tensor>> r;
  for (uint32_t i = 0; i < a.Length(); ++i) {
    std::string label = std::string(what) + "[" + std::to_string(i) + "]";
    r.push_back(lookup(arg_id(a.Get(i), op.c_str(), label.c_str()), op.c_str(), label));
  }
  return r;
}

// ---- run(op, inputs, outputs, attrs) ------------------------------------------------------
Napi::Value Run(const Napi::CallbackInfo& info) {
  return guarded(info, "run", [&]() -> Napi::Value {
    expect_argc(info, "run", 3, 4);
    std::string op = arg_string(info[0], "run", "op");
    if (!is_known_op(op)) MDMT_FAIL(code::kInvalid, "run", "unknown op '" << op << "'");
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
    OpFn fn = find_op(op, ctx.device.type);
    if (!fn) {
      if (ctx.device.type == DeviceType::CUDA && !cuda_compiled())
        MDMT_FAIL(code::kNotImpl, op, "mdmt was built without CUDA");
      MDMT_FAIL(code::kNotImpl, op, "not implemented on " << ctx.device.str());
    }
    if (state().debug) {
      auto t0 = std::chrono::steady_clock::now();
      fn(ctx);
      double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      std::fprintf(stderr, "[mdmt] %-22s %s", op.c_str(), ctx.device.str().c_str());
      for (auto* t : ctx.in) std::fprintf(stderr, " %s", t->shape_str().c_str());
      std::fprintf(stderr, " ->");
      for (auto* t : ctx.out) std::fprintf(stderr, " %s", t->shape_str().c_str());
      std::fprintf(stderr, " %.3f ms\n", ms);
    } else {
      fn(ctx);
    }
    return info.Env().Undefined();
  });
}

// ---- devices() ----------------------------------------------------------------------------
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

// ---- memStats(device) ------------------------------------------------------------------
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
    MemStats s = dev.type == DeviceType::CUDA && !cuda_compiled() ? MemStats{} : b.mem_stats(dev);
    int64_t live = 0;
    for (auto& [id, t] : state().tensors)
      if (t->device == dev) ++live;
    Napi::Object o = Napi::Object::New(env);
    o.Set("liveTensors", static_cast<double>(live));
    o.Set("liveBytes", static_cast<double>(s.live_bytes));
    o.Set("peakBytes", static_cast<double>(s.peak_bytes));
    o.Set("cachedBytes", static_cast<double>(s.cached_bytes));
    o.Set("liveBuffers", static_cast<double>(s.live_buffers));
    o.Set("deviceTotal", static_cast<double>(s.device_total));
    o.Set("deviceFree", static_cast<double>(s.device_free));
    if (reset && !(dev.type == DeviceType::CUDA && !cuda_compiled())) b.reset_peak(dev);
    return o;
  });
}

// ---- sync(device): wait for queued work, surface asynchronous errors -------------------
Napi::Value Sync(const Napi::CallbackInfo& info) {
  return guarded(info, "sync", [&]() -> Napi::Value {
    expect_argc(info, "sync", 1, 1);
    Device dev = arg_device(info[0], "sync");
    backend_for(dev).synchronize(dev);
    return info.Env().Undefined();
  });
}

// ---- ops() -> [{op, device}] -----------------------------------------------------------
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

// ---- setThreads(n) -> n -------------------------------------------------------------------
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

// ---- info(id) -> {shape, dtype, device} ---------------------------------------------------
Napi::Value Info(const Napi::CallbackInfo& info) {
  return guarded(info, "info", [&]() -> Napi::Value {
    expect_argc(info, "info", 1, 1);
    auto t = lookup(arg_id(info[0], "info", "tensor"), "info", "tensor");
    Napi::Env env = info.Env();
    Napi::Object o = Napi::Object::New(env);
    Napi::Array s = Napi::Array::New(env, t->shape.size());
    for (size_t i = 0; i < t->shape.size(); ++i) s.Set(static_cast<uint32_t>(i), static_cast<double>(t->shape[i]));
    o.Set("shape", s);
    o.Set("dtype", dtype_name(t->dtype));
    o.Set("device", t->device.str());
    return o;
  });
}

// ---- setSeed(seed): seeds the default stream of random ops ------------------------------
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

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("setSeed", Napi::Function::New(env, SetSeed, "setSeed"));
  exports.Set("alloc", Napi::Function::New(env, Alloc, "alloc"));
  exports.Set("free", Napi::Function::New(env, Free, "free"));
  exports.Set("view", Napi::Function::New(env, View, "view"));
  exports.Set("upload", Napi::Function::New(env, Upload, "upload"));
  exports.Set("download", Napi::Function::New(env, Download, "download"));
  exports.Set("run", Napi::Function::New(env, Run, "run"));
  exports.Set("devices", Napi::Function::New(env, Devices, "devices"));
  exports.Set("memStats", Napi::Function::New(env, MemStatsFn, "memStats"));
  exports.Set("sync", Napi::Function::New(env, Sync, "sync"));
  exports.Set("ops", Napi::Function::New(env, Ops, "ops"));
  exports.Set("setThreads", Napi::Function::New(env, SetThreads, "setThreads"));
  exports.Set("info", Napi::Function::New(env, Info, "info"));
  exports.Set("cudaCompiled", Napi::Boolean::New(env, cuda_compiled()));
  return exports;
}

}  // namespace
}  // namespace mdmt

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return mdmt::Init(env, exports); }
NODE_API_MODULE(mdmt, InitAddon)
