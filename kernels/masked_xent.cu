// masked_xent_fwd_bwd (docs/ops.md "masked_xent", the paper's Eq. 2): per row i
//   l_i = logsumexp(z_i) - z_{i,y_i};  loss = sum_i m_i l_i / D;  dlogits = m_i (softmax(z_i) - onehot(y_i)) / D
// with D = N ("batch") or max(sum m, 1) ("masked"). Kernel 1: one warp per row, an online
// max/sum-exp over the row in registers, then dlogits written directly (probabilities never
// stored); each block first sums the mask itself (N is small), so D needs no extra launch.
// Kernel 2: one block adds the row losses in a fixed order (deterministic) and reports the
// first active row with an out-of-range label.
// Workspace (masked_xent_ws_bytes): float rowloss[N]; int32 rowbad[N].
#include <math.h>

#include "common.cuh"

namespace mdmt {
namespace k {

size_t masked_xent_ws_bytes(int64_t N) { return static_cast<size_t>(N) * 8 + 256; }

__global__ void xent_rows_kernel(float* dlogits, float* rowloss, int32_t* rowbad, const float* logits,
                                 const int32_t* labels, const float* mask, int64_t N, int64_t C, bool masked) {
  __shared__ float sh_D;
  if (threadIdx.x < 32) {
    float s = 0.f;
    if (masked)
      for (int64_t i = threadIdx.x; i < N; i += 32) s += mask[i];
    s = warp_sum(s);
    if (threadIdx.x == 0) sh_D = masked ? fmaxf(s, 1.f) : static_cast<float>(N);
  }
  __syncthreads();
  const float invD = 1.0f / sh_D;
  const int lane = threadIdx.x & 31;
  const int64_t row = (blockIdx.x * (int64_t)blockDim.x + threadIdx.x) >> 5;
  if (row >= N) return;
  const float* z = logits + row * C;
  float* dz = dlogits + row * C;
  const float m = mask[row];
  const int32_t y = labels[row];
  const bool active = m != 0.f;
  const bool bad_mask = m != 0.f && m != 1.f;
  const bool bad = bad_mask || (active && (y < 0 || y >= C));
  // online logsumexp: running max mx and sum se of exp(z - mx)
  float mx = -INFINITY, se = 0.f;
  for (int64_t j = lane; j < C; j += 32) {
    float v = z[j];
    if (v > mx) {
      se = se * expf(mx - v) + 1.f;
      mx = v;
    } else {
      se += expf(v - mx);
    }
  }
  float gmx = warp_max(mx);
  se = (mx == -INFINITY) ? 0.f : se * expf(mx - gmx);
  se = warp_sum(se);
  const float lse = gmx + logf(se);
  const float scale = m * invD;
  for (int64_t j = lane; j < C; j += 32) {
    float p = expf(z[j] - lse);
    float onehot = (!bad && j == y) ? 1.f : 0.f;
    dz[j] = active ? scale * (p - onehot) : 0.f;
  }
  if (lane == 0) {
    float zy = (active && !bad) ? z[y] : 0.f;
    rowloss[row] = (active && !bad) ? scale * (lse - zy) : 0.f;
    rowbad[row] = bad_mask ? 2 : (bad ? 1 : 0);
  }
}

__global__ void xent_reduce_kernel(float* loss, int32_t* bad_label, const float* rowloss, const int32_t* rowbad,
                                   int64_t N) {
  __shared__ int first_bad;
  if (threadIdx.x == 0) first_bad = 0x7fffffff;
  __syncthreads();
  double acc = 0;
  for (int64_t i = threadIdx.x; i < N; i += blockDim.x) {
    acc += rowloss[i];
    if (rowbad[i]) atomicMin(&first_bad, static_cast<int>(i));
  }
  acc = block_sum(acc);
  __syncthreads();
  if (threadIdx.x == 0) {
    // a bad row poisons the loss: a caller that cannot read the flag back at once (a plan
    // captured as a CUDA graph checks it one step later) never sees a plausible loss
    loss[0] = first_bad == 0x7fffffff ? static_cast<float>(acc) : __int_as_float(0x7fc00000);
    bad_label[0] = first_bad == 0x7fffffff ? 0 : first_bad + 1;
    bad_label[1] = first_bad == 0x7fffffff ? 0 : rowbad[first_bad];
  }
}

cudaError_t masked_xent_fwd_bwd(float* loss, float* dlogits, int32_t* bad_label, const float* logits,
                                const int32_t* labels, const float* mask, int64_t N, int64_t C, bool normalize_masked,
                                void* ws, cudaStream_t s) {
  if (N <= 0 || C <= 0) return cudaErrorInvalidValue;
  if (N >= 0x7fffffff) return cudaErrorInvalidValue;
  float* rowloss = static_cast<float*>(ws);
  int32_t* rowbad = reinterpret_cast<int32_t*>(rowloss + N);
  const int rows_per_block = kBlock / 32;
  unsigned g = static_cast<unsigned>((N + rows_per_block - 1) / rows_per_block);
  xent_rows_kernel<<<g, kBlock, 0, s>>>(dlogits, rowloss, rowbad, logits, labels, mask, N, C, normalize_masked);
  xent_reduce_kernel<<<1, kBlock, 0, s>>>(loss, bad_label, rowloss, rowbad, N);
  return launched();
}

}  // namespace k
}  // namespace mdmt
