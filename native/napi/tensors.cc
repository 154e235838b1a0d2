// Tensors across the boundary: alloc(shape, dtype, device) -> id, free(id), view(id, shape)
// -> id, upload(id, typedArray), download(id, out?) -> typed array, info(id),
// nonFinite(ids) -> the index of the first CPU float32 tensor holding a NaN or ±inf, or -1.
#include <algorithm>

#include "../core/backend.h"
#include "common.h"

namespace mdmt {
namespace napi {
namespace {

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
    Backend& b = backend_for(dev);
    void* p;
    try {
      p = b.alloc(bytes, dev);
    } catch (const CpuNoRoom& e) {  // the allocator's own check, told with the tensor's shape
      MDMT_FAIL(code::kNoMem, "alloc", "cannot allocate " << bytes << " bytes for a " << ds << " tensor of shape " << shape_str(shape)
                                                          << " on cpu: only " << e.room << " bytes of memory are available");
    }
    t->storage = std::make_shared<Storage>(p, bytes, dev);
    return Napi::Number::New(info.Env(), static_cast<double>(register_tensor(std::move(t))));
  });
}

Napi::Value Free(const Napi::CallbackInfo& info) {
  return guarded(info, "free", [&]() -> Napi::Value {
    expect_argc(info, "free", 1, 1);
    int64_t id = arg_id(info[0], "free", "tensor");
    lookup(id, "free", "tensor");
    release_tensor(id);
    return info.Env().Undefined();
  });
}

// Same storage, new shape (reshape / flatten).
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

// info(id) -> {shape, dtype, device}
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

// True when every one of the n floats at p is finite. x·0 is 0 for a finite x and NaN for
// NaN or ±inf, and a sum of zeros stays 0 (never overflows): the lanes' sums are NaN exactly
// when a block holds a non-finite value. Eight independent sums let the compiler vectorise
// the loop at the baseline ISA; blocks of 4096 stop early at the first bad one.
bool all_finite(const float* p, size_t n) {
  constexpr size_t kBlock = 4096;
  for (size_t b = 0; b < n; b += kBlock) {
    const size_t e = std::min(n, b + kBlock);
    float lane[8] = {};
    size_t i = b;
    for (; i + 8 <= e; i += 8)
      for (int l = 0; l < 8; ++l) lane[l] += p[i + l] * 0.f;
    float t = 0.f;
    for (; i < e; ++i) t += p[i] * 0.f;
    for (float v : lane) t += v;
    if (t != 0.f) return false;
  }
  return true;
}

// nonFinite(ids): train()'s end-of-epoch check of weights, optimiser state and BatchNorm
// statistics (ts/train/finite.ts), on the host's memory in place (copying each tensor into a
// typed array and scanning it in JavaScript took 6 % of `mdmt demo`).
Napi::Value NonFinite(const Napi::CallbackInfo& info) {
  return guarded(info, "nonFinite", [&]() -> Napi::Value {
    expect_argc(info, "nonFinite", 1, 1);
    auto ts = arg_tensor_list(info[0], "nonFinite", "tensors");
    for (size_t i = 0; i < ts.size(); ++i) {
      if (ts[i]->device.type != DeviceType::CPU)
        MDMT_FAIL(code::kDevice, "nonFinite", "tensor " << i << " is on " << ts[i]->device.str() << "; the host scan reads CPU tensors only");
      if (ts[i]->dtype != DType::F32) MDMT_FAIL(code::kDType, "nonFinite", "tensor " << i << " is " << dtype_name(ts[i]->dtype) << ", not float32");
      if (!ts[i]->contiguous()) MDMT_FAIL(code::kInvalid, "nonFinite", "tensor " << i << " is not contiguous");
    }
    for (size_t i = 0; i < ts.size(); ++i)
      if (!all_finite(ts[i]->data<float>(), static_cast<size_t>(ts[i]->numel()))) return Napi::Number::New(info.Env(), static_cast<double>(i));
    return Napi::Number::New(info.Env(), -1);
  });
}

}  // namespace

void register_tensors_api(Napi::Env env, Napi::Object exports) {
  export_all(env, exports,
             {{"alloc", Alloc}, {"free", Free}, {"view", View}, {"upload", Upload}, {"download", Download}, {"info", Info},
              {"nonFinite", NonFinite}});
}

}  // namespace napi
}  // namespace mdmt
