// conv2d_act (docs/ops.md): y = act(conv2d(x, w) + b + r), the convolution with its
// epilogue fused — folded BatchNorm (b), the residual add (optional r, shaped like y) and
// ReLU / ReLU6 / SiLU / sigmoid — so an inference plan writes each activation once
// instead of conv, add and activation passes over it.
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
// channels and ≥ 8 outputs, for k×k stride-2 convs and grouped convs with rows of ≥ 32
// outputs, else gemm.
#include <algorithm>
#include <vector>

#include "../core/registry.h"
#include "gemm.h"
#include "conv2d_stem.h"
#include "depthwise_act.h"
#include "parallel.h"
#include "vmath.h"
#include "conv2d_winograd.h"

namespace mdmt {
namespace {

struct ConvAttrs {
  int64_t sh, sw, ph, pw, dh, dw, groups;
};

std::vector<int64_t> pair_of(const OpCtx& c, const char* k, int64_t def) {
  std::vector<int64_t> v = c.attrs.ints(c.op, k, {def, def});
  if (v.size() == 1) v.push_back(v[0]);
  if (v.size() != 2) MDMT_FAIL(code::kInvalid, c.op, "attribute '" << k << "' must have 2 values");
  return v;
}

ConvAttrs conv_attrs(const OpCtx& c) {
  const auto st = pair_of(c, "stride", 1), pd = pair_of(c, "padding", 0), dl = pair_of(c, "dilation", 1);
  return {st[0], st[1], pd[0], pd[1], dl[0], dl[1], c.attrs.i(c.op, "groups", 1)};
}

// y must be conv2d's output for x and w (conv2d's formula); the gemm path's conv2d kernel
// checks again, the direct paths rely on this.
void check_geometry(const OpCtx& c, const ConvAttrs& a, const Shape& x, const Shape& w, const Shape& y) {
  if (a.groups < 1 || a.sh < 1 || a.sw < 1 || a.dh < 1 || a.dw < 1 || a.ph < 0 || a.pw < 0)
    MDMT_FAIL(code::kInvalid, c.op, "stride, dilation and groups must be >= 1 and padding >= 0");
  const int64_t eh = x[2] + 2 * a.ph - a.dh * (w[2] - 1) - 1, ew = x[3] + 2 * a.pw - a.dw * (w[3] - 1) - 1;
  const Shape ye{x[0], w[0], eh < 0 ? -1 : eh / a.sh + 1, ew < 0 ? -1 : ew / a.sw + 1};
  if (x[1] % a.groups || w[0] % a.groups || w[1] * a.groups != x[1] || y != ye || w[2] < 1 || w[3] < 1)
    MDMT_FAIL(code::kShape, c.op, "x " << shape_str(x) << ", w " << shape_str(w) << " (groups " << a.groups << ") and y " << shape_str(y)
                                        << " do not match: y must be " << shape_str(ye));
}

// Winograd F(m, 3) applies: 3×3, stride 1, dilation 1, one group.
bool winograd_fits(const ConvAttrs& a, const Shape& w) {
  return w[2] == 3 && w[3] == 3 && a.sh == 1 && a.sw == 1 && a.dh == 1 && a.dw == 1 && a.groups == 1;
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
MDMT_GEMV(generic, )
#if defined(__x86_64__) || defined(__i386__)
MDMT_GEMV(avx2, __attribute__((target("avx2,fma"))))
MDMT_GEMV(avx512, __attribute__((target("avx512f"))))
#endif

bool gemv_fused(const ConvAttrs& a, const Shape& w, const winograd::Shape& s, const float* x, const float* wt,
                const float* b, const float* r, Act act, float* y, GemmIsa isa) {
  if (!(w[2] == 1 && w[3] == 1 && a.sh == 1 && a.sw == 1 && a.ph == 0 && a.pw == 0 && a.groups == 1) || s.H * s.W != 1) return false;
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

// 'auto' with the weights transformed per call: Winograd when the output has ≥ 256 pixels
// (below that the transform of U, α²·K·C written and read, costs more than the 2.25–4×
// fewer multiplies save: batch-1 512→512 on 7×7 is 4.0 ms by GEMM, 7.1 ms by F(2,3)), with
// F(4,3) on maps from 16×16 and F(2,3) below (7×7 pads to 8×8 either way, and F(2,3)'s
// four times as many tiles make wider GEMMs: batch-8 512→512 on 7×7 17.0 vs 19.3 ms), and
// at least 16 tiles (one GEMM panel). Measured per core, CPU time, against im2col + GEMM.
int winograd_m(const winograd::Shape& s) {
  if (s.C < 16 || s.K < 16 || s.N * s.P * s.Q < 256) return 0;
  const int m = s.P * s.Q >= 256 ? 4 : 2;
  return s.N * ((s.P + m - 1) / m) * ((s.Q + m - 1) / m) >= 16 ? m : 0;
}

thread_local std::vector<float> tl_u;  // transformed weights of the current call

// 1×1 stride-1 unpadded convs: one GEMM per image, y_n[K, HW] = w[K, C] · x_n[C, HW], with
// the epilogue applied to each C tile by the GEMM (no second pass over y). Images run in
// parallel with serial GEMMs when there are enough of them.
// Below 8×8 the GEMM's 48-column panels are mostly padding (7×7 = 49 columns compute 64):
// the conv2d kernel's images-side-by-side GEMM does better there.
constexpr int64_t kMinPointwiseHW = 64;
thread_local std::vector<float> tl_sub;  // a strided 1×1 conv's subsampled image

bool pointwise_fused(const ConvAttrs& a, const Shape& w, const winograd::Shape& s, const float* x, const float* wt,
                     const float* b, const float* r, Act act, float* y, GemmIsa isa) {
  const int64_t PQ = s.P * s.Q, HW = s.H * s.W;
  if (!(w[2] == 1 && w[3] == 1 && a.ph == 0 && a.pw == 0 && a.groups == 1) || PQ < kMinPointwiseHW) return false;
  const bool strided = a.sh != 1 || a.sw != 1;  // ResNet's downsample: the GEMM runs on x[:, :, ::sh, ::sw]
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
          for (int64_t q = 0; q < s.Q; ++q) d[(c * s.P + p) * s.Q + q] = xn[(c * s.H + p * a.sh) * s.W + q * a.sw];
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

// The algorithm for this call: the forced one (checked to apply), or the 'auto' choice.
enum class Algo { Gemm, Winograd2, Winograd4, Stem, Depthwise };
// The direct kernel computes 32 columns per register block: on rows under 32 it idles half
// of them and the GEMMs win (ResNeXt's 32 groups: 64×64 maps 22 → 51 GFLOP/s per core,
// 32×32 38 → 65, but 16×16 40 → 30).
constexpr int64_t kGroupedMinQ = 32;
Algo choose(const OpCtx& c, const ConvAttrs& a, const Shape& w, const winograd::Shape& ws) {
  const std::string algo = c.attrs.s(c.op, "algo", "auto");
  const bool direct = conv_stem::fits(ws.C, a.sh, a.sw, a.dh, a.dw);
  const bool stem = direct && ws.C <= 4 && a.groups == 1;
  const bool wide_s2 = direct && a.groups == 1 && a.sh == 2 && a.sw == 2 && w[2] * w[3] >= 9 && ws.Q >= 32;
  // grouped (not depthwise) k×k convs: per-group GEMMs of a few rows ran at 20–40 GFLOP/s
  const bool grouped = direct && a.groups > 1 && a.groups < ws.C && w[2] * w[3] > 1 && ws.Q >= kGroupedMinQ;
  const bool dw = a.groups == ws.C && a.groups > 1;
  if (algo == "auto" && dw) return Algo::Depthwise;
  if (algo == "depthwise") {
    if (!dw) MDMT_FAIL(code::kInvalid, c.op, "algo 'depthwise' needs groups = in-channels (> 1)");
    return Algo::Depthwise;
  }
  if (algo == "auto") {
    if (winograd_fits(a, w) && winograd_m(ws)) return winograd_m(ws) == 4 ? Algo::Winograd4 : Algo::Winograd2;
    return (stem && ws.K >= 8) || wide_s2 || grouped ? Algo::Stem : Algo::Gemm;
  }
  if (algo == "gemm") return Algo::Gemm;
  if (algo == "winograd4" || algo == "winograd2") {
    if (!winograd_fits(a, w)) MDMT_FAIL(code::kInvalid, c.op, "algo '" << algo << "' needs a 3x3 kernel, stride 1, dilation 1 and groups 1");
    return algo == "winograd4" ? Algo::Winograd4 : Algo::Winograd2;
  }
  if (algo == "stem") {
    if (!direct) MDMT_FAIL(code::kInvalid, c.op, "algo 'stem' needs stride 1 or 2 and dilation 1");
    return Algo::Stem;
  }
  MDMT_FAIL(code::kInvalid, c.op, "attribute 'algo' must be auto, gemm, winograd2, winograd4, stem or depthwise, got '" << algo << "'");
}

void conv2d_act_cpu(OpCtx& c) {
  c.expect_counts(2, 4, 1, 1);  // x, w[, b[, r]]
  const Tensor& x = c.input(0, "x", DType::F32, 4);
  // winograd = m: input 1 is U = winograd_weights(w) [(m+2)², K, C] of a 3×3 w
  const int64_t pre = c.attrs.i(c.op, "winograd", 0);
  if (pre != 0 && pre != 2 && pre != 4) MDMT_FAIL(code::kInvalid, c.op, "attribute 'winograd' must be 0, 2 or 4, got " << pre);
  const Tensor& w = c.input(1, pre ? "U" : "w", DType::F32, pre ? 3 : 4);
  if (pre && w.dim(0) != (pre + 2) * (pre + 2))
    MDMT_FAIL(code::kShape, c.op, "U " << w.shape_str() << " must have " << (pre + 2) * (pre + 2) << " rows of K×C (winograd " << pre << ")");
  const Shape wshape = pre ? Shape{w.dim(1), w.dim(2), 3, 3} : w.shape;
  const Tensor* b = c.in.size() >= 3 ? &c.input(2, "b", DType::F32, 1) : nullptr;
  Tensor& y = *c.out[0];
  if (y.dtype != DType::F32 || y.ndim() != 4) MDMT_FAIL(code::kShape, c.op, "output 'y' must be a 4-D float32 tensor, got " << y.shape_str());
  if (b && b->dim(0) != wshape[0]) MDMT_FAIL(code::kShape, c.op, "b " << b->shape_str() << " must have " << wshape[0] << " elements (w " << shape_str(wshape) << ")");
  const Tensor* r = c.in.size() == 4 ? &c.input(3, "residual", DType::F32) : nullptr;
  if (r) c.expect_shape(*r, "residual", y.shape);
  for (const Tensor* t : {&x, &w, b, r, static_cast<const Tensor*>(&y)})
    if (t && !t->contiguous()) MDMT_FAIL(code::kInvalid, c.op, "operands must be contiguous");
  const Act act = parse_act(c.op, c.attrs.s(c.op, "act", "none"));
  const GemmIsa isa = parse_gemm_isa(c.op, c.attrs.s(c.op, "isa", "auto"));
  const ConvAttrs a = conv_attrs(c);
  check_geometry(c, a, x.shape, wshape, y.shape);
  const winograd::Shape ws{x.dim(0), x.dim(1), x.dim(2), x.dim(3), wshape[0], y.dim(2), y.dim(3), a.ph, a.pw};
  const float *px = x.data<float>(), *pw = w.data<float>(), *pb = b ? b->data<float>() : nullptr, *pr = r ? r->data<float>() : nullptr;
  float* py = y.data<float>();
  if (pre && !winograd_fits(a, wshape))
    MDMT_FAIL(code::kInvalid, c.op, "pre-transformed weights (winograd " << pre << ") need stride 1, dilation 1 and groups 1");
  const Algo algo = pre ? (pre == 4 ? Algo::Winograd4 : Algo::Winograd2) : choose(c, a, wshape, ws);
  if (algo == Algo::Winograd4 || algo == Algo::Winograd2) {
    const int m = algo == Algo::Winograd4 ? 4 : 2;
    const int64_t tile_block = c.attrs.i(c.op, "tile_block", 0);
    if (tile_block < 0 || tile_block % 16) MDMT_FAIL(code::kInvalid, c.op, "attribute 'tile_block' must be a multiple of 16, got " << tile_block);
    if (pre) return winograd::forward(m, ws, px, pw, pb, pr, act, py, isa, tile_block);
    tl_u.resize(static_cast<size_t>(winograd::weights_floats(m, ws.K, ws.C)));
    winograd::transform_weights(m, ws.K, ws.C, pw, tl_u.data());
    return winograd::forward(m, ws, px, tl_u.data(), pb, pr, act, py, isa, tile_block);
  }
  if (algo == Algo::Depthwise)  // outputs over 24 MB around the cache, as the 1×1 path
    return depthwise_act::forward({ws.N, ws.C, ws.H, ws.W, ws.K, w.dim(2), w.dim(3), ws.P, ws.Q, a.sh, a.sw, a.ph, a.pw, a.dh, a.dw, y.nbytes() > (size_t(24) << 20)},
                                  px, pw, pb, pr, act, py, isa);
  if (algo == Algo::Stem && !pr)
    return conv_stem::forward({ws.N, ws.C, ws.H, ws.W, ws.K, w.dim(2), w.dim(3), ws.P, ws.Q, a.sh, a.sw, a.ph, a.pw, a.groups}, px, pw, pb, act, py, isa);
  if (algo == Algo::Stem) {  // a residual after a stem: the kernel, then the epilogue pass
    conv_stem::forward({ws.N, ws.C, ws.H, ws.W, ws.K, w.dim(2), w.dim(3), ws.P, ws.Q, a.sh, a.sw, a.ph, a.pw, a.groups}, px, pw, nullptr, Act::None, py, isa);
  } else if (gemv_fused(a, w.shape, ws, px, pw, pb, pr, act, py, isa) || pointwise_fused(a, w.shape, ws, px, pw, pb, pr, act, py, isa)) {
    return;
  } else {
    // the conv2d kernel adds the bias itself when nothing else follows (no second pass)
    const bool alone = !pr && act == Act::None;
    OpCtx conv{"conv2d", alone && b ? std::vector<Tensor*>{c.in[0], c.in[1], c.in[2]} : std::vector<Tensor*>{c.in[0], c.in[1]}, {c.out[0]}, c.attrs, c.device};
    find_op("conv2d", DeviceType::CPU)(conv);
    if (alone) return;
  }
  const int64_t K = ws.K, PQ = ws.P * ws.Q;
  parallel_for(0, ws.N * K, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, PQ)), [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      const float bk = pb ? pb[i % K] : 0.f;
      if (pr) vmath::bias_add_act(py + i * PQ, pr + i * PQ, PQ, bk, act);
      else vmath::bias_act(py + i * PQ, PQ, bk, act);
    }
  });
}

// U [(m+2)², K, C] = the Winograd transform of w [K, C, 3, 3] (attribute m: 2 or 4)
void winograd_weights_cpu(OpCtx& c) {
  c.expect_counts(1, 1);
  const Tensor& w = c.input(0, "w", DType::F32, 4);
  const int64_t m = c.attrs.i(c.op, "m");
  if (m != 2 && m != 4) MDMT_FAIL(code::kInvalid, c.op, "attribute 'm' must be 2 or 4, got " << m);
  if (w.dim(2) != 3 || w.dim(3) != 3) MDMT_FAIL(code::kShape, c.op, "w " << w.shape_str() << " must be a 3x3 kernel");
  if (!w.contiguous()) MDMT_FAIL(code::kInvalid, c.op, "'w' must be contiguous");
  Tensor& u = c.output(0, "U", DType::F32, {(m + 2) * (m + 2), w.dim(0), w.dim(1)});
  winograd::transform_weights(static_cast<int>(m), w.dim(0), w.dim(1), w.data<float>(), u.data<float>());
}

}  // namespace

MDMT_REGISTER_OP("conv2d_act", CPU, conv2d_act_cpu);
MDMT_REGISTER_OP("winograd_weights", CPU, winograd_weights_cpu);

}  // namespace mdmt
