// Workshop: the bf16 / NHWC paths of the elementwise, activation, pooling and layout kernels
// (kernels/activations.cu, elementwise.cu, pool.cu, layout.cu; launchers in kernels/mixed.h).
//   nvcc -std=c++17 -arch=sm_90 -O3 --use_fast_math -Ikernels kernels/dev/lowp.cu -o /tmp/lowp && /tmp/lowp
// Inputs are bf16 values; the CPU reference computes in double from them and rounds once,
// so a kernel that computes in fp32 and rounds once agrees within one bf16 ulp (2^-8 relative)
// plus fp32 noise. The fp32 launchers (rewritten over the same templates) are checked too,
// at fp32 tolerances, and the speed of the 16-byte paths is reported in GB/s.
#include <cstring>
#include <functional>

#include "../activations.cu"
#include "../elementwise.cu"
#include "../layout.cu"
#include "../pool.cu"
#include "common.h"

using namespace mdmt;

static float rb(float f) {  // round to bf16, nearest even
  uint32_t u;
  std::memcpy(&u, &f, 4);
  u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
  std::memcpy(&f, &u, 4);
  return f;
}
static std::vector<uint16_t> bits(const std::vector<float>& v) {
  std::vector<uint16_t> h(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    float f = rb(v[i]);
    uint32_t u;
    std::memcpy(&u, &f, 4);
    h[i] = (uint16_t)(u >> 16);
  }
  return h;
}
static std::vector<float> floats(const uint16_t* d, size_t n) {
  auto h = to_host(d, n);
  std::vector<float> f(n);
  for (size_t i = 0; i < n; ++i) {
    uint32_t u = (uint32_t)h[i] << 16;
    std::memcpy(&f[i], &u, 4);
  }
  return f;
}
static std::vector<float> rounded(std::vector<float> v) {
  for (auto& x : v) x = rb(x);
  return v;
}

static double sg(double x) { return 1 / (1 + std::exp(-x)); }
static double act_ref(int a, double x) {
  switch (a) {
    case 0: return x > 0 ? x : 0;
    case 1: return std::fmin(std::fmax(x, 0), 6);
    case 2: return x * sg(x);
    case 3: return sg(x);
    default: return x * std::fmin(std::fmax(x + 3, 0), 6) / 6;
  }
}
static double act_bwd_ref(int a, double g, double t) {
  switch (a) {
    case 0: return t > 0 ? g : 0;
    case 1: return t > 0 && t < 6 ? g : 0;
    case 2: return g * sg(t) * (1 + t * (1 - sg(t)));
    case 3: return g * t * (1 - t);
    default: return t < -3 ? 0 : t > 3 ? g : g * (2 * t + 3) / 6;
  }
}

static const float kA = 2e-3f, kR = 8e-3f;  // bf16: one ulp of the result plus fp32 noise

