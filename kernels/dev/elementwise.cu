// Workshop: add / sub / mul on bf16 storage, broadcasting over NHWC strides (a squeeze-excite
// gate), the per-channel bias and expand (2-byte gather) in NHWC (kernels/elementwise.cu)
//   nvcc -std=c++17 -arch=sm_90 -O3 --use_fast_math -Ikernels kernels/dev/elementwise.cu -o /tmp/elementwise && /tmp/elementwise
// Inputs are bf16 values; the CPU reference computes in double from them and rounds once,
// so a kernel that computes in fp32 and rounds once agrees within one bf16 ulp (2^-8
// relative) plus fp32 noise (kBf16Atol / kBf16Rtol in common.h).
#include <cstring>

#include "../elementwise.cu"
#include "common.h"

using namespace mdmt;

static const float kA = kBf16Atol, kR = kBf16Rtol;

int main() {
  int fails = 0;
  {  // same-shape binary on bf16
    const int64_t n = 1 << 20;
    auto x = rounded(rand_vec(n, 1, -8, 8)), t = rounded(rand_vec(n, 2, -8, 8));
    uint16_t *xd = to_device(bits(x)), *td = to_device(bits(t)), *yd = to_device(std::vector<uint16_t>(n));
    std::vector<float> ref(n);
    for (int64_t i = 0; i < n; ++i) ref[i] = x[i] * t[i];
    devCheck(k::binary_flat_bf16(yd, xd, td, n, k::Bin::Mul, 0));
    fails += validate("mul bf16", floats(yd, n).data(), ref.data(), n, kA, kR);
    for (void* p : {(void*)xd, (void*)td, (void*)yd}) cudaFree(p);
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
    std::vector<float> ref(n), refc(n);
    for (int64_t b = 0; b < N; ++b)
      for (int64_t p = 0; p < HW; ++p)
        for (int64_t c = 0; c < C; ++c) {
          const int64_t i = (b * HW + p) * C + c;
          ref[i] = x[i] * sc[b * C + c];
          refc[i] = x[i] + bias[c];
        }
    devCheck(k::binary_bf16(yd, xd, sd, d, n, k::Bin::Mul, 0));
    fails += validate("se mul nhwc", floats(yd, n).data(), ref.data(), n, kA, kR);
    devCheck(k::channel_binary_nhwc(yd, xd, bd, k::kBF16, N * HW, C, k::Bin::Add, 0));
    fails += validate("bias nhwc", floats(yd, n).data(), refc.data(), n, kA, kR);
    // expand [N, C, 1, 1] into an NHWC map (gather of 2-byte elements): exact
    std::vector<float> ex(n);
    for (int64_t i = 0; i < n; ++i) ex[i] = sc[(i / (HW * C)) * C + i % C];
    k::Dims e{};
    e.nd = 3;
    const int64_t es[3] = {C, 0, 1};
    for (int i = 0; i < 3; ++i) e.size[i] = size[i], e.stride_a[i] = es[i], e.stride_b[i] = 0;
    devCheck(k::gather_2b(yd, sd, e, n, 0));
    fails += validate("expand nhwc", floats(yd, n).data(), ex.data(), n, 0.f, 0.f);
    for (void* p : {(void*)xd, (void*)sd, (void*)yd, (void*)bd}) cudaFree(p);
  }
  std::printf(fails ? "FAILED (%d)\n" : "ALL OK\n", fails);
  return fails ? 1 : 0;
}
