// CPU pooling (docs/ops.md "pool"; contract and window geometry in native/ops/pool.h):
// maxpool2d / avgpool2d with PyTorch's divisors, global average pooling, and their
// backward ops. Every kernel runs in parallel over the N·C planes; a plane is touched by
// one thread only, so the backward scatters (maxpool, avgpool) need no atomics. Nothing
// may throw inside a parallel region: problems found there (a bad index) are flagged and
// reported after it.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>

#include "../ops/pool.h"
#include "parallel.h"
#include "pool_vec.h"

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

using Pool2d = PoolSpec;

// ---- maxpool2d: x -> y[, indices] (int32, flat h*W+w within the plane; written only ----
// when asked for: the TS op drops them when no gradient is recorded)

void maxpool2d(OpCtx& c, const Pool2d& p) {
  const float* px = c.in[0]->data<float>();
  float* py = c.out[0]->data<float>();
  if (!p.indices)  // values only (eval): nobody reads the argmax
    return maxpool2d_values({p.H, p.W, p.P, p.Q, p.kh, p.kw, p.sh, p.sw, p.ph, p.pw}, p.N * p.C, px, py);
  // values and argmax (training): the vectorised kernels too
  maxpool2d_indexed({p.H, p.W, p.P, p.Q, p.kh, p.kw, p.sh, p.sw, p.ph, p.pw}, p.N * p.C, px, py, c.out[1]->data<int32_t>());
}

// dx[idx] += dy, plane by plane; dx's shape comes from the output tensor.
void maxpool2d_bwd(OpCtx& c, const Pool2d& p) {
  const int64_t planes = p.N * p.C, m = p.P * p.Q, hw = p.H * p.W;
  const float* pd = c.in[0]->data<float>();
  const int32_t* pi = c.in[1]->data<int32_t>();
  float* po = c.out[0]->data<float>();
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
                                               << " elements of dx " << c.out[0]->shape_str());
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

void avgpool2d(OpCtx& c, const Pool2d& p) {
  const bool inc = p.count_include_pad;
  const float* px = c.in[0]->data<float>();
  float* py = c.out[0]->data<float>();
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
void avgpool2d_bwd(OpCtx& c, const Pool2d& p) {
  const bool inc = p.count_include_pad;
  const float* pd = c.in[0]->data<float>();
  float* po = c.out[0]->data<float>();
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

void global_avgpool(OpCtx& c, const Pool2d& p) {
  global_avgpool_planes(c.in[0]->data<float>(), c.out[0]->data<float>(), p.N * p.C, p.H * p.W);
}

void global_avgpool_bwd(OpCtx& c, const Pool2d& p) {
  const int64_t planes = p.N * p.C, hw = p.H * p.W;
  const float* pd = c.in[0]->data<float>();
  float* po = c.out[0]->data<float>();
  parallel_for(0, planes, plane_grain(hw), [&](int64_t lo, int64_t hi) {
    for (int64_t pl = lo; pl < hi; ++pl) std::fill(po + pl * hw, po + (pl + 1) * hw, pd[pl] / static_cast<float>(hw));
  });
}

}  // namespace

MDMT_REGISTER_SPEC_OP("maxpool2d", CPU, maxpool2d_spec, maxpool2d);
MDMT_REGISTER_SPEC_OP("maxpool2d_bwd", CPU, maxpool2d_bwd_spec, maxpool2d_bwd);
MDMT_REGISTER_SPEC_OP("avgpool2d", CPU, avgpool2d_spec, avgpool2d);
MDMT_REGISTER_SPEC_OP("avgpool2d_bwd", CPU, avgpool2d_bwd_spec, avgpool2d_bwd);
MDMT_REGISTER_SPEC_OP("global_avgpool", CPU, global_avgpool_spec, global_avgpool);
MDMT_REGISTER_SPEC_OP("global_avgpool_bwd", CPU, global_avgpool_bwd_spec, global_avgpool_bwd);

}  // namespace mdmt
