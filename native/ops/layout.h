// Family "layout" (docs/ops.md): concat, split, channel_shuffle, transpose, pad2d,
// pad2d_bwd. They move bytes only; concat, split, channel_shuffle and transpose take any
// dtype as long as inputs and outputs agree (a backend may support fewer), pad2d float32.
#pragma once
#include "spec.h"

namespace mdmt {

constexpr int kMaxTransposeDims = 6;

// concat (parts = inputs, whole = y) and split (whole = x, parts = outputs): the whole is
// [outer, size(axis)·inner]; part i fills columns [start_i, start_i + cols_i) of each row.
struct ConcatSpec {
  int64_t axis, outer, inner, row;
  std::vector<int64_t> cols, start;  // per part, in elements
  size_t elem;                       // bytes per element
};
struct ShuffleSpec {  // y[n, j·g + i] = x[n, i·(C/g) + j]
  int64_t N, C, HW, groups;
  size_t elem;
};
struct TransposeSpec {  // y = x.permute(perm), contiguous
  int nd;
  Shape out;
  Shape src_stride;  // x's stride of each output dim
  int64_t n;
  size_t elem;
};
struct PadSpec {  // constant padding of the last two dims (pad2d) and the crop back (bwd)
  int64_t top, bottom, left, right;
  float value;
  int64_t planes, H, W;  // unpadded planes
};

ConcatSpec concat_spec(const OpCtx& c);
ConcatSpec split_spec(const OpCtx& c);
ShuffleSpec channel_shuffle_spec(const OpCtx& c);
TransposeSpec transpose_spec(const OpCtx& c);
PadSpec pad2d_spec(const OpCtx& c);
PadSpec pad2d_bwd_spec(const OpCtx& c);

}  // namespace mdmt
