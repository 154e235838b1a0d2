// conv2d_act (docs/ops.md; contract in native/ops/conv2d.h): y = act(conv2d(x, w, b) + r),
// the convolution with its epilogue fused — folded BatchNorm (b), the residual add
// (optional r, shaped like y) and ReLU / ReLU6 / SiLU / sigmoid / hardswish — so an
// inference plan writes each activation once instead of conv, add and activation passes
// over it. conv2d's own forward runs through the same choice (fused_forward, act none), so
// training gets the same kernels and conv2d_act equals conv2d → add → act bit for bit.
//
// Algorithms (attribute algo, 'auto' by default; the others are for tests):
//   winograd4 / winograd2  3×3 stride 1 (conv2d_winograd.h), epilogue in the output transform
//   depthwise              groups = C (depthwise_act.h): the plane read in place, the
//                          epilogue in registers
//   stem                   ≤ 4 input channels, stride 1/2 (conv2d_stem.h): the image read
//                          directly instead of an im2col matrix 27..147 rows deep
//   gemm                   1×1 on 1×1 maps: a matrix-vector product per image; 1×1
//                          unpadded on maps from 8×8: one GEMM per image (strided: on the
//                          subsampled image) with the epilogue in the GEMM's tile loop;
//                          else the conv2d kernel, then one epilogue pass per output row
// 'auto' takes Winograd F(4,3) or F(2,3) for 3×3 stride-1 dense convs with enough pixels
// to amortise the transforms (winograd_m), depthwise for groups = C, stem for ≤ 4 input
// channels and ≥ 8 outputs, for k×k stride-2 convs with rows of ≥ 32 outputs and grouped
// convs with rows of ≥ 12, else gemm.
#include <algorithm>
#include <vector>

#include "../ops/conv2d.h"
#include "conv2d.h"
#include "conv2d_stem.h"
#include "conv2d_winograd.h"
#include "depthwise_act.h"
#include "gemm.h"
#include "parallel.h"
#include "vmath.h"
#include "cpu_features.h"
#include "scratch.h"

