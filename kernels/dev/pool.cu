// Workshop: max / avg / global-average pooling over NHWC maps in fp32 and bf16, forward and the gathering backward (kernels/pool.cu)
//   nvcc -std=c++17 -arch=sm_90 -O3 --use_fast_math -Ikernels kernels/dev/pool.cu -o /tmp/pool && /tmp/pool
// Inputs are bf16 values; the CPU reference computes in double from them and rounds once,
// so a kernel that computes in fp32 and rounds once agrees within one bf16 ulp (2^-8
// relative) plus fp32 noise (kBf16Atol / kBf16Rtol in common.h).
#include <cstring>

#include "../pool.cu"
#include "common.h"

using namespace mdmt;

static const float kA = kBf16Atol, kR = kBf16Rtol;

int main() {
  int fails = 0;
  {  // global average pooling in NHWC, forward and backward
    const int64_t N = 3, HW = 49, C = 40, n = N * HW * C;
    auto x = rounded(rand_vec(n, 5)), sc = rounded(rand_vec(N * C, 6));
    uint16_t *xd = to_device(bits(x)), *sd = to_device(bits(sc)), *yd = to_device(std::vector<uint16_t>(n));
    std::vector<float> gap(N * C), gapb(n);
    for (int64_t b = 0; b < N; ++b)
      for (int64_t p = 0; p < HW; ++p)
        for (int64_t c = 0; c < C; ++c) {
          const int64_t i = (b * HW + p) * C + c;
          gap[b * C + c] += x[i] / HW;
          gapb[i] = sc[b * C + c] / HW;
        }
    devCheck(k::global_avgpool_nhwc(yd, xd, k::kBF16, N, HW, C, 0));
    fails += validate("gap nhwc", floats(yd, N * C).data(), gap.data(), N * C, kA, kR);
    devCheck(k::global_avgpool_bwd_nhwc(yd, sd, k::kBF16, N, HW, C, 0));
    fails += validate("gap_bwd nhwc", floats(yd, n).data(), gapb.data(), n, kA, kR);
    for (void* p : {(void*)xd, (void*)sd, (void*)yd}) cudaFree(p);
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
