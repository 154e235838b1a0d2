// Launchers of the mixed-precision, NHWC and graph-capture kernels (issue 14), plain C++
// over the CUDA runtime like kernels.h, which holds the fp32 NCHW ones.
//   dtype codes   as mdmt::DType: kF32 (0) or kBF16 (3). bf16 is storage only: every kernel
//                 computes in fp32 registers and rounds once when it stores.
//   NHWC          a logical [N, C, H, W] tensor whose element (n, c, h, w) sits at
//                 ((n·H + h)·W + w)·C + c: a row-major [M, C] matrix with M = N·H·W, so a
//                 per-channel operation is a broadcast along rows (no `(i / HW) % C`).
//   capturable    launchers that read per-run scalars (lr, bias corrections, dropout seeds)
//                 from device memory, so a captured CUDA graph replays them with fresh values.
// Conventions as kernels.h: outputs first, explicit stream, assumptions checked (an invalid
// argument returns cudaErrorInvalidValue), launch status returned.
#pragma once
#include <cuda_runtime_api.h>
#include <stdint.h>

#include "kernels.h"

namespace mdmt {
namespace k {

constexpr int kF32 = 0, kBF16 = 3;

// ---- reorder (docs/ops.md): NCHW <-> NHWC per image, converting dtype on the way ----------
// xdt / ydt: kF32 or kBF16 (any pair); or both 1 (int32) or both 2 (uint8): layout only.
cudaError_t reorder(void* y, int ydt, const void* x, int xdt, int64_t N, int64_t C, int64_t HW, bool to_nhwc,
                    cudaStream_t s);

// ---- BatchNorm over NHWC [M, C] (also BatchNorm1d [N, C]: M = N) ------------------------
// Activations (x, y, residual, dy, dz, dx) in dtype dt; weight, bias, statistics fp32.
// act: 0 none, 1 relu, 2 relu6 (docs/ops.md batchnorm_act_*); residual / dz may be null.
// Sums in double, in a fixed order (bit-reproducible run to run).
size_t batchnorm_nhwc_ws_bytes(int64_t M, int64_t C);
cudaError_t batchnorm_act_train_nhwc(void* y, float* save_mean, float* save_invstd, float* running_mean,
                                     float* running_var, const void* x, const float* w, const float* b,
                                     const void* residual, int act, int dt, int64_t M, int64_t C, float eps,
                                     float momentum, void* ws, cudaStream_t s);
cudaError_t batchnorm_act_bwd_nhwc(void* dx, float* dw, float* db, void* dz, const void* dy, const void* y,
                                   const void* x, const float* w, const float* mean, const float* invstd, int act,
                                   int dt, int64_t M, int64_t C, void* ws, cudaStream_t s);
cudaError_t batchnorm_eval_nhwc(void* y, const void* x, const float* w, const float* b, const float* rm,
                                const float* rv, int dt, int64_t M, int64_t C, float eps, cudaStream_t s);

// ---- elementwise on bf16 storage (the fp32 forms are in kernels.h) -------------------------
cudaError_t act_fwd_bf16(void* y, const void* x, int64_t n, Act a, cudaStream_t s);
cudaError_t act_bwd_bf16(void* dx, const void* dy, const void* t, int64_t n, Act a, cudaStream_t s);
cudaError_t affine_bf16(void* y, const void* x, float alpha, float beta, int64_t n, cudaStream_t s);
cudaError_t binary_flat_bf16(void* y, const void* a, const void* b, int64_t n, Bin op, cudaStream_t s);
cudaError_t binary_bf16(void* y, const void* a, const void* b, const Dims& d, int64_t n, Bin op, cudaStream_t s);
// gather (kernels.h: expand, transpose) for 2-byte elements
cudaError_t gather_2b(void* y, const void* x, const Dims& d, int64_t n, cudaStream_t s);
// sum / mean (kernels.h reduce_sum) of a bf16 input, fp32 output (double accumulation)
cudaError_t reduce_sum_bf16(float* y, const void* x, const ReducePlan& p, float scale, cudaStream_t s);
// y[m, c] = x[m, c] op v[c] over NHWC [M, C] (a convolution's bias), x and y in dt, v fp32.
cudaError_t channel_binary_nhwc(void* y, const void* x, const float* v, int dt, int64_t M, int64_t C, Bin op,
                                cudaStream_t s);

// ---- pooling and layout in NHWC ----------------------------------------------------------
// y[n, c] = mean over HW of x[n, hw, c] (fp32 sums); dx[n, hw, c] = dy[n, c] / HW.
cudaError_t global_avgpool_nhwc(void* y, const void* x, int dt, int64_t N, int64_t HW, int64_t C, cudaStream_t s);
cudaError_t global_avgpool_bwd_nhwc(void* dx, const void* dy, int dt, int64_t N, int64_t HW, int64_t C,
                                    cudaStream_t s);
// max / avg pooling over NHWC maps (Pool2d of kernels.h: NC = N·C; C passed for the stride).
// The backward passes gather (bit-reproducible) and so need the window: kh..pw set in p.
cudaError_t maxpool2d_nhwc(void* y, int32_t* idx, const void* x, int dt, int64_t C, const Pool2d& p, cudaStream_t s);
cudaError_t maxpool2d_bwd_nhwc(void* dx, const void* dy, const int32_t* idx, int dt, int64_t C, const Pool2d& p,
                               cudaStream_t s);
cudaError_t avgpool2d_nhwc(void* y, const void* x, int dt, int64_t C, const Pool2d& p, cudaStream_t s);
cudaError_t avgpool2d_bwd_nhwc(void* dx, const void* dy, int dt, int64_t C, const Pool2d& p, cudaStream_t s);
// channel_shuffle (kernels.h) for 2-byte elements: NHWC is the same kernel with N·H·W images of 1 pixel.
cudaError_t channel_shuffle_2b(void* y, const void* x, int64_t N, int64_t C, int64_t HW, int64_t groups,
                               cudaStream_t s);

// ---- capturable optimiser and dropout ------------------------------------------------------
// Adam with lr and the bias corrections read from device memory (doubles at lr, bc1, bc2:
// the plan's staged per-run scalars). A one-thread prologue forms the float hyper-parameters
// in double with the host's expressions, rounded the same way (no contraction on either
// side: adam_hyper), so a captured step equals an uncaptured one bit for bit. `hyper` is
// device scratch for the prologue's result.
struct AdamStatic {
  double beta1, beta2, eps, wd;
  bool decoupled;
};
cudaError_t adam_capturable(const AdamTensor* tensors, const OptChunk* chunks, int64_t nchunks, const double* lr,
                            const double* bc1, const double* bc2, AdamStatic st, AdamHyper* hyper, cudaStream_t s);
// The AdamHyper of (lr, bc1, bc2) on the host, as the prologue forms it on the device:
// step_size = lr/bc1, bc2_sqrt = √bc2, omb1 = 1−β1, omb2 = 1−β2, decay = 1 − lr·wd, each
// formed in double and rounded once to float.
AdamHyper adam_hyper(double lr, double bc1, double bc2, const AdamStatic& st);
// dropout (kernels.h) with its seed halves read from device memory (doubles holding uint32s).
cudaError_t dropout_capturable(float* y, uint8_t* mask, const float* x, int64_t n, float p, float scale,
                               const double* seed_lo, const double* seed_hi, cudaStream_t s);

}  // namespace k
}  // namespace mdmt
