// Launchers of mdmt's hand-written CUDA kernels (device code in kernels/*.cu). This header
// is plain C++ over the CUDA runtime API so that host code (native/cuda/*.cc, compiled by
// the C++ compiler) can call it; it includes nothing from native/ or N-API.
// Conventions (llm.c): outputs first, then inputs, then sizes, then the stream. Every
// launcher takes an explicit stream, checks its own assumptions and returns the launch
// status (cudaGetLastError), which the caller turns into an MdmtException via cudaCheck.
// Tensors are contiguous, logical NCHW, float32 unless stated.
#pragma once
#include <cuda_runtime_api.h>
#include <stdint.h>

namespace mdmt {
namespace k {

constexpr int kMaxDims = 8;

// Shapes and strides passed by value to kernels (broadcast, transpose, reduce).
struct Dims {
  int nd;
  int64_t size[kMaxDims];
  int64_t stride_a[kMaxDims];  // first input's strides (0 on broadcast dims)
  int64_t stride_b[kMaxDims];  // second input's strides
};

// ---- memory ------------------------------------------------------------------------
// Fills n elements of `elem_size` bytes (1, 2 or 4) with the bit pattern `bits`.
cudaError_t fill(void* y, uint32_t bits, int elem_size, int64_t n, cudaStream_t s);
// dtype codes follow mdmt::DType: 0 f32, 1 i32, 2 u8, 3 bf16, 4 f16.
cudaError_t cast(void* y, int ydt, const void* x, int xdt, int64_t n, cudaStream_t s);

// ---- activations -------------------------------------------------------------------
enum class Act : int { Relu = 0, Relu6, Silu, Sigmoid, Hardswish };
cudaError_t act_fwd(float* y, const float* x, int64_t n, Act a, cudaStream_t s);
// t is y for relu/sigmoid, x for relu6/silu/hardswish (docs/ops.md).
cudaError_t act_bwd(float* dx, const float* dy, const float* t, int64_t n, Act a, cudaStream_t s);
cudaError_t affine(float* y, const float* x, float alpha, float beta, int64_t n, cudaStream_t s);

// ---- broadcasting ------------------------------------------------------------------
enum class Bin : int { Add = 0, Sub, Mul };
// y[i] = a[.] op b[.] over the output dims d (d.size, d.stride_a, d.stride_b).
cudaError_t binary(float* y, const float* a, const float* b, const Dims& d, int64_t n, Bin op, cudaStream_t s);
// Same-shape fast path.
cudaError_t binary_flat(float* y, const float* a, const float* b, int64_t n, Bin op, cudaStream_t s);
// y[n, c, hw] = x[n, c, hw] op v[c] (per-channel; conv bias, NCHW).
cudaError_t channel_binary(float* y, const float* x, const float* v, int64_t N, int64_t C, int64_t HW, Bin op,
                           cudaStream_t s);
// y (size d.size) gathers x through d.stride_a: expand, transpose, strided copies. Any 4-byte
// element type.
cudaError_t gather(float* y, const float* x, const Dims& d, int64_t n, cudaStream_t s);

// ---- reductions ----------------------------------------------------------------------
// y[o] = scale * sum_r x[base(o) + off(r)]: kept dims (nk, ksize, kstride in x) enumerate
// outputs in row-major order, reduced dims (nr, rsize, rstride) the summands.
struct ReducePlan {
  int nk, nr;
  int64_t ksize[kMaxDims], kstride[kMaxDims];
  int64_t rsize[kMaxDims], rstride[kMaxDims];
  int64_t nout, nred;
};
cudaError_t reduce_sum(float* y, const float* x, const ReducePlan& p, float scale, cudaStream_t s);

// ---- batchnorm (x viewed as [N, C, HW]; HW = 1 for BatchNorm1d) ----------------------
// Workspace: batchnorm_ws_bytes(C) bytes of device memory.
size_t batchnorm_ws_bytes(int64_t C);
cudaError_t batchnorm_train(float* y, float* save_mean, float* save_invstd, float* running_mean, float* running_var,
                            const float* x, const float* w, const float* b, int64_t N, int64_t C, int64_t HW,
                            float eps, float momentum, void* ws, cudaStream_t s);
cudaError_t batchnorm_eval(float* y, const float* x, const float* w, const float* b, const float* rm,
                           const float* rv, int64_t N, int64_t C, int64_t HW, float eps, cudaStream_t s);
cudaError_t batchnorm_bwd(float* dx, float* dw, float* db, const float* dy, const float* x, const float* w,
                          const float* mean, const float* invstd, int64_t N, int64_t C, int64_t HW, void* ws,
                          cudaStream_t s);
// Fused forms (docs/ops.md): y = act(bn_train(x) + residual), residual may be null; the
// backward reads dy through the activation from y and also writes that gradient to dz when
// dz is non-null. act: 0 none, 1 relu, 2 relu6. Same workspace as above.
cudaError_t batchnorm_act_train(float* y, float* save_mean, float* save_invstd, float* running_mean,
                                float* running_var, const float* x, const float* w, const float* b,
                                const float* residual, int act, int64_t N, int64_t C, int64_t HW, float eps,
                                float momentum, void* ws, cudaStream_t s);
cudaError_t batchnorm_act_bwd(float* dx, float* dw, float* db, float* dz, const float* dy, const float* y,
                              const float* x, const float* w, const float* mean, const float* invstd, int act,
                              int64_t N, int64_t C, int64_t HW, void* ws, cudaStream_t s);

// ---- pooling (NCHW planes: NC = N*C) -----------------------------------------------------
struct Pool2d {
  int64_t NC, H, W, P, Q;
  int kh, kw, sh, sw, ph, pw;
  bool count_include_pad;
};
cudaError_t maxpool2d(float* y, int32_t* idx, const float* x, const Pool2d& p, cudaStream_t s);
// dx must be zeroed by this launcher (it does so itself on the stream).
cudaError_t maxpool2d_bwd(float* dx, const float* dy, const int32_t* idx, const Pool2d& p, cudaStream_t s);
cudaError_t avgpool2d(float* y, const float* x, const Pool2d& p, cudaStream_t s);
cudaError_t avgpool2d_bwd(float* dx, const float* dy, const Pool2d& p, cudaStream_t s);
cudaError_t global_avgpool(float* y, const float* x, int64_t NC, int64_t HW, cudaStream_t s);
cudaError_t global_avgpool_bwd(float* dx, const float* dy, int64_t NC, int64_t HW, cudaStream_t s);

// ---- layout -------------------------------------------------------------------------
// Copies a [rows, cols] block of 4-byte elements between row strides (concat / split).
cudaError_t copy2d(float* y, int64_t ld_y, const float* x, int64_t ld_x, int64_t rows, int64_t cols, cudaStream_t s);
cudaError_t copy2d_bytes(void* y, int64_t ld_y, const void* x, int64_t ld_x, int64_t rows, int64_t cols_bytes,
                         cudaStream_t s);
cudaError_t channel_shuffle(float* y, const float* x, int64_t N, int64_t C, int64_t HW, int64_t groups,
                            cudaStream_t s);
// y[N,C,H+t+b,W+l+r] = pad(x); bwd crops.
cudaError_t pad2d(float* y, const float* x, int64_t NC, int64_t H, int64_t W, int64_t top, int64_t bottom,
                  int64_t left, int64_t right, float value, cudaStream_t s);
cudaError_t pad2d_bwd(float* dx, const float* dy, int64_t NC, int64_t H, int64_t W, int64_t top, int64_t bottom,
                      int64_t left, int64_t right, cudaStream_t s);

// ---- dropout (Philox4x32-10, kernels/philox.h) -------------------------------------------
// p: the drop probability (an element is kept iff its uniform ≥ p); scale: 1/(1−p), formed
// in double from the op's p and rounded once (native/ops/dropout.cc), as PyTorch's.
cudaError_t dropout(float* y, uint8_t* mask, const float* x, int64_t n, float p, float scale, uint32_t seed_lo,
                    uint32_t seed_hi, cudaStream_t s);
cudaError_t dropout_bwd(float* dx, const float* dy, const uint8_t* mask, int64_t n, float scale, cudaStream_t s);

// ---- loss ---------------------------------------------------------------------------------
// Workspace: masked_xent_ws_bytes(N). bad[0] (device int) receives 1 + the first row whose
// mask is not 0/1 or that is active with a label outside [0, C) (0 when all are valid), and
// bad[1] the reason (2: mask, 1: label); the caller reads them back.
size_t masked_xent_ws_bytes(int64_t N);
cudaError_t masked_xent_fwd_bwd(float* loss, float* dlogits, int32_t* bad_label, const float* logits,
                                const int32_t* labels, const float* mask, int64_t N, int64_t C, bool normalize_masked,
                                void* ws, cudaStream_t s);

// ---- optimisers: all parameters in one launch --------------------------------------------
struct AdamTensor {
  float* p;
  const float* g;
  float* m;
  float* v;
  int64_t n;
};
struct SgdTensor {
  float* p;
  const float* g;
  float* buf;
  int64_t n;
};
// A chunk is (tensor index, first element); each block updates kChunk elements of one tensor.
constexpr int64_t kOptChunk = 8192;
struct OptChunk {
  int32_t t;
  int64_t start;
};
// As PyTorch (and the CPU backend) the host forms these scalars in double and rounds once:
// step_size = lr/bc1, bc2_sqrt = sqrt(bc2), omb1 = 1-beta1, omb2 = 1-beta2 (1 - float(0.999)
// would be off by 1e-5), decay = 1 - lr*wd for AdamW; omd = 1 - dampening for SGD.
struct AdamHyper {
  float step_size, beta2, omb1, omb2, eps, wd, bc2_sqrt, decay;
  bool decoupled;
};
struct SgdHyper {
  float lr, momentum, omd, wd;
  bool nesterov, first_step;
};
// tensors and chunks are DEVICE arrays (the caller uploads the tables).
cudaError_t adam(const AdamTensor* tensors, const OptChunk* chunks, int64_t nchunks, AdamHyper h, cudaStream_t s);
cudaError_t sgd(const SgdTensor* tensors, const OptChunk* chunks, int64_t nchunks, SgdHyper h, cudaStream_t s);

// ---- depthwise convolution (groups == C, K = C·multiplier): our fallback for cuDNN ---------
struct Conv2d {
  int64_t N, C, H, W, K, P, Q;
  int R, S, sh, sw, ph, pw, dh, dw;
};
// y = conv(x, w) (+ bias when non-null); dx = adjoint w.r.t. x; dw = adjoint w.r.t. w.
cudaError_t depthwise_fwd(float* y, const float* x, const float* w, const float* bias, const Conv2d& c, cudaStream_t s);
cudaError_t depthwise_bwd_data(float* dx, const float* dy, const float* w, const Conv2d& c, cudaStream_t s);
cudaError_t depthwise_bwd_filter(float* dw, const float* dy, const float* x, const Conv2d& c, cudaStream_t s);

}  // namespace k
}  // namespace mdmt
