// Workshop: reorder NCHW <-> NHWC with dtype conversion (kernels/reorder.cu, docs/ops.md).
//   nvcc -std=c++17 -arch=sm_90 -O3 --use_fast_math -Ikernels kernels/dev/reorder.cu -o /tmp/reorder && /tmp/reorder
// version 1: one thread per output element of NHWC (reads strided by HW)
// version 2: production: 32×32 shared-memory tiles, or one thread per pixel when C ≤ 16
// Every (x dtype, y dtype) pair of fp32/bf16 both ways, int32 layout-only, exact against a
// CPU reference (bf16 rounding to nearest even done on the host).
#include <cstring>

#include "../reorder.cu"
#include "common.h"

using namespace mdmt;

static uint16_t bf16_bits(float f) {  // round to nearest even, as __float2bfloat16_rn (finite inputs)
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return static_cast<uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}
static float bf16_value(uint16_t b) {
  uint32_t u = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// NCHW index of (n, c, p) and NHWC index of the same element
static size_t planar(int64_t n, int64_t c, int64_t p, int64_t C, int64_t HW) { return (size_t)((n * C + c) * HW + p); }
static size_t packed(int64_t n, int64_t c, int64_t p, int64_t C, int64_t HW) { return (size_t)((n * HW + p) * C + c); }

__global__ void reorder_v1(float* y, const float* x, int64_t N, int64_t C, int64_t HW) {
  MDMT_GRID_STRIDE(i, N * C * HW) {
    int64_t c = i % C, p = (i / C) % HW, n = i / (C * HW);
    y[i] = x[(n * C + c) * HW + p];
  }
}

// x (dtype xdt) in layout `from` → y (ydt); compares with the host reference as floats.
static int check(int64_t N, int64_t C, int64_t HW, int xdt, int ydt, bool to_nhwc) {
  const size_t n = (size_t)(N * C * HW);
  auto xf = rand_vec(n, 7, -3, 3);
  std::vector<float> ref(n);
  std::vector<uint16_t> xb(n);
  for (size_t i = 0; i < n; ++i) {
    xb[i] = bf16_bits(xf[i]);
    if (xdt == k::kBF16) xf[i] = bf16_value(xb[i]);
  }
  for (int64_t b = 0; b < N; ++b)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t p = 0; p < HW; ++p) {
        size_t from = to_nhwc ? planar(b, c, p, C, HW) : packed(b, c, p, C, HW);
        size_t to = to_nhwc ? packed(b, c, p, C, HW) : planar(b, c, p, C, HW);
        ref[to] = ydt == k::kBF16 ? bf16_value(bf16_bits(xf[from])) : xf[from];
      }
  void* xd = xdt == k::kBF16 ? (void*)to_device(xb) : (void*)to_device(xf);
  void* yd = to_device(std::vector<float>(n));
  devCheck(k::reorder(yd, ydt, xd, xdt, N, C, HW, to_nhwc, 0));
  std::vector<float> got(n);
  if (ydt == k::kBF16) {
    auto h = to_host(static_cast<uint16_t*>(yd), n);
    for (size_t i = 0; i < n; ++i) got[i] = bf16_value(h[i]);
  } else {
    got = to_host(static_cast<float*>(yd), n);
  }
  char name[64];
  std::snprintf(name, sizeof name, "%s %s->%s", to_nhwc ? "to nhwc" : "to nchw", xdt ? "bf16" : "f32", ydt ? "bf16" : "f32");
  int bad = validate(name, got.data(), ref.data(), n, 0.f, 0.f);
  cudaFree(xd);
  cudaFree(yd);
  return bad;
}

int main() {
  int fails = 0;
  const int64_t shapes[][3] = {{2, 3, 37 * 41}, {4, 64, 56 * 56}, {3, 116, 7 * 7}, {1, 1000, 1}, {5, 17, 33}, {2, 2048, 7 * 7}};
  for (auto& sh : shapes) {
    std::printf("N=%lld C=%lld HW=%lld\n", (long long)sh[0], (long long)sh[1], (long long)sh[2]);
    for (int xdt : {k::kF32, k::kBF16})
      for (int ydt : {k::kF32, k::kBF16})
        for (bool dir : {true, false}) fails += check(sh[0], sh[1], sh[2], xdt, ydt, dir);
  }
  {  // int32 moves bit for bit (maxpool indices)
    std::vector<int32_t> xi(2 * 20 * 30);
    for (size_t i = 0; i < xi.size(); ++i) xi[i] = (int32_t)(i * 2654435761u);
    int32_t* xd = to_device(xi);
    int32_t* yd = to_device(std::vector<int32_t>(xi.size()));
    devCheck(k::reorder(yd, 1, xd, 1, 2, 20, 30, true, 0));
    auto got = to_host(yd, xi.size());
    int bad = 0;
    for (int64_t b = 0; b < 2; ++b)
      for (int64_t c = 0; c < 20; ++c)
        for (int64_t p = 0; p < 30; ++p) bad += got[packed(b, c, p, 20, 30)] != xi[planar(b, c, p, 20, 30)];
    std::printf("  int32 to nhwc %s\n", bad ? "FAIL" : "ok");
    fails += bad;
    cudaFree(xd);
    cudaFree(yd);
  }
  // speed: the stem of a 256² batch of 128 and a ResNet stage-1 map
  const int64_t bench[][3] = {{128, 3, 256 * 256}, {128, 64, 64 * 64}, {128, 512, 8 * 8}};
  for (auto& sh : bench) {
    int64_t N = sh[0], C = sh[1], HW = sh[2], n = N * C * HW;
    float* x = to_device(rand_vec(n, 3));
    void* y = to_device(std::vector<float>(n));
    float t1 = bench_ms([&] { reorder_v1<<<k::grid_for(n), 256>>>(static_cast<float*>(y), x, N, C, HW); });
    float t2 = bench_ms([&] { k::reorder(y, k::kF32, x, k::kF32, N, C, HW, true, 0); });
    float t3 = bench_ms([&] { k::reorder(y, k::kBF16, x, k::kF32, N, C, HW, true, 0); });
    std::printf("N=%lld C=%lld HW=%lld: v1 f32 %.4f ms (%.0f GB/s) | v2 f32 %.4f ms (%.0f GB/s) | v2 f32->bf16 %.4f ms (%.0f GB/s)\n",
                (long long)N, (long long)C, (long long)HW, t1, 8.0 * n / t1 / 1e6, t2, 8.0 * n / t2 / 1e6, t3, 6.0 * n / t3 / 1e6);
    cudaFree(x);
    cudaFree(y);
  }
  std::printf(fails ? "FAILED (%d)\n" : "ALL OK\n", fails);
  return fails ? 1 : 0;
}
