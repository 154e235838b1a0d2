// conv2d / conv2d_bwd_data / conv2d_bwd_filter on CUDA through cuDNN (docs/ops.md).
//
// Layout and dtype: NCHW fp32 at the API; inside a plan the precision and layout passes
// (ts/plan/passes) may hand a step bf16 operands and/or `layout: 'nhwc'` (x, y as NHWC, the
// filter as K·R·S·C): cuDNN then runs tensor-core kernels on bf16 data with fp32 compute,
// and the bias (fp32) is added by our NHWC kernel. MDMT_DETERMINISTIC=1 admits only
// deterministic algorithms (bit-reproducible runs: graph replay == uncaptured replay).
// Plan cache: one entry per (device, dtype, layout, x shape, w shape, stride, padding,
// dilation, groups, TF32) holding the cuDNN descriptors and, per direction, the algorithm
// chosen by cudnnFind*Ex the first time the configuration runs (autotuning on the real
// buffers, workspace from the caching allocator) and its workspace size.
// TF32: MDMT_TF32=0 forces CUDNN_FMA_MATH (strict fp32); otherwise cuDNN may use TF32.
// Depthwise (groups == C): where cuDNN offers no algorithm (or rejects the configuration)
// our own kernels (kernels/depthwise.cu) run instead; MDMT_CUDA_CONV=own forces them.
#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "../ops/conv2d.h"
#include "common.h"
#include "lowp.h"
#include "mixed.h"

