// CPU layout ops (docs/ops.md "layout"; contract in native/ops/layout.h): concat / split
// along any axis, channel_shuffle, transpose (any permutation, up to 6 dims), pad2d and
// its backward (a crop). They only move bytes, so they work for every dtype as long as
// inputs and outputs agree (float32 is what the contract requires). concat/split see a
// tensor as [outer, size(axis)·inner] and copy one row slice per (outer, tensor); the
// rest run in parallel over planes.
#include <algorithm>
#include <cstring>
#include <vector>

#include "../ops/layout.h"
#include "parallel.h"

namespace mdmt {
namespace {

constexpr int64_t kGrainBytes = 1 << 16;

// Copies between the whole tensor and its parts: to_whole = true for concat.
void gather_scatter(const ConcatSpec& s, const Tensor& whole, const std::vector<Tensor*>& parts, bool to_whole) {
  const size_t es = s.elem;
  const int64_t np = static_cast<int64_t>(parts.size());
  char* wb = static_cast<char*>(whole.raw());
  const int64_t grain = std::max<int64_t>(1, kGrainBytes / std::max<int64_t>(1, s.row * static_cast<int64_t>(es) / np));
  parallel_for(0, s.outer * np, grain, [&](int64_t lo, int64_t hi) {
    for (int64_t k = lo; k < hi; ++k) {
      const int64_t o = k / np, i = k % np;
      const int64_t n = s.cols[i];
      if (n == 0) continue;
      char* w = wb + (o * s.row + s.start[i]) * es;
      char* p = static_cast<char*>(parts[i]->raw()) + o * n * es;
      if (to_whole) std::memmove(w, p, n * es);
      else std::memmove(p, w, n * es);
    }
  });
}

void concat(OpCtx& c, const ConcatSpec& s) { gather_scatter(s, *c.out[0], c.in, true); }
void split(OpCtx& c, const ConcatSpec& s) { gather_scatter(s, *c.in[0], c.out, false); }

// ---- channel_shuffle: y[n, j·g + i] = x[n, i·(C/g) + j] ----------------------------------

void channel_shuffle(OpCtx& c, const ShuffleSpec& s) {
  const int64_t g = s.groups, C = s.C, cpg = C / g;
  const size_t bytes = static_cast<size_t>(s.HW) * s.elem;
  const char* px = static_cast<const char*>(c.in[0]->raw());
  char* py = static_cast<char*>(c.out[0]->raw());
  if (bytes == 0) return;
  parallel_for(0, s.N * C, std::max<int64_t>(1, kGrainBytes / static_cast<int64_t>(bytes)), [&](int64_t lo, int64_t hi) {
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

// The CPU permutes 1-, 2- and 4-byte elements.
TransposeSpec transpose_prepare(const OpCtx& c) {
  TransposeSpec s = transpose_spec(c);
  if (s.elem != 1 && s.elem != 2 && s.elem != 4)
    MDMT_FAIL(code::kDType, c.op, "unsupported dtype " << dtype_name(c.in[0]->dtype));
  return s;
}

void transpose(OpCtx& c, const TransposeSpec& s) {
  const Tensor& x = *c.in[0];
  Tensor& y = *c.out[0];
  if (s.n == 0) return;
  if (s.nd == 0) { std::memmove(y.raw(), x.raw(), x.nbytes()); return; }
  const int64_t* st = s.src_stride.data();
  switch (s.elem) {
    case 1: permute(x.data<uint8_t>(), y.data<uint8_t>(), s.out, st, s.nd); break;
    case 2: permute(x.data<uint16_t>(), y.data<uint16_t>(), s.out, st, s.nd); break;
    default: permute(x.data<uint32_t>(), y.data<uint32_t>(), s.out, st, s.nd); break;
  }
}

// ---- pad2d / pad2d_bwd: constant padding of the last two dims, and the crop back --------

void pad2d(OpCtx& c, const PadSpec& p) {
  const int64_t H = p.H, W = p.W, OH = H + p.top + p.bottom, OW = W + p.left + p.right;
  const int64_t planes = OH * OW > 0 ? p.planes : 0;
  const float value = p.value;
  const float* px = c.in[0]->data<float>();
  float* py = c.out[0]->data<float>();
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

void pad2d_bwd(OpCtx& c, const PadSpec& p) {
  const int64_t H = p.H, W = p.W, OH = H + p.top + p.bottom, OW = W + p.left + p.right;
  const int64_t planes = H * W > 0 ? p.planes : 0;
  const float* pd = c.in[0]->data<float>();
  float* po = c.out[0]->data<float>();
  parallel_for(0, planes, std::max<int64_t>(1, kGrainBytes / 4 / std::max<int64_t>(1, H * W)), [&](int64_t lo, int64_t hi) {
    for (int64_t pl = lo; pl < hi; ++pl)
      for (int64_t h = 0; h < H; ++h)
        std::memmove(po + (pl * H + h) * W, pd + pl * OH * OW + (p.top + h) * OW + p.left, static_cast<size_t>(W) * sizeof(float));
  });
}

}  // namespace

MDMT_REGISTER_SPEC_OP("concat", CPU, concat_spec, concat);
MDMT_REGISTER_SPEC_OP("split", CPU, split_spec, split);
MDMT_REGISTER_SPEC_OP("channel_shuffle", CPU, channel_shuffle_spec, channel_shuffle);
MDMT_REGISTER_SPEC_OP("transpose", CPU, transpose_prepare, transpose);
MDMT_REGISTER_SPEC_OP("pad2d", CPU, pad2d_spec, pad2d);
MDMT_REGISTER_SPEC_OP("pad2d_bwd", CPU, pad2d_bwd_spec, pad2d_bwd);

}  // namespace mdmt