namespace mdmt {
namespace {

using cpu_conv::Geom;

// Winograd F(m, 3) applies: 3×3, stride 1, dilation 1, one group.
bool winograd_fits(const Geom& g) {
  return g.R == 3 && g.S == 3 && g.sh == 1 && g.sw == 1 && g.dh == 1 && g.dw == 1 && g.G == 1;
}

// 1×1 convs on 1×1 maps (squeeze-excitation blocks): y[n, k] = Σ_c w[k, c]·x[n, c], a
// matrix-vector product per image. The GEMM would pack all of w for a single column (16
// computed, 1 kept); here each row of w is read once for all images, with 16 partial sums
// per dot product so the loop vectorises. Parallel over output channels.
#define MDMT_GEMV(NAME, TARGET)                                                                           \
  TARGET void gemv_##NAME(int64_t N, int64_t K, int64_t C, const float* w, const float* x, float* y,    \
                          int64_t k0, int64_t k1) {                                                      \
    for (int64_t k = k0; k < k1; ++k) {                                                                  \
      const float* wk = w + k * C;                                                                       \
      for (int64_t n = 0; n < N; ++n) {                                                                  \
        const float* xn = x + n * C;                                                                     \
        float part[16] = {};                                                                             \
        int64_t c = 0;                                                                                   \
        for (; c + 16 <= C; c += 16)                                                                     \
          for (int l = 0; l < 16; ++l) part[l] += wk[c + l] * xn[c + l];                                 \
        float t = 0.f;                                                                                   \
        for (; c < C; ++c) t += wk[c] * xn[c];                                                           \
        for (int l = 0; l < 16; ++l) t += part[l];                                                       \
        y[n * K + k] = t;                                                                                \
      }                                                                                                  \
    }                                                                                                    \
  }
MDMT_EACH_ISA(MDMT_GEMV)

bool gemv_fused(const Geom& s, const float* x, const float* wt, const float* b, const float* r, Act act, float* y, GemmIsa isa) {
  if (!(s.R == 1 && s.S == 1 && s.sh == 1 && s.sw == 1 && s.ph == 0 && s.pw == 0 && s.G == 1) || s.H * s.W != 1) return false;
  auto fn = gemv_generic;
#if defined(__x86_64__) || defined(__i386__)
  if (gemm_isa_level(isa) == 2) fn = gemv_avx512;
  else if (gemm_isa_level(isa) == 1) fn = gemv_avx2;
#endif
  parallel_for(0, s.K, std::max<int64_t>(1, 8192 / std::max<int64_t>(1, s.N * s.C)), [&](int64_t lo, int64_t hi) { fn(s.N, s.K, s.C, wt, x, y, lo, hi); });
  // the epilogue per image (its K outputs are contiguous): bias and residual, then the activation
  for (int64_t n = 0; n < s.N; ++n) {
    float* yn = y + n * s.K;
    if (b) for (int64_t k = 0; k < s.K; ++k) yn[k] += b[k];
    if (r) for (int64_t k = 0; k < s.K; ++k) yn[k] += r[n * s.K + k];
    if (act != Act::None) vmath::bias_act(yn, s.K, 0.f, act);
  }
  return true;
}

// 'auto' with the weights transformed per call: Winograd when the output has ≥ 128 pixels
// over the batch (below that the transform of U, α²·K·C written and read, costs more than
// the 2.25–4× fewer multiplies save: 512→512 on 4×4 maps at batch 4, F(2,3) against im2col
// + GEMM: forward 2.05 vs 1.71 ms, bwd_data 2.94 vs 1.78), with F(4,3) on maps from 16×16
// and F(2,3) below (7×7 pads to 8×8 either way, and F(2,3)'s four times as many tiles make
// wider GEMMs: batch-8 512→512 on 7×7 17.0 vs 19.3 ms per core), and at least 16 tiles (one
// GEMM panel). From 128 pixels F(2,3) wins all three training ops, most where the GEMM is
// small: batch 8 on 4×4 maps (ResNet's layer4 and DenseNet's last block at 128²), 2 threads,
// forward / bwd_data / bwd_filter, ms: 512→512 3.47/3.84/3.67 → 2.93/3.91/2.93, 256→256
// 0.99/1.04/1.09 → 0.53/0.69/0.54, 128→32 0.21/0.21/0.23 → 0.09/0.09/0.10; batch 4 on 7×7,
// 512→512: 6.96/6.73/5.43 → 4.32/5.07/4.07.
int winograd_m(const Geom& s) {
  if (s.C < 16 || s.K < 16 || s.N * s.P * s.Q < 128) return 0;
  const int m = s.P * s.Q >= 256 ? 4 : 2;
  return s.N * ((s.P + m - 1) / m) * ((s.Q + m - 1) / m) >= 16 ? m : 0;
}


// 1×1 stride-1 unpadded convs: one GEMM per image, y_n[K, HW] = w[K, C] · x_n[C, HW], with
// the epilogue applied to each C tile by the GEMM (no second pass over y). Images run in
// parallel with serial GEMMs when there are enough of them.
// Below 8×8 the GEMM's 48-column panels are mostly padding (7×7 = 49 columns compute 64):
// the conv2d kernel's images-side-by-side GEMM does better there.
constexpr int64_t kMinPointwiseHW = 64;
thread_local std::vector<float> tl_sub;  // a strided 1×1 conv's subsampled image

bool pointwise_fused(const Geom& s, const float* x, const float* wt, const float* b, const float* r, Act act, float* y, GemmIsa isa) {
  const int64_t PQ = s.P * s.Q, HW = s.H * s.W;
  if (!(s.R == 1 && s.S == 1 && s.ph == 0 && s.pw == 0 && s.G == 1) || PQ < kMinPointwiseHW) return false;
  const bool strided = s.sh != 1 || s.sw != 1;  // ResNet's downsample: the GEMM runs on x[:, :, ::sh, ::sw]
  // outputs larger than a typical L3 are written around the cache: their lines are not
  // read first, and would be evicted before the next layer reads them (MobileNetV2's
  // 16→96 expansion on 128×128 at batch 8, 50 MB: 8.2 → 6.0 ms per core)
  const bool stream = 4 * s.N * s.K * PQ > (int64_t(24) << 20);
  auto image = [&](int64_t n) {
    const float* xn = x + n * s.C * HW;
    if (strided) {
      tl_sub.resize(static_cast<size_t>(s.C * PQ));
      float* d = tl_sub.data();
      for (int64_t c = 0; c < s.C; ++c)
        for (int64_t p = 0; p < s.P; ++p)
          for (int64_t q = 0; q < s.Q; ++q) d[(c * s.P + p) * s.Q + q] = xn[(c * s.H + p * s.sh) * s.W + q * s.sw];
      xn = d;
    }
    const GemmEpilogue ep{b, r ? r + n * s.K * PQ : nullptr, PQ, act, stream};
    sgemm(false, false, s.K, PQ, s.C, 1.f, wt, s.C, xn, PQ, 0.f, y + n * s.K * PQ, PQ, isa, &ep);
  };
  if (s.N >= num_threads() && num_threads() > 1)
    parallel_for(0, s.N, 1, [&](int64_t lo, int64_t hi) { for (int64_t n = lo; n < hi; ++n) image(n); });
  else
    for (int64_t n = 0; n < s.N; ++n) image(n);
  return true;
}

// The direct kernel computes 32 columns per register block, 16 on rows of ≤ 16 (with 16 or
// 24 channels); below 12 it idles too many lanes and the GEMMs win (ResNeXt's 32 groups per
// core: 64×64 maps 22 → 51 GFLOP/s, 32×32 38 → 65, 16×16 41 → 68, 14×14 34 → 54, 8×8 41 → 36).
constexpr int64_t kGroupedMinQ = 12;

// The algorithm 'auto' picks for this geometry.
cpu_conv::Algo auto_algo(const Geom& g) {
  using cpu_conv::Algo;
  if (g.depthwise()) return Algo::Depthwise;
  if (winograd_fits(g) && winograd_m(g)) return winograd_m(g) == 4 ? Algo::Winograd4 : Algo::Winograd2;
  const bool direct = conv_stem::fits(g.C, g.sh, g.sw, g.dh, g.dw);
  const bool stem = direct && g.C <= 4 && g.G == 1 && g.K >= 8;
  const bool wide_s2 = direct && g.G == 1 && g.sh == 2 && g.sw == 2 && g.R * g.S >= 9 && g.Q >= 32;
  // grouped (not depthwise) k×k convs: per-group GEMMs of a few rows ran at 20–40 GFLOP/s
  const bool grouped = direct && g.G > 1 && g.R * g.S > 1 && g.Q >= kGroupedMinQ;
  return stem || wide_s2 || grouped ? Algo::Stem : Algo::Gemm;
}

// The CPU's extension of the family's spec: the GEMM isa and the test-only algo / tile_block.
struct ActGeom : cpu_conv::FusedGeom {};
ActGeom act_prepare(const OpCtx& c) {
  ActGeom g;
  const Conv2dActSpec s = conv2d_act_spec(c);
  static_cast<Conv2dSpec&>(g) = s;
  g.isa = parse_gemm_isa(c.op, c.attrs.s(c.op, "isa", "auto"));
  g.act = s.act, g.residual = s.residual, g.pre = s.winograd;
  g.tile_block = c.attrs.i(c.op, "tile_block", 0);
  if (g.tile_block < 0 || g.tile_block % 16) MDMT_FAIL(code::kInvalid, c.op, "attribute 'tile_block' must be a multiple of 16, got " << g.tile_block);
  g.algo = cpu_conv::parse_algo(c, g);
  return g;
}

void conv2d_act_cpu(OpCtx& c, const ActGeom& g) {
  const float *px = c.in[0]->data<float>(), *pw = c.in[1]->data<float>();
  const float* pb = g.bias ? c.in[2]->data<float>() : nullptr;
  const float* pr = g.residual ? c.in[3]->data<float>() : nullptr;
  float* py = c.out[0]->data<float>();
  if (cpu_conv::fused_forward(g, px, pw, pb, pr, py)) return;
  // the im2col + GEMM kernel, which adds the bias itself when nothing else follows
  const bool alone = !pr && g.act == Act::None;
  cpu_conv::gemm_forward(g, px, pw, alone ? pb : nullptr, py);
  if (alone) return;
  const int64_t K = g.K, PQ = g.P * g.Q;
  parallel_for(0, g.N * K, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, PQ)), [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      const float bk = pb ? pb[i % K] : 0.f;
      if (pr) vmath::bias_add_act(py + i * PQ, pr + i * PQ, PQ, bk, g.act);
      else vmath::bias_act(py + i * PQ, PQ, bk, g.act);
    }
  });
}

