#include "registry.h"

#include <algorithm>
#include <cmath>
#include <mutex>
#include <set>

#include "op_names.h"

namespace mdmt {

namespace {
struct Key {
  std::string name;
  DeviceType dev;
  bool operator<(const Key& o) const { return name < o.name || (name == o.name && dev < o.dev); }
};
std::map<Key, OpKernel>& table() {
  static std::map<Key, OpKernel> t;
  return t;
}
const std::set<std::string>& known() {
#define MDMT_NAME_ENTRY(n) #n,
  static const std::set<std::string> s = {MDMT_OP_NAMES(MDMT_NAME_ENTRY)};
#undef MDMT_NAME_ENTRY
  return s;
}
}  // namespace

void register_op(const char* name, DeviceType dev, OpKernel k) { table()[Key{name, dev}] = k; }

OpKernel find_op(const std::string& name, DeviceType dev) {
  auto it = table().find(Key{name, dev});
  return it == table().end() ? OpKernel() : it->second;
}

std::vector<std::pair<std::string, DeviceType>> registered_ops() {
  std::vector<std::pair<std::string, DeviceType>> v;
  for (auto& [k, fn] : table()) v.emplace_back(k.name, k.dev);
  return v;
}

bool is_known_op(const std::string& name) { return known().count(name) > 0; }

// ---- Attrs ----------------------------------------------------------------------------

namespace {
const AttrValue& get(const std::map<std::string, AttrValue>& m, const std::string& op, const std::string& k) {
  auto it = m.find(k);
  if (it == m.end()) MDMT_FAIL(code::kInvalid, op, "missing attribute '" << k << "'");
  return it->second;
}
double as_number(const AttrValue& v, const std::string& op, const std::string& k) {
  if (auto d = std::get_if<double>(&v)) return *d;
  if (auto b = std::get_if<bool>(&v)) return *b ? 1.0 : 0.0;
  MDMT_FAIL(code::kInvalid, op, "attribute '" << k << "' must be a number");
}
int64_t as_int(const AttrValue& v, const std::string& op, const std::string& k) {
  double d = as_number(v, op, k);
  if (!std::isfinite(d) || std::floor(d) != d || std::fabs(d) > 9.0e15)
    MDMT_FAIL(code::kInvalid, op, "attribute '" << k << "' must be an integer, got " << d);
  return static_cast<int64_t>(d);
}
}  // namespace

int64_t Attrs::i(const std::string& op, const std::string& k) const { return as_int(get(m_, op, k), op, k); }
int64_t Attrs::i(const std::string& op, const std::string& k, int64_t def) const {
  return has(k) ? i(op, k) : def;
}
double Attrs::f(const std::string& op, const std::string& k) const {
  double d = as_number(get(m_, op, k), op, k);
  if (std::isnan(d)) MDMT_FAIL(code::kInvalid, op, "attribute '" << k << "' is NaN");
  return d;
}
double Attrs::f(const std::string& op, const std::string& k, double def) const { return has(k) ? f(op, k) : def; }
bool Attrs::b(const std::string& op, const std::string& k, bool def) const {
  if (!has(k)) return def;
  const AttrValue& v = m_.at(k);
  if (auto b = std::get_if<bool>(&v)) return *b;
  if (auto d = std::get_if<double>(&v)) return *d != 0;
  MDMT_FAIL(code::kInvalid, op, "attribute '" << k << "' must be a boolean");
}
std::string Attrs::s(const std::string& op, const std::string& k, const std::string& def) const {
  if (!has(k)) return def;
  if (auto s = std::get_if<std::string>(&m_.at(k))) return *s;
  MDMT_FAIL(code::kInvalid, op, "attribute '" << k << "' must be a string");
}
std::vector<double> Attrs::floats(const std::string& op, const std::string& k) const {
  const AttrValue& v = get(m_, op, k);
  if (auto a = std::get_if<std::vector<double>>(&v)) return *a;
  if (auto d = std::get_if<double>(&v)) return {*d};
  MDMT_FAIL(code::kInvalid, op, "attribute '" << k << "' must be an array of numbers");
}
std::vector<int64_t> Attrs::ints(const std::string& op, const std::string& k) const {
  std::vector<int64_t> r;
  for (double d : floats(op, k)) r.push_back(as_int(AttrValue(d), op, k));
  return r;
}
std::vector<int64_t> Attrs::ints(const std::string& op, const std::string& k, std::vector<int64_t> def) const {
  return has(k) ? ints(op, k) : def;
}

// ---- OpCtx validation -------------------------------------------------------------------

void OpCtx::expect_counts(size_t a, size_t b, size_t c, size_t d) const {
  if (in.size() < a || in.size() > b) {
    if (a == b) MDMT_FAIL(code::kInvalid, op, "expects " << a << " input(s), got " << in.size());
    MDMT_FAIL(code::kInvalid, op, "expects " << a << ".." << b << " inputs, got " << in.size());
  }
  if (out.size() < c || out.size() > d) {
    if (c == d) MDMT_FAIL(code::kInvalid, op, "expects " << c << " output(s), got " << out.size());
    MDMT_FAIL(code::kInvalid, op, "expects " << c << ".." << d << " outputs, got " << out.size());
  }
}

const Tensor& OpCtx::input(size_t idx, const char* name, DType dt, int ndim) const {
  if (idx >= in.size()) MDMT_FAIL(code::kInvalid, op, "missing input '" << name << "'");
  const Tensor& t = *in[idx];
  if (t.dtype != dt)
    MDMT_FAIL(code::kDType, op, "input '" << name << "' must be " << dtype_name(dt) << ", got " << dtype_name(t.dtype));
  if (ndim >= 0 && t.ndim() != ndim)
    MDMT_FAIL(code::kShape, op, "input '" << name << "' must have " << ndim << " dims, got shape " << t.shape_str());
  return t;
}

Tensor& OpCtx::output(size_t idx, const char* name, DType dt, const Shape& shape) const {
  if (idx >= out.size()) MDMT_FAIL(code::kInvalid, op, "missing output '" << name << "'");
  Tensor& t = *out[idx];
  if (t.dtype != dt)
    MDMT_FAIL(code::kDType, op, "output '" << name << "' must be " << dtype_name(dt) << ", got " << dtype_name(t.dtype));
  expect_shape(t, name, shape);
  return t;
}

void OpCtx::expect_shape(const Tensor& t, const char* name, const Shape& shape) const {
  if (t.shape != shape)
    MDMT_FAIL(code::kShape, op, "'" << name << "' must have shape " << shape_str(shape) << ", got " << t.shape_str());
}

}  // namespace mdmt
