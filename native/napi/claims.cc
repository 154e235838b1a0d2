// Process-wide claims on run directories, and the teardown of a worker's environment.
//
//   claimRun(key) -> boolean   true when no thread of this process holds `key` (it now does)
//   releaseRun(key)            lets it go (releasing one not held is harmless)
//
// A run directory's .lock file says "<pid> <host>", which cannot tell two worker_threads of
// one process apart: a worker's train() took the main thread's lock for its own and both
// trained one directory, interleaving log.jsonl and the checkpoints. Module state in
// JavaScript is per thread, the addon's is per process, so the claim lives here
// (ts/train/lock.ts takes it with the file). A claim remembers its thread; when a
// thread's environment is torn down (a Worker that ended or was terminated mid-run, whose
// `finally` blocks never ran) its claims, plans and tensors are released, so its run
// directory can be taken over and its memory is not lost for the life of the process.
#include <atomic>
#include <mutex>
#include <string>
#include <unordered_map>

#include "common.h"

namespace mdmt {
namespace napi {
namespace {

struct Claims {
  std::mutex mu;
  std::unordered_map<std::string, uint64_t> held;  // key -> env_token() of its holder
};
std::atomic<uint64_t> next_token{1};
thread_local uint64_t this_env = 0;  // set when the addon is loaded into this thread's environment
Claims& claims() {
  static Claims* c = new Claims();
  return *c;
}

Napi::Value ClaimRun(const Napi::CallbackInfo& info) {
  return guarded(info, "claimRun", [&]() -> Napi::Value {
    expect_argc(info, "claimRun", 1, 1);
    std::string key = arg_string(info[0], "claimRun", "key");
    std::lock_guard<std::mutex> g(claims().mu);
    bool free = claims().held.emplace(key, env_token()).second;
    return Napi::Boolean::New(info.Env(), free);
  });
}

Napi::Value ReleaseRun(const Napi::CallbackInfo& info) {
  return guarded(info, "releaseRun", [&]() -> Napi::Value {
    expect_argc(info, "releaseRun", 1, 1);
    std::string key = arg_string(info[0], "releaseRun", "key");
    std::lock_guard<std::mutex> g(claims().mu);
    claims().held.erase(key);
    return info.Env().Undefined();
  });
}

// Runs on the environment's own thread as it is torn down (worker exit or terminate(),
// and the main thread at exit).
void teardown(void* arg) {
  const uint64_t owner = reinterpret_cast<uintptr_t>(arg);
  {
    std::lock_guard<std::mutex> g(claims().mu);
    for (auto it = claims().held.begin(); it != claims().held.end();) it = it->second == owner ? claims().held.erase(it) : std::next(it);
  }
  release_env_plans(owner);  // before the tensors: plans hold views of them
  release_env_handles(owner);
}

}  // namespace

uint64_t env_token() { return this_env; }

void register_claims_api(Napi::Env env, Napi::Object exports) {
  export_all(env, exports, {{"claimRun", ClaimRun}, {"releaseRun", ReleaseRun}});
  this_env = next_token++;
  napi_add_env_cleanup_hook(env, teardown, reinterpret_cast<void*>(static_cast<uintptr_t>(this_env)));
}

}  // namespace napi
}  // namespace mdmt
