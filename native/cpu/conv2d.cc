// CPU conv2d (docs/ops.md), NCHW, weights K×(C/G)×R×S, and the im2col + GEMM machinery its
// backward ops share (conv2d_bwd.cc).
//
// Per (image n, group g) the convolution is a GEMM over the group's slices:
//   y_ng[Kg, PQ]        = w_g[Kg, Cg·R·S] · col_ng[Cg·R·S, PQ]        (forward)
//   col_ng              = w_gᵀ · dy_ng,  dx_ng = col2im(col_ng)        (bwd data)
//   dw_g[Kg, Cg·R·S]   += dy_ng · col_ngᵀ                              (bwd filter)
// col = im2col(x): col[(c·R + r)·S + s, p·Q + q] = x[c, p·sh − ph + r·dh, q·sw − pw + s·dw]
// (0 in the padding). 1×1 stride-1 unpadded convs use x itself as col (no copy). Small
// feature maps put several images side by side in one GEMM (make_batching); large ones
// build col in column chunks of at most kColFloats floats, so the workspace stays
// bounded whatever the image size. Depthwise convs (groups == C) use direct loops
// (native/cpu/depthwise.cc).
//
// Threads: (image batch, group) tasks run in parallel with serial GEMMs when there are
// enough of them (bwd filter: image parts with partial dw sums); otherwise tasks run one
// after another and each GEMM is parallel inside. Inner loops (im2col/col2im rows,
// depthwise planes) are compiled per ISA and chosen like the GEMM's micro-kernel.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <functional>

#include "../core/registry.h"
#include "conv2d.h"
#include "parallel.h"
#include "cpu_features.h"
#include "scratch.h"

namespace mdmt {
namespace cpu_conv {

thread_local Scratch tl_col("conv2d");
float* col_buffer(int64_t floats) { return tl_col.get(floats); }

namespace {

constexpr int64_t kColFloats = int64_t(1) << 22;  // 16 MiB of im2col workspace per thread

// ---- row primitives (the inner loops of im2col, col2im and the depthwise kernels) ----------
// Chosen per call from the conv's ISA (the GEMM's: attribute isa, else the best one here).
//   gather: d[i] = x[i·sx]          axpy:  y[i] += a·x[i·sx]          dot: Σ a[i]·x[i·sx]
//   scatter_add: y[i·sy] += x[i]     scatter_axpy: y[i·sy] += a·x[i]
struct RowOps {
  void (*gather)(float* d, const float* x, int64_t n, int64_t sx);
  void (*axpy)(float* y, const float* x, float a, int64_t n, int64_t sx);
  float (*dot)(const float* a, const float* x, int64_t n, int64_t sx);
  void (*scatter_add)(float* y, int64_t sy, const float* x, int64_t n);
  void (*scatter_axpy)(float* y, int64_t sy, const float* x, float a, int64_t n);
};

// Portable bodies; the AVX2 build of them is the same C++ compiled for AVX2 (the compiler
// vectorises the unit-stride loops), AVX-512 has hand-written stride-1 and stride-2 paths.
#define MDMT_ROWOPS_PORTABLE(NAME, TARGET)                                                                              \
  TARGET void gather_##NAME(float* d, const float* x, int64_t n, int64_t sx) {                                         \
    if (sx == 1) std::memcpy(d, x, sizeof(float) * n);                                                                  \
    else for (int64_t i = 0; i < n; ++i) d[i] = x[i * sx];                                                             \
  }                                                                                                                     \
  TARGET void axpy_##NAME(float* y, const float* x, float a, int64_t n, int64_t sx) {                                  \
    if (sx == 1) for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];                                                     \
    else for (int64_t i = 0; i < n; ++i) y[i] += a * x[i * sx];                                                        \
  }                                                                                                                     \
  TARGET float dot_##NAME(const float* a, const float* x, int64_t n, int64_t sx) {                                     \
    float s0 = 0.f;                                                                                                     \
    if (sx == 1) for (int64_t i = 0; i < n; ++i) s0 += a[i] * x[i];                                                    \
    else for (int64_t i = 0; i < n; ++i) s0 += a[i] * x[i * sx];                                                       \
    return s0;                                                                                                          \
  }                                                                                                                     \
  TARGET void scatter_add_##NAME(float* y, int64_t sy, const float* x, int64_t n) {                                    \
    if (sy == 1) for (int64_t i = 0; i < n; ++i) y[i] += x[i];                                                         \
    else for (int64_t i = 0; i < n; ++i) y[i * sy] += x[i];                                                            \
  }                                                                                                                     \
  TARGET void scatter_axpy_##NAME(float* y, int64_t sy, const float* x, float a, int64_t n) {                          \
    if (sy == 1) for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];                                                     \
    else for (int64_t i = 0; i < n; ++i) y[i * sy] += a * x[i];                                                        \
  }
