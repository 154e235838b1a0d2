// Workshop for kernels/optim.cu: Adam over many parameter tensors (docs/ops.md "optim").
//   nvcc -std=c++17 -arch=sm_90 -O3 --use_fast_math -Ikernels kernels/dev/optim.cu -o /tmp/optim && /tmp/optim
// version 1: one launch per tensor (what a per-parameter optimiser does)
// version 2: production (kernels/optim.cu): every tensor in one launch over a chunk table
#include "../optim.cu"
#include "common.h"

using namespace mdmt;

__global__ void adam_v1(float* p, const float* g, float* m, float* v, int64_t n, k::AdamHyper h) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    float gi = g[i] + h.wd * p[i];
    float mi = m[i] + h.omb1 * (gi - m[i]);
    float vi = h.beta2 * v[i] + h.omb2 * gi * gi;
    p[i] -= h.step_size * (mi / (sqrtf(vi) / h.bc2_sqrt + h.eps));
    m[i] = mi;
    v[i] = vi;
  }
}

int main() {
  // a ResNet-18-like parameter list: 62 tensors, 11.2 M values
  std::vector<int64_t> sizes = {9408, 64, 64};
  for (int b = 0; b < 8; ++b) for (int64_t s : {36864LL * (1 << (b / 2)) * (1 << (b / 2)), 64LL << (b / 2), 64LL << (b / 2)}) sizes.push_back(s);
  for (int r = 0; r < 40; ++r) sizes.push_back(147456 + r * 1000);
  int64_t total = 0;
  for (auto s : sizes) total += s;
  const double lr = 1e-3, wd = 1e-4, b1 = 0.9, b2 = 0.999, bc1 = 1 - std::pow(b1, 5), bc2 = 1 - std::pow(b2, 5);
  k::AdamHyper h{(float)(lr / bc1), (float)b2, (float)(1 - b1), (float)(1 - b2), 1e-8f, (float)wd, (float)std::sqrt(bc2), (float)(1 - lr * wd), false};
  std::vector<std::vector<float>> P, G, M, V;
  std::vector<k::AdamTensor> ts;
  std::vector<k::OptChunk> chunks;
  std::vector<float*> dp, dg, dm, dv;
  for (size_t t = 0; t < sizes.size(); ++t) {
    P.push_back(rand_vec(sizes[t], 10 + t));
    G.push_back(rand_vec(sizes[t], 1000 + t));
    M.push_back(rand_vec(sizes[t], 2000 + t, -0.1f, 0.1f));
    V.push_back(rand_vec(sizes[t], 3000 + t, 0.f, 0.01f));
    dp.push_back(to_device(P[t])); dg.push_back(to_device(G[t])); dm.push_back(to_device(M[t])); dv.push_back(to_device(V[t]));
    ts.push_back({dp[t], dg[t], dm[t], dv[t], sizes[t]});
    for (int64_t s = 0; s < sizes[t]; s += k::kOptChunk) chunks.push_back({(int32_t)t, s});
  }
  auto* tsd = to_device(ts);
  auto* chd = to_device(chunks);
  devCheck(k::adam(tsd, chd, chunks.size(), h, 0));
  int fails = 0;
  for (size_t t = 0; t < sizes.size(); ++t) {  // CPU reference, PyTorch's formula order
    std::vector<float> ref(sizes[t]);
    for (int64_t i = 0; i < sizes[t]; ++i) {
      float g = G[t][i] + h.wd * P[t][i];
      float m = M[t][i] + h.omb1 * (g - M[t][i]);
      float v = h.beta2 * V[t][i] + h.omb2 * g * g;
      ref[i] = P[t][i] - h.step_size * (m / (std::sqrt(v) / h.bc2_sqrt + h.eps));
    }
    auto got = to_host(dp[t], sizes[t]);
    int bad = 0;
    for (int64_t i = 0; i < sizes[t]; ++i) bad += std::fabs(got[i] - ref[i]) > 1e-7f + 1e-6f * std::fabs(ref[i]);
    if (bad) { std::printf("  tensor %zu: %d mismatches\n", t, bad); fails += bad; }
  }
  std::printf("%zu tensors, %lld values, %zu chunks: validation %s\n", sizes.size(), (long long)total, chunks.size(), fails ? "FAIL" : "ok");
  double bytes = total * 4.0 * 7;  // read p g m v, write p m v
  float t1 = bench_ms([&] { for (size_t t = 0; t < sizes.size(); ++t) adam_v1<<<k::grid_for(sizes[t]), 256>>>(dp[t], dg[t], dm[t], dv[t], sizes[t], h); });
  float t2 = bench_ms([&] { k::adam(tsd, chd, chunks.size(), h, 0); });
  std::printf("  v1 per-tensor launches %.4f ms (%.0f GB/s)   v2 one launch %.4f ms (%.0f GB/s)\n", t1, bytes / t1 / 1e6, t2, bytes / t2 / 1e6);
  std::printf(fails ? "FAILED\n" : "ALL OK\n");
  return fails ? 1 : 0;
}
