// The op registry: (op name, device type) -> kernel function. Kernels register themselves
// with MDMT_REGISTER_OP in their own translation unit (native/cpu/<op>.cc,
// native/cuda/<op>.cc), so adding an op never touches a central switch.
#pragma once
#include <map>
#include <string>
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

  // Validation helpers: each throws MdmtException naming the op and the argument.
  void expect_counts(size_t n_in_min, size_t n_in_max, size_t n_out_min, size_t n_out_max) const;
  void expect_counts(size_t n_in, size_t n_out) const { expect_counts(n_in, n_in, n_out, n_out); }
  const Tensor& input(size_t i, const char* name, DType dt, int ndim = -1) const;
  Tensor& output(size_t i, const char* name, DType dt, const Shape& shape) const;
  void expect_shape(const Tensor& t, const char* name, const Shape& shape) const;
};

using OpFn = void (*)(OpCtx&);

void register_op(const char* name, DeviceType dev, OpFn fn);
OpFn find_op(const std::string& name, DeviceType dev);  // nullptr if absent
std::vector<std::pair<std::string, DeviceType>> registered_ops();
bool is_known_op(const std::string& name);  // listed in op_names.h

struct OpRegistrar {
  OpRegistrar(const char* name, DeviceType dev, OpFn fn) { register_op(name, dev, fn); }
};

#define MDMT_CAT2(a, b) a##b
#define MDMT_CAT(a, b) MDMT_CAT2(a, b)
#define MDMT_REGISTER_OP(NAME, DEV, FN) \
  static ::mdmt::OpRegistrar MDMT_CAT(mdmt_registrar_, __LINE__)(NAME, ::mdmt::DeviceType::DEV, FN)

}  // namespace mdmt
