// Adam / AdamW and SGD over every parameter in one launch (docs/ops.md "optim").
// The host uploads a table of tensors and a table of chunks (tensor, first element); block
// b updates chunk b, kOptChunk elements, so one launch covers thousands of tensors of any
// size (the multi-tensor-apply pattern). Float math in registers, PyTorch's formula order.
// adam_capturable reads its per-run scalars from device memory (CUDA graph capture): a
// one-thread prologue forms the hyper-parameters there, the update kernel reads them.
#include <math.h>

#include "common.cuh"
#include "mixed.h"

namespace mdmt {
namespace k {

// DEV: the hyper-parameters come from device memory (hp) instead of the argument hv
template <bool DEV>
__global__ void adam_kernel(const AdamTensor* tensors, const OptChunk* chunks, AdamHyper hv, const AdamHyper* hp) {
  const AdamHyper h = DEV ? *hp : hv;
  const OptChunk ch = chunks[blockIdx.x];
  const AdamTensor t = tensors[ch.t];
  int64_t end = ch.start + kOptChunk < t.n ? ch.start + kOptChunk : t.n;
  for (int64_t i = ch.start + threadIdx.x; i < end; i += blockDim.x) {
    float p = t.p[i], g = t.g[i], m = t.m[i], v = t.v[i];
    if (h.wd != 0.f) {
      if (h.decoupled) p *= h.decay;
      else g += h.wd * p;
    }
    // m.lerp_(g, 1 - beta1) in torch's two forms (native/cpu/optim.cc): exact g at beta1 = 0
    m = h.omb1 < 0.5f ? m + h.omb1 * (g - m) : g - (g - m) * (1.f - h.omb1);
    v = h.beta2 * v + h.omb2 * g * g;
    float denom = sqrtf(v) / h.bc2_sqrt + h.eps;
    p = p - h.step_size * (m / denom);
    t.p[i] = p;
    t.m[i] = m;
    t.v[i] = v;
  }
}

__global__ void sgd_kernel(const SgdTensor* tensors, const OptChunk* chunks, SgdHyper h) {
  const OptChunk ch = chunks[blockIdx.x];
  const SgdTensor t = tensors[ch.t];
  int64_t end = ch.start + kOptChunk < t.n ? ch.start + kOptChunk : t.n;
  for (int64_t i = ch.start + threadIdx.x; i < end; i += blockDim.x) {
    float p = t.p[i], g = t.g[i];
    if (h.wd != 0.f) g += h.wd * p;
    if (h.momentum != 0.f) {
      float b = h.first_step ? g : h.momentum * t.buf[i] + h.omd * g;
      t.buf[i] = b;
      g = h.nesterov ? g + h.momentum * b : b;
    }
    t.p[i] = p - h.lr * g;
  }
}

cudaError_t adam(const AdamTensor* tensors, const OptChunk* chunks, int64_t nchunks, AdamHyper h, cudaStream_t s) {
  if (nchunks <= 0) return cudaSuccess;
  if (nchunks > 0x7fffffffLL) return cudaErrorInvalidValue;
  adam_kernel<false><<<static_cast<unsigned>(nchunks), kBlock, 0, s>>>(tensors, chunks, h, nullptr);
  return launched();
}

// Host and device form the same doubles with correctly rounded operations and no fused
// multiply-add (volatile on the host, __d*_rn on the device), then round each to float once.
AdamHyper adam_hyper(double lr, double bc1, double bc2, const AdamStatic& st) {
  volatile double lr_wd = lr * st.wd;
  return AdamHyper{static_cast<float>(lr / bc1), static_cast<float>(st.beta2), static_cast<float>(1.0 - st.beta1),
                   static_cast<float>(1.0 - st.beta2), static_cast<float>(st.eps), static_cast<float>(st.wd),
                   static_cast<float>(sqrt(bc2)), static_cast<float>(1.0 - lr_wd), st.decoupled};
}

__global__ void adam_hyper_kernel(AdamHyper* out, const double* lr, const double* bc1, const double* bc2, AdamStatic st) {
  const double l = *lr;
  *out = AdamHyper{static_cast<float>(__ddiv_rn(l, *bc1)), static_cast<float>(st.beta2),
                   static_cast<float>(__dsub_rn(1.0, st.beta1)), static_cast<float>(__dsub_rn(1.0, st.beta2)),
                   static_cast<float>(st.eps), static_cast<float>(st.wd), static_cast<float>(__dsqrt_rn(*bc2)),
                   static_cast<float>(__dsub_rn(1.0, __dmul_rn(l, st.wd))), st.decoupled};
}

cudaError_t adam_capturable(const AdamTensor* tensors, const OptChunk* chunks, int64_t nchunks, const double* lr,
                            const double* bc1, const double* bc2, AdamStatic st, AdamHyper* hyper, cudaStream_t s) {
  if (nchunks <= 0) return cudaSuccess;
  if (nchunks > 0x7fffffffLL || !lr || !bc1 || !bc2 || !hyper) return cudaErrorInvalidValue;
  adam_hyper_kernel<<<1, 1, 0, s>>>(hyper, lr, bc1, bc2, st);
  adam_kernel<true><<<static_cast<unsigned>(nchunks), kBlock, 0, s>>>(tensors, chunks, AdamHyper{}, hyper);
  return launched();
}

cudaError_t sgd(const SgdTensor* tensors, const OptChunk* chunks, int64_t nchunks, SgdHyper h, cudaStream_t s) {
  if (nchunks <= 0) return cudaSuccess;
  if (nchunks > 0x7fffffffLL) return cudaErrorInvalidValue;
  sgd_kernel<<<static_cast<unsigned>(nchunks), kBlock, 0, s>>>(tensors, chunks, h);
  return launched();
}

}  // namespace k
}  // namespace mdmt
