// MdmtException -> JavaScript MdmtError (native/core/error.h; ts/errors.ts reads the fields).
#include "common.h"

namespace mdmt {
namespace napi {

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

}  // namespace napi
}  // namespace mdmt