namespace mdmt {
namespace cuda {
namespace {

// The family's checks and geometry (native/ops/conv2d.h) within cuDNN's int32 dimensions.
Conv2dSpec cudnn_limits(const OpCtx& c, const Conv2dSpec& g) {
  for (int64_t v : {g.N, g.C, g.H, g.W, g.K, g.P, g.Q, g.sh, g.sw, g.ph, g.pw, g.dh, g.dw, g.G})
    if (v > 0x7fffffff) MDMT_FAIL(code::kShape, c.op, "dimension or attribute too large for cuDNN");
  return g;
}
Conv2dSpec conv2d_prepare(const OpCtx& c) { return cudnn_limits(c, conv2d_spec(c)); }
Conv2dSpec bwd_data_prepare(const OpCtx& c) { return cudnn_limits(c, conv2d_bwd_data_spec(c)); }
Conv2dSpec bwd_filter_prepare(const OpCtx& c) { return cudnn_limits(c, conv2d_bwd_filter_spec(c)); }

enum Dir { kFwd = 0, kBwdData = 1, kBwdFilter = 2 };

struct Plan {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  bool found[3] = {false, false, false};
  bool refused[3] = {false, false, false};  // cuDNN offered nothing: depthwise uses ours
  int algo[3] = {0, 0, 0};
  size_t ws[3] = {0, 0, 0};
  cudnnMathType_t math[3] = {CUDNN_DEFAULT_MATH, CUDNN_DEFAULT_MATH, CUDNN_DEFAULT_MATH};
  bool low = false;  // bf16 data: tensor ops are bf16 ones, not TF32
};

using Key = std::array<int64_t, 20>;

std::mutex& cache_mu() {
  static std::mutex* m = new std::mutex();
  return *m;
}
std::map<Key, std::unique_ptr<Plan>>& cache() {
  static auto* m = new std::map<Key, std::unique_ptr<Plan>>();
  return *m;
}

// The storage of a call: fp32 or bf16 (every operand but the bias alike) and the layout.
struct Form {
  DType dt;
  bool nhwc;
};

// The call's form; its two operands and its output (a, b -> out) must share one float dtype.
Form form_of(const OpCtx& c) {
  const Tensor &a = *c.in[0], &b = *c.in[1], &out = *c.out[0];
  const Form f{a.dtype, nhwc_layout(c)};
  if (f.dt != DType::F32 && f.dt != DType::BF16)
    MDMT_FAIL(code::kDType, c.op, "input 0 must be float32 or bfloat16, got " << dtype_name(f.dt));
  if (b.dtype != f.dt || out.dtype != f.dt)
    MDMT_FAIL(code::kDType, c.op, "inputs and output must share one dtype, got " << dtype_name(f.dt) << ", " << dtype_name(b.dtype)
                                                                                 << " -> " << dtype_name(out.dtype));
  return f;
}

bool deterministic_only() {
  const char* e = std::getenv("MDMT_DETERMINISTIC");
  return e && std::strcmp(e, "1") == 0;
}

Plan& plan_for(const std::string& op, int dev, const Conv2dSpec& g, Form f) {
  const bool tf32 = tf32_enabled();
  const cudnnDataType_t dt = f.dt == DType::BF16 ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_FLOAT;
  const cudnnTensorFormat_t fmt = f.nhwc ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW;
  Key key = {dev, static_cast<int64_t>(f.dt), f.nhwc ? 1 : 0, g.N, g.C, g.H, g.W, g.K, g.R, g.S,
             g.sh, g.sw, g.ph, g.pw, g.dh, g.dw, g.G, tf32 ? 1 : 0, deterministic_only() ? 1 : 0, 0};
  std::lock_guard<std::mutex> lk(cache_mu());
  auto it = cache().find(key);
  if (it != cache().end()) return *it->second;
  auto p = std::make_unique<Plan>();
  cudnnCheck(op, cudnnCreateTensorDescriptor(&p->x));
  cudnnCheck(op, cudnnCreateTensorDescriptor(&p->y));
  cudnnCheck(op, cudnnCreateFilterDescriptor(&p->w));
  cudnnCheck(op, cudnnCreateConvolutionDescriptor(&p->conv));
  cudnnCheck(op, cudnnSetTensor4dDescriptor(p->x, fmt, dt, (int)g.N, (int)g.C, (int)g.H, (int)g.W));
  cudnnCheck(op, cudnnSetTensor4dDescriptor(p->y, fmt, dt, (int)g.N, (int)g.K, (int)g.P, (int)g.Q));
  cudnnCheck(op, cudnnSetFilter4dDescriptor(p->w, dt, fmt, (int)g.K, (int)g.Cg, (int)g.R, (int)g.S));
  cudnnCheck(op, cudnnSetConvolution2dDescriptor(p->conv, (int)g.ph, (int)g.pw, (int)g.sh, (int)g.sw, (int)g.dh, (int)g.dw,
                                                 CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
  cudnnCheck(op, cudnnSetConvolutionGroupCount(p->conv, (int)g.G));
  p->low = f.dt == DType::BF16;
  cudnnCheck(op, cudnnSetConvolutionMathType(p->conv, p->low ? CUDNN_TENSOR_OP_MATH : tf32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH));
  int n, c, h, w;
  cudnnCheck(op, cudnnGetConvolution2dForwardOutputDim(p->conv, p->x, p->w, &n, &c, &h, &w));
  if (n != g.N || c != g.K || h != g.P || w != g.Q)
    MDMT_FAIL(code::kInternal, op, "cuDNN output dims " << n << "x" << c << "x" << h << "x" << w << " differ from ours");
  Plan& ref = *p;
  cache().emplace(key, std::move(p));
  return ref;
}

// Autotuning workspace: the largest of 1 GiB, 1/4 of free memory, whatever we can get.
size_t find_ws_limit() {
  size_t f = 0, t = 0;
  if (cudaMemGetInfo(&f, &t) != cudaSuccess) {
    cudaGetLastError();
    return 64 << 20;
  }
  return std::min<size_t>(size_t(1) << 30, f / 4);
}

template <class Perf>
bool pick(Plan& p, Dir dir, const Perf* perf, int n, size_t limit) {
  const bool tf32 = tf32_enabled();
  for (int i = 0; i < n; ++i) {
    if (perf[i].status != CUDNN_STATUS_SUCCESS || perf[i].memory > limit) continue;
    if (deterministic_only() && perf[i].determinism != CUDNN_DETERMINISTIC) continue;
    // strict fp32 (MDMT_TF32=0): no tensor-op algorithm (on fp32 data that means TF32)
    if (!p.low && !tf32 && (perf[i].mathType == CUDNN_TENSOR_OP_MATH || perf[i].mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION))
      continue;
    p.algo[dir] = static_cast<int>(perf[i].algo);
    p.ws[dir] = perf[i].memory;
    p.math[dir] = p.low || tf32 ? perf[i].mathType : CUDNN_FMA_MATH;
    p.found[dir] = true;
    return true;
  }
  return false;
}

bool force_own() {
  const char* e = std::getenv("MDMT_CUDA_CONV");
  return e && std::strcmp(e, "own") == 0;
}

k::Conv2d own_conv(const Conv2dSpec& g) {
  return k::Conv2d{g.N, g.C, g.H, g.W, g.K, g.P, g.Q, (int)g.R, (int)g.S, (int)g.sh, (int)g.sw,
                   (int)g.ph, (int)g.pw, (int)g.dh, (int)g.dw};
}

// After a Find: record the choice, or mark the direction refused (depthwise falls back to
// our kernels, anything else is an error naming the configuration).
template <class Perf>
void settle(const std::string& op, Plan& p, Dir dir, cudnnStatus_t st, const Perf* perf, int n, size_t limit,
            bool depthwise, const Conv2dSpec& g) {
  if (st == CUDNN_STATUS_SUCCESS && pick(p, dir, perf, n, limit)) return;
  if (depthwise) {
    p.refused[dir] = true;
    return;
  }
  if (st != CUDNN_STATUS_SUCCESS) throw_cudnn(st, op, "cudnnFindConvolution*AlgorithmEx", __FILE__, __LINE__);
  MDMT_FAIL(code::kCudnn, op, "cuDNN found no usable algorithm (" << n << " candidates) for x [" << g.N << ", " << g.C << ", "
                                                                  << g.H << ", " << g.W << "], w [" << g.K << ", " << g.Cg
                                                                  << ", " << g.R << ", " << g.S << "], groups " << g.G);
}

// Allocates an autotuning workspace, halving the request until the allocator gives it.
std::unique_ptr<Scratch> tuning_ws(const Device& dev, const std::string& op, size_t* got) {
  size_t want = find_ws_limit();
  while (true) {
    try {
      auto s = std::make_unique<Scratch>(dev, want, op);
      *got = want;
      return s;
    } catch (const MdmtException&) {
      if (want < (1 << 20)) {
        *got = 0;
        return std::make_unique<Scratch>(dev, 0, op);
      }
      want /= 2;
    }
  }
}

// Per direction, with the op's operands a = in[0], b = in[1] -> out (docs/ops.md):
// forward x, w -> y; bwd data dy, w -> dx; bwd filter dy, x -> dw. find() autotunes
// (cudnnFind*Ex on the real buffers), compute() runs the chosen algorithm, own() is our
// depthwise kernel.
template <Dir D>
struct Direction;
template <>
struct Direction<kFwd> {
  using Perf = cudnnConvolutionFwdAlgoPerf_t;
  static cudnnStatus_t find(DeviceCtx& d, Plan& p, const void* x, const void* w, void* y, Perf* perf, int* n, void* ws,
                            size_t lim) {
    return cudnnFindConvolutionForwardAlgorithmEx(d.cudnn, p.x, x, p.w, w, p.conv, p.y, y, 16, n, perf, ws, lim);
  }
  static void compute(const std::string& op, DeviceCtx& d, Plan& p, const void* x, const void* w, void* y, void* ws,
                      size_t wsb) {
    const float one = 1.f, zero = 0.f;
    cudnnCheck(op, cudnnConvolutionForward(d.cudnn, &one, p.x, x, p.w, w, p.conv,
                                           static_cast<cudnnConvolutionFwdAlgo_t>(p.algo[kFwd]), ws, wsb, &zero, p.y, y));
  }
  static cudaError_t own(float* y, const float* x, const float* w, const float* bias, const k::Conv2d& g, cudaStream_t s) {
    return k::depthwise_fwd(y, x, w, bias, g, s);
  }
};
template <>
struct Direction<kBwdData> {
  using Perf = cudnnConvolutionBwdDataAlgoPerf_t;
  static cudnnStatus_t find(DeviceCtx& d, Plan& p, const void* dy, const void* w, void* dx, Perf* perf, int* n, void* ws,
                            size_t lim) {
    return cudnnFindConvolutionBackwardDataAlgorithmEx(d.cudnn, p.w, w, p.y, dy, p.conv, p.x, dx, 16, n, perf, ws, lim);
  }
  static void compute(const std::string& op, DeviceCtx& d, Plan& p, const void* dy, const void* w, void* dx, void* ws,
                      size_t wsb) {
    const float one = 1.f, zero = 0.f;
    cudnnCheck(op, cudnnConvolutionBackwardData(d.cudnn, &one, p.w, w, p.y, dy, p.conv,
                                                static_cast<cudnnConvolutionBwdDataAlgo_t>(p.algo[kBwdData]), ws, wsb,
                                                &zero, p.x, dx));
  }
  static cudaError_t own(float* dx, const float* dy, const float* w, const float*, const k::Conv2d& g, cudaStream_t s) {
    return k::depthwise_bwd_data(dx, dy, w, g, s);
  }
};
template <>
struct Direction<kBwdFilter> {
  using Perf = cudnnConvolutionBwdFilterAlgoPerf_t;
  static cudnnStatus_t find(DeviceCtx& d, Plan& p, const void* dy, const void* x, void* dw, Perf* perf, int* n, void* ws,
                            size_t lim) {
    return cudnnFindConvolutionBackwardFilterAlgorithmEx(d.cudnn, p.x, x, p.y, dy, p.conv, p.w, dw, 16, n, perf, ws, lim);
  }
  static void compute(const std::string& op, DeviceCtx& d, Plan& p, const void* dy, const void* x, void* dw, void* ws,
                      size_t wsb) {
    const float one = 1.f, zero = 0.f;
    cudnnCheck(op, cudnnConvolutionBackwardFilter(d.cudnn, &one, p.x, x, p.y, dy, p.conv,
                                                  static_cast<cudnnConvolutionBwdFilterAlgo_t>(p.algo[kBwdFilter]), ws,
                                                  wsb, &zero, p.w, dw));
  }
  static cudaError_t own(float* dw, const float* dy, const float* x, const float*, const k::Conv2d& g, cudaStream_t s) {
    return k::depthwise_bwd_filter(dw, dy, x, g, s);
  }
};

// One direction: out = D(a, b), plus the bias for the forward. Empty operands give zeros;
// a depthwise configuration cuDNN refuses (or MDMT_CUDA_CONV=own) runs our kernels.
template <Dir D>
void convolve(OpCtx& c, const Conv2dSpec& g) {
  const Tensor& a = *c.in[0];
  const Tensor& b = *c.in[1];
  Tensor& out = *c.out[0];
  const float* bias = D == kFwd && g.bias ? cfp(*c.in[2]) : nullptr;
  const Form f = form_of(c);
  const bool plain = f.dt == DType::F32 && !f.nhwc;  // our depthwise kernels and NCHW bias serve only this form
  if (bias && !plain && !f.nhwc) MDMT_FAIL(code::kInvalid, c.op, "a bfloat16 conv2d with a bias needs layout 'nhwc'");
  DeviceCtx& d = ctx_of(c);
  if (out.numel() == 0) return;
  if (a.numel() == 0 || b.numel() == 0) {
    cudaCheck(c.op, cudaMemsetAsync(out.raw(), 0, out.nbytes(), d.stream));
  } else {
    Plan& p = plan_for(c.op, d.index, g, f);
    const bool own = plain && g.depthwise() && force_own();
    if (!own && !p.found[D] && !p.refused[D]) {
      size_t lim = 0;
      auto ws = tuning_ws(c.device, c.op, &lim);
      typename Direction<D>::Perf perf[16];
      int n = 0;
      cudnnStatus_t st = Direction<D>::find(d, p, a.raw(), b.raw(), out.raw(), perf, &n, ws->get(), lim);
      settle(c.op, p, D, st, perf, n, lim, plain && g.depthwise(), g);
    }
    if (own || p.refused[D]) {  // (our depthwise forward adds the bias itself)
      cudaCheck(c.op, Direction<D>::own(fp(out), cfp(a), cfp(b), bias, own_conv(g), d.stream));
      return;
    }
    cudnnCheck(c.op, cudnnSetConvolutionMathType(p.conv, p.math[D]));
    Scratch ws(c.device, p.ws[D], c.op);
    Direction<D>::compute(c.op, d, p, a.raw(), b.raw(), out.raw(), ws.get(), ws.size());
  }
  if (bias && plain) cudaCheck(c.op, k::channel_binary(fp(out), cfp(out), bias, g.N, g.K, g.P * g.Q, k::Bin::Add, d.stream));
  else if (bias) cudaCheck(c.op, k::channel_binary_nhwc(out.raw(), out.raw(), bias, f.dt == DType::BF16 ? k::kBF16 : k::kF32,
                                                        g.N * g.P * g.Q, g.K, k::Bin::Add, d.stream));
}

}  // namespace

// (a bf16 / NHWC call is checked by the family contract on its fp32 view, native/cuda/lowp.h)
MDMT_REGISTER_SPEC_OP("conv2d", CUDA, fp32_viewed<conv2d_prepare>, convolve<kFwd>);
MDMT_REGISTER_SPEC_OP("conv2d_bwd_data", CUDA, fp32_viewed<bwd_data_prepare>, convolve<kBwdData>);
MDMT_REGISTER_SPEC_OP("conv2d_bwd_filter", CUDA, fp32_viewed<bwd_filter_prepare>, convolve<kBwdFilter>);

}  // namespace cuda
}  // namespace mdmt
