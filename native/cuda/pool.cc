// max / avg / global-average pooling and backward on CUDA (docs/ops.md "pool"; contract
// and window geometry in native/ops/pool.h).
#include "../ops/pool.h"
#include "common.h"
#include "lowp.h"
#include "mixed.h"

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
  int32_t* ix = s.indices ? static_cast<int32_t*>(c.out[1]->raw()) : nullptr;  // eval: values only
  cudaCheck(c.op, k::maxpool2d(fp(*c.out[0]), ix, cfp(*c.in[0]), planes(s), d.stream));
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

// The NHWC forms (fp32 or bf16; a plan's layout pass sets `layout: 'nhwc'`), shapes and window
// checked by the family contract on the call's fp32 view: kernels of kernels/pool.cu that
// gather in the backward, so maxpool2d_bwd needs its forward's window attributes here (the
// pass copies them; the NCHW backward scatters by index and ignores them). false: plain fp32 NCHW.
bool pool_lowp(OpCtx& c, const PoolSpec& s) {
  const bool nhwc = nhwc_layout(c);
  const DType dt = c.in[0]->dtype;
  if (!nhwc && dt == DType::F32) return false;
  if (dt != DType::F32 && dt != DType::BF16) MDMT_FAIL(code::kDType, c.op, "input 0 must be float32 or bfloat16, got " << dtype_name(dt));
  if (!nhwc) MDMT_FAIL(code::kInvalid, c.op, "a bfloat16 map needs layout 'nhwc' on cuda (the plan's layout pass gives it)");
  const bool maxpool = c.op.rfind("maxpool", 0) == 0, bwd = c.op == "maxpool2d_bwd" || c.op == "avgpool2d_bwd";
  const Tensor& act_out = *c.out[0];
  if (act_out.dtype != dt) MDMT_FAIL(code::kDType, c.op, "output 0 must be " << dtype_name(dt) << " like input 0, got " << dtype_name(act_out.dtype));
  k::Pool2d p = planes(s);
  if (maxpool && bwd) {
    if (!c.attrs.has("kernel"))
      MDMT_FAIL(code::kInvalid, c.op, "layout 'nhwc' needs the window attributes (kernel, stride, padding) of the forward pool");
    auto pair = [&](const char* k, int64_t def) {
      std::vector<int64_t> v = c.attrs.has(k) ? c.attrs.ints(c.op, k) : std::vector<int64_t>{def, def};
      if (v.size() == 1) v.push_back(v[0]);
      if (v.size() != 2 || v[0] < 0 || v[1] < 0) MDMT_FAIL(code::kInvalid, c.op, "attribute '" << k << "' must be one or two integers >= 0");
      return v;
    };
    const auto kk = pair("kernel", 1), st = pair("stride", kk[0]), pd = pair("padding", 0);
    p.kh = static_cast<int>(kk[0]), p.kw = static_cast<int>(kk[1]), p.sh = static_cast<int>(st[0]), p.sw = static_cast<int>(st[1]);
    p.ph = static_cast<int>(pd[0]), p.pw = static_cast<int>(pd[1]);
  }
  const int code = dt == DType::BF16 ? k::kBF16 : k::kF32;
  DeviceCtx& d = ctx_of(c);
  if (c.op == "maxpool2d")
    cudaCheck(c.op, k::maxpool2d_nhwc(act_out.raw(), static_cast<int32_t*>(c.out[1]->raw()), c.in[0]->raw(), code, s.C, p, d.stream));
  else if (c.op == "maxpool2d_bwd")
    cudaCheck(c.op, k::maxpool2d_bwd_nhwc(act_out.raw(), c.in[0]->raw(), static_cast<const int32_t*>(c.in[1]->raw()), code, s.C, p, d.stream));
  else if (c.op == "avgpool2d")
    cudaCheck(c.op, k::avgpool2d_nhwc(act_out.raw(), c.in[0]->raw(), code, s.C, p, d.stream));
  else
    cudaCheck(c.op, k::avgpool2d_bwd_nhwc(act_out.raw(), c.in[0]->raw(), code, s.C, p, d.stream));
  return true;
}

}  // namespace

MDMT_REGISTER_LOWP_OP("maxpool2d", maxpool2d_spec, maxpool2d, pool_lowp);
MDMT_REGISTER_LOWP_OP("maxpool2d_bwd", maxpool2d_bwd_spec, maxpool2d_bwd, pool_lowp);
MDMT_REGISTER_LOWP_OP("avgpool2d", avgpool2d_spec, avgpool2d, pool_lowp);
MDMT_REGISTER_LOWP_OP("avgpool2d_bwd", avgpool2d_bwd_spec, avgpool2d_bwd, pool_lowp);
MDMT_REGISTER_LOWP_OP("global_avgpool", global_avgpool_spec, global_avgpool, global_avgpool_lowp_of<false>);
MDMT_REGISTER_LOWP_OP("global_avgpool_bwd", global_avgpool_bwd_spec, global_avgpool_bwd, global_avgpool_lowp_of<true>);

}  // namespace cuda
}  // namespace mdmt