MDMT_ROWOPS_PORTABLE(generic, )
#if defined(__x86_64__) || defined(__i386__)
MDMT_ROWOPS_PORTABLE(avx2, MDMT_TARGET_AVX2)


MDMT_AVX512 void gather_avx512(float* d, const float* x, int64_t n, int64_t sx) {
  if (sx == 1) return (void)std::memcpy(d, x, sizeof(float) * n);
  if (sx != 2) return gather_generic(d, x, n, sx);
  for (int64_t i = 0; i < n; i += 16) _mm512_mask_storeu_ps(d + i, tail_mask(n - i), load_even16(x + 2 * i, std::min<int64_t>(16, n - i)));
}
MDMT_AVX512 void axpy_avx512(float* y, const float* x, float a, int64_t n, int64_t sx) {
  if (sx > 2) return axpy_generic(y, x, a, n, sx);
  const __m512 va = _mm512_set1_ps(a);
  for (int64_t i = 0; i < n; i += 16) {
    const int64_t m = std::min<int64_t>(16, n - i);
    const __mmask16 k = tail_mask(m);
    _mm512_mask_storeu_ps(y + i, k, _mm512_fmadd_ps(va, load_s(x + i * sx, m, sx), _mm512_maskz_loadu_ps(k, y + i)));
  }
}
MDMT_AVX512 float dot_avx512(const float* a, const float* x, int64_t n, int64_t sx) {
  if (sx > 2) return dot_generic(a, x, n, sx);
  __m512 acc = _mm512_setzero_ps();
  for (int64_t i = 0; i < n; i += 16) {
    const int64_t m = std::min<int64_t>(16, n - i);
    acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tail_mask(m), a + i), load_s(x + i * sx, m, sx), acc);
  }
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, acc);
  float sum = 0.f;
  for (float v : lanes) sum += v;
  return sum;
}
MDMT_AVX512 void scatter_add_avx512(float* y, int64_t sy, const float* x, int64_t n) {
  if (sy != 1) return scatter_add_generic(y, sy, x, n);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 k = tail_mask(n - i);
    _mm512_mask_storeu_ps(y + i, k, _mm512_add_ps(_mm512_maskz_loadu_ps(k, y + i), _mm512_maskz_loadu_ps(k, x + i)));
  }
}
MDMT_AVX512 void scatter_axpy_avx512(float* y, int64_t sy, const float* x, float a, int64_t n) {
  if (sy != 1) return scatter_axpy_generic(y, sy, x, a, n);
  axpy_avx512(y, x, a, n, 1);
}
#endif

const RowOps& row_ops(GemmIsa isa) {
  static const RowOps generic{gather_generic, axpy_generic, dot_generic, scatter_add_generic, scatter_axpy_generic};
#if defined(__x86_64__) || defined(__i386__)
  static const RowOps avx2{gather_avx2, axpy_avx2, dot_avx2, scatter_add_avx2, scatter_axpy_avx2};
  static const RowOps avx512{gather_avx512, axpy_avx512, dot_avx512, scatter_add_avx512, scatter_axpy_avx512};
  if (gemm_isa_level(isa) == 2) return avx512;
  if (gemm_isa_level(isa) == 1) return avx2;
#endif
  return generic;
}

// Output columns [q0, q0 + n) of one row (c, r, s): for each column j = p·Q + q, the input
// column iw = q·sw + off of input row ih = p·sh + roff (or nothing in the padding).
// visit(j_local, ih, iw_first, count) runs over maximal runs of valid columns of one row p.
template <class F>
void for_row_runs(const Geom& g, int64_t r, int64_t s, int64_t q0, int64_t n, F&& visit) {
  const int64_t off = s * g.dw - g.pw, roff = r * g.dh - g.ph;
  const int64_t qlo = off >= 0 ? 0 : (-off + g.sw - 1) / g.sw;                 // first q with iw >= 0
  const int64_t qhi = g.W - 1 - off < 0 ? 0 : std::min(g.Q, (g.W - 1 - off) / g.sw + 1);  // past last q with iw < W
  int64_t j = q0;
  const int64_t end = q0 + n;
  while (j < end) {
    const int64_t p = j / g.Q, qa = j % g.Q;
    const int64_t qb = std::min(g.Q, qa + (end - j));
    const int64_t ih = p * g.sh + roff;
    if (ih >= 0 && ih < g.H) {
      const int64_t a = std::max(qa, qlo), b = std::min(qb, qhi);
      if (a < b) visit(j - q0 + (a - qa), ih, a * g.sw + off, b - a, qa, qb, j - q0);
      else visit(-1, ih, 0, 0, qa, qb, j - q0);
    } else {
      visit(-1, -1, 0, 0, qa, qb, j - q0);
    }
    j += qb - qa;
  }
}

}  // namespace

