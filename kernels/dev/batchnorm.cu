// Workshop: batchnorm train forward + backward over [N, C, HW] (docs/ops.md).
//   nvcc -std=c++17 -arch=sm_90 -O3 --use_fast_math -Ikernels kernels/dev/batchnorm.cu -o /tmp/bn && /tmp/bn
// version 1: naive, one block per channel for the statistics (C blocks only)
// The fused forms (batchnorm_act_*: relu after a residual add) are validated too.
// version 2: production (kernels/batchnorm.cu): S x C partial-sum blocks in double, a
//            finalize kernel, an elementwise pass with per-channel coefficients
#include "../batchnorm.cu"
#include "common.h"

using namespace mdmt;

void bn_cpu(float* y, float* mean, float* invstd, const float* x, const float* w, const float* b, int N, int C, int HW,
            float eps) {
  for (int c = 0; c < C; ++c) {
    double s = 0, q = 0;
    for (int n = 0; n < N; ++n)
      for (int j = 0; j < HW; ++j) {
        double v = x[((size_t)n * C + c) * HW + j];
        s += v;
        q += v * v;
      }
    double M = (double)N * HW, mu = s / M, var = q / M - mu * mu, is = 1.0 / std::sqrt(var + eps);
    mean[c] = (float)mu;
    invstd[c] = (float)is;
    for (int n = 0; n < N; ++n)
      for (int j = 0; j < HW; ++j) {
        size_t i = ((size_t)n * C + c) * HW + j;
        y[i] = (float)((x[i] - mu) * is * w[c] + b[c]);
      }
  }
}

void bn_bwd_cpu(float* dx, float* dw, float* db, const float* dy, const float* x, const float* w, const float* mean,
                const float* invstd, int N, int C, int HW) {
  for (int c = 0; c < C; ++c) {
    double sdy = 0, sdyx = 0, M = (double)N * HW;
    for (int n = 0; n < N; ++n)
      for (int j = 0; j < HW; ++j) {
        size_t i = ((size_t)n * C + c) * HW + j;
        sdy += dy[i];
        sdyx += dy[i] * (x[i] - (double)mean[c]);
      }
    db[c] = (float)sdy;
    dw[c] = (float)(sdyx * invstd[c]);
    for (int n = 0; n < N; ++n)
      for (int j = 0; j < HW; ++j) {
        size_t i = ((size_t)n * C + c) * HW + j;
        double xh = (x[i] - (double)mean[c]) * invstd[c];
        dx[i] = (float)(w[c] * invstd[c] * (dy[i] - sdy / M - xh * sdyx * invstd[c] / M));
      }
  }
}

__global__ void bn_stats_v1(float* mean, float* invstd, const float* x, int N, int C, int HW, float eps) {
  int c = blockIdx.x;
  double s = 0, q = 0;
  for (int n = 0; n < N; ++n)
    for (int j = threadIdx.x; j < HW; j += blockDim.x) {
      float v = x[((size_t)n * C + c) * HW + j];
      s += v;
      q += (double)v * v;
    }
  s = k::block_sum(s);
  q = k::block_sum(q);
  if (threadIdx.x == 0) {
    double M = (double)N * HW, mu = s / M;
    mean[c] = (float)mu;
    invstd[c] = (float)(1.0 / sqrt(q / M - mu * mu + eps));
  }
}

