// Workshop for kernels/optim.cu: Adam over many parameter tensors (docs/ops.md "optim").
//   nvcc -std=c++17 -arch=sm_90 -O3 --use_fast_math -Ikernels kernels/dev/optim.cu -o /tmp/optim && /tmp/optim
// version 1: one launch per tensor (what a per-parameter optimiser does)
// version 2: production (kernels/optim.cu): every tensor in one launch over a chunk table
// Then the CUDA-graph mechanics of a captured training step (native/cuda/graph.cc) on the
// capturable kernels (adam_capturable here, dropout_capturable of kernels/dropout.cu): per-run
// scalars written by the host into a pinned buffer, copied to a fixed device array before
// each launch, read by the kernels there; 5 replays with different scalars must equal, bit
// for bit, the same kernels launched without a graph with the host's scalars.
#include <cstring>

#include "../dropout.cu"
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

struct GParams {
  std::vector<float*> p, g, m, v;
  std::vector<int64_t> n;
};

static GParams gmake(const std::vector<int64_t>& sizes, unsigned seed) {
  GParams P;
  for (size_t i = 0; i < sizes.size(); ++i) {
    P.n.push_back(sizes[i]);
    P.p.push_back(to_device(rand_vec(sizes[i], seed + 4 * i)));
    P.g.push_back(to_device(rand_vec(sizes[i], seed + 4 * i + 1)));
    P.m.push_back(to_device(std::vector<float>(sizes[i], 0.f)));
    P.v.push_back(to_device(std::vector<float>(sizes[i], 0.f)));
  }
  return P;
}

// device tables of (tensor, chunk), as native/cuda/optim.cc builds them
static void gtables(const GParams& P, k::AdamTensor** dt, k::OptChunk** dc, int64_t* nc) {
  std::vector<k::AdamTensor> ts;
  std::vector<k::OptChunk> cs;
  for (size_t i = 0; i < P.n.size(); ++i) {
    ts.push_back({P.p[i], P.g[i], P.m[i], P.v[i], P.n[i]});
    for (int64_t s = 0; s < P.n[i]; s += k::kOptChunk) cs.push_back({(int32_t)i, s});
  }
  *dt = to_device(ts);
  *dc = to_device(cs);
  *nc = (int64_t)cs.size();
}

static bool gsame(const GParams& a, const GParams& b) {
  for (size_t i = 0; i < a.n.size(); ++i)
    for (auto pr : {std::make_pair(a.p[i], b.p[i]), std::make_pair(a.m[i], b.m[i]), std::make_pair(a.v[i], b.v[i])}) {
      auto x = to_host(pr.first, a.n[i]), y = to_host(pr.second, a.n[i]);
      if (std::memcmp(x.data(), y.data(), a.n[i] * 4)) return false;
    }
  return true;
}

// The captured step of a plan: returns the number of failures.
static int graph_checks() {
  int fails = 0;
  const std::vector<int64_t> sizes = {64 * 3 * 7 * 7, 64, 64, 512 * 512 * 9, 512, 10000, 3};
  const k::AdamStatic st{0.9, 0.999, 1e-8, 1e-4, false};
  const int64_t nd = 128 * 512;
  cudaStream_t s;
  devCheck(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  // A: captured; B: eager launches with host scalars
  GParams A = gmake(sizes, 1), B = gmake(sizes, 1);
  k::AdamTensor *ta, *tb;
  k::OptChunk *ca, *cb;
  int64_t nc;
  gtables(A, &ta, &ca, &nc);
  gtables(B, &tb, &cb, &nc);
  float* x = to_device(rand_vec(nd, 9));
  float *ya = to_device(std::vector<float>(nd)), *yb = to_device(std::vector<float>(nd));
  uint8_t *ma = to_device(std::vector<uint8_t>(nd)), *mb = to_device(std::vector<uint8_t>(nd));
  // staging: 5 doubles (lr, bc1, bc2, seed_lo, seed_hi), pinned on the host, fixed on the device
  double* host = nullptr;
  devCheck(cudaHostAlloc(&host, 5 * sizeof(double), cudaHostAllocDefault));
  double* dev = to_device(std::vector<double>(5));
  k::AdamHyper* hyper = to_device(std::vector<k::AdamHyper>(1));
  cudaGraph_t graph;
  cudaGraphExec_t exec;
  devCheck(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
  devCheck(cudaMemcpyAsync(dev, host, 5 * sizeof(double), cudaMemcpyHostToDevice, s));
  devCheck(k::dropout_capturable(ya, ma, x, nd, 0.5f, dev + 3, dev + 4, s));
  devCheck(k::adam_capturable(ta, ca, nc, dev, dev + 1, dev + 2, st, hyper, s));
  devCheck(cudaStreamEndCapture(s, &graph));
  devCheck(cudaGraphInstantiate(&exec, graph, 0));
  for (int step = 1; step <= 5; ++step) {
    const double lr = 1e-3 * (1 + 0.37 * step), bc1 = 1 - std::pow(0.9, step), bc2 = 1 - std::pow(0.999, step);
    const uint32_t lo = 2654435761u * step, hi = 40503u * step + 7;
    // the host writes the scalars after the previous replay finished reading them
    devCheck(cudaStreamSynchronize(s));
    const double vals[5] = {lr, bc1, bc2, (double)lo, (double)hi};
    std::memcpy(host, vals, sizeof vals);
    devCheck(cudaGraphLaunch(exec, s));
    devCheck(k::dropout(yb, mb, x, nd, 0.5f, lo, hi, s));
    devCheck(k::adam(tb, cb, nc, k::adam_hyper(lr, bc1, bc2, st), s));
    devCheck(cudaStreamSynchronize(s));
    const bool d_ok = std::memcmp(to_host(ya, nd).data(), to_host(yb, nd).data(), nd * 4) == 0 &&
                      std::memcmp(to_host(ma, nd).data(), to_host(mb, nd).data(), nd) == 0;
    const bool a_ok = gsame(A, B);
    std::printf("  replay %d: dropout %s, adam %s\n", step, d_ok ? "ok (bit-identical)" : "FAIL", a_ok ? "ok (bit-identical)" : "FAIL");
    fails += !d_ok + !a_ok;
  }
  // one replay vs the launches one by one (launch overhead only: the kernels are the same)
  float tg = bench_ms([&] { cudaGraphLaunch(exec, s); cudaStreamSynchronize(s); }, 20);
  float te = bench_ms([&] {
    k::dropout(yb, mb, x, nd, 0.5f, 1, 2, s);
    k::adam(tb, cb, nc, k::adam_hyper(1e-3, 0.1, 0.001, st), s);
    cudaStreamSynchronize(s);
  }, 20);
  std::printf("graph replay %.4f ms | eager launches %.4f ms\n", tg, te);
  devCheck(cudaGraphExecDestroy(exec));
  devCheck(cudaGraphDestroy(graph));
  return fails;
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
      float m = h.omb1 < 0.5f ? M[t][i] + h.omb1 * (g - M[t][i]) : g - (g - M[t][i]) * (1.f - h.omb1);
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
  std::printf("captured step (graph replay vs uncaptured launches):\n");
  fails += graph_checks();
  std::printf(fails ? "FAILED\n" : "ALL OK\n");
  return fails ? 1 : 0;
}
