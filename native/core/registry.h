// The op registry: (op name, device type) -> kernel. Kernels register themselves in their
// own translation unit (native/cpu/<family>.cc, native/cuda/<family>.cc), so adding an op
// never touches a central switch.
//
// Prepare once, run many times. An op is two functions: prepare(ctx) reads the attributes,
// validates counts, dtypes, shapes and devices and derives the geometry into an immutable
// spec (the backend-neutral contract of native/ops/<family>.h, plus any backend limit);
// run(ctx, spec) only computes. Eager calls run(prepare(ctx)); a step plan prepares each
// step once and replays run() with tensors of the same dtypes and shapes. Attributes are
// frozen into the spec: a caller that changes them between runs (per-run scalars such as
// lr, bias corrections, dropout seeds) prepares again or calls the kernel eagerly.
#pragma once
#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#include "error.h"
#include "tensor.h"

namespace mdmt {

using AttrValue = std::variant<bool, double, std::string, std::vector<double>>;

// Attributes passed from JS as a plain object of numbers, booleans, strings and number arrays.
class Attrs {
 public:
  void set(const std::string& k, AttrValue v) { m_[k] = std::move(v); }
  bool has(const std::string& k) const { return m_.count(k) > 0; }
  // Accessors name the op and the key on a missing or mistyped attribute.
  int64_t i(const std::string& op, const std::string& k) const;
  int64_t i(const std::string& op, const std::string& k, int64_t def) const;
  double f(const std::string& op, const std::string& k) const;
  double f(const std::string& op, const std::string& k, double def) const;
  bool b(const std::string& op, const std::string& k, bool def) const;
  std::string s(const std::string& op, const std::string& k, const std::string& def) const;
  std::vector<int64_t> ints(const std::string& op, const std::string& k) const;
  std::vector<int64_t> ints(const std::string& op, const std::string& k, std::vector<int64_t> def) const;
  std::vector<double> floats(const std::string& op, const std::string& k) const;
  const std::map<std::string, AttrValue>& all() const { return m_; }

 private:
  std::map<std::string, AttrValue> m_;
};

struct OpCtx {
  std::string op;
  std::vector<Tensor*> in;   // read-only inputs
  std::vector<Tensor*> out;  // outputs, allocated by the caller with the inferred shapes;
                             // ops that update state in place (optimizers, BN running
                             // stats) document which outputs they read as well as write
  Attrs attrs;
  Device device;
  // Per-run scalars a CUDA-graph plan stages on the device (native/core/plan_replay.h):
  // attribute name -> address of its double; empty otherwise. Kernels with per-run
  // attributes (adam's lr and bias corrections, dropout's seed) read them there when present,
  // so a captured graph replays each run's values.
  std::vector<std::pair<std::string, const double*>> device_scalars;
  const double* device_scalar(const std::string& attr) const {
    for (const auto& [k, p] : device_scalars)
      if (k == attr) return p;
    return nullptr;
  }

  // Validation helpers: each throws MdmtException naming the op and the argument.
  void expect_counts(size_t n_in_min, size_t n_in_max, size_t n_out_min, size_t n_out_max) const;
  void expect_counts(size_t n_in, size_t n_out) const { expect_counts(n_in, n_in, n_out, n_out); }
  const Tensor& input(size_t i, const char* name, DType dt, int ndim = -1) const;
  Tensor& output(size_t i, const char* name, DType dt, const Shape& shape) const;
  void expect_shape(const Tensor& t, const char* name, const Shape& shape) const;
};

// A prepared spec, type-erased; the kernel that made it knows its type.
using Prepared = std::shared_ptr<const void>;
using PrepareFn = Prepared (*)(const OpCtx&);
using RunFn = void (*)(OpCtx&, const void* spec);
using EagerFn = void (*)(OpCtx&);

// What find_op returns: callable as before (fn(ctx) = run(prepare(ctx)), with the spec on
// the stack), plus the two halves for callers that replay an op.
struct OpKernel {
  PrepareFn prepare = nullptr;
  RunFn run = nullptr;
  EagerFn eager = nullptr;
  OpKernel() = default;
  OpKernel(std::nullptr_t) {}
  explicit operator bool() const { return eager != nullptr; }
  void operator()(OpCtx& c) const { eager(c); }
};
using OpFn = OpKernel;

void register_op(const char* name, DeviceType dev, OpKernel k);
OpKernel find_op(const std::string& name, DeviceType dev);  // empty (false) if absent
std::vector<std::pair<std::string, DeviceType>> registered_ops();
bool is_known_op(const std::string& name);  // listed in op_names.h

// The kernel of PREPARE: Spec(const OpCtx&) and RUN: void(OpCtx&, const Spec&).
template <auto PREPARE, auto RUN>
OpKernel spec_kernel() {
  using Spec = std::decay_t<decltype(PREPARE(std::declval<const OpCtx&>()))>;
  OpKernel k;
  k.prepare = [](const OpCtx& c) -> Prepared { return std::make_shared<const Spec>(PREPARE(c)); };
  k.run = [](OpCtx& c, const void* s) { RUN(c, *static_cast<const Spec*>(s)); };
  k.eager = [](OpCtx& c) { RUN(c, PREPARE(c)); };
  return k;
}

// The kernel of a function that validates and computes in one (its spec is empty, so a
// replay validates again).
template <auto FN>
OpKernel plain_kernel() {
  OpKernel k;
  k.prepare = [](const OpCtx&) -> Prepared { return nullptr; };
  k.run = [](OpCtx& c, const void*) { FN(c); };
  k.eager = [](OpCtx& c) { FN(c); };
  return k;
}

struct OpRegistrar {
  OpRegistrar(const char* name, DeviceType dev, OpKernel k) { register_op(name, dev, k); }
};

#define MDMT_CAT2(a, b) a##b
#define MDMT_CAT(a, b) MDMT_CAT2(a, b)
#define MDMT_REGISTER_KERNEL(NAME, DEV, KERNEL) \
  static ::mdmt::OpRegistrar MDMT_CAT(mdmt_registrar_, __LINE__)(NAME, ::mdmt::DeviceType::DEV, KERNEL)
// The usual form: the family's prepare (native/ops/<family>.h, or a backend wrapper that
// adds its own limits) and the backend's run.
#define MDMT_REGISTER_SPEC_OP(NAME, DEV, PREPARE, RUN) \
  MDMT_REGISTER_KERNEL(NAME, DEV, (::mdmt::spec_kernel<PREPARE, RUN>()))
#define MDMT_REGISTER_OP(NAME, DEV, FN) MDMT_REGISTER_KERNEL(NAME, DEV, (::mdmt::plain_kernel<FN>()))

}  // namespace mdmt
