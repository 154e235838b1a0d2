// The tensor handle table: JavaScript holds integer ids, native code owns the tensors.
// Ids are never reused, so a stale id is always reported as disposed. The table is never
// destroyed (tensors may outlive the environment's teardown order).
#include <unordered_map>

#include "common.h"

namespace mdmt {
namespace napi {
namespace {

struct Table {
  std::unordered_map<int64_t, std::shared_ptr<Tensor>> tensors;
  int64_t next_id = 1;
};
Table& table() {
  static Table* t = new Table();
  return *t;
}

}  // namespace

std::shared_ptr<Tensor> lookup(int64_t id, const char* fn, const std::string& what) {
  auto& t = table().tensors;
  auto it = t.find(id);
  if (it == t.end()) {
    if (id > 0 && id < table().next_id) MDMT_FAIL(code::kDisposed, fn, what << " (tensor #" << id << ") has been disposed");
    MDMT_FAIL(code::kDisposed, fn, what << " (tensor #" << id << ") does not exist");
  }
  return it->second;
}

bool is_alive(int64_t id) { return table().tensors.count(id) > 0; }

int64_t register_tensor(std::shared_ptr<Tensor> t) {
  int64_t id = table().next_id++;
  table().tensors.emplace(id, std::move(t));
  return id;
}

void release_tensor(int64_t id) { table().tensors.erase(id); }

int64_t live_tensors(const Device& dev) {
  int64_t n = 0;
  for (auto& [id, t] : table().tensors)
    if (t->device == dev) ++n;
  return n;
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