// ---- im2col + GEMM helpers (declared in conv2d.h) ---------------------------------------

// im2col: channels in parallel when called outside a parallel region.
void im2col(const Geom& g, const float* xg, int64_t q0, int64_t n, float* col, int64_t ldcol) {
  const RowOps& ops = row_ops(g.isa);
  parallel_for(0, g.Cg, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, n * g.R * g.S)), [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c)
      for (int64_t r = 0; r < g.R; ++r)
        for (int64_t s = 0; s < g.S; ++s) {
          float* dst = col + ((c * g.R + r) * g.S + s) * ldcol;
          const float* xc = xg + c * g.H * g.W;
          for_row_runs(g, r, s, q0, n, [&](int64_t jl, int64_t ih, int64_t iw, int64_t cnt, int64_t qa, int64_t qb, int64_t base) {
            // zero the whole run [qa, qb) first, then copy the valid part
            if (cnt < qb - qa) std::fill(dst + base, dst + base + (qb - qa), 0.f);
            if (cnt <= 0) return;
            ops.gather(dst + jl, xc + ih * g.W + iw, cnt, g.sw);
          });
        }
  });
}

// dx_g += col2im(col) for output columns [q0, q0 + n) (the adjoint of im2col); channels
// in parallel (each owns its dx plane).
void col2im_add(const Geom& g, const float* col, int64_t q0, int64_t n, int64_t ldcol, float* dxg) {
  const RowOps& ops = row_ops(g.isa);
  parallel_for(0, g.Cg, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, n * g.R * g.S)), [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c)
      for (int64_t r = 0; r < g.R; ++r)
        for (int64_t s = 0; s < g.S; ++s) {
          const float* src = col + ((c * g.R + r) * g.S + s) * ldcol;
          float* dc = dxg + c * g.H * g.W;
          for_row_runs(g, r, s, q0, n, [&](int64_t jl, int64_t ih, int64_t iw, int64_t cnt, int64_t, int64_t, int64_t) {
            if (cnt <= 0) return;
            ops.scatter_add(dc + ih * g.W + iw, g.sw, src + jl, cnt);
          });
        }
  });
}

// rows × cols block copy between two row strides (gathering images side by side and back)
void copy_rows(int64_t rows, int64_t cols, const float* src, int64_t lds, float* dst, int64_t ldd) {
  parallel_for(0, rows, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, cols)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) std::memcpy(dst + r * ldd, src + r * lds, sizeof(float) * cols);
  });
}

// How the images of one group are fed to the GEMM. Small feature maps (PQ below
// kWideCols) put nb images side by side, so one GEMM sees nb·PQ columns: the weights
// are packed once per nb images instead of once per image and the NR-wide panels are
// not mostly padding (7×7 = 49 columns fill 2 panels of 32 to 77 %). Large maps go one
// image at a time, cut into column chunks of qc when col would exceed the workspace.
// nb leaves at least `threads` (batch × group) tasks when there are images for them:
// tasks run in parallel with serial GEMMs, one parallel region per call; a GEMM that is
// parallel inside meets its threads ~10 times, and on a loaded machine each meeting can
// wait a scheduler slice for a thread that went to sleep.
constexpr int64_t kWideCols = 1024;
Batching make_batching(const Geom& g, int threads) {
  Batching b;
  const int64_t PQ = g.P * g.Q, CRS = g.crs();
  int64_t nb = PQ >= kWideCols ? 1 : std::min(g.N, (2 * kWideCols) / std::max<int64_t>(1, PQ));
  nb = std::min(nb, kColFloats / std::max<int64_t>(1, PQ * (CRS + g.Kg)));
  if (threads > g.G) nb = std::min(nb, std::max<int64_t>(1, g.N / ((threads + g.G - 1) / g.G)));
  if (nb > 1) {
    b.batches = (g.N + nb - 1) / nb;
    b.nb = (g.N + b.batches - 1) / b.batches;  // balanced
    b.qc = b.nb * PQ;
  } else {
    b.nb = 1;
    b.batches = g.N;
    b.qc = std::max<int64_t>(1, std::min(PQ, kColFloats / std::max<int64_t>(1, CRS)));
  }
  return b;
}

