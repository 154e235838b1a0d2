// CPU conv2d_bwd_data and conv2d_bwd_filter (docs/ops.md; the GEMM formulation and the
// threading are described in conv2d.cc, whose im2col / col2im / batching helpers these use):
//   bwd data:   col = wᵀ · dy (images side by side on small maps), dx = col2im(col); stride-1
//               convs with a faster forward kernel run as that forward (conv2d_bwd_fast.cc),
//               depthwise ones by direct loops (depthwise.cc)
//   bwd filter: dw += dy · colᵀ over (image part × group) tasks with partial sums; Winograd
//               for 3×3 stride 1 where the forward uses it (conv2d_bwd_winograd.cc), the
//               stem kernel's direct sums for ≤ 4 input channels (conv2d_stem.cc)
#include <algorithm>
#include <cstring>

#include "../core/registry.h"
#include "conv2d.h"
#include "conv2d_stem.h"
#include "parallel.h"
#include "scratch.h"

namespace mdmt {
namespace cpu_conv {
namespace {

// bwd_data's colᵀ on small maps with large weights (kWeightsTransposeFloats: from 1 MiB)
constexpr int64_t kWeightsTransposeFloats = int64_t(1) << 18;
thread_local Scratch tl_colt("conv2d_bwd_data");
float* colt_buffer(int64_t floats) { return tl_colt.get(floats); }

// Partial dw sums of bwd_filter: grow-only, owned by the thread that runs the op and
// shared with the pool during the call.
thread_local Scratch tl_partial("conv2d_bwd_filter");
float* partial_buffer(int64_t floats) { return tl_partial.get(floats); }

Geom bwd_data_prepare(const OpCtx& c) { return with_isa(c, conv2d_bwd_data_spec(c)); }
Geom bwd_filter_prepare(const OpCtx& c) { return with_isa(c, conv2d_bwd_filter_spec(c)); }

void conv2d_bwd_data_cpu(OpCtx& c, const Geom& g) {
  const float *pdy = c.in[0]->data<float>(), *pw = c.in[1]->data<float>();
  float* pdx = c.out[0]->data<float>();
  if (g.N * g.C * g.H * g.W == 0) return;
  if (g.depthwise()) return dw_bwd_data(g, pdy, pw, pdx);
  if (bwd_data_as_forward(g, pdy, pw, pdx)) return;
  const int64_t HW = g.H * g.W, PQ = g.P * g.Q, CRS = g.crs();
  for_batches(g, [&](int64_t n0, int64_t nb, int64_t gi, const Batching& bt_) {
    const float* wg = pw + gi * g.Kg * CRS;
    auto grad = [&](int64_t n) { return pdy + (n * g.K + gi * g.Kg) * PQ; };
    auto out = [&](int64_t n) { return pdx + (n * g.C + gi * g.Cg) * HW; };
    if (bt_.nb > 1) {  // dy of nb images side by side: tmp [Kg, nb·PQ] -> col [CRS, nb·PQ] -> dx
      const int64_t L = nb * PQ;
      float* col = col_buffer(CRS * L);
      float* tmp = tmp_buffer(g.Kg * L);
      for (int64_t i = 0; i < nb; ++i) copy_rows(g.Kg, PQ, grad(n0 + i), PQ, tmp + i * PQ, L);
      if (L <= 128 && g.Kg * CRS >= kWeightsTransposeFloats) {
        // few columns, large weights: colᵀ [L, CRS] = dyᵀ · w, w read in rows (in place for
        // L ≤ 64) instead of packed transposed — each task packed all of wᵀ, reading 32-byte
        // runs CRS floats apart — then col = (colᵀ)ᵀ in 16×16 blocks. 512→512 3×3 on 4×4
        // maps at batch 8 (ResNet's layer4 at 128²): 5.1 → 4.5 ms, 2 threads. That conv
        // now runs as a Winograd forward (conv2d_bwd_fast.cc); the stride-2 ones come here
        // (layer4's 256→512 downsampling conv).
        float* colT = colt_buffer(CRS * L);
        sgemm(true, false, L, CRS, g.Kg, 1.f, tmp, L, wg, CRS, 0.f, colT, CRS, g.isa);
        for (int64_t r0 = 0; r0 < CRS; r0 += 16)
          for (int64_t j0 = 0; j0 < L; j0 += 16) {
            const int64_t r1 = std::min(CRS, r0 + 16), j1 = std::min(L, j0 + 16);
            for (int64_t r = r0; r < r1; ++r)
              for (int64_t j = j0; j < j1; ++j) col[r * L + j] = colT[j * CRS + r];
          }
      } else {
        sgemm(true, false, CRS, L, g.Kg, 1.f, wg, CRS, tmp, L, 0.f, col, L, g.isa);
      }
      for (int64_t i = 0; i < nb; ++i) {
        if (g.pointwise()) {
          copy_rows(g.Cg, HW, col + i * PQ, L, out(n0 + i), HW);
        } else {
          std::fill(out(n0 + i), out(n0 + i) + g.Cg * HW, 0.f);
          col2im_add(g, col + i * PQ, 0, PQ, L, out(n0 + i));
        }
      }
    } else if (g.pointwise()) {
      sgemm(true, false, g.Cg, HW, g.Kg, 1.f, wg, CRS, grad(n0), PQ, 0.f, out(n0), HW, g.isa);
    } else {
      std::fill(out(n0), out(n0) + g.Cg * HW, 0.f);
      float* col = col_buffer(CRS * bt_.qc);
      for (int64_t q0 = 0; q0 < PQ; q0 += bt_.qc) {
        const int64_t w_ = std::min(bt_.qc, PQ - q0);
        sgemm(true, false, CRS, w_, g.Kg, 1.f, wg, CRS, grad(n0) + q0, PQ, 0.f, col, w_, g.isa);
        col2im_add(g, col, q0, w_, w_, out(n0));
      }
    }
  });
}

void conv2d_bwd_filter_cpu(OpCtx& c, const Geom& g) {
  const float *pdy = c.in[0]->data<float>(), *px = c.in[1]->data<float>();
  float* pdw = c.out[0]->data<float>();
  const int64_t dw_numel = g.K * g.crs();
  if (dw_numel == 0) return;
  if (g.N == 0 || g.P * g.Q == 0) {
    std::fill(pdw, pdw + dw_numel, 0.f);
    return;
  }
  if (g.depthwise()) {
    if (!dw_bwd_filter_rows(g, pdy, px, pdw)) dw_bwd_filter(g, pdy, px, pdw);
    return;
  }
  if (bwd_filter_winograd(g, pdy, px, pdw)) return;
  if (g.G == 1 && g.C <= 4 && g.K >= 8 && conv_stem::fits(g.C, g.sh, g.sw, g.dh, g.dw)) {
    // the forward's stem kernel shapes (conv2d_stem.h): 7×7/2 3→64 at batch 8 on 128², 2
    // threads, 5.7 ms by im2col + GEMM
    const conv_stem::Shape ss{g.N, g.C, g.H, g.W, g.K, g.R, g.S, g.P, g.Q, g.sh, g.sw, g.ph, g.pw};
    return conv_stem::bwd_filter(ss, px, pdy, pdw, g.isa);
  }
  const int64_t HW = g.H * g.W, PQ = g.P * g.Q, CRS = g.crs();
  // Tasks: (part of the images) × group. dw_g of different groups are disjoint; when there
  // are fewer groups than threads the images are split into parts that accumulate into
  // partial dw buffers (part 0 into dw itself), summed at the end.
  const int th = num_threads();
  // One part (the GEMM parallel inside, over dw's columns) where the parts' GEMMs would be
  // shallow (< 128 summed pixels) and dw large (≥ 1 Mi floats): 512→512 3×3 on 4×4 maps at
  // batch 8, two parts of depth 64 plus their 9 MB partial sum: 5.1 → 4.1 ms, 2 threads
  // (1×1 convs with smaller dw lost: they stay split). That conv now takes Winograd (above);
  // the stride-2 ones come here (layer4's 256→512 downsampling conv, dw 1.2 Mi floats).
  const int64_t split = std::min<int64_t>(g.N, (th + g.G - 1) / g.G);
  const bool shallow = g.N / std::max<int64_t>(1, split) * PQ < 128 && g.K * CRS >= (int64_t(1) << 20);
  const int64_t want = th <= g.G || shallow ? 1 : split;
  const int64_t per = (g.N + want - 1) / want;
  // as many parts as `per` images fill: 4 images in 3 parts of 2 are 2 parts (a third, empty
  // part never wrote its partial sum and the stale buffer was added into dw: 3+ threads only)
  const int64_t parts = (g.N + per - 1) / per;
  Geom gp = g;
  gp.N = per;
  const Batching bt_ = make_batching(gp, 1);
  float* partial = parts > 1 ? partial_buffer((parts - 1) * g.K * CRS) : nullptr;
  run_tasks(parts * g.G, [&](int64_t t) {
    const int64_t part = t / g.G, gi = t % g.G;
    const int64_t n_lo = part * per, n_hi = std::min(g.N, n_lo + per);
    float* dwg = (part == 0 ? pdw : partial + (part - 1) * g.K * CRS) + gi * g.Kg * CRS;
    auto grad = [&](int64_t n) { return pdy + (n * g.K + gi * g.Kg) * PQ; };
    auto in = [&](int64_t n) { return px + (n * g.C + gi * g.Cg) * HW; };
    float beta = 0.f;  // the task's first GEMM overwrites, the others accumulate
    for (int64_t n0 = n_lo; n0 < n_hi; n0 += bt_.nb) {
      const int64_t nb = std::min(bt_.nb, n_hi - n0);
      if (bt_.nb > 1) {  // dwg += dy [Kg, nb·PQ] · col [CRS, nb·PQ]ᵀ
        const int64_t L = nb * PQ;
        float* col = col_buffer(CRS * L);
        float* tmp = tmp_buffer(g.Kg * L);
        for (int64_t i = 0; i < nb; ++i) {
          im2col(g, in(n0 + i), 0, PQ, col + i * PQ, L);
          copy_rows(g.Kg, PQ, grad(n0 + i), PQ, tmp + i * PQ, L);
        }
        sgemm(false, true, g.Kg, CRS, L, 1.f, tmp, L, col, L, beta, dwg, CRS, g.isa);
        beta = 1.f;
      } else if (g.pointwise()) {
        sgemm(false, true, g.Kg, g.Cg, PQ, 1.f, grad(n0), PQ, in(n0), HW, beta, dwg, CRS, g.isa);
        beta = 1.f;
      } else {
        float* col = col_buffer(CRS * bt_.qc);
        for (int64_t q0 = 0; q0 < PQ; q0 += bt_.qc) {
          const int64_t w_ = std::min(bt_.qc, PQ - q0);
          im2col(g, in(n0), q0, w_, col, w_);
          sgemm(false, true, g.Kg, CRS, w_, 1.f, grad(n0) + q0, PQ, col, w_, beta, dwg, CRS, g.isa);
          beta = 1.f;
        }
      }
    }
  });
  if (parts > 1) {
    const int64_t total = g.K * CRS;
    parallel_for(0, total, 1 << 14, [&](int64_t lo, int64_t hi) {
      for (int64_t p = 1; p < parts; ++p) {
        const float* src = partial + (p - 1) * total;
        for (int64_t i = lo; i < hi; ++i) pdw[i] += src[i];
      }
    });
  }
}

}  // namespace

MDMT_REGISTER_SPEC_OP("conv2d_bwd_data", CPU, bwd_data_prepare, conv2d_bwd_data_cpu);
MDMT_REGISTER_SPEC_OP("conv2d_bwd_filter", CPU, bwd_filter_prepare, conv2d_bwd_filter_cpu);

}  // namespace cpu_conv
}  // namespace mdmt
