// CPU pooling (docs/ops.md "pooling"): maxpool2d / avgpool2d with PyTorch's output sizes
// (ceil_mode: the last window must start inside the input or the left padding) and
// divisors, global average pooling, and their backward ops. Every kernel runs in
// parallel over the N·C planes; a plane is touched by one thread only, so the backward
// scatters (maxpool, avgpool) need no atomics. Nothing may throw inside a parallel
// region: problems found there (a bad index) are flagged and reported after it.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>

#include "../core/registry.h"
#include "parallel.h"

namespace mdmt {
namespace {

// Planes per chunk so a chunk holds roughly this many elements of work.
int64_t plane_grain(double work_per_plane) {
  return work_per_plane >= (1 << 15) ? 1 : static_cast<int64_t>((1 << 15) / std::max(1.0, work_per_plane));
}
// Work of one output plane: windows are clipped to the input, so at most H×W per output.
double pool_work(int64_t P, int64_t Q, int64_t kh, int64_t kw, int64_t H, int64_t W) {
  return static_cast<double>(P) * static_cast<double>(Q) * static_cast<double>(std::min(kh, H)) * static_cast<double>(std::min(kw, W));
}

int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

struct Pool2d {
  int64_t N, C, H, W, P, Q;
  int64_t kh, kw, sh, sw, ph, pw;
  bool ceil;
};

// PyTorch pooling_output_shape (dilation 1).
int64_t out_size(int64_t in, int64_t k, int64_t s, int64_t p, bool ceil) {
  int64_t o = floor_div(in + 2 * p - (k - 1) - 1 + (ceil ? s - 1 : 0), s) + 1;
  if (ceil && (o - 1) * s >= in + p) --o;
  return o;
}

int64_t attr_pair(const OpCtx& c, const char* key, int idx, int64_t def, bool required) {
  std::vector<int64_t> v = required || c.attrs.has(key) ? c.attrs.ints(c.op, key) : std::vector<int64_t>{def, def};
  if (v.size() == 1) v.push_back(v[0]);
  if (v.size() != 2) MDMT_FAIL(code::kInvalid, c.op, "attribute '" << key << "' must have 2 values, got " << v.size());
  return v[idx];
}

// Reads kernel/stride/padding/ceil_mode and checks them against the input plane (H, W)
// exactly as PyTorch does (pad <= kernel/2, output >= 1).
Pool2d pool_params(const OpCtx& c, const Shape& xs) {
  Pool2d p;
  p.N = xs[0]; p.C = xs[1]; p.H = xs[2]; p.W = xs[3];
  p.kh = attr_pair(c, "kernel", 0, 0, true);
  p.kw = attr_pair(c, "kernel", 1, 0, true);
  p.sh = attr_pair(c, "stride", 0, p.kh, false);
  p.sw = attr_pair(c, "stride", 1, p.kw, false);
  p.ph = attr_pair(c, "padding", 0, 0, false);
  p.pw = attr_pair(c, "padding", 1, 0, false);
  p.ceil = c.attrs.b(c.op, "ceil_mode", false);
  if (p.H < 1 || p.W < 1) MDMT_FAIL(code::kShape, c.op, "input " << shape_str(xs) << " has an empty H×W plane");
  const int64_t kMax = 1 << 20;
  if (p.kh < 1 || p.kw < 1 || p.kh > kMax || p.kw > kMax)
    MDMT_FAIL(code::kInvalid, c.op, "kernel must be in [1, " << kMax << "], got [" << p.kh << ", " << p.kw << "]");
  if (p.sh < 1 || p.sw < 1 || p.sh > kMax || p.sw > kMax)
    MDMT_FAIL(code::kInvalid, c.op, "stride must be in [1, " << kMax << "], got [" << p.sh << ", " << p.sw << "]");
  if (p.ph < 0 || p.pw < 0 || 2 * p.ph > p.kh || 2 * p.pw > p.kw)
    MDMT_FAIL(code::kInvalid, c.op, "padding must be >= 0 and at most half the kernel, got [" << p.ph << ", " << p.pw
                                                                   << "] for kernel [" << p.kh << ", " << p.kw << "]");
  p.P = out_size(p.H, p.kh, p.sh, p.ph, p.ceil);
  p.Q = out_size(p.W, p.kw, p.sw, p.pw, p.ceil);
  if (p.P < 1 || p.Q < 1)
    MDMT_FAIL(code::kShape, c.op, "input " << shape_str(xs) << " is too small for kernel [" << p.kh << ", " << p.kw
                                           << "] with padding [" << p.ph << ", " << p.pw << "]: output would be "
                                           << p.P << "x" << p.Q);
  return p;
}

// ---- maxpool2d: x -> y, indices (int32, flat h*W+w within the plane) ------------------

void maxpool2d(OpCtx& c) {
  c.expect_counts(1, 2);
  const Tensor& x = c.input(0, "x", DType::F32, 4);
  const Pool2d p = pool_params(c, x.shape);
  const Shape ys = {p.N, p.C, p.P, p.Q};
  Tensor& y = c.output(0, "y", DType::F32, ys);
  Tensor& ix = c.output(1, "indices", DType::I32, ys);
  if (p.H * p.W > std::numeric_limits<int32_t>::max())
    MDMT_FAIL(code::kShape, c.op, "plane " << p.H << "x" << p.W << " too large for int32 indices");
  const float* px = x.data<float>();
  float* py = y.data<float>();
  int32_t* pi = ix.data<int32_t>();
  parallel_for(0, p.N * p.C, plane_grain(pool_work(p.P, p.Q, p.kh, p.kw, p.H, p.W)), [&](int64_t lo, int64_t hi) {
    for (int64_t pl = lo; pl < hi; ++pl) {
      const float* xp = px + pl * p.H * p.W;
      float* yp = py + pl * p.P * p.Q;
      int32_t* ip = pi + pl * p.P * p.Q;
      for (int64_t oh = 0; oh < p.P; ++oh) {
        const int64_t h0 = oh * p.sh - p.ph;
        const int64_t ha = std::max<int64_t>(h0, 0), hb = std::min(h0 + p.kh, p.H);
        for (int64_t ow = 0; ow < p.Q; ++ow) {
          const int64_t w0 = ow * p.sw - p.pw;
          const int64_t wa = std::max<int64_t>(w0, 0), wb = std::min(w0 + p.kw, p.W);
          // PyTorch: first maximum wins; NaN propagates
          float best = -std::numeric_limits<float>::infinity();
          int64_t bi = ha < hb && wa < wb ? ha * p.W + wa : -1;
          for (int64_t h = ha; h < hb; ++h)
            for (int64_t w = wa; w < wb; ++w) {
              const float v = xp[h * p.W + w];
              if (v > best || std::isnan(v)) { best = v; bi = h * p.W + w; }
            }
          yp[oh * p.Q + ow] = best;
          ip[oh * p.Q + ow] = static_cast<int32_t>(bi);
        }
      }
    }
  });
}

// dx[idx] += dy, plane by plane; dx's shape comes from the output tensor.
void maxpool2d_bwd(OpCtx& c) {
  c.expect_counts(2, 1);
  const Tensor& dy = c.input(0, "dy", DType::F32, 4);
  const Tensor& ix = c.input(1, "indices", DType::I32, 4);
  c.expect_shape(ix, "indices", dy.shape);
  Tensor& dx = *c.out[0];
  if (dx.dtype != DType::F32) MDMT_FAIL(code::kDType, c.op, "output 'dx' must be float32, got " << dtype_name(dx.dtype));
  if (dx.ndim() != 4 || dx.shape[0] != dy.shape[0] || dx.shape[1] != dy.shape[1])
    MDMT_FAIL(code::kShape, c.op, "output 'dx' must be [N, C, H, W] with N, C of dy " << dy.shape_str() << ", got "
                                                                                  << dx.shape_str());
  const int64_t planes = dy.shape[0] * dy.shape[1], m = dy.shape[2] * dy.shape[3], hw = dx.shape[2] * dx.shape[3];
  const float* pd = dy.data<float>();
  const int32_t* pi = ix.data<int32_t>();
  float* po = dx.data<float>();
  std::atomic<int64_t> bad{-1};
  parallel_for(0, planes, plane_grain(static_cast<double>(hw + m)), [&](int64_t lo, int64_t hi) {
    for (int64_t pl = lo; pl < hi; ++pl) {
      float* o = po + pl * hw;
      std::fill(o, o + hw, 0.0f);
      const float* d = pd + pl * m;
      const int32_t* id = pi + pl * m;
      for (int64_t k = 0; k < m; ++k) {
        const int64_t j = id[k];
        if (j >= 0 && j < hw) o[j] += d[k];
        else bad.store(pl * m + k);
      }
    }
  });
  if (bad.load() >= 0) {  // report the first bad index (the threads saw them in any order)
    int64_t k = 0;
    for (int64_t n = planes * m; k < n; ++k)
      if (pi[k] < 0 || pi[k] >= hw) break;
    MDMT_FAIL(code::kInvalid, c.op, "indices[" << k << "] = " << pi[k] << " is outside the plane of " << hw
                                               << " elements of dx " << dx.shape_str());
  }
}

// ---- avgpool2d ----------------------------------------------------------------------------

// Window of output (oh, ow) clipped to the input, and its divisor (PyTorch avg_pool2d:
// count_include_pad divides by the window clipped to input+padding, else by the part
// inside the input). Empty windows (impossible with the checks above) have divisor 0.
struct Window {
  int64_t ha, hb, wa, wb;
  float inv;
};
inline Window window(const Pool2d& p, bool include_pad, int64_t oh, int64_t ow) {
  int64_t h0 = oh * p.sh - p.ph, w0 = ow * p.sw - p.pw;
  int64_t h1 = std::min(h0 + p.kh, p.H + p.ph), w1 = std::min(w0 + p.kw, p.W + p.pw);
  const int64_t padded = (h1 - h0) * (w1 - w0);
  Window r;
  r.ha = std::max<int64_t>(h0, 0); r.wa = std::max<int64_t>(w0, 0);
  r.hb = std::min(h1, p.H); r.wb = std::min(w1, p.W);
  const int64_t inside = std::max<int64_t>(0, r.hb - r.ha) * std::max<int64_t>(0, r.wb - r.wa);
  const int64_t div = include_pad ? padded : inside;
  r.inv = inside > 0 && div > 0 ? 1.0f / static_cast<float>(div) : 0.0f;
  return r;
}

void avgpool2d(OpCtx& c) {
  c.expect_counts(1, 1);
  const Tensor& x = c.input(0, "x", DType::F32, 4);
  const Pool2d p = pool_params(c, x.shape);
  const bool inc = c.attrs.b(c.op, "count_include_pad", true);
  Tensor& y = c.output(0, "y", DType::F32, {p.N, p.C, p.P, p.Q});
  const float* px = x.data<float>();
  float* py = y.data<float>();
  parallel_for(0, p.N * p.C, plane_grain(pool_work(p.P, p.Q, p.kh, p.kw, p.H, p.W)), [&](int64_t lo, int64_t hi) {
    for (int64_t pl = lo; pl < hi; ++pl) {
      const float* xp = px + pl * p.H * p.W;
      float* yp = py + pl * p.P * p.Q;
      for (int64_t oh = 0; oh < p.P; ++oh)
        for (int64_t ow = 0; ow < p.Q; ++ow) {
          const Window w = window(p, inc, oh, ow);
          float s = 0.0f;
          for (int64_t h = w.ha; h < w.hb; ++h)
            for (int64_t v = w.wa; v < w.wb; ++v) s += xp[h * p.W + v];
          yp[oh * p.Q + ow] = s * w.inv;
        }
    }
  });
}

// Adjoint of avgpool2d: dx[h, w] = Σ over windows containing (h, w) of dy·inv. dx's shape
// comes from the output tensor; dy must have the pooled shape of dx.
void avgpool2d_bwd(OpCtx& c) {
  c.expect_counts(1, 1);
  const Tensor& dy = c.input(0, "dy", DType::F32, 4);
  Tensor& dx = *c.out[0];
  if (dx.dtype != DType::F32) MDMT_FAIL(code::kDType, c.op, "output 'dx' must be float32, got " << dtype_name(dx.dtype));
  if (dx.ndim() != 4) MDMT_FAIL(code::kShape, c.op, "output 'dx' must have 4 dims, got " << dx.shape_str());
  const Pool2d p = pool_params(c, dx.shape);
  const bool inc = c.attrs.b(c.op, "count_include_pad", true);
  c.expect_shape(dy, "dy", {p.N, p.C, p.P, p.Q});
  const float* pd = dy.data<float>();
  float* po = dx.data<float>();
  parallel_for(0, p.N * p.C, plane_grain(static_cast<double>(p.H * p.W) + pool_work(p.P, p.Q, p.kh, p.kw, p.H, p.W)), [&](int64_t lo, int64_t hi) {
    for (int64_t pl = lo; pl < hi; ++pl) {
      float* o = po + pl * p.H * p.W;
      std::fill(o, o + p.H * p.W, 0.0f);
      const float* d = pd + pl * p.P * p.Q;
      for (int64_t oh = 0; oh < p.P; ++oh)
        for (int64_t ow = 0; ow < p.Q; ++ow) {
          const Window w = window(p, inc, oh, ow);
          const float g = d[oh * p.Q + ow] * w.inv;
          for (int64_t h = w.ha; h < w.hb; ++h)
            for (int64_t v = w.wa; v < w.wb; ++v) o[h * p.W + v] += g;
        }
    }
  });
}

// ---- global average pooling --------------------------------------------------------------

void global_avgpool(OpCtx& c) {
  c.expect_counts(1, 1);
  const Tensor& x = c.input(0, "x", DType::F32, 4);
  const int64_t planes = x.shape[0] * x.shape[1], hw = x.shape[2] * x.shape[3];
  if (hw == 0 && planes > 0) MDMT_FAIL(code::kShape, c.op, "input 'x' " << x.shape_str() << " has empty planes");
  Tensor& y = c.output(0, "y", DType::F32, {x.shape[0], x.shape[1], 1, 1});
  const float* px = x.data<float>();
  float* py = y.data<float>();
  parallel_for(0, planes, plane_grain(hw), [&](int64_t lo, int64_t hi) {
    for (int64_t pl = lo; pl < hi; ++pl) {
      const float* xp = px + pl * hw;
      double s = 0;
      for (int64_t i = 0; i < hw; ++i) s += xp[i];
      py[pl] = static_cast<float>(s / static_cast<double>(hw));
    }
  });
}

void global_avgpool_bwd(OpCtx& c) {
  c.expect_counts(1, 1);
  const Tensor& dy = c.input(0, "dy", DType::F32, 4);
  Tensor& dx = *c.out[0];
  if (dx.dtype != DType::F32) MDMT_FAIL(code::kDType, c.op, "output 'dx' must be float32, got " << dtype_name(dx.dtype));
  if (dx.ndim() != 4) MDMT_FAIL(code::kShape, c.op, "output 'dx' must have 4 dims, got " << dx.shape_str());
  c.expect_shape(dy, "dy", {dx.shape[0], dx.shape[1], 1, 1});
  const int64_t planes = dx.shape[0] * dx.shape[1], hw = dx.shape[2] * dx.shape[3];
  const float* pd = dy.data<float>();
  float* po = dx.data<float>();
  parallel_for(0, planes, plane_grain(hw), [&](int64_t lo, int64_t hi) {
    for (int64_t pl = lo; pl < hi; ++pl) std::fill(po + pl * hw, po + (pl + 1) * hw, pd[pl] / static_cast<float>(hw));
  });
}

}  // namespace

MDMT_REGISTER_OP("maxpool2d", CPU, maxpool2d);
MDMT_REGISTER_OP("maxpool2d_bwd", CPU, maxpool2d_bwd);
MDMT_REGISTER_OP("avgpool2d", CPU, avgpool2d);
MDMT_REGISTER_OP("avgpool2d_bwd", CPU, avgpool2d_bwd);
MDMT_REGISTER_OP("global_avgpool", CPU, global_avgpool);
MDMT_REGISTER_OP("global_avgpool_bwd", CPU, global_avgpool_bwd);

}  // namespace mdmt
