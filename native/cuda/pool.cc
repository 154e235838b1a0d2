// max / avg / global-average pooling and backward on CUDA (docs/ops.md "pool"; contract
// and window geometry in native/ops/pool.h).
#include "../ops/pool.h"
#include "common.h"

namespace mdmt {
namespace cuda {
namespace {

// The kernels' view of a spec: N·C planes, the window in ints (at most 2^20 by the spec).
k::Pool2d planes(const PoolSpec& s) {
  k::Pool2d p{};
  p.NC = s.N * s.C, p.H = s.H, p.W = s.W, p.P = s.P, p.Q = s.Q;
  p.kh = static_cast<int>(s.kh), p.kw = static_cast<int>(s.kw);
  p.sh = static_cast<int>(s.sh), p.sw = static_cast<int>(s.sw);
  p.ph = static_cast<int>(s.ph), p.pw = static_cast<int>(s.pw);
  p.count_include_pad = s.count_include_pad;
  return p;
}

void maxpool2d(OpCtx& c, const PoolSpec& s) {
  DeviceCtx& d = ctx_of(c);
  cudaCheck(c.op, k::maxpool2d(fp(*c.out[0]), static_cast<int32_t*>(c.out[1]->raw()), cfp(*c.in[0]), planes(s), d.stream));
}

void maxpool2d_bwd(OpCtx& c, const PoolSpec& s) {
  DeviceCtx& d = ctx_of(c);
  cudaCheck(c.op, k::maxpool2d_bwd(fp(*c.out[0]), cfp(*c.in[0]), static_cast<const int32_t*>(c.in[1]->raw()), planes(s),
                                   d.stream));
}

void avgpool2d(OpCtx& c, const PoolSpec& s) {
  DeviceCtx& d = ctx_of(c);
  cudaCheck(c.op, k::avgpool2d(fp(*c.out[0]), cfp(*c.in[0]), planes(s), d.stream));
}

void avgpool2d_bwd(OpCtx& c, const PoolSpec& s) {
  DeviceCtx& d = ctx_of(c);
  cudaCheck(c.op, k::avgpool2d_bwd(fp(*c.out[0]), cfp(*c.in[0]), planes(s), d.stream));
}

void global_avgpool(OpCtx& c, const PoolSpec& s) {
  DeviceCtx& d = ctx_of(c);
  cudaCheck(c.op, k::global_avgpool(fp(*c.out[0]), cfp(*c.in[0]), s.N * s.C, s.H * s.W, d.stream));
}

void global_avgpool_bwd(OpCtx& c, const PoolSpec& s) {
  DeviceCtx& d = ctx_of(c);
  cudaCheck(c.op, k::global_avgpool_bwd(fp(*c.out[0]), cfp(*c.in[0]), s.N * s.C, s.H * s.W, d.stream));
}

}  // namespace

MDMT_REGISTER_SPEC_OP("maxpool2d", CUDA, maxpool2d_spec, maxpool2d);
MDMT_REGISTER_SPEC_OP("maxpool2d_bwd", CUDA, maxpool2d_bwd_spec, maxpool2d_bwd);
MDMT_REGISTER_SPEC_OP("avgpool2d", CUDA, avgpool2d_spec, avgpool2d);
MDMT_REGISTER_SPEC_OP("avgpool2d_bwd", CUDA, avgpool2d_bwd_spec, avgpool2d_bwd);
MDMT_REGISTER_SPEC_OP("global_avgpool", CUDA, global_avgpool_spec, global_avgpool);
MDMT_REGISTER_SPEC_OP("global_avgpool_bwd", CUDA, global_avgpool_bwd_spec, global_avgpool_bwd);

}  // namespace cuda
}  // namespace mdmt