// U [(m+2)², K, C] = the Winograd transform of w [K, C, 3, 3]
void winograd_weights_cpu(OpCtx& c, const WinogradWeightsSpec& s) {
  winograd::transform_weights(s.m, s.K, s.C, c.in[0]->data<float>(), c.out[0]->data<float>());
}

}  // namespace

namespace cpu_conv {

Algo parse_algo(const OpCtx& c, const FusedGeom& g) {
  const std::string algo = c.attrs.s(c.op, "algo", "auto");
  if (g.pre) {
    if (algo != "auto" && algo != (g.pre == 4 ? "winograd4" : "winograd2"))
      MDMT_FAIL(code::kInvalid, c.op, "algo '" << algo << "' cannot run pre-transformed Winograd weights");
    return g.pre == 4 ? Algo::Winograd4 : Algo::Winograd2;
  }
  if (algo == "auto") return Algo::Auto;
  if (algo == "gemm") return Algo::Gemm;
  if (algo == "depthwise") {
    if (!g.depthwise()) MDMT_FAIL(code::kInvalid, c.op, "algo 'depthwise' needs groups = in-channels (> 1)");
    return Algo::Depthwise;
  }
  if (algo == "winograd4" || algo == "winograd2") {
    if (!winograd_fits(g)) MDMT_FAIL(code::kInvalid, c.op, "algo '" << algo << "' needs a 3x3 kernel, stride 1, dilation 1 and groups 1");
    return algo == "winograd4" ? Algo::Winograd4 : Algo::Winograd2;
  }
  if (algo == "stem") {
    if (g.depthwise()) MDMT_FAIL(code::kInvalid, c.op, "algo 'stem' does not run depthwise convs (groups = in-channels): use 'depthwise'");
    if (!conv_stem::fits(g.C, g.sh, g.sw, g.dh, g.dw)) MDMT_FAIL(code::kInvalid, c.op, "algo 'stem' needs stride 1 or 2 and dilation 1");
    return Algo::Stem;
  }
  MDMT_FAIL(code::kInvalid, c.op, "attribute 'algo' must be auto, gemm, winograd2, winograd4, stem or depthwise, got '" << algo << "'");
}

bool forward_beats_gemm(const FusedGeom& g) { return auto_algo(g) != Algo::Gemm; }
int auto_winograd_m(const Geom& g) { return winograd_fits(g) ? winograd_m(g) : 0; }

bool fused_forward(const FusedGeom& g, const float* x, const float* w, const float* b, const float* r, float* y) {
  if (g.N * g.K * g.P * g.Q == 0) return true;
  const Algo algo = g.algo == Algo::Auto ? auto_algo(g) : g.algo;
  const Act act = g.act;
  if (algo == Algo::Winograd4 || algo == Algo::Winograd2) {
    const int m = algo == Algo::Winograd4 ? 4 : 2;
    const winograd::Shape ws{g.N, g.C, g.H, g.W, g.K, g.P, g.Q, g.ph, g.pw};
    if (g.pre) return winograd::forward(m, ws, x, w, b, r, act, y, g.isa, g.tile_block), true;
    winograd::forward_raw(m, ws, x, w, winograd::plain_weights(g.C), b, r, act, y, g.isa, g.tile_block);
    return true;
  }
  if (algo == Algo::Depthwise) {  // outputs over 24 MB around the cache, as the 1×1 path
    const size_t bytes = sizeof(float) * static_cast<size_t>(g.N * g.K * g.P * g.Q);
    depthwise_act::forward({g.N, g.C, g.H, g.W, g.K, g.R, g.S, g.P, g.Q, g.sh, g.sw, g.ph, g.pw, g.dh, g.dw, bytes > (size_t(24) << 20)},
                           x, w, b, r, act, y, g.isa);
    return true;
  }
  if (algo == Algo::Stem) {
    const conv_stem::Shape ss{g.N, g.C, g.H, g.W, g.K, g.R, g.S, g.P, g.Q, g.sh, g.sw, g.ph, g.pw, g.G};
    if (!r) return conv_stem::forward(ss, x, w, b, act, y, g.isa), true;
    conv_stem::forward(ss, x, w, nullptr, Act::None, y, g.isa);  // a residual: the epilogue pass after it
    const int64_t PQ = g.P * g.Q;
    parallel_for(0, g.N * g.K, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, PQ)), [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) vmath::bias_add_act(y + i * PQ, r + i * PQ, PQ, b ? b[i % g.K] : 0.f, act);
    });
    return true;
  }
  return gemv_fused(g, x, w, b, r, act, y, g.isa) || pointwise_fused(g, x, w, b, r, act, y, g.isa);
}

}  // namespace cpu_conv

MDMT_REGISTER_SPEC_OP("conv2d_act", CPU, act_prepare, conv2d_act_cpu);
MDMT_REGISTER_SPEC_OP("winograd_weights", CPU, winograd_weights_spec, winograd_weights_cpu);

}  // namespace mdmt
