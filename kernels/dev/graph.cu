// Workshop: the CUDA-graph mechanics of a captured training step, on the capturable kernels
// (kernels/optim.cu adam_capturable, kernels/dropout.cu dropout_capturable).
//   nvcc -std=c++17 -arch=sm_90 -O3 --use_fast_math -Ikernels kernels/dev/graph.cu -o /tmp/graph && /tmp/graph
// What a plan does (native/cuda/graph.cc): per-run scalars (lr, bias corrections, dropout
// seeds) are written by the host into a pinned buffer; the captured graph starts with a copy
// of that buffer into a fixed device array, and the kernels read their scalars from there.
// Checked: 5 replays with different scalars equal, bit for bit, the same kernels launched
// without a graph with the host's scalars (adam with adam_hyper, dropout with host seeds);
// and the speed of one replay against the same launches one by one.
#include <cstring>

#include "../dropout.cu"
#include "../optim.cu"
#include "common.h"

using namespace mdmt;

struct Params {
  std::vector<float*> p, g, m, v;
  std::vector<int64_t> n;
};

static Params make(const std::vector<int64_t>& sizes, unsigned seed) {
  Params P;
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
static void tables(const Params& P, k::AdamTensor** dt, k::OptChunk** dc, int64_t* nc) {
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

static bool same(const Params& a, const Params& b) {
  for (size_t i = 0; i < a.n.size(); ++i)
    for (auto pr : {std::make_pair(a.p[i], b.p[i]), std::make_pair(a.m[i], b.m[i]), std::make_pair(a.v[i], b.v[i])}) {
      auto x = to_host(pr.first, a.n[i]), y = to_host(pr.second, a.n[i]);
      if (std::memcmp(x.data(), y.data(), a.n[i] * 4)) return false;
    }
  return true;
}

int main() {
  int fails = 0;
  const std::vector<int64_t> sizes = {64 * 3 * 7 * 7, 64, 64, 512 * 512 * 9, 512, 10000, 3};
  const k::AdamStatic st{0.9, 0.999, 1e-8, 1e-4, false};
  const int64_t nd = 128 * 512;
  cudaStream_t s;
  devCheck(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  // A: captured; B: eager launches with host scalars
  Params A = make(sizes, 1), B = make(sizes, 1);
  k::AdamTensor *ta, *tb;
  k::OptChunk *ca, *cb;
  int64_t nc;
  tables(A, &ta, &ca, &nc);
  tables(B, &tb, &cb, &nc);
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
    const bool a_ok = same(A, B);
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
  std::printf(fails ? "FAILED (%d)\n" : "ALL OK\n", fails);
  return fails ? 1 : 0;
}
