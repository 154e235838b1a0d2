// linear / matmul on CUDA through cuBLAS (docs/ops.md "linear"; contract in
// native/ops/linear.h).
// Row-major over column-major: a row-major [R, C] matrix is a column-major [C, R] one, so
//   linear  y[N,O] = x[N,I] wᵀ  is  yᵀ(O×N) = op_T(w: I×O, ld I) · (xᵀ: I×N, ld I)
//   matmul  c = op(a)·op(b)      is  cᵀ = op(b)ᵀ · op(a)ᵀ  (operands swapped).
// linear runs on cuBLASLt with the bias fused as the BIAS epilogue (one kernel); a plan
// (descriptors + heuristic algorithm) is cached per (device, N, I, O, bias, TF32). If Lt
// offers no algorithm it falls back to cublasSgemm + our per-column bias add.
// TF32: allowed unless MDMT_TF32=0 (then CUBLAS_COMPUTE_32F / CUBLAS_DEFAULT_MATH).
#include <array>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>

#include "../ops/linear.h"
#include "common.h"

namespace mdmt {
namespace cuda {
namespace {

constexpr size_t kLtWorkspace = 32 << 20;

struct LtPlan {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, d = nullptr;
  cublasLtMatmulAlgo_t algo;
  size_t ws = 0;
  bool ok = false;
};

std::mutex& lt_mu() {
  static std::mutex* m = new std::mutex();
  return *m;
}
std::map<std::array<int64_t, 6>, std::unique_ptr<LtPlan>>& lt_cache() {
  static auto* m = new std::map<std::array<int64_t, 6>, std::unique_ptr<LtPlan>>();
  return *m;
}

LtPlan& lt_plan(const std::string& op, DeviceCtx& dc, int64_t N, int64_t I, int64_t O, bool bias) {
  const bool tf32 = tf32_enabled();
  std::array<int64_t, 6> key = {dc.index, N, I, O, bias ? 1 : 0, tf32 ? 1 : 0};
  std::lock_guard<std::mutex> lk(lt_mu());
  auto it = lt_cache().find(key);
  if (it != lt_cache().end()) return *it->second;
  auto p = std::make_unique<LtPlan>();
  cublasCheck(op, cublasLtMatmulDescCreate(&p->desc, tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F, CUDA_R_32F));
  cublasOperation_t opT = CUBLAS_OP_T, opN = CUBLAS_OP_N;
  cublasCheck(op, cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_TRANSA, &opT, sizeof(opT)));
  cublasCheck(op, cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_TRANSB, &opN, sizeof(opN)));
  cublasLtEpilogue_t epi = bias ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT;
  cublasCheck(op, cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof(epi)));
  cublasCheck(op, cublasLtMatrixLayoutCreate(&p->a, CUDA_R_32F, I, O, I));  // w viewed col-major I×O
  cublasCheck(op, cublasLtMatrixLayoutCreate(&p->b, CUDA_R_32F, I, N, I));  // x viewed col-major I×N
  cublasCheck(op, cublasLtMatrixLayoutCreate(&p->d, CUDA_R_32F, O, N, O));  // y viewed col-major O×N
  cublasLtMatmulPreference_t pref = nullptr;
  cublasCheck(op, cublasLtMatmulPreferenceCreate(&pref));
  uint64_t wsb = kLtWorkspace;
  cublasStatus_t st = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &wsb, sizeof(wsb));
  cublasLtMatmulHeuristicResult_t res[1];
  int got = 0;
  if (st == CUBLAS_STATUS_SUCCESS)
    st = cublasLtMatmulAlgoGetHeuristic(dc.lt, p->desc, p->a, p->b, p->d, p->d, pref, 1, res, &got);
  cublasLtMatmulPreferenceDestroy(pref);
  if (st == CUBLAS_STATUS_SUCCESS && got > 0 && res[0].state == CUBLAS_STATUS_SUCCESS) {
    p->algo = res[0].algo;
    p->ws = res[0].workspaceSize;
    p->ok = true;
  }
  LtPlan& ref = *p;
  lt_cache().emplace(key, std::move(p));
  return ref;
}

