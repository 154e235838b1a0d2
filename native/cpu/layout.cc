// CPU layout ops (docs/ops.md "layout"): concat / split along any axis, channel_shuffle,
// transpose (any permutation, up to 6 dims), pad2d and its backward (a crop). They only
// move bytes, so they work for every dtype as long as inputs and outputs agree (float32
// is what the contract requires). concat/split see a tensor as [outer, size(axis)·inner]
// and copy one row slice per (outer, tensor); the rest run in parallel over planes.
#include <algorithm>
#include <cstring>
#include <vector>

#include "../core/registry.h"
#include "parallel.h"

namespace mdmt {
namespace {

constexpr int kMaxTransposeDims = 6;
constexpr int64_t kGrainBytes = 1 << 16;

int64_t prod(const Shape& s, size_t a, size_t b) {
  int64_t p = 1;
  for (size_t i = a; i < b; ++i) p *= s[i];
  return p;
}

int64_t axis_attr(const OpCtx& c, int nd) {
  int64_t a = c.attrs.i(c.op, "axis", 1);
  if (a < -nd || a >= nd) MDMT_FAIL(code::kInvalid, c.op, "axis " << a << " out of range for " << nd << " dims");
  return a < 0 ? a + nd : a;
}

// Shared by concat (parts = inputs, whole = output) and split (the reverse). Checks that
// the parts agree with the whole on every dim but `axis` and add up to it along `axis`.
void check_parts(const OpCtx& c, const Tensor& whole, const char* wname, const std::vector<Tensor*>& parts,
                 const char* pname, int64_t axis) {
  int64_t total = 0;
  for (size_t i = 0; i < parts.size(); ++i) {
    const Tensor& t = *parts[i];
    if (t.dtype != whole.dtype)
      MDMT_FAIL(code::kDType, c.op, pname << "[" << i << "] is " << dtype_name(t.dtype) << " but " << wname << " is "
                                          << dtype_name(whole.dtype));
    bool ok = t.ndim() == whole.ndim();
    for (int d = 0; ok && d < t.ndim(); ++d) ok = d == axis || t.shape[d] == whole.shape[d];
    if (!ok)
      MDMT_FAIL(code::kShape, c.op, pname << "[" << i << "] " << t.shape_str() << " does not match " << wname << " "
                                          << whole.shape_str() << " outside axis " << axis);
    total += t.shape[axis];
  }
  if (total != whole.shape[axis])
    MDMT_FAIL(code::kShape, c.op, "sizes along axis " << axis << " add up to " << total << " but " << wname << " "
                                                      << whole.shape_str() << " has " << whole.shape[axis]);
}

// Copies between the whole tensor and its parts: to_whole = true for concat.
void gather_scatter(const Tensor& whole, const std::vector<Tensor*>& parts, int64_t axis, bool to_whole) {
  const size_t es = dtype_size(whole.dtype);
  const int64_t outer = prod(whole.shape, 0, axis);
  const int64_t inner = prod(whole.shape, axis + 1, whole.shape.size());
  const int64_t row = whole.shape[axis] * inner;  // elements of one outer slice of the whole
  std::vector<int64_t> start(parts.size());        // element offset of each part inside a row
  int64_t off = 0;
  for (size_t i = 0; i < parts.size(); ++i) { start[i] = off; off += parts[i]->shape[axis] * inner; }
  const int64_t np = static_cast<int64_t>(parts.size());
  char* wb = static_cast<char*>(whole.raw());
  const int64_t grain = std::max<int64_t>(1, kGrainBytes / std::max<int64_t>(1, row * static_cast<int64_t>(es) / np));
  parallel_for(0, outer * np, grain, [&](int64_t lo, int64_t hi) {
    for (int64_t k = lo; k < hi; ++k) {
      const int64_t o = k / np, i = k % np;
      const int64_t n = parts[i]->shape[axis] * inner;
      if (n == 0) continue;
      char* w = wb + (o * row + start[i]) * es;
      char* p = static_cast<char*>(parts[i]->raw()) + o * n * es;
      if (to_whole) std::memmove(w, p, n * es);
      else std::memmove(p, w, n * es);
    }
  });
}

void concat(OpCtx& c) {
  c.expect_counts(1, 100000, 1, 1);
  Tensor& y = *c.out[0];
  if (y.ndim() == 0) MDMT_FAIL(code::kShape, c.op, "output 'y' must have at least 1 dim");
  const int64_t axis = axis_attr(c, y.ndim());
  check_parts(c, y, "y", c.in, "inputs", axis);
  gather_scatter(y, c.in, axis, true);
}

void split(OpCtx& c) {
  c.expect_counts(1, 1, 1, 100000);
  const Tensor& x = *c.in[0];
  if (x.ndim() == 0) MDMT_FAIL(code::kShape, c.op, "input 'x' must have at least 1 dim");
  const int64_t axis = axis_attr(c, x.ndim());
  check_parts(c, x, "x", c.out, "outputs", axis);
  gather_scatter(x, c.out, axis, false);
}

// ---- channel_shuffle: y[n, j·g + i] = x[n, i·(C/g) + j] ----------------------------------

void channel_shuffle(OpCtx& c) {
  c.expect_counts(1, 1);
  const Tensor& x = *c.in[0];
  if (x.ndim() != 4) MDMT_FAIL(code::kShape, c.op, "input 'x' must have 4 dims [N, C, H, W], got " << x.shape_str());
  Tensor& y = *c.out[0];
  if (y.dtype != x.dtype) MDMT_FAIL(code::kDType, c.op, "output 'y' must be " << dtype_name(x.dtype) << ", got " << dtype_name(y.dtype));
  c.expect_shape(y, "y", x.shape);
  const int64_t g = c.attrs.i(c.op, "groups");
  const int64_t C = x.shape[1];
  if (g < 1 || C % g != 0)
    MDMT_FAIL(code::kInvalid, c.op, "groups must be a positive divisor of C = " << C << ", got " << g);
  const int64_t cpg = C / g, hw = x.shape[2] * x.shape[3], N = x.shape[0];
  const size_t bytes = static_cast<size_t>(hw) * dtype_size(x.dtype);
  const char* px = static_cast<const char*>(x.raw());
  char* py = static_cast<char*>(y.raw());
  if (bytes == 0) return;
  parallel_for(0, N * C, std::max<int64_t>(1, kGrainBytes / static_cast<int64_t>(bytes)), [&](int64_t lo, int64_t hi) {
    for (int64_t k = lo; k < hi; ++k) {
      const int64_t n = k / C, oc = k % C;  // output channel oc = j·g + i
      const int64_t j = oc / g, i = oc % g;
      std::memmove(py + k * bytes, px + (n * C + i * cpg + j) * bytes, bytes);
    }
  });
}

// ---- transpose: y = x.permute(perm), contiguous ------------------------------------------

template <class T>
void permute(const T* px, T* py, const Shape& ys, const int64_t* src_stride, int nd) {
  const int64_t total = shape_numel(ys);
  const int64_t last = ys[nd - 1], ls = src_stride[nd - 1];
  const int64_t rows = last > 0 ? total / last : 0;
  parallel_for(0, rows, std::max<int64_t>(1, kGrainBytes / static_cast<int64_t>(sizeof(T)) / std::max<int64_t>(1, last)),
               [&](int64_t lo, int64_t hi) {
    int64_t idx[kMaxTransposeDims] = {};
    int64_t rem = lo, off = 0;
    for (int d = nd - 2; d >= 0; --d) { idx[d] = rem % ys[d]; rem /= ys[d]; off += idx[d] * src_stride[d]; }
    for (int64_t r = lo; r < hi; ++r) {
      T* out = py + r * last;
      const T* in = px + off;
      if (ls == 1) std::memcpy(out, in, static_cast<size_t>(last) * sizeof(T));
      else for (int64_t e = 0; e < last; ++e) out[e] = in[e * ls];
      for (int d = nd - 2; d >= 0; --d) {  // advance the row multi-index
        off += src_stride[d];
        if (++idx[d] < ys[d]) break;
        off -= idx[d] * src_stride[d];
        idx[d] = 0;
      }
    }
  });
}

void transpose(OpCtx& c) {
  c.expect_counts(1, 1);
  const Tensor& x = *c.in[0];
  Tensor& y = *c.out[0];
  const int nd = x.ndim();
  if (nd > kMaxTransposeDims) MDMT_FAIL(code::kShape, c.op, "at most " << kMaxTransposeDims << " dims, got " << x.shape_str());
  std::vector<int64_t> perm = c.attrs.ints(c.op, "perm");
  if (static_cast<int>(perm.size()) != nd)
    MDMT_FAIL(code::kInvalid, c.op, "perm has " << perm.size() << " entries for " << nd << "-dim input " << x.shape_str());
  std::vector<bool> seen(nd, false);
  for (int64_t p : perm) {
    if (p < 0 || p >= nd || seen[p]) MDMT_FAIL(code::kInvalid, c.op, "perm must be a permutation of 0.." << nd - 1);
    seen[p] = true;
  }
  Shape ys(nd);
  for (int d = 0; d < nd; ++d) ys[d] = x.shape[perm[d]];
  if (y.dtype != x.dtype) MDMT_FAIL(code::kDType, c.op, "output 'y' must be " << dtype_name(x.dtype) << ", got " << dtype_name(y.dtype));
  c.expect_shape(y, "y", ys);
  if (x.numel() == 0) return;
  if (nd == 0) { std::memmove(y.raw(), x.raw(), x.nbytes()); return; }
  const Shape xs = contiguous_strides(x.shape);
  int64_t st[kMaxTransposeDims];
  for (int d = 0; d < nd; ++d) st[d] = xs[perm[d]];
  switch (dtype_size(x.dtype)) {
    case 1: permute(x.data<uint8_t>(), y.data<uint8_t>(), ys, st, nd); break;
    case 2: permute(x.data<uint16_t>(), y.data<uint16_t>(), ys, st, nd); break;
    case 4: permute(x.data<uint32_t>(), y.data<uint32_t>(), ys, st, nd); break;
    default: MDMT_FAIL(code::kDType, c.op, "unsupported dtype " << dtype_name(x.dtype));
  }
}

// ---- pad2d / pad2d_bwd: constant padding of the last two dims, and the crop back --------

struct Pads {
  int64_t top, bottom, left, right;
};
Pads pads_attr(const OpCtx& c) {
  std::vector<int64_t> p = c.attrs.ints(c.op, "pads");
  if (p.size() != 4) MDMT_FAIL(code::kInvalid, c.op, "pads must be [top, bottom, left, right], got " << p.size() << " values");
  const int64_t kMax = int64_t(1) << 24;
  for (int64_t v : p)
    if (v < 0 || v > kMax) MDMT_FAIL(code::kInvalid, c.op, "pads must be in [0, " << kMax << "], got " << v);
  return {p[0], p[1], p[2], p[3]};
}

Shape padded_shape(const Shape& s, const Pads& p) {
  Shape r = s;
  r[r.size() - 2] += p.top + p.bottom;
  r[r.size() - 1] += p.left + p.right;
  return r;
}

void pad2d(OpCtx& c) {
  c.expect_counts(1, 1);
  const Tensor& x = c.input(0, "x", DType::F32);
  if (x.ndim() < 2) MDMT_FAIL(code::kShape, c.op, "input 'x' needs at least 2 dims, got " << x.shape_str());
  const Pads p = pads_attr(c);
  const float value = static_cast<float>(c.attrs.f(c.op, "value", 0.0));
  Tensor& y = c.output(0, "y", DType::F32, padded_shape(x.shape, p));
  const int64_t H = x.dim(-2), W = x.dim(-1), OH = y.dim(-2), OW = y.dim(-1);
  const int64_t planes = OH * OW > 0 ? y.numel() / (OH * OW) : 0;
  const float* px = x.data<float>();
  float* py = y.data<float>();
  parallel_for(0, planes, std::max<int64_t>(1, kGrainBytes / 4 / std::max<int64_t>(1, OH * OW)), [&](int64_t lo, int64_t hi) {
    for (int64_t pl = lo; pl < hi; ++pl) {
      float* o = py + pl * OH * OW;
      const float* in = px + pl * H * W;
      std::fill(o, o + p.top * OW, value);
      for (int64_t h = 0; h < H; ++h) {
        float* r = o + (p.top + h) * OW;
        std::fill(r, r + p.left, value);
        std::memcpy(r + p.left, in + h * W, static_cast<size_t>(W) * sizeof(float));
        std::fill(r + p.left + W, r + OW, value);
      }
      std::fill(o + (p.top + H) * OW, o + OH * OW, value);
    }
  });
}

void pad2d_bwd(OpCtx& c) {
  c.expect_counts(1, 1);
  const Tensor& dy = c.input(0, "dy", DType::F32);
  Tensor& dx = *c.out[0];
  if (dx.dtype != DType::F32) MDMT_FAIL(code::kDType, c.op, "output 'dx' must be float32, got " << dtype_name(dx.dtype));
  if (dx.ndim() < 2) MDMT_FAIL(code::kShape, c.op, "output 'dx' needs at least 2 dims, got " << dx.shape_str());
  const Pads p = pads_attr(c);
  c.expect_shape(dy, "dy", padded_shape(dx.shape, p));
  const int64_t H = dx.dim(-2), W = dx.dim(-1), OW = dy.dim(-1), OH = dy.dim(-2);
  const int64_t planes = H * W > 0 ? dx.numel() / (H * W) : 0;
  const float* pd = dy.data<float>();
  float* po = dx.data<float>();
  parallel_for(0, planes, std::max<int64_t>(1, kGrainBytes / 4 / std::max<int64_t>(1, H * W)), [&](int64_t lo, int64_t hi) {
    for (int64_t pl = lo; pl < hi; ++pl)
      for (int64_t h = 0; h < H; ++h)
        std::memmove(po + (pl * H + h) * W, pd + pl * OH * OW + (p.top + h) * OW + p.left, static_cast<size_t>(W) * sizeof(float));
  });
}

}  // namespace

MDMT_REGISTER_OP("concat", CPU, concat);
MDMT_REGISTER_OP("split", CPU, split);
MDMT_REGISTER_OP("channel_shuffle", CPU, channel_shuffle);
MDMT_REGISTER_OP("transpose", CPU, transpose);
MDMT_REGISTER_OP("pad2d", CPU, pad2d);
MDMT_REGISTER_OP("pad2d_bwd", CPU, pad2d_bwd);

}  // namespace mdmt
