// What cudnn_api.h and cublas_api.h share: a table field per X(...) entry of an API list
// (a function pointer named after the exported symbol) and the checked access to a table
// the loader (loader.cc) has or has not filled.
#pragma once

#define MDMT_DYN_FIELD(RET, NAME, SYM, PARAMS, ARGS) RET(*SYM) PARAMS = nullptr;

namespace mdmt {
namespace dyn {
// Throws EDEVICE naming the library and why it is not loaded (loader.cc).
[[noreturn]] void not_loaded(const char* library);
template <class Api>
inline const Api& loaded(const Api* api, const char* library) {
  if (!api) not_loaded(library);
  return *api;
}
}  // namespace dyn
}  // namespace mdmt