int main() {
  int fails = 0;
  for (int64_t n : {(int64_t)1 << 20, (int64_t)1001}) {  // vector path and scalar tail
    std::printf("n=%lld\n", (long long)n);
    auto x = rounded(rand_vec(n, 1, -8, 8)), t = rounded(rand_vec(n, 2, -8, 8)), g = rounded(rand_vec(n, 3));
    uint16_t *xd = to_device(bits(x)), *td = to_device(bits(t)), *gd = to_device(bits(g)), *yd = to_device(std::vector<uint16_t>(n));
    float *xf = to_device(x), *tf = to_device(t), *gf = to_device(g), *yf = to_device(std::vector<float>(n));
    const char* names[] = {"relu", "relu6", "silu", "sigmoid", "hardswish"};
    for (int a = 0; a < 5; ++a) {
      std::vector<float> ref(n), refb(n);
      for (int64_t i = 0; i < n; ++i) ref[i] = (float)act_ref(a, x[i]), refb[i] = (float)act_bwd_ref(a, g[i], t[i]);
      char nm[48];
      devCheck(k::act_fwd_bf16(yd, xd, n, (k::Act)a, 0));
      std::snprintf(nm, sizeof nm, "%s bf16", names[a]);
      fails += validate(nm, floats(yd, n).data(), ref.data(), n, kA, kR);
      devCheck(k::act_bwd_bf16(yd, gd, td, n, (k::Act)a, 0));
      std::snprintf(nm, sizeof nm, "%s_bwd bf16", names[a]);
      fails += validate(nm, floats(yd, n).data(), refb.data(), n, kA, kR);
      devCheck(k::act_fwd(yf, xf, n, (k::Act)a, 0));
      std::snprintf(nm, sizeof nm, "%s f32", names[a]);
      fails += validate(nm, to_host(yf, n).data(), ref.data(), n, 1e-6f, 1e-5f);
    }
    std::vector<float> ref(n);
    for (int64_t i = 0; i < n; ++i) ref[i] = x[i] * t[i];
    devCheck(k::binary_flat_bf16(yd, xd, td, n, k::Bin::Mul, 0));
    fails += validate("mul bf16", floats(yd, n).data(), ref.data(), n, kA, kR);
    for (int64_t i = 0; i < n; ++i) ref[i] = 0.5f * x[i] - 1.f;
    devCheck(k::affine_bf16(yd, xd, 0.5f, -1.f, n, 0));
    fails += validate("affine bf16", floats(yd, n).data(), ref.data(), n, kA, kR);
    if (n % 4 == 0) {
      const float tg = bench_ms([&] { k::act_fwd_bf16(yd, xd, n, k::Act::Silu, 0); });
      const float tf = bench_ms([&] { k::act_fwd(yf, xf, n, k::Act::Silu, 0); });
      std::printf("  silu: bf16 %.4f ms (%.0f GB/s) | f32 %.4f ms (%.0f GB/s)\n", tg, 4.0 * n / tg / 1e6, tf, 8.0 * n / tf / 1e6);
    }
    for (void* p : {(void*)xd, (void*)td, (void*)gd, (void*)yd, (void*)xf, (void*)tf, (void*)gf, (void*)yf}) cudaFree(p);
  }
  {  // NHWC: squeeze-excite broadcast (x[N,H,W,C] · s[N,1,1,C]) through binary_bf16, conv bias, global pool
    const int64_t N = 3, HW = 49, C = 40, n = N * HW * C;
    auto x = rounded(rand_vec(n, 5)), sc = rounded(rand_vec(N * C, 6)), bias = rand_vec(C, 7);
    uint16_t *xd = to_device(bits(x)), *sd = to_device(bits(sc)), *yd = to_device(std::vector<uint16_t>(n));
    float* bd = to_device(bias);
    k::Dims d{};  // physical order (N, HW, C); s broadcast over HW
    d.nd = 3;
    const int64_t size[3] = {N, HW, C}, sa[3] = {HW * C, C, 1}, sb[3] = {C, 0, 1};
    for (int i = 0; i < 3; ++i) d.size[i] = size[i], d.stride_a[i] = sa[i], d.stride_b[i] = sb[i];
    std::vector<float> ref(n), refc(n), gap(N * C), gapb(n);
    for (int64_t b = 0; b < N; ++b)
      for (int64_t p = 0; p < HW; ++p)
        for (int64_t c = 0; c < C; ++c) {
          const int64_t i = (b * HW + p) * C + c;
          ref[i] = x[i] * sc[b * C + c];
          refc[i] = x[i] + bias[c];
          gap[b * C + c] += x[i] / HW;
          gapb[i] = sc[b * C + c] / HW;
        }
    devCheck(k::binary_bf16(yd, xd, sd, d, n, k::Bin::Mul, 0));
    fails += validate("se mul nhwc", floats(yd, n).data(), ref.data(), n, kA, kR);
    devCheck(k::channel_binary_nhwc(yd, xd, bd, k::kBF16, N * HW, C, k::Bin::Add, 0));
    fails += validate("bias nhwc", floats(yd, n).data(), refc.data(), n, kA, kR);
    devCheck(k::global_avgpool_nhwc(yd, xd, k::kBF16, N, HW, C, 0));
    fails += validate("gap nhwc", floats(yd, N * C).data(), gap.data(), N * C, kA, kR);
    devCheck(k::global_avgpool_bwd_nhwc(yd, sd, k::kBF16, N, HW, C, 0));
    fails += validate("gap_bwd nhwc", floats(yd, n).data(), gapb.data(), n, kA, kR);
    // channel shuffle of 2-byte elements in NHWC = N·HW one-pixel images; exact
    const int64_t groups = 4, cpg = C / groups;
    std::vector<float> sh(n);
    for (int64_t r = 0; r < N * HW; ++r)
      for (int64_t oc = 0; oc < C; ++oc) sh[r * C + oc] = x[r * C + (oc % groups) * cpg + oc / groups];
    devCheck(k::channel_shuffle_2b(yd, xd, N * HW, C, 1, groups, 0));
    fails += validate("shuffle nhwc", floats(yd, n).data(), sh.data(), n, 0.f, 0.f);
    for (void* p : {(void*)xd, (void*)sd, (void*)yd, (void*)bd}) cudaFree(p);
  }
  // max / avg pooling in NHWC, forward and the gathering backward (fp32 and bf16)
  struct PoolCase { int64_t N, C, H, W; int k, s, pd; bool ceil; };
  for (PoolCase pc : {PoolCase{2, 12, 9, 9, 3, 2, 1, false}, PoolCase{2, 8, 8, 8, 2, 2, 0, false}, PoolCase{1, 16, 14, 13, 3, 2, 0, true}}) {
    auto osz = [&](int64_t in) {
      int64_t o = (in + 2 * pc.pd - pc.k + (pc.ceil ? pc.s - 1 : 0)) / pc.s + 1;
      if (pc.ceil && (o - 1) * pc.s >= in + pc.pd) --o;
      return o;
    };
    k::Pool2d p{};
    p.NC = pc.N * pc.C, p.H = pc.H, p.W = pc.W, p.P = osz(pc.H), p.Q = osz(pc.W);
    p.kh = p.kw = pc.k, p.sh = p.sw = pc.s, p.ph = p.pw = pc.pd, p.count_include_pad = true;
    const int64_t C = pc.C, nx = pc.N * pc.H * pc.W * C, ny = pc.N * p.P * p.Q * C;
    auto x = rounded(rand_vec(nx, 21, -4, 4)), dy = rounded(rand_vec(ny, 22));
    std::vector<float> ymax(ny), yavg(ny), dxmax(nx, 0.f), dxavg(nx, 0.f);
    std::vector<int32_t> imax(ny);
    for (int64_t b = 0; b < pc.N; ++b)
      for (int64_t oh = 0; oh < p.P; ++oh)
        for (int64_t ow = 0; ow < p.Q; ++ow)
          for (int64_t c = 0; c < C; ++c) {
            const int64_t o = ((b * p.P + oh) * p.Q + ow) * C + c;
            const int64_t hs = oh * pc.s - pc.pd, ws = ow * pc.s - pc.pd;
            const int64_t he = std::min<int64_t>(hs + pc.k, pc.H + pc.pd), we = std::min<int64_t>(ws + pc.k, pc.W + pc.pd);
            const int64_t div = (he - hs) * (we - ws);
            float best = -INFINITY;
            int32_t bi = -1;
            double acc = 0;
            for (int64_t h = std::max<int64_t>(hs, 0); h < std::min<int64_t>(he, pc.H); ++h)
              for (int64_t w = std::max<int64_t>(ws, 0); w < std::min<int64_t>(we, pc.W); ++w) {
                const float v = x[((b * pc.H + h) * pc.W + w) * C + c];
                if (v > best) best = v, bi = (int32_t)(h * pc.W + w);
                acc += v;
              }
            ymax[o] = best, imax[o] = bi, yavg[o] = (float)(acc / div);
            dxmax[(b * pc.H * pc.W + bi) * C + c] += dy[o];
            for (int64_t h = std::max<int64_t>(hs, 0); h < std::min<int64_t>(he, pc.H); ++h)
              for (int64_t w = std::max<int64_t>(ws, 0); w < std::min<int64_t>(we, pc.W); ++w)
                dxavg[((b * pc.H + h) * pc.W + w) * C + c] += dy[o] / div;
          }
    for (int dt : {k::kF32, k::kBF16}) {
      const bool lo = dt == k::kBF16;
      void* xd = lo ? (void*)to_device(bits(x)) : (void*)to_device(x);
      void* dyd = lo ? (void*)to_device(bits(dy)) : (void*)to_device(dy);
      void* yd = to_device(std::vector<float>(ny));
      void* dxd = to_device(std::vector<float>(nx));
      int32_t* id = to_device(std::vector<int32_t>(ny));
      auto get = [&](void* d, size_t m) { return lo ? floats(static_cast<uint16_t*>(d), m) : to_host(static_cast<float*>(d), m); };
      char nm[64];
      devCheck(k::maxpool2d_nhwc(yd, id, xd, dt, C, p, 0));
      std::snprintf(nm, sizeof nm, "maxpool nhwc %s k%d", lo ? "bf16" : "f32", pc.k);
      fails += validate(nm, get(yd, ny).data(), ymax.data(), ny, 0.f, 0.f);
      auto ig = to_host(id, ny);
      int ibad = 0;
      for (int64_t i = 0; i < ny; ++i) ibad += ig[i] != imax[i];
      std::printf("  %-12s %s\n", "indices", ibad ? "FAIL" : "ok (identical)");
      fails += ibad > 0;
      devCheck(k::maxpool2d_bwd_nhwc(dxd, dyd, id, dt, C, p, 0));
      std::snprintf(nm, sizeof nm, "maxpool_bwd nhwc %s", lo ? "bf16" : "f32");
      fails += validate(nm, get(dxd, nx).data(), dxmax.data(), nx, lo ? kA : 1e-6f, lo ? kR : 1e-6f);
      devCheck(k::avgpool2d_nhwc(yd, xd, dt, C, p, 0));
      std::snprintf(nm, sizeof nm, "avgpool nhwc %s", lo ? "bf16" : "f32");
      fails += validate(nm, get(yd, ny).data(), yavg.data(), ny, lo ? kA : 1e-6f, lo ? kR : 1e-5f);
      devCheck(k::avgpool2d_bwd_nhwc(dxd, dyd, dt, C, p, 0));
      std::snprintf(nm, sizeof nm, "avgpool_bwd nhwc %s", lo ? "bf16" : "f32");
      fails += validate(nm, get(dxd, nx).data(), dxavg.data(), nx, lo ? kA : 1e-6f, lo ? kR : 1e-5f);
      for (void* q : {xd, dyd, yd, dxd, (void*)id}) cudaFree(q);
    }
  }
  std::printf(fails ? "FAILED (%d)\n" : "ALL OK\n", fails);
  return fails ? 1 : 0;
}