// The family's checks (native/ops/linear.h) within cuBLAS's int32 dimensions.
void cublas_limits(const OpCtx& c, std::initializer_list<int64_t> dims) {
  for (int64_t v : dims)
    if (v > 0x7fffffff) MDMT_FAIL(code::kShape, c.op, "dimension too large for cuBLAS");
}
LinearSpec linear_prepare(const OpCtx& c) {
  LinearSpec s = linear_spec(c);
  cublas_limits(c, {s.N, s.I, s.O});
  return s;
}
MatmulSpec matmul_prepare(const OpCtx& c) {
  MatmulSpec s = matmul_spec(c);
  cublas_limits(c, {s.M, s.N, s.K});
  return s;
}

void linear_cuda(OpCtx& c, const LinearSpec& s) {
  const Tensor& x = *c.in[0];
  const Tensor& w = *c.in[1];
  const Tensor* b = s.bias ? c.in[2] : nullptr;
  Tensor& y = *c.out[0];
  const int64_t N = s.N, I = s.I, O = s.O;
  DeviceCtx& d = ctx_of(c);
  if (y.numel() == 0) return;
  if (I == 0) {  // empty sum: y = b or 0
    if (b) {
      cudaCheck(c.op, k::fill(y.raw(), 0u, 4, y.numel(), d.stream));
      cudaCheck(c.op, k::channel_binary(fp(y), cfp(y), cfp(*b), N, O, 1, k::Bin::Add, d.stream));
    } else {
      cudaCheck(c.op, cudaMemsetAsync(y.raw(), 0, y.nbytes(), d.stream));
    }
    return;
  }
  const float one = 1.f, zero = 0.f;
  LtPlan& p = lt_plan(c.op, d, N, I, O, b != nullptr);
  if (p.ok) {
    if (b) {
      const void* bp = b->raw();
      cublasCheck(c.op, cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bp, sizeof(bp)));
    }
    Scratch ws(c.device, p.ws, c.op);
    cublasCheck(c.op, cublasLtMatmul(d.lt, p.desc, &one, w.raw(), p.a, x.raw(), p.b, &zero, y.raw(), p.d, y.raw(), p.d,
                                     &p.algo, ws.get(), ws.size(), d.stream));
    return;
  }
  cublasCheck(c.op, cublasSgemm(d.cublas, CUBLAS_OP_T, CUBLAS_OP_N, (int)O, (int)N, (int)I, &one, cfp(w), (int)I, cfp(x),
                                (int)I, &zero, fp(y), (int)O));
  if (b) cudaCheck(c.op, k::channel_binary(fp(y), cfp(y), cfp(*b), N, O, 1, k::Bin::Add, d.stream));
}

void matmul_cuda(OpCtx& c, const MatmulSpec& s) {
  Tensor& y = *c.out[0];
  DeviceCtx& d = ctx_of(c);
  if (y.numel() == 0) return;
  if (s.K == 0) {
    cudaCheck(c.op, cudaMemsetAsync(y.raw(), 0, y.nbytes(), d.stream));
    return;
  }
  const float one = 1.f, zero = 0.f;
  // cᵀ(N×M, ld N) = op(b)ᵀ · op(a)ᵀ with b, a read column-major at their row lengths.
  cublasCheck(c.op, cublasSgemm(d.cublas, s.tb ? CUBLAS_OP_T : CUBLAS_OP_N, s.ta ? CUBLAS_OP_T : CUBLAS_OP_N, (int)s.N,
                                (int)s.M, (int)s.K, &one, cfp(*c.in[1]), (int)s.ldb, cfp(*c.in[0]), (int)s.lda, &zero, fp(y),
                                (int)s.N));
}

}  // namespace

MDMT_REGISTER_SPEC_OP("linear", CUDA, linear_prepare, linear_cuda);
MDMT_REGISTER_SPEC_OP("matmul", CUDA, matmul_prepare, matmul_cuda);

}  // namespace cuda
}  // namespace mdmt
