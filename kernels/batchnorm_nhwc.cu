// BatchNorm (+ activation, + residual) over NHWC [M, C], M = N·H·W, activations fp32 or bf16,
// statistics fp32 (docs/ops.md batchnorm_train / _bwd / _eval and the fused batchnorm_act_*).
// The maths is the NCHW kernels' (kernels/batchnorm.cu); NHWC changes the access pattern:
// channels are the contiguous dimension, so a thread owns V consecutive channels (a 16-byte
// vector: 4 fp32 or 8 bf16) and walks rows, and a channel's coefficient is a broadcast along
// rows. Three kernels per direction:
//   1. partial sums per (row slice, channel) in double: sum x, sum x² (forward) or sum g,
//      sum g·(x − mean) with g = dy·act'(y) (backward; g also stored as dz when asked);
//      each block reduces its rows in a fixed order (no atomics: bit-reproducible runs)
//   2. finalize, one thread per channel: statistics, running averages, coefficients
//   3. elementwise: y = act(a[c]·x + b[c] + r)   or   dx = k1[c]·g + k2[c]·x + k3[c]
// Workspace (batchnorm_nhwc_ws_bytes): double part[2][kMaxSplit][C]; float coef[3][C].
#include "lowp.cuh"

namespace mdmt {
namespace k {
namespace {

constexpr int kMaxSplit = 256;
constexpr int kThreads = 256;

// the activation's derivative from its output (relu6: y in (0, 6) iff its input was)
template <int ACT>
__device__ __forceinline__ float act_grad(float g, float y) {
  if (ACT == 1) return y > 0.f ? g : 0.f;
  if (ACT == 2) return y > 0.f && y < 6.f ? g : 0.f;
  return g;
}

// How a block covers [M, C]: V channels per thread, CB vector columns per block (blockIdx.y
// picks the column tile), R rows per pass; gridDim.x = S row slices.
struct Tiling {
  int V, cv, CB, R, tiles, S;
};

Tiling tiling(int64_t M, int64_t C, int V) {
  Tiling t;
  t.V = V;
  t.cv = static_cast<int>(C / V);
  t.CB = t.cv < kThreads ? t.cv : kThreads;
  t.R = kThreads / t.CB;
  t.tiles = (t.cv + t.CB - 1) / t.CB;
  int64_t s = (4 * 132 + t.tiles - 1) / t.tiles;  // ~4 blocks per SM of an H100/H200
  const int64_t rows = (M + t.R - 1) / t.R;
  if (s > rows) s = rows;
  if (s > kMaxSplit) s = kMaxSplit;
  t.S = s < 1 ? 1 : static_cast<int>(s);
  return t;
}

// MODE 0: sums of x and x². MODE 1: sums of g and g·(x − mean), g = act'(dy) (stored to dz if non-null).
template <class T, int V, int MODE, int ACT>
__global__ void __launch_bounds__(kThreads) partial(double* part, const T* x, const T* dy, const T* y, T* dz,
                                                    const float* mean, int64_t M, int64_t C, int CB, int R) {
  __shared__ double red[2][kThreads * V];
  const int j = threadIdx.x % CB, rr = threadIdx.x / CB;
  const int64_t col = static_cast<int64_t>(blockIdx.y) * CB + j;  // vector column
  const bool on = rr < R && col * V < C;
  double a[V], b[V];
  float mu[V];
#pragma unroll
  for (int v = 0; v < V; ++v) {
    a[v] = b[v] = 0;
    mu[v] = MODE == 1 && on ? mean[col * V + v] : 0.f;
  }
  if (on) {
    for (int64_t row = static_cast<int64_t>(blockIdx.x) * R + rr; row < M; row += static_cast<int64_t>(gridDim.x) * R) {
      const int64_t e = row * C + col * V;  // first element
      float xv[V], g[V], yv[V];
      load_f<T, V>(xv, x, e);
      if (MODE == 0) {
#pragma unroll
        for (int v = 0; v < V; ++v) {
          a[v] += xv[v];
          b[v] += static_cast<double>(xv[v]) * xv[v];
        }
      } else {
        load_f<T, V>(g, dy, e);
        if (ACT) load_f<T, V>(yv, y, e);
#pragma unroll
        for (int v = 0; v < V; ++v) {
          g[v] = act_grad<ACT>(g[v], ACT ? yv[v] : 0.f);
          a[v] += g[v];
          b[v] += static_cast<double>(g[v]) * (xv[v] - mu[v]);
        }
        if (dz) store_f<T, V>(dz, e, g);
      }
    }
  }
  // fixed-order reduction over the R row groups of each column
  if (rr < R) {
#pragma unroll
    for (int v = 0; v < V; ++v) {
      red[0][rr * CB * V + j * V + v] = a[v];
      red[1][rr * CB * V + j * V + v] = b[v];
    }
  }
  __syncthreads();
  if (rr == 0 && on) {
#pragma unroll
    for (int v = 0; v < V; ++v) {
      double sa = 0, sb = 0;
      for (int q = 0; q < R; ++q) {
        sa += red[0][q * CB * V + j * V + v];
        sb += red[1][q * CB * V + j * V + v];
      }
      const int64_t c = col * V + v;
      part[static_cast<int64_t>(blockIdx.x) * C + c] = sa;
      part[(static_cast<int64_t>(kMaxSplit) + blockIdx.x) * C + c] = sb;
    }
  }
}

__global__ void train_finalize(float* coef, float* save_mean, float* save_invstd, float* rmean, float* rvar,
                               const double* part, const float* w, const float* bias, int64_t C, int S, int64_t M,
                               float eps, float momentum) {
  const int64_t c = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (c >= C) return;
  double sum = 0, sq = 0;
  for (int s = 0; s < S; ++s) {
    sum += part[s * C + c];
    sq += part[(kMaxSplit + s) * C + c];
  }
  const double mean = sum / M;
  double var = sq / M - mean * mean;
  if (var < 0) var = 0;
  const double invstd = 1.0 / sqrt(var + eps);
  save_mean[c] = static_cast<float>(mean);
  save_invstd[c] = static_cast<float>(invstd);
  const double unbiased = M > 1 ? var * M / (M - 1) : var;
  rmean[c] = static_cast<float>((1.0 - momentum) * rmean[c] + momentum * mean);
  rvar[c] = static_cast<float>((1.0 - momentum) * rvar[c] + momentum * unbiased);
  const double a = invstd * w[c];
  coef[c] = static_cast<float>(a);
  coef[C + c] = static_cast<float>(bias[c] - mean * a);
}

__global__ void bwd_finalize(float* coef, float* dw, float* db, const double* part, const float* w, const float* mean,
                             const float* invstd, int64_t C, int S, int64_t M) {
  const int64_t c = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (c >= C) return;
  double sg = 0, sgx = 0;
  for (int s = 0; s < S; ++s) {
    sg += part[s * C + c];
    sgx += part[(kMaxSplit + s) * C + c];
  }
  const double is = invstd[c], wc = w[c], mu = mean[c];
  db[c] = static_cast<float>(sg);
  dw[c] = static_cast<float>(sgx * is);
  // dx = w·is·(g − Σg/M − (x − mu)·is²·Σg(x−mu)/M) = k1·g + k2·x + k3
  const double k1 = wc * is, k2 = -wc * is * is * is * sgx / M, k3 = -k1 * sg / M - k2 * mu;
  coef[c] = static_cast<float>(k1);
  coef[C + c] = static_cast<float>(k2);
  coef[2 * C + c] = static_cast<float>(k3);
}

// y = act(a·x + b [+ r]) over [M, C], V channels per item
template <class T, int V, int ACT>
__global__ void apply(T* y, const T* x, const T* r, const float* a, const float* b, int64_t items, int64_t cv) {
  MDMT_GRID_STRIDE(i, items) {
    const int64_t c0 = (i % cv) * V, e = i * V;
    float z[V], rv[V];
    load_f<T, V>(z, x, e);
    if (r) load_f<T, V>(rv, r, e);
#pragma unroll
    for (int v = 0; v < V; ++v) {
      z[v] = fmaf(a[c0 + v], z[v], b[c0 + v]);
      if (r) z[v] += rv[v];
      z[v] = act_out<ACT>(z[v]);
    }
    store_f<T, V>(y, e, z);
  }
}

// dx = k1·act'(dy) + k2·x + k3 (g recomputed from dy and y: the same g the sums saw)
template <class T, int V, int ACT>
__global__ void bwd_apply(T* dx, const T* dy, const T* y, const T* x, const float* coef, int64_t C, int64_t items,
                          int64_t cv) {
  MDMT_GRID_STRIDE(i, items) {
    const int64_t c0 = (i % cv) * V, e = i * V;
    float g[V], yv[V], xv[V];
    load_f<T, V>(g, dy, e);
    if (ACT) load_f<T, V>(yv, y, e);
    load_f<T, V>(xv, x, e);
#pragma unroll
    for (int v = 0; v < V; ++v) {
      const int64_t c = c0 + v;
      g[v] = coef[c] * act_grad<ACT>(g[v], ACT ? yv[v] : 0.f) + coef[C + c] * xv[v] + coef[2 * C + c];
    }
    store_f<T, V>(dx, e, g);
  }
}

template <class T>
__global__ void eval_kernel(T* y, const T* x, const float* w, const float* b, const float* rm, const float* rv,
                            float eps, int64_t C, int64_t n) {
  MDMT_GRID_STRIDE(i, n) {
    const int64_t c = i % C;
    y[i] = from_f<T>((to_f(x[i]) - rm[c]) / sqrtf(rv[c] + eps) * w[c] + b[c]);
  }
}

// V = a 16-byte vector when every row starts aligned (C a multiple of it), else 1.
template <class T>
int vec_for(int64_t C, const void* const* ptrs, int n) {
  constexpr int V = 16 / sizeof(T);
  if (C % V) return 1;
  for (int i = 0; i < n; ++i)
    if (ptrs[i] && !aligned16(ptrs[i])) return 1;
  return V;
}

template <class T, int V, int ACT>
void train_launch(T* y, float* save_mean, float* save_invstd, float* rmean, float* rvar, const T* x, const float* w,
                  const float* b, const T* r, int64_t M, int64_t C, float eps, float momentum, void* ws, cudaStream_t s) {
  double* part = static_cast<double*>(ws);
  float* coef = reinterpret_cast<float*>(part + 2 * kMaxSplit * C);
  const Tiling t = tiling(M, C, V);
  partial<T, V, 0, 0><<<dim3(t.S, t.tiles), kThreads, 0, s>>>(part, x, nullptr, nullptr, nullptr, nullptr, M, C, t.CB, t.R);
  train_finalize<<<grid_for(C), kBlock, 0, s>>>(coef, save_mean, save_invstd, rmean, rvar, part, w, b, C, t.S, M, eps, momentum);
  const int64_t items = M * (C / V);
  apply<T, V, ACT><<<grid_for(items), kBlock, 0, s>>>(y, x, r, coef, coef + C, items, C / V);
}

template <class T, int V, int ACT>
void bwd_launch(T* dx, float* dw, float* db, T* dz, const T* dy, const T* y, const T* x, const float* w,
                const float* mean, const float* invstd, int64_t M, int64_t C, void* ws, cudaStream_t s) {
  double* part = static_cast<double*>(ws);
  float* coef = reinterpret_cast<float*>(part + 2 * kMaxSplit * C);
  const Tiling t = tiling(M, C, V);
  partial<T, V, 1, ACT><<<dim3(t.S, t.tiles), kThreads, 0, s>>>(part, x, dy, y, dz, mean, M, C, t.CB, t.R);
  bwd_finalize<<<grid_for(C), kBlock, 0, s>>>(coef, dw, db, part, w, mean, invstd, C, t.S, M);
  const int64_t items = M * (C / V);
  bwd_apply<T, V, ACT><<<grid_for(items), kBlock, 0, s>>>(dx, dy, y, x, coef, C, items, C / V);
}

// act and vector width as template arguments
template <class T, int V>
void train_act(int act, T* y, float* sm, float* si, float* rm, float* rv, const T* x, const float* w, const float* b,
               const T* r, int64_t M, int64_t C, float eps, float mom, void* ws, cudaStream_t s) {
  if (act == 1) train_launch<T, V, 1>(y, sm, si, rm, rv, x, w, b, r, M, C, eps, mom, ws, s);
  else if (act == 2) train_launch<T, V, 2>(y, sm, si, rm, rv, x, w, b, r, M, C, eps, mom, ws, s);
  else train_launch<T, V, 0>(y, sm, si, rm, rv, x, w, b, r, M, C, eps, mom, ws, s);
}

template <class T, int V>
void bwd_act(int act, T* dx, float* dw, float* db, T* dz, const T* dy, const T* y, const T* x, const float* w,
             const float* mean, const float* invstd, int64_t M, int64_t C, void* ws, cudaStream_t s) {
  if (act == 1) bwd_launch<T, V, 1>(dx, dw, db, dz, dy, y, x, w, mean, invstd, M, C, ws, s);
  else if (act == 2) bwd_launch<T, V, 2>(dx, dw, db, dz, dy, y, x, w, mean, invstd, M, C, ws, s);
  else bwd_launch<T, V, 0>(dx, dw, db, dz, dy, y, x, w, mean, invstd, M, C, ws, s);
}

}  // namespace

size_t batchnorm_nhwc_ws_bytes(int64_t M, int64_t C) {
  (void)M;
  return static_cast<size_t>(C) * (2 * kMaxSplit * sizeof(double) + 3 * sizeof(float)) + 256;
}

cudaError_t batchnorm_act_train_nhwc(void* y, float* save_mean, float* save_invstd, float* running_mean,
                                     float* running_var, const void* x, const float* w, const float* b,
                                     const void* residual, int act, int dt, int64_t M, int64_t C, float eps,
                                     float momentum, void* ws, cudaStream_t s) {
  if (C <= 0) return cudaSuccess;
  if (M <= 0 || act < 0 || act > 2) return cudaErrorInvalidValue;
  return by_dtype(dt, [&](auto tag) {
    using T = decltype(tag);
    constexpr int V = 16 / sizeof(T);
    const void* ptrs[] = {y, x, residual};
    auto* yy = static_cast<T*>(y);
    auto* xx = static_cast<const T*>(x);
    auto* rr = static_cast<const T*>(residual);
    if (vec_for<T>(C, ptrs, 3) == 1) train_act<T, 1>(act, yy, save_mean, save_invstd, running_mean, running_var, xx, w, b, rr, M, C, eps, momentum, ws, s);
    else train_act<T, V>(act, yy, save_mean, save_invstd, running_mean, running_var, xx, w, b, rr, M, C, eps, momentum, ws, s);
    return launched();
  });
}

cudaError_t batchnorm_act_bwd_nhwc(void* dx, float* dw, float* db, void* dz, const void* dy, const void* y,
                                   const void* x, const float* w, const float* mean, const float* invstd, int act,
                                   int dt, int64_t M, int64_t C, void* ws, cudaStream_t s) {
  if (C <= 0) return cudaSuccess;
  if (M <= 0 || act < 0 || act > 2 || (act != 0 && !y)) return cudaErrorInvalidValue;
  return by_dtype(dt, [&](auto tag) {
    using T = decltype(tag);
    constexpr int V = 16 / sizeof(T);
    const void* ptrs[] = {dx, dz, dy, y, x};
    auto* ddx = static_cast<T*>(dx);
    auto* ddz = static_cast<T*>(dz);
    auto* ddy = static_cast<const T*>(dy);
    auto* yy = static_cast<const T*>(y);
    auto* xx = static_cast<const T*>(x);
    if (vec_for<T>(C, ptrs, 5) == 1) bwd_act<T, 1>(act, ddx, dw, db, ddz, ddy, yy, xx, w, mean, invstd, M, C, ws, s);
    else bwd_act<T, V>(act, ddx, dw, db, ddz, ddy, yy, xx, w, mean, invstd, M, C, ws, s);
    return launched();
  });
}

cudaError_t batchnorm_eval_nhwc(void* y, const void* x, const float* w, const float* b, const float* rm,
                                const float* rv, int dt, int64_t M, int64_t C, float eps, cudaStream_t s) {
  const int64_t n = M * C;
  if (n <= 0) return cudaSuccess;
  return by_dtype(dt, [&](auto tag) {
    using T = decltype(tag);
    eval_kernel<T><<<grid_for(n), kBlock, 0, s>>>(static_cast<T*>(y), static_cast<const T*>(x), w, b, rm, rv, eps, C, n);
    return launched();
  });
}

}  // namespace k
}  // namespace mdmt