// Two grow-only scratch buffers per thread: col (im2col) and tmp (gathered dy / GEMM out).
thread_local Scratch tl_tmp("conv2d");
float* tmp_buffer(int64_t floats) { return tl_tmp.get(floats); }

// Runs task(i) for i in [0, T): in parallel when the tasks keep every thread busy,
// else one after another (and the GEMMs inside parallelise).
void run_tasks(int64_t T, const std::function<void(int64_t)>& task) {
  const int th = num_threads();
  if (th > 1 && T >= th && (T % th == 0 || T >= 4 * th)) {
    parallel_for(0, T, 1, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) task(i);
    });
  } else {
    for (int64_t i = 0; i < T; ++i) task(i);
  }
}

// ---- the forward op (the backward ops: conv2d_bwd.cc) ----------------------------------

// The family's checks and geometry (native/ops/conv2d.h) plus the CPU-only GEMM isa.
Geom with_isa(const OpCtx& c, const Conv2dSpec& s) {
  Geom g;
  static_cast<Conv2dSpec&>(g) = s;
  g.isa = parse_gemm_isa(c.op, c.attrs.s(c.op, "isa", "auto"));
  return g;
}

namespace {

Geom conv2d_prepare(const OpCtx& c) { return with_isa(c, conv2d_spec(c)); }

// The forward: the fast paths shared with conv2d_act (Winograd, direct, depthwise, 1×1 GEMMs
// with the bias in their epilogue), else im2col + GEMM (gemm_forward, below).
void conv2d_cpu(OpCtx& c, const Geom& g) {
  const float *px = c.in[0]->data<float>(), *pw = c.in[1]->data<float>();
  const float* pb = g.bias ? c.in[2]->data<float>() : nullptr;
  float* py = c.out[0]->data<float>();
  FusedGeom f;
  static_cast<Geom&>(f) = g;
  if (fused_forward(f, px, pw, pb, nullptr, py)) return;
  gemm_forward(g, px, pw, pb, py);
}

}  // namespace

void gemm_forward(const Geom& g, const float* px, const float* pw, const float* pb, float* py) {
  if (g.N * g.K * g.P * g.Q == 0) return;
  const int64_t HW = g.H * g.W, PQ = g.P * g.Q, CRS = g.crs();
  for_batches(g, [&](int64_t n0, int64_t nb, int64_t gi, const Batching& bt_) {
    const float* wg = pw + gi * g.Kg * CRS;
    auto out = [&](int64_t n) { return py + (n * g.K + gi * g.Kg) * PQ; };
    auto in = [&](int64_t n) { return px + (n * g.C + gi * g.Cg) * HW; };
    if (bt_.nb > 1) {  // nb images side by side: col [CRS, nb·PQ] -> tmp [Kg, nb·PQ] -> y
      const int64_t L = nb * PQ;
      float* col = col_buffer(CRS * L);
      float* tmp = tmp_buffer(g.Kg * L);
      for (int64_t i = 0; i < nb; ++i) im2col(g, in(n0 + i), 0, PQ, col + i * PQ, L);
      sgemm(false, false, g.Kg, L, CRS, 1.f, wg, CRS, col, L, 0.f, tmp, L, g.isa);
      for (int64_t i = 0; i < nb; ++i) copy_rows(g.Kg, PQ, tmp + i * PQ, L, out(n0 + i), PQ);
    } else if (g.pointwise()) {
      sgemm(false, false, g.Kg, PQ, g.Cg, 1.f, wg, CRS, in(n0), HW, 0.f, out(n0), PQ, g.isa);
    } else {
      float* col = col_buffer(CRS * bt_.qc);
      for (int64_t q0 = 0; q0 < PQ; q0 += bt_.qc) {
        const int64_t w_ = std::min(bt_.qc, PQ - q0);
        im2col(g, in(n0), q0, w_, col, w_);
        sgemm(false, false, g.Kg, w_, CRS, 1.f, wg, CRS, col, w_, 0.f, out(n0) + q0, PQ, g.isa);
      }
    }
    if (pb)
      for (int64_t i = 0; i < nb; ++i)
        for (int64_t k = 0; k < g.Kg; ++k) {
          const float bv = pb[gi * g.Kg + k];
          float* row = out(n0 + i) + k * PQ;
          for (int64_t j = 0; j < PQ; ++j) row[j] += bv;
        }
  });
}

MDMT_REGISTER_SPEC_OP("conv2d", CPU, conv2d_prepare, conv2d_cpu);

}  // namespace cpu_conv
}  // namespace mdmt
