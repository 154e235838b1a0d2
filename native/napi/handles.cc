// The tensor handle table: JavaScript holds integer ids, native code owns the tensors.
// Ids are never reused, so a stale id is always reported as disposed. The table is never
// destroyed (tensors may outlive the environment's teardown order).
//
// One table serves every environment of the process (the main thread and each
// worker_threads Worker load the addon into the same library): it is guarded by a mutex —
// two workers training at once raced on the unordered_map and one was told a live tensor
// had been disposed — and each entry remembers the environment that made it (env_token), so the tensors a
// terminated worker left are freed when its environment is torn down (release_env_handles).
#include <mutex>
#include <unordered_map>

#include "common.h"

namespace mdmt {
namespace napi {
namespace {

struct Entry {
  std::shared_ptr<Tensor> tensor;
  uint64_t owner;  // env_token() of the environment that made it
};
struct Table {
  std::mutex mu;
  std::unordered_map<int64_t, Entry> tensors;
  int64_t next_id = 1;
};
Table& table() {
  static Table* t = new Table();
  return *t;
}

}  // namespace

std::shared_ptr<Tensor> lookup(int64_t id, const char* fn, const std::string& what) {
  Table& t = table();
  bool was;
  {
    std::lock_guard<std::mutex> g(t.mu);
    auto it = t.tensors.find(id);
    if (it != t.tensors.end()) return it->second.tensor;
    was = id > 0 && id < t.next_id;
  }
  if (was) MDMT_FAIL(code::kDisposed, fn, what << " (tensor #" << id << ") has been disposed");
  MDMT_FAIL(code::kDisposed, fn, what << " (tensor #" << id << ") does not exist");
}

bool is_alive(int64_t id) {
  std::lock_guard<std::mutex> g(table().mu);
  return table().tensors.count(id) > 0;
}

int64_t register_tensor(std::shared_ptr<Tensor> t) {
  Table& tb = table();
  std::lock_guard<std::mutex> g(tb.mu);
  int64_t id = tb.next_id++;
  tb.tensors.emplace(id, Entry{std::move(t), env_token()});
  return id;
}

void release_tensor(int64_t id) {
  std::shared_ptr<Tensor> gone;  // freed after the lock is let go
  std::lock_guard<std::mutex> g(table().mu);
  auto it = table().tensors.find(id);
  if (it == table().tensors.end()) return;
  gone = std::move(it->second.tensor);
  table().tensors.erase(it);
}

int64_t live_tensors(const Device& dev) {
  std::lock_guard<std::mutex> g(table().mu);
  int64_t n = 0;
  for (auto& [id, e] : table().tensors)
    if (e.tensor->device == dev) ++n;
  return n;
}

size_t release_env_handles(uint64_t owner) {
  std::vector<std::shared_ptr<Tensor>> gone;
  {
    std::lock_guard<std::mutex> g(table().mu);
    auto& m = table().tensors;
    for (auto it = m.begin(); it != m.end();) {
      if (it->second.owner == owner) {
        gone.push_back(std::move(it->second.tensor));
        it = m.erase(it);
      } else {
        ++it;
      }
    }
  }
  return gone.size();
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

}  // namespace napi
}  // namespace mdmt
