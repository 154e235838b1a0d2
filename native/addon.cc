// The N-API entry of mdmt: a dozen functions over integer tensor ids. Every argument is
// checked before native code sees it, and every failure, ours or a library's, is thrown
// to JavaScript as an Error with name "MdmtError" and the fields code, op and detail
// (guarded() in native/napi/common.h). Nothing may abort the process.
//
// Each area of the surface is one file native/napi/<area>.cc defining
// register_<area>_api(env, exports), which adds that area's functions; adding an area is
// its file plus one entry in MDMT_NAPI_AREAS. The helpers the areas share (arguments,
// the tensor handle table, attributes, errors, the MDMT_DEBUG log) are in native/napi/.
#include <napi.h>

#define MDMT_NAPI_AREAS(X) \
  X(tensors) /* alloc free view upload download info (native/napi/tensors.cc) */ \
  X(ops)     /* run ops setSeed (native/napi/ops.cc) */                           \
  X(devices) /* devices memStats sync setThreads cudaCompiled (native/napi/devices.cc) */ \
  X(plan)    /* planCreate planRun planFree planProfile (native/napi/plan.cc) */  \
  X(claims)  /* claimRun releaseRun; frees a torn-down environment's handles (native/napi/claims.cc) */

namespace mdmt {
namespace napi {

#define MDMT_NAPI_DECLARE(AREA) void register_##AREA##_api(Napi::Env env, Napi::Object exports);
MDMT_NAPI_AREAS(MDMT_NAPI_DECLARE)
#undef MDMT_NAPI_DECLARE

Napi::Object Init(Napi::Env env, Napi::Object exports) {
#define MDMT_NAPI_REGISTER(AREA) register_##AREA##_api(env, exports);
  MDMT_NAPI_AREAS(MDMT_NAPI_REGISTER)
#undef MDMT_NAPI_REGISTER
  return exports;
}

}  // namespace napi
}  // namespace mdmt

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return mdmt::napi::Init(env, exports); }
NODE_API_MODULE(mdmt, InitAddon)
