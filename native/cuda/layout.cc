// concat / split / channel_shuffle / transpose / pad2d / pad2d_bwd on CUDA (docs/ops.md
// "layout"; contract in native/ops/layout.h). concat and split run one strided block copy
// per part (any dtype); transpose and channel_shuffle handle 4-byte dtypes (float32,
// int32), a limit of the kernels checked here.
#include <vector>

#include "../ops/layout.h"
#include "common.h"
#include "lowp.h"

namespace mdmt {
namespace cuda {
namespace {

// Part i is the [outer, cols_i] block at column start_i of the whole [outer, row].
void gather_scatter(OpCtx& c, const ConcatSpec& s, const Tensor& whole, const std::vector<Tensor*>& parts, bool to_whole) {
  DeviceCtx& d = ctx_of(c);
  const int64_t es = static_cast<int64_t>(s.elem);
  for (size_t i = 0; i < parts.size(); ++i) {
    const int64_t n = s.cols[i];
    char* w = static_cast<char*>(whole.raw()) + s.start[i] * es;
    char* p = static_cast<char*>(parts[i]->raw());
    if (n == 0 || s.outer == 0) continue;
    float* wf = reinterpret_cast<float*>(w);
    float* pf = reinterpret_cast<float*>(p);
    if (es == 4 && to_whole) cudaCheck(c.op, k::copy2d(wf, s.row, pf, n, s.outer, n, d.stream));
    else if (es == 4) cudaCheck(c.op, k::copy2d(pf, n, wf, s.row, s.outer, n, d.stream));
    else if (to_whole) cudaCheck(c.op, k::copy2d_bytes(w, s.row * es, p, n * es, s.outer, n * es, d.stream));
    else cudaCheck(c.op, k::copy2d_bytes(p, n * es, w, s.row * es, s.outer, n * es, d.stream));
  }
}

void concat(OpCtx& c, const ConcatSpec& s) { gather_scatter(c, s, *c.out[0], c.in, true); }
void split(OpCtx& c, const ConcatSpec& s) { gather_scatter(c, s, *c.in[0], c.out, false); }

template <class Spec, Spec (*SPEC)(const OpCtx&)>
Spec four_byte(const OpCtx& c) {
  Spec s = SPEC(c);
  if (s.elem != 4) MDMT_FAIL(code::kDType, c.op, "on cuda supports float32 and int32, got " << dtype_name(c.in[0]->dtype));
  return s;
}

void channel_shuffle(OpCtx& c, const ShuffleSpec& s) {
  DeviceCtx& d = ctx_of(c);
  cudaCheck(c.op, k::channel_shuffle(fp(*c.out[0]), cfp(*c.in[0]), s.N, s.C, s.HW, s.groups, d.stream));
}

void transpose(OpCtx& c, const TransposeSpec& s) {
  DeviceCtx& d = ctx_of(c);
  if (s.n == 0) return;
  k::Dims dims{};
  dims.nd = s.nd;
  for (int i = 0; i < s.nd; ++i) {
    dims.size[i] = s.out[i];
    dims.stride_a[i] = s.src_stride[i];
  }
  cudaCheck(c.op, k::gather(fp(*c.out[0]), cfp(*c.in[0]), dims, s.n, d.stream));
}

void pad2d(OpCtx& c, const PadSpec& p) {
  DeviceCtx& d = ctx_of(c);
  cudaCheck(c.op, k::pad2d(fp(*c.out[0]), cfp(*c.in[0]), p.planes, p.H, p.W, p.top, p.bottom, p.left, p.right, p.value,
                           d.stream));
}

void pad2d_bwd(OpCtx& c, const PadSpec& p) {
  DeviceCtx& d = ctx_of(c);
  cudaCheck(c.op, k::pad2d_bwd(fp(*c.out[0]), cfp(*c.in[0]), p.planes, p.H, p.W, p.top, p.bottom, p.left, p.right,
                               d.stream));
}

}  // namespace

MDMT_REGISTER_LOWP_OP("concat", concat_spec, concat, layout_lowp);
MDMT_REGISTER_LOWP_OP("split", split_spec, split, layout_lowp);
MDMT_REGISTER_LOWP_OP("channel_shuffle", (four_byte<ShuffleSpec, channel_shuffle_spec>), channel_shuffle, layout_lowp);
MDMT_REGISTER_SPEC_OP("transpose", CUDA, (four_byte<TransposeSpec, transpose_spec>), transpose);
MDMT_REGISTER_SPEC_OP("pad2d", CUDA, pad2d_spec, pad2d);
MDMT_REGISTER_SPEC_OP("pad2d_bwd", CUDA, pad2d_bwd_spec, pad2d_bwd);

}  // namespace cuda
}  // namespace mdmt