int main() {
  int fails = 0;
  const int shapes[][3] = {{128, 64, 64 * 64}, {128, 256, 16 * 16}, {128, 1024, 7 * 7}, {32, 10, 1}, {8, 3, 4096}};
  for (auto& sh : shapes) {
    int N = sh[0], C = sh[1], HW = sh[2];
    size_t n = (size_t)N * C * HW;
    auto x = rand_vec(n, 1, -2, 3), w = rand_vec(C, 2), b = rand_vec(C, 3), dy = rand_vec(n, 4);
    std::vector<float> y(n), mean(C), inv(C), dx(n), dw(C), db(C), rm(C, 0.f), rv(C, 1.f);
    bn_cpu(y.data(), mean.data(), inv.data(), x.data(), w.data(), b.data(), N, C, HW, 1e-5f);
    bn_bwd_cpu(dx.data(), dw.data(), db.data(), dy.data(), x.data(), w.data(), mean.data(), inv.data(), N, C, HW);
    float *xd = to_device(x), *wd = to_device(w), *bd = to_device(b), *dyd = to_device(dy);
    float *yd = to_device(std::vector<float>(n)), *md = to_device(std::vector<float>(C)), *id = to_device(std::vector<float>(C));
    float *rmd = to_device(rm), *rvd = to_device(rv), *dxd = to_device(std::vector<float>(n));
    float *dwd = to_device(std::vector<float>(C)), *dbd = to_device(std::vector<float>(C));
    void* ws = to_device(std::vector<char>(k::batchnorm_ws_bytes(C)));
    std::printf("N=%d C=%d HW=%d\n", N, C, HW);
    devCheck(k::batchnorm_train(yd, md, id, rmd, rvd, xd, wd, bd, N, C, HW, 1e-5f, 0.1f, ws, 0));
    devCheck(k::batchnorm_bwd(dxd, dwd, dbd, dyd, xd, wd, md, id, N, C, HW, ws, 0));
    fails += validate("y", to_host(yd, n).data(), y.data(), n, 1e-5f, 1e-5f);
    fails += validate("mean", to_host(md, C).data(), mean.data(), C, 1e-6f, 1e-5f);
    fails += validate("invstd", to_host(id, C).data(), inv.data(), C, 1e-6f, 1e-5f);
    fails += validate("dx", to_host(dxd, n).data(), dx.data(), n, 1e-5f, 1e-4f);
    fails += validate("dweight", to_host(dwd, C).data(), dw.data(), C, 1e-3f, 1e-4f);
    fails += validate("dbias", to_host(dbd, C).data(), db.data(), C, 1e-3f, 1e-4f);
    // fused forms: y = relu(bn(x) + r) and its backward (dz = dy·[y>0] written too) against
    // the CPU reference composed from the unfused one
    {
      auto r = rand_vec(n, 5, -1, 1);
      std::vector<float> yf(n), dz(n), dxf(n), dwf(C), dbf(C);
      for (size_t i = 0; i < n; ++i) yf[i] = std::max(y[i] + r[i], 0.f);
      for (size_t i = 0; i < n; ++i) dz[i] = yf[i] > 0.f ? dy[i] : 0.f;
      bn_bwd_cpu(dxf.data(), dwf.data(), dbf.data(), dz.data(), x.data(), w.data(), mean.data(), inv.data(), N, C, HW);
      float *rd = to_device(r), *yfd = to_device(std::vector<float>(n)), *dzd = to_device(std::vector<float>(n));
      devCheck(k::batchnorm_act_train(yfd, md, id, rmd, rvd, xd, wd, bd, rd, 1, N, C, HW, 1e-5f, 0.1f, ws, 0));
      devCheck(k::batchnorm_act_bwd(dxd, dwd, dbd, dzd, dyd, yfd, xd, wd, md, id, 1, N, C, HW, ws, 0));
      fails += validate("fused y", to_host(yfd, n).data(), yf.data(), n, 1e-5f, 1e-5f);
      fails += validate("fused dz", to_host(dzd, n).data(), dz.data(), n, 1e-6f, 1e-6f);
      fails += validate("fused dx", to_host(dxd, n).data(), dxf.data(), n, 1e-5f, 1e-4f);
      fails += validate("fused dweight", to_host(dwd, C).data(), dwf.data(), C, 1e-3f, 1e-4f);
      for (void* p : {(void*)rd, (void*)yfd, (void*)dzd}) cudaFree(p);
    }
    double fwd_bytes = 3.0 * n * 4, bwd_bytes = 5.0 * n * 4;  // fwd: read x twice + write y; bwd: x,dy twice + dx
    float t1 = bench_ms([&] { bn_stats_v1<<<C, 256>>>(md, id, xd, N, C, HW, 1e-5f); });
    float t2 = bench_ms([&] { k::batchnorm_train(yd, md, id, rmd, rvd, xd, wd, bd, N, C, HW, 1e-5f, 0.1f, ws, 0); });
    float t3 = bench_ms([&] { k::batchnorm_bwd(dxd, dwd, dbd, dyd, xd, wd, md, id, N, C, HW, ws, 0); });
    std::printf("  v1 stats only %.4f ms (%.0f GB/s) | v2 train fwd %.4f ms (%.0f GB/s) | v2 bwd %.4f ms (%.0f GB/s)\n", t1,
                n * 4.0 / t1 / 1e6, t2, fwd_bytes / t2 / 1e6, t3, bwd_bytes / t3 / 1e6);
    for (void* p : {(void*)xd, (void*)wd, (void*)bd, (void*)dyd, (void*)yd, (void*)md, (void*)id, (void*)rmd, (void*)rvd,
                    (void*)dxd, (void*)dwd, (void*)dbd, ws})
      cudaFree(p);
  }
  std::printf(fails ? "FAILED (%d)\n" : "ALL OK\n", fails);
  return fails ? 1 : 0;
}
