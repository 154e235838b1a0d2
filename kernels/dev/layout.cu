// Workshop: channel_shuffle on 2-byte (bf16) elements, in NHWC as N·H·W one-pixel images (kernels/layout.cu)
//   nvcc -std=c++17 -arch=sm_90 -O3 --use_fast_math -Ikernels kernels/dev/layout.cu -o /tmp/layout && /tmp/layout
// Inputs are bf16 values; the CPU reference computes in double from them and rounds once,
// so a kernel that computes in fp32 and rounds once agrees within one bf16 ulp (2^-8
// relative) plus fp32 noise (kBf16Atol / kBf16Rtol in common.h).
#include <cstring>

#include "../layout.cu"
#include "common.h"

using namespace mdmt;

static const float kA = kBf16Atol, kR = kBf16Rtol;

int main() {
  int fails = 0;
  {  // channel shuffle of 2-byte elements in NHWC = N·HW one-pixel images; exact
    const int64_t N = 3, HW = 49, C = 40, n = N * HW * C;
    auto x = rounded(rand_vec(n, 5));
    uint16_t *xd = to_device(bits(x)), *yd = to_device(std::vector<uint16_t>(n));
    const int64_t groups = 4, cpg = C / groups;
    std::vector<float> sh(n);
    for (int64_t r = 0; r < N * HW; ++r)
      for (int64_t oc = 0; oc < C; ++oc) sh[r * C + oc] = x[r * C + (oc % groups) * cpg + oc / groups];
    devCheck(k::channel_shuffle_2b(yd, xd, N * HW, C, 1, groups, 0));
    fails += validate("shuffle nhwc", floats(yd, n).data(), sh.data(), n, 0.f, 0.f);
    for (void* p : {(void*)xd, (void*)yd}) cudaFree(p);
  }
  std::printf(fails ? "FAILED (%d)\n" : "ALL OK\n", fails);
  return fails ? 1 : 0;
}
