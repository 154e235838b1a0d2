// Batch normalisation over [N, C, HW] (docs/ops.md "batchnorm"; HW = 1 for
// BatchNorm1d). Training forward and backward run three kernels each:
//   1. partial per-channel sums over a slice of the batch rows, in double  (grid S x C)
//   2. finalize: per-channel statistics and the affine coefficients        (one thread / C)
//   3. an elementwise pass  y = a[c]*x + b[c]  or  dx = k1[c]*dy + k2[c]*x + k3[c]
// Workspace layout (batchnorm_ws_bytes): double part[2][C][kSplit]; float coef[3][C].
// The fused forms (batchnorm_act_*) differ only in the elementwise ends: the forward applies
// y = act(a·x + b + r) and the backward reads dy through the activation (from y), writing
// that gradient dz too when asked. ACT: 0 none, 1 relu, 2 relu6.
#include "common.cuh"

namespace mdmt {
namespace k {

constexpr int kSplit = 64;

size_t batchnorm_ws_bytes(int64_t C) {
  return static_cast<size_t>(C) * (2 * kSplit * sizeof(double) + 3 * sizeof(float)) + 256;
}

static int split_for(int64_t N, int64_t C) {
  int64_t s = (1024 + C - 1) / C;  // aim for ~1024 blocks
  if (s > N) s = N;
  if (s > kSplit) s = kSplit;
  return s < 1 ? 1 : static_cast<int>(s);
}

// the activation's derivative from its output (relu6: y in (0, 6) iff its input was)
template <int ACT>
__device__ __forceinline__ float act_grad(float g, const float* y, int64_t i) {
  if (ACT == 1) return y[i] > 0.f ? g : 0.f;
  if (ACT == 2) return y[i] > 0.f && y[i] < 6.f ? g : 0.f;
  return g;
}

// mode 0: sums of x and x^2.  mode 1: sums of g and g*(x-mean[c]) with g = act'(dy) (also
// stored to dz when non-null; each element is visited once over the grid).
template <int MODE, int ACT>
__global__ void bn_partial_kernel(double* part, const float* x, const float* dy, const float* y, float* dz,
                                  const float* mean, int64_t N, int64_t C, int64_t HW, int S) {
  const int s = blockIdx.x;
  const int64_t c = blockIdx.y;
  double a = 0, b = 0;
  const float mu = MODE == 1 ? mean[c] : 0.f;
  for (int64_t n = s; n < N; n += S) {
    const int64_t base = (n * C + c) * HW;
    for (int64_t j = threadIdx.x; j < HW; j += blockDim.x) {
      float v = x[base + j];
      if (MODE == 0) {
        a += v;
        b += static_cast<double>(v) * v;
      } else {
        float g = act_grad<ACT>(dy[base + j], y, base + j);
        if (dz) dz[base + j] = g;
        a += g;
        b += static_cast<double>(g) * (v - mu);
      }
    }
  }
  a = block_sum(a);
  b = block_sum(b);
  if (threadIdx.x == 0) {
    part[c * kSplit + s] = a;
    part[(C + c) * kSplit + s] = b;
  }
}

__global__ void bn_train_finalize(float* coef, float* save_mean, float* save_invstd, float* rmean, float* rvar,
                                  const double* part, const float* w, const float* bias, int64_t C, int S,
                                  int64_t M, float eps, float momentum) {
  int64_t c = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
  if (c >= C) return;
  double sum = 0, sq = 0;
  for (int s = 0; s < S; ++s) {
    sum += part[c * kSplit + s];
    sq += part[(C + c) * kSplit + s];
  }
  double mean = sum / M;
  double var = sq / M - mean * mean;
  if (var < 0) var = 0;
  double invstd = 1.0 / sqrt(var + eps);
  save_mean[c] = static_cast<float>(mean);
  save_invstd[c] = static_cast<float>(invstd);
  double unbiased = M > 1 ? var * M / (M - 1) : var;
  rmean[c] = static_cast<float>((1.0 - momentum) * rmean[c] + momentum * mean);
  rvar[c] = static_cast<float>((1.0 - momentum) * rvar[c] + momentum * unbiased);
  double a = invstd * w[c];
  coef[c] = static_cast<float>(a);
  coef[C + c] = static_cast<float>(bias[c] - mean * a);
}

__global__ void bn_bwd_finalize(float* coef, float* dw, float* db, const double* part, const float* w,
                                const float* mean, const float* invstd, int64_t C, int S, int64_t M) {
  int64_t c = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
  if (c >= C) return;
  double sdy = 0, sdyx = 0;
  for (int s = 0; s < S; ++s) {
    sdy += part[c * kSplit + s];
    sdyx += part[(C + c) * kSplit + s];
  }
  double is = invstd[c], wc = w[c], mu = mean[c];
  db[c] = static_cast<float>(sdy);
  dw[c] = static_cast<float>(sdyx * is);
  // dx = w*is*(dy - sdy/M - (x-mu)*is^2*sdyx/M) = k1*dy + k2*x + k3
  double k1 = wc * is;
  double k2 = -wc * is * is * is * sdyx / M;
  double k3 = -k1 * sdy / M - k2 * mu;
  coef[c] = static_cast<float>(k1);
  coef[C + c] = static_cast<float>(k2);
  coef[2 * C + c] = static_cast<float>(k3);
}

template <class I, int ACT>
__global__ void bn_apply_kernel(float* y, const float* x, const float* r, const float* a, const float* b, I C, I HW,
                                I n) {
  for (I i = blockIdx.x * (I)blockDim.x + threadIdx.x; i < n; i += (I)gridDim.x * blockDim.x) {
    I c = (i / HW) % C;
    float z = fmaf(a[c], x[i], b[c]);
    y[i] = act_out<ACT>(r ? z + r[i] : z);
  }
}

template <class I, int ACT>
__global__ void bn_bwd_apply_kernel(float* dx, const float* dy, const float* y, const float* x, const float* coef, I C,
                                    I HW, I n) {
  for (I i = blockIdx.x * (I)blockDim.x + threadIdx.x; i < n; i += (I)gridDim.x * blockDim.x) {
    I c = (i / HW) % C;
    dx[i] = coef[c] * act_grad<ACT>(dy[i], y, i) + coef[C + c] * x[i] + coef[2 * C + c];
  }
}

template <int ACT>
static void apply(float* y, const float* x, const float* r, const float* a, const float* b, int64_t N, int64_t C,
                  int64_t HW, cudaStream_t s) {
  int64_t n = N * C * HW;
  if (n < (1LL << 31))
    bn_apply_kernel<uint32_t, ACT><<<grid_for(n), kBlock, 0, s>>>(y, x, r, a, b, (uint32_t)C, (uint32_t)HW, (uint32_t)n);
  else
    bn_apply_kernel<int64_t, ACT><<<grid_for(n), kBlock, 0, s>>>(y, x, r, a, b, C, HW, n);
}

template <int ACT>
static void bwd_apply(float* dx, const float* dy, const float* y, const float* x, const float* coef, int64_t N,
                      int64_t C, int64_t HW, cudaStream_t s) {
  int64_t n = N * C * HW;
  if (n < (1LL << 31))
    bn_bwd_apply_kernel<uint32_t, ACT><<<grid_for(n), kBlock, 0, s>>>(dx, dy, y, x, coef, (uint32_t)C, (uint32_t)HW, (uint32_t)n);
  else
    bn_bwd_apply_kernel<int64_t, ACT><<<grid_for(n), kBlock, 0, s>>>(dx, dy, y, x, coef, C, HW, n);
}

cudaError_t batchnorm_act_train(float* y, float* save_mean, float* save_invstd, float* running_mean,
                                float* running_var, const float* x, const float* w, const float* b,
                                const float* residual, int act, int64_t N, int64_t C, int64_t HW, float eps,
                                float momentum, void* ws, cudaStream_t s) {
  if (C <= 0) return cudaSuccess;
  if (N * HW <= 0 || C > 65535 || act < 0 || act > 2) return cudaErrorInvalidValue;
  double* part = static_cast<double*>(ws);
  float* coef = reinterpret_cast<float*>(part + 2 * C * kSplit);
  int S = split_for(N, C);
  bn_partial_kernel<0, 0><<<dim3(S, (unsigned)C), kBlock, 0, s>>>(part, x, nullptr, nullptr, nullptr, nullptr, N, C, HW, S);
  bn_train_finalize<<<grid_for(C), kBlock, 0, s>>>(coef, save_mean, save_invstd, running_mean, running_var, part, w, b,
                                                   C, S, N * HW, eps, momentum);
  if (act == 1) apply<1>(y, x, residual, coef, coef + C, N, C, HW, s);
  else if (act == 2) apply<2>(y, x, residual, coef, coef + C, N, C, HW, s);
  else apply<0>(y, x, residual, coef, coef + C, N, C, HW, s);
  return launched();
}

cudaError_t batchnorm_train(float* y, float* save_mean, float* save_invstd, float* running_mean, float* running_var,
                            const float* x, const float* w, const float* b, int64_t N, int64_t C, int64_t HW,
                            float eps, float momentum, void* ws, cudaStream_t s) {
  return batchnorm_act_train(y, save_mean, save_invstd, running_mean, running_var, x, w, b, nullptr, 0, N, C, HW, eps,
                             momentum, ws, s);
}

template <class I>
__global__ void bn_eval_kernel(float* y, const float* x, const float* w, const float* b, const float* rm,
                               const float* rv, float eps, I C, I HW, I n) {
  for (I i = blockIdx.x * (I)blockDim.x + threadIdx.x; i < n; i += (I)gridDim.x * blockDim.x) {
    I c = (i / HW) % C;
    y[i] = (x[i] - rm[c]) / sqrtf(rv[c] + eps) * w[c] + b[c];
  }
}

cudaError_t batchnorm_eval(float* y, const float* x, const float* w, const float* b, const float* rm,
                           const float* rv, int64_t N, int64_t C, int64_t HW, float eps, cudaStream_t s) {
  int64_t n = N * C * HW;
  if (n <= 0) return cudaSuccess;
  if (n < (1LL << 31))
    bn_eval_kernel<uint32_t><<<grid_for(n), kBlock, 0, s>>>(y, x, w, b, rm, rv, eps, (uint32_t)C, (uint32_t)HW, (uint32_t)n);
  else
    bn_eval_kernel<int64_t><<<grid_for(n), kBlock, 0, s>>>(y, x, w, b, rm, rv, eps, C, HW, n);
  return launched();
}

template <int ACT>
static void bwd_launch(float* dx, float* dz, const float* dy, const float* y, const float* x, const float* mean,
                       double* part, float* coef, const float* w, const float* invstd, float* dw, float* db, int64_t N,
                       int64_t C, int64_t HW, cudaStream_t s) {
  int S = split_for(N, C);
  bn_partial_kernel<1, ACT><<<dim3(S, (unsigned)C), kBlock, 0, s>>>(part, x, dy, y, dz, mean, N, C, HW, S);
  bn_bwd_finalize<<<grid_for(C), kBlock, 0, s>>>(coef, dw, db, part, w, mean, invstd, C, S, N * HW);
  // with dz written, it is the gradient already: the apply reads it without the activation
  if (dz) bwd_apply<0>(dx, dz, nullptr, x, coef, N, C, HW, s);
  else bwd_apply<ACT>(dx, dy, y, x, coef, N, C, HW, s);
}

cudaError_t batchnorm_act_bwd(float* dx, float* dw, float* db, float* dz, const float* dy, const float* y,
                              const float* x, const float* w, const float* mean, const float* invstd, int act,
                              int64_t N, int64_t C, int64_t HW, void* ws, cudaStream_t s) {
  if (C <= 0) return cudaSuccess;
  if (N * HW <= 0 || C > 65535 || act < 0 || act > 2 || (act != 0 && !y)) return cudaErrorInvalidValue;
  double* part = static_cast<double*>(ws);
  float* coef = reinterpret_cast<float*>(part + 2 * C * kSplit);
  if (act == 1) bwd_launch<1>(dx, dz, dy, y, x, mean, part, coef, w, invstd, dw, db, N, C, HW, s);
  else if (act == 2) bwd_launch<2>(dx, dz, dy, y, x, mean, part, coef, w, invstd, dw, db, N, C, HW, s);
  else bwd_launch<0>(dx, dz, dy, y, x, mean, part, coef, w, invstd, dw, db, N, C, HW, s);
  return launched();
}

cudaError_t batchnorm_bwd(float* dx, float* dw, float* db, const float* dy, const float* x, const float* w,
                          const float* mean, const float* invstd, int64_t N, int64_t C, int64_t HW, void* ws,
                          cudaStream_t s) {
  return batchnorm_act_bwd(dx, dw, db, nullptr, dy, nullptr, x, w, mean, invstd, 0, N, C, HW, ws, s);
}

}  // namespace k
}  // namespace mdmt
