// Workshop: relu / relu6 / silu / sigmoid / hardswish and their backward, and affine, on bf16 storage, and the fp32 launchers rewritten over the same 16-byte templates (kernels/activations.cu)
//   nvcc -std=c++17 -arch=sm_90 -O3 --use_fast_math -Ikernels kernels/dev/activations.cu -o /tmp/activations && /tmp/activations
// Inputs are bf16 values; the CPU reference computes in double from them and rounds once,
// so a kernel that computes in fp32 and rounds once agrees within one bf16 ulp (2^-8
// relative) plus fp32 noise (kBf16Atol / kBf16Rtol in common.h).
#include <cstring>

#include "../activations.cu"
#include "common.h"

using namespace mdmt;

static const float kA = kBf16Atol, kR = kBf16Rtol;

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
  std::printf(fails ? "FAILED (%d)\n" : "ALL OK\n", fails);
  return fails ? 1 : 0;
}
