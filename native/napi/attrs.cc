// Op attributes from JavaScript: a plain object of numbers, booleans, strings and number
// arrays (at most 4096 entries each) -> Attrs (native/core/registry.h).
#include "common.h"

namespace mdmt {
namespace napi {

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

}  // namespace napi
}  // namespace mdmt
