// Family "elementwise" (docs/ops.md): add, sub, mul with NumPy broadcasting (up to 6
// dims), affine (y = alpha·x + beta) and expand (broadcast x to y's shape; the adjoint of
// sum). A broadcast operand is read through its element strides in the output's dims
// (right-aligned ranks, 0 on broadcast dims).
#pragma once
#include "spec.h"

namespace mdmt {

constexpr int kMaxBroadcastDims = 6;

// Broadcast shape of a and b; throws ESHAPE naming the op and both shapes.
Shape broadcast_shape(const std::string& op, const Shape& a, const Shape& b);
// Element strides of `in` read as `out` (size-1 dims get stride 0); throws if `in` does not
// broadcast to `out`.
Shape broadcast_strides(const std::string& op, const Shape& in, const Shape& out);

struct BinarySpec {  // a, b -> y (broadcast shape)
  Shape out, a, b;
  Shape sa, sb;  // strides of a and b in out's dims (empty when a, b and y have one shape)
  bool same;
  int64_t n;
};
struct AffineSpec {
  float alpha, beta;
  int64_t n;
};
struct ExpandSpec {  // x -> y
  Shape out;
  Shape sx;  // x's strides in y's dims
  int64_t n;
  bool same;  // as many elements as x: a copy
};

BinarySpec binary_spec(const OpCtx& c);
AffineSpec affine_spec(const OpCtx& c);
ExpandSpec expand_spec(const OpCtx& c);

}  // namespace mdmt
