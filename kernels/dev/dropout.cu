// Workshop: dropout with the Philox mask (docs/ops.md "dropout"). Checks the CUDA
// mask bit-for-bit against the host evaluation of the same kernels/philox.h functions
// (what the CPU backend uses).
//   nvcc -std=c++17 -arch=sm_90 -O3 --use_fast_math -Ikernels kernels/dev/dropout.cu -o /tmp/dropout && /tmp/dropout
// version 1: one Philox call per element (bits_at)
// version 2: production (kernels/dropout.cu): one Philox call per 4 elements
// version 3: one Philox call per 4 elements with float4 / uchar4 loads and stores (n % 4 == 0)
// H100, 33.5 M elements: v1 1670 GB/s, v2 1250 GB/s (v2's per-thread 4-element stores are
// strided across the warp); v3 is the candidate to replace both.
#include "../dropout.cu"
#include "common.h"

using namespace mdmt;

__global__ void dropout_v1(float* y, uint8_t* mask, const float* x, int64_t n, float p, float scale, uint32_t lo, uint32_t hi) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    bool keep = philox::keep_at(i, lo, hi, p);
    mask[i] = keep;
    y[i] = keep ? x[i] * scale : 0.f;
  }
}

__global__ void dropout_v3(float4* y, uchar4* mask, const float4* x, int64_t nq, float p, float scale, uint32_t lo, uint32_t hi) {
  for (int64_t q = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; q < nq; q += (int64_t)gridDim.x * blockDim.x) {
    philox::U4 r = philox::block(static_cast<uint64_t>(q), lo, hi);
    float4 v = x[q];
    bool k0 = philox::to_uniform(r.x) >= p, k1 = philox::to_uniform(r.y) >= p, k2 = philox::to_uniform(r.z) >= p,
         k3 = philox::to_uniform(r.w) >= p;
    mask[q] = make_uchar4(k0, k1, k2, k3);
    y[q] = make_float4(k0 ? v.x * scale : 0.f, k1 ? v.y * scale : 0.f, k2 ? v.z * scale : 0.f, k3 ? v.w * scale : 0.f);
  }
}

int main() {
  int fails = 0;
  for (int64_t n : {7LL, 4099LL, 128LL * 64 * 64 * 64}) {
    for (float p : {0.1f, 0.5f}) {
      const uint32_t lo = 0x12345678u, hi = 0x9abcdef0u;
      auto x = rand_vec(n, 3);
      float* xd = to_device(x);
      float* yd = to_device(std::vector<float>(n));
      uint8_t* md = to_device(std::vector<uint8_t>(n));
      devCheck(k::dropout(yd, md, xd, n, p, lo, hi, 0));
      auto mh = to_host(md, n);
      auto yh = to_host(yd, n);
      int64_t bad = 0, kept = 0;
      for (int64_t i = 0; i < n; ++i) {
        bool keep = philox::keep_at((uint64_t)i, lo, hi, p);
        kept += keep;
        if (mh[i] != (keep ? 1 : 0) || yh[i] != (keep ? x[i] * (1.f / (1.f - p)) : 0.f)) ++bad;
      }
      std::printf("n=%lld p=%.1f: %lld mismatches, kept %.4f (expect %.4f)\n", (long long)n, p, (long long)bad, (double)kept / n, 1 - p);
      fails += bad != 0;
      double bytes = n * 9.0;
      float t1 = bench_ms([&] { dropout_v1<<<k::grid_for(n), 256>>>(yd, md, xd, n, p, 1.f / (1.f - p), lo, hi); }, 20);
      float t2 = bench_ms([&] { k::dropout(yd, md, xd, n, p, lo, hi, 0); }, 20);
      std::printf("  v1 per-element Philox %.4f ms (%.0f GB/s)   v2 per-4 %.4f ms (%.0f GB/s)\n", t1, bytes / t1 / 1e6, t2, bytes / t2 / 1e6);
      if (n % 4 == 0) {
        devCheck(cudaMemset(md, 7, n));
        dropout_v3<<<k::grid_for(n / 4), 256>>>((float4*)yd, (uchar4*)md, (const float4*)xd, n / 4, p, 1.f / (1.f - p), lo, hi);
        devCheck(cudaGetLastError());
        auto m3 = to_host(md, n);
        auto y3 = to_host(yd, n);
        int64_t bad3 = 0;
        for (int64_t i = 0; i < n; ++i) bad3 += m3[i] != mh[i] || y3[i] != yh[i];
        fails += bad3 != 0;
        float t3 = bench_ms([&] { dropout_v3<<<k::grid_for(n / 4), 256>>>((float4*)yd, (uchar4*)md, (const float4*)xd, n / 4, p, 1.f / (1.f - p), lo, hi); }, 20);
        std::printf("  v3 per-4 vectorised %.4f ms (%.0f GB/s), %lld mismatches vs v2\n", t3, bytes / t3 / 1e6, (long long)bad3);
      }
      cudaFree(xd); cudaFree(yd); cudaFree(md);
    }
  }
  std::printf(fails ? "FAILED\n" : "ALL OK\n");
  return fails ? 1 : 0;
}
