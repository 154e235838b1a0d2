// Single-precision GEMM for the CPU backend (conv2d, linear, matmul sit on it).
//   C[M,N] = alpha · op(A)[M,K] · op(B)[K,N] + beta · C      (row-major, leading dims in elements)
// op(A) = A (stored M×K, lda ≥ K) or Aᵀ (stored K×M, lda ≥ M); the same for B.
// beta == 0 means C is written without being read (NaNs in C do not leak through).
//
// BLIS/GotoBLAS structure (gemm.cc): K is cut into KC-deep slices (grouped in ~1024-deep
// chunks), N into NC-wide and M into tall blocks; the slices of op(A) and op(B) are packed
// into contiguous micro-panels (MR rows / NR columns, zero-padded), then an MR×NR
// register-blocked micro-kernel runs over them: the KC×NR B micro-panel stays in L1, the
// MC×KC A block in L2 (few rows of A: B is read in place; N ≤ 1024 on the 8×48 kernel: A is,
// so a small-map 1×1 convolution does not repack its weights per call). Micro-kernels: AVX-512 8×48 (KC 128) and 14×32 (KC 256), AVX2+FMA
// 6×16, portable 4×16; chosen at run time (cpu_features.h; MDMT_CPU_ISA=generic|avx2 caps
// it), or forced per call for tests.
// Threads: per chunk, one parallel region packs all panels and one computes (MC rows ×
// run of panels) tiles; called inside a parallel region (nested), it runs serially.
#pragma once
#include <cstdint>
#include <string>

#include "vmath.h"

namespace mdmt {

// Avx512 picks, per call, the AVX-512 kernel that pads op(A)/op(B) least (8×48 unless
// 14×32 saves > 5 %); Avx512x14 / Avx512x8 force one (tests).
enum class GemmIsa : int { Auto = -1, Generic = 0, Avx2 = 1, Avx512 = 2, Avx512x14 = 3, Avx512x8 = 4 };
// 0 generic, 1 AVX2+FMA, 2 AVX-512 (the instruction set an isa needs; Auto -> the best here)
int gemm_isa_level(GemmIsa isa);

// The micro-kernel Auto resolves to on this machine (after MDMT_CPU_ISA).
GemmIsa gemm_best_isa();
const char* gemm_isa_name(GemmIsa isa);
// "auto" | "generic" | "avx2" | "avx512" | "avx512_14x32" | "avx512_8x48" -> GemmIsa; throws EINVAL (unknown name) or
// ENOTIMPL (this CPU / MDMT_CPU_ISA cannot run it), naming `op`.
GemmIsa parse_gemm_isa(const std::string& op, const std::string& name);

// Applied to each C tile right after its last K slice, while it is in cache:
//   C[i, j] = act(C[i, j] + bias[i] + res[i·ldr + j])      (bias and res may be null)
// — a convolution's folded BatchNorm, residual add and activation (rows = output channels).
struct GemmEpilogue {
  const float* bias = nullptr;
  const float* res = nullptr;
  int64_t ldr = 0;
  Act act = Act::None;
  // write C with non-temporal stores (AVX-512 and AVX2 kernels, single-K-slice tiles, aligned
  // vectors): for outputs far larger than the cache, whose write would first read each line
  bool stream = false;
};

void sgemm(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
           const float* B, int64_t ldb, float beta, float* C, int64_t ldc, GemmIsa isa = GemmIsa::Auto,
           const GemmEpilogue* ep = nullptr);

}  // namespace mdmt
