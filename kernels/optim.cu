// Adam / AdamW and SGD over every parameter in one launch (docs/ops.md "optim").
// The host uploads a table of tensors and a table of chunks (tensor, first element); block
// b updates chunk b, kOptChunk elements, so one launch covers thousands of tensors of any
// size (the multi-tensor-apply pattern). Float math in registers, PyTorch's formula order.
#include <math.h>

#include "common.cuh"

namespace mdmt {
namespace k {

__global__ void adam_kernel(const AdamTensor* tensors, const OptChunk* chunks, AdamHyper h) {
  const OptChunk ch = chunks[blockIdx.x];
  const AdamTensor t = tensors[ch.t];
  int64_t end = ch.start + kOptChunk < t.n ? ch.start + kOptChunk : t.n;
  for (int64_t i = ch.start + threadIdx.x; i < end; i += blockDim.x) {
    float p = t.p[i], g = t.g[i], m = t.m[i], v = t.v[i];
    if (h.wd != 0.f) {
      if (h.decoupled) p *= h.decay;
      else g += h.wd * p;
    }
    m = m + h.omb1 * (g - m);  // m.lerp_(g, 1 - beta1), as torch
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
  adam_kernel<<<static_cast<unsigned>(nchunks), kBlock, 0, s>>>(tensors, chunks, h);
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
