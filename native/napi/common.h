// The N-API helpers that the addon's files share (native/addon.cc is the entry; each
// native/napi/<area>.cc adds one area's functions to the exports): guarded(), which turns
// every C++ exception into a JavaScript MdmtError; argument readers that name the function
// and the argument on bad input; the tensor handle table; the attribute parser; and the
// MDMT_DEBUG op log.
#pragma once
#include <napi.h>

#include <initializer_list>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "../core/error.h"
#include "../core/registry.h"
#include "../core/tensor.h"

namespace mdmt {
namespace napi {

// ---- errors (errors.cc) ---------------------------------------------------------------
// An Error with name "MdmtError" and the fields code, op, detail (nativeFile, nativeLine).
Napi::Error to_js(Napi::Env env, const MdmtException& e);

// Runs body; every C++ exception becomes a JS MdmtError (nothing crosses N-API unhandled).
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

// Adds {name, function} pairs to the exports (each area's register_<area>_api).
struct Export {
  const char* name;
  Napi::Function::Callback fn;
};
inline void export_all(Napi::Env env, Napi::Object exports, std::initializer_list<Export> fns) {
  for (const Export& e : fns) exports.Set(e.name, Napi::Function::New(env, e.fn, e.name));
}

// ---- arguments (args.cc): each throws EINVAL / ESHAPE / EDEVICE naming fn and the argument
constexpr int kMaxDims = 8;
void expect_argc(const Napi::CallbackInfo& info, const char* fn, size_t lo, size_t hi);
int64_t arg_id(const Napi::Value& v, const char* fn, const char* what);
std::string arg_string(const Napi::Value& v, const char* fn, const char* what);
Shape arg_shape(const Napi::Value& v, const char* fn);
Device arg_device(const Napi::Value& v, const char* fn);
// Reads a plain object of numbers, booleans, strings and number arrays (attrs.cc).
void parse_attrs(const Napi::Value& v, Attrs* attrs, const std::string& op);

// ---- the handle table (handles.cc): ids are never reused, so a stale id is always
// reported as disposed.
std::shared_ptr<Tensor> lookup(int64_t id, const char* fn, const std::string& what);
bool is_alive(int64_t id);
int64_t register_tensor(std::shared_ptr<Tensor> t);
void release_tensor(int64_t id);
int64_t live_tensors(const Device& dev);
// The environment (main thread or Worker) this thread runs: a number given when the addon
// is loaded into it (claims.cc), never reused. Entries of the process-wide tables carry it,
// not std::thread::id, which a later thread may be given again: a torn-down Worker's
// clean-up would then free a newer Worker's tensors and claims.
uint64_t env_token();
// Frees the tensors (handles.cc) and plans (plan.cc) an environment registered: it is being
// torn down (claims.cc). Returns how many.
size_t release_env_handles(uint64_t owner);
size_t release_env_plans(uint64_t owner);
// An array of tensor ids -> the tensors (what[i] names a bad entry).
std::vector<std::shared_ptr<Tensor>> arg_tensor_list(const Napi::Value& v, const std::string& op, const char* what);

// ---- MDMT_DEBUG (debug.cc): one stderr line per op with shapes and milliseconds --------
bool debug_enabled();
void debug_log(const OpCtx& ctx, double ms);

}  // namespace napi
}  // namespace mdmt
