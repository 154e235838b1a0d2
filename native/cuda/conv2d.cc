// conv2d / conv2d_bwd_data / conv2d_bwd_filter on CUDA through cuDNN (docs/ops.md).
//
// Layout: NCHW at the API and, for now, NCHW physically too (cuDNN transposes internally
// for tensor-core kernels); an NHWC physical layout is the next speed step.
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

#include "common.h"

namespace mdmt {
namespace cuda {
namespace {

struct Geometry {
  int64_t N, C, H, W, K, R, S, P, Q;
  int64_t sh, sw, ph, pw, dh, dw, g;
};

std::vector<int64_t> pair_attr(const OpCtx& c, const char* k, int64_t def, int64_t min) {
  std::vector<int64_t> v = c.attrs.ints(c.op, k, {def, def});
  if (v.size() == 1) v.push_back(v[0]);
  if (v.size() != 2 || v[0] < min || v[1] < min)
    MDMT_FAIL(code::kInvalid, c.op, "attribute '" << k << "' must be two integers >= " << min);
  return v;
}

// Checks x [N,C,H,W], w [K,C/G,R,S] and y [N,K,P,Q] against each other with the CPU's rules
// and messages (native/cpu/conv2d.cc make_geom); each op is given two and the output.
Geometry geometry(const OpCtx& c, const Shape& x, const Shape& w, const Shape& y) {
  Geometry g{};
  auto st = pair_attr(c, "stride", 1, 1), pd = pair_attr(c, "padding", 0, 0), dl = pair_attr(c, "dilation", 1, 1);
  g.sh = st[0], g.sw = st[1], g.ph = pd[0], g.pw = pd[1], g.dh = dl[0], g.dw = dl[1];
  g.g = c.attrs.i(c.op, "groups", 1);
  if (g.g < 1) MDMT_FAIL(code::kInvalid, c.op, "attribute 'groups' must be >= 1, got " << g.g);
  g.N = x[0], g.C = x[1], g.H = x[2], g.W = x[3];
  g.K = w[0], g.R = w[2], g.S = w[3];
  if (g.C % g.g || g.K % g.g)
    MDMT_FAIL(code::kShape, c.op, "groups " << g.g << " must divide in-channels " << g.C << " and out-channels " << g.K);
  if (w[1] != g.C / g.g)
    MDMT_FAIL(code::kShape, c.op, "w " << shape_str(w) << " must have C/groups = " << g.C / g.g << " input channels (x "
                                       << shape_str(x) << ", groups " << g.g << ")");
  if (g.R < 1 || g.S < 1) MDMT_FAIL(code::kShape, c.op, "w " << shape_str(w) << " has an empty kernel");
  const int64_t eh = g.H + 2 * g.ph - g.dh * (g.R - 1) - 1, ew = g.W + 2 * g.pw - g.dw * (g.S - 1) - 1;
  if (eh < 0 || ew < 0)
    MDMT_FAIL(code::kShape, c.op, "kernel " << g.R << "x" << g.S << " (dilation " << g.dh << "," << g.dw
                                            << ") is larger than the padded input " << shape_str(x));
  g.P = eh / g.sh + 1, g.Q = ew / g.sw + 1;
  const Shape ye{g.N, g.K, g.P, g.Q};
  if (y != ye)
    MDMT_FAIL(code::kShape, c.op, "output/gradient " << shape_str(y) << " must have shape " << shape_str(ye) << " for x "
                                                     << shape_str(x) << " and w " << shape_str(w));
  for (int64_t v : {g.N, g.C, g.H, g.W, g.K, g.P, g.Q, g.sh, g.sw, g.ph, g.pw, g.dh, g.dw, g.g})
    if (v > 0x7fffffff) MDMT_FAIL(code::kShape, c.op, "dimension or attribute too large for cuDNN");
  return g;
}

void require4(const OpCtx& c, const Tensor& t, const char* name) {
  if (t.ndim() != 4) MDMT_FAIL(code::kShape, c.op, "'" << name << "' must have 4 dims, got " << t.shape_str());
}

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

Plan& plan_for(const std::string& op, int dev, const Geometry& g) {
  const bool tf32 = tf32_enabled();
  Key key = {dev, static_cast<int64_t>(DType::F32), 0 /* NCHW */, g.N, g.C, g.H, g.W, g.K, g.R, g.S,
             g.sh, g.sw, g.ph, g.pw, g.dh, g.dw, g.g, tf32 ? 1 : 0, 0, 0};
  std::lock_guard<std::mutex> lk(cache_mu());
  auto it = cache().find(key);
  if (it != cache().end()) return *it->second;
  auto p = std::make_unique<Plan>();
  cudnnCheck(op, cudnnCreateTensorDescriptor(&p->x));
  cudnnCheck(op, cudnnCreateTensorDescriptor(&p->y));
  cudnnCheck(op, cudnnCreateFilterDescriptor(&p->w));
  cudnnCheck(op, cudnnCreateConvolutionDescriptor(&p->conv));
  cudnnCheck(op, cudnnSetTensor4dDescriptor(p->x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, (int)g.N, (int)g.C, (int)g.H, (int)g.W));
  cudnnCheck(op, cudnnSetTensor4dDescriptor(p->y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, (int)g.N, (int)g.K, (int)g.P, (int)g.Q));
  cudnnCheck(op, cudnnSetFilter4dDescriptor(p->w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, (int)g.K, (int)(g.C / g.g), (int)g.R, (int)g.S));
  cudnnCheck(op, cudnnSetConvolution2dDescriptor(p->conv, (int)g.ph, (int)g.pw, (int)g.sh, (int)g.sw, (int)g.dh, (int)g.dw,
                                                 CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
  cudnnCheck(op, cudnnSetConvolutionGroupCount(p->conv, (int)g.g));
  cudnnCheck(op, cudnnSetConvolutionMathType(p->conv, tf32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH));
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
    // strict fp32 (MDMT_TF32=0): no tensor-op algorithm (on fp32 data that means TF32)
    if (!tf32 && (perf[i].mathType == CUDNN_TENSOR_OP_MATH || perf[i].mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION))
      continue;
    p.algo[dir] = static_cast<int>(perf[i].algo);
    p.ws[dir] = perf[i].memory;
    p.math[dir] = tf32 ? perf[i].mathType : CUDNN_FMA_MATH;
    p.found[dir] = true;
    return true;
  }
  return false;
}

bool force_own() {
  const char* e = std::getenv("MDMT_CUDA_CONV");
  return e && std::strcmp(e, "own") == 0;
}

k::Conv2d own_conv(const Geometry& g) {
  return k::Conv2d{g.N, g.C, g.H, g.W, g.K, g.P, g.Q, (int)g.R, (int)g.S, (int)g.sh, (int)g.sw,
                   (int)g.ph, (int)g.pw, (int)g.dh, (int)g.dw};
}

// After a Find: record the choice, or mark the direction refused (depthwise falls back to
// our kernels, anything else is an error naming the configuration).
template <class Perf>
void settle(const std::string& op, Plan& p, Dir dir, cudnnStatus_t st, const Perf* perf, int n, size_t limit,
            bool depthwise, const Geometry& g) {
  if (st == CUDNN_STATUS_SUCCESS && pick(p, dir, perf, n, limit)) return;
  if (depthwise) {
    p.refused[dir] = true;
    return;
  }
  if (st != CUDNN_STATUS_SUCCESS) throw_cudnn(st, op, "cudnnFindConvolution*AlgorithmEx", __FILE__, __LINE__);
  MDMT_FAIL(code::kCudnn, op, "cuDNN found no usable algorithm (" << n << " candidates) for x [" << g.N << ", " << g.C << ", "
                                                                  << g.H << ", " << g.W << "], w [" << g.K << ", " << g.C / g.g
                                                                  << ", " << g.R << ", " << g.S << "], groups " << g.g);
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

void conv2d_cuda(OpCtx& c) {
  c.expect_counts(2, 3, 1, 1);
  const Tensor& x = c.input(0, "x", DType::F32);
  const Tensor& w = c.input(1, "w", DType::F32);
  require4(c, x, "x");
  require4(c, w, "w");
  Tensor& y = *c.out[0];
  if (y.dtype != DType::F32) MDMT_FAIL(code::kDType, c.op, "output 'y' must be float32");
  require4(c, y, "y");
  Geometry g = geometry(c, x.shape, w.shape, y.shape);
  const Tensor* b = c.in.size() == 3 ? &c.input(2, "b", DType::F32, 1) : nullptr;
  if (b && b->dim(0) != g.K) MDMT_FAIL(code::kShape, c.op, "b " << b->shape_str() << " must have " << g.K << " elements");
  DeviceCtx& d = ctx_of(c);
  if (y.numel() == 0) return;
  const bool depthwise = g.g == g.C && g.g > 1;
  if (x.numel() == 0 || w.numel() == 0) {
    cudaCheck(c.op, cudaMemsetAsync(y.raw(), 0, y.nbytes(), d.stream));
  } else {
    Plan& p = plan_for(c.op, d.index, g);
    const bool own = depthwise && force_own();
    if (!own && !p.found[kFwd] && !p.refused[kFwd]) {
      size_t lim = 0;
      auto ws = tuning_ws(c.device, c.op, &lim);
      cudnnConvolutionFwdAlgoPerf_t perf[16];
      int n = 0;
      cudnnStatus_t st = cudnnFindConvolutionForwardAlgorithmEx(d.cudnn, p.x, x.raw(), p.w, w.raw(), p.conv, p.y, y.raw(), 16,
                                                                &n, perf, ws->get(), lim);
      settle(c.op, p, kFwd, st, perf, n, lim, depthwise, g);
    }
    if (own || p.refused[kFwd]) {
      cudaCheck(c.op, k::depthwise_fwd(fp(y), cfp(x), cfp(w), b ? cfp(*b) : nullptr, own_conv(g), d.stream));
      return;
    }
    cudnnCheck(c.op, cudnnSetConvolutionMathType(p.conv, p.math[kFwd]));
    Scratch ws(c.device, p.ws[kFwd], c.op);
    const float one = 1.f, zero = 0.f;
    cudnnCheck(c.op, cudnnConvolutionForward(d.cudnn, &one, p.x, x.raw(), p.w, w.raw(), p.conv,
                                             static_cast<cudnnConvolutionFwdAlgo_t>(p.algo[kFwd]), ws.get(), ws.size(),
                                             &zero, p.y, y.raw()));
  }
  if (b) cudaCheck(c.op, k::channel_binary(fp(y), cfp(y), cfp(*b), g.N, g.K, g.P * g.Q, k::Bin::Add, d.stream));
}

void conv2d_bwd_data_cuda(OpCtx& c) {
  c.expect_counts(2, 1);
  const Tensor& dy = c.input(0, "dy", DType::F32);
  const Tensor& w = c.input(1, "w", DType::F32);
  require4(c, dy, "dy");
  require4(c, w, "w");
  Tensor& dx = *c.out[0];
  if (dx.dtype != DType::F32) MDMT_FAIL(code::kDType, c.op, "output 'dx' must be float32");
  require4(c, dx, "dx");
  if (dx.dim(0) != dy.dim(0)) MDMT_FAIL(code::kShape, c.op, "dx " << dx.shape_str() << " and dy " << dy.shape_str() << " differ in batch");
  Geometry g = geometry(c, dx.shape, w.shape, dy.shape);
  DeviceCtx& d = ctx_of(c);
  if (dx.numel() == 0) return;
  if (dy.numel() == 0 || w.numel() == 0) {
    cudaCheck(c.op, cudaMemsetAsync(dx.raw(), 0, dx.nbytes(), d.stream));
    return;
  }
  const bool depthwise = g.g == g.C && g.g > 1;
  Plan& p = plan_for(c.op, d.index, g);
  const bool own = depthwise && force_own();
  if (!own && !p.found[kBwdData] && !p.refused[kBwdData]) {
    size_t lim = 0;
    auto ws = tuning_ws(c.device, c.op, &lim);
    cudnnConvolutionBwdDataAlgoPerf_t perf[16];
    int n = 0;
    cudnnStatus_t st = cudnnFindConvolutionBackwardDataAlgorithmEx(d.cudnn, p.w, w.raw(), p.y, dy.raw(), p.conv, p.x,
                                                                   dx.raw(), 16, &n, perf, ws->get(), lim);
    settle(c.op, p, kBwdData, st, perf, n, lim, depthwise, g);
  }
  if (own || p.refused[kBwdData]) {
    cudaCheck(c.op, k::depthwise_bwd_data(fp(dx), cfp(dy), cfp(w), own_conv(g), d.stream));
    return;
  }
  cudnnCheck(c.op, cudnnSetConvolutionMathType(p.conv, p.math[kBwdData]));
  Scratch ws(c.device, p.ws[kBwdData], c.op);
  const float one = 1.f, zero = 0.f;
  cudnnCheck(c.op, cudnnConvolutionBackwardData(d.cudnn, &one, p.w, w.raw(), p.y, dy.raw(), p.conv,
                                                static_cast<cudnnConvolutionBwdDataAlgo_t>(p.algo[kBwdData]), ws.get(),
                                                ws.size(), &zero, p.x, dx.raw()));
}

void conv2d_bwd_filter_cuda(OpCtx& c) {
  c.expect_counts(2, 1);
  const Tensor& dy = c.input(0, "dy", DType::F32);
  const Tensor& x = c.input(1, "x", DType::F32);
  require4(c, dy, "dy");
  require4(c, x, "x");
  Tensor& dw = *c.out[0];
  if (dw.dtype != DType::F32) MDMT_FAIL(code::kDType, c.op, "output 'dw' must be float32");
  require4(c, dw, "dw");
  if (x.dim(0) != dy.dim(0)) MDMT_FAIL(code::kShape, c.op, "x " << x.shape_str() << " and dy " << dy.shape_str() << " differ in batch");
  Geometry g = geometry(c, x.shape, dw.shape, dy.shape);
  DeviceCtx& d = ctx_of(c);
  if (dw.numel() == 0) return;
  if (dy.numel() == 0 || x.numel() == 0) {
    cudaCheck(c.op, cudaMemsetAsync(dw.raw(), 0, dw.nbytes(), d.stream));
    return;
  }
  const bool depthwise = g.g == g.C && g.g > 1;
  Plan& p = plan_for(c.op, d.index, g);
  const bool own = depthwise && force_own();
  if (!own && !p.found[kBwdFilter] && !p.refused[kBwdFilter]) {
    size_t lim = 0;
    auto ws = tuning_ws(c.device, c.op, &lim);
    cudnnConvolutionBwdFilterAlgoPerf_t perf[16];
    int n = 0;
    cudnnStatus_t st = cudnnFindConvolutionBackwardFilterAlgorithmEx(d.cudnn, p.x, x.raw(), p.y, dy.raw(), p.conv, p.w,
                                                                     dw.raw(), 16, &n, perf, ws->get(), lim);
    settle(c.op, p, kBwdFilter, st, perf, n, lim, depthwise, g);
  }
  if (own || p.refused[kBwdFilter]) {
    cudaCheck(c.op, k::depthwise_bwd_filter(fp(dw), cfp(dy), cfp(x), own_conv(g), d.stream));
    return;
  }
  cudnnCheck(c.op, cudnnSetConvolutionMathType(p.conv, p.math[kBwdFilter]));
  Scratch ws(c.device, p.ws[kBwdFilter], c.op);
  const float one = 1.f, zero = 0.f;
  cudnnCheck(c.op, cudnnConvolutionBackwardFilter(d.cudnn, &one, p.x, x.raw(), p.y, dy.raw(), p.conv,
                                                  static_cast<cudnnConvolutionBwdFilterAlgo_t>(p.algo[kBwdFilter]), ws.get(),
                                                  ws.size(), &zero, p.w, dw.raw()));
}

}  // namespace

MDMT_REGISTER_OP("conv2d", CUDA, conv2d_cuda);
MDMT_REGISTER_OP("conv2d_bwd_data", CUDA, conv2d_bwd_data_cuda);
MDMT_REGISTER_OP("conv2d_bwd_filter", CUDA, conv2d_bwd_filter_cuda);

}  // namespace cuda
}  // namespace mdmt
