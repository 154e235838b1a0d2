// The SGEMM's micro-kernels and packing routines, per ISA (internal to gemm.cc, which
// holds the blocking, threading and the choice between them; see gemm.h).
#pragma once
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "vmath.h"
#include "cpu_features.h"

namespace mdmt {
namespace gemm_detail {
namespace {  // internal linkage: only gemm.cc includes this

// ---- micro-kernels -----------------------------------------------------------------------
// c[MR×NR] (row stride ldc) = alpha · Σ_k a[k·MR + i] · b[k·NR + j] + beta · c   (beta 0: c not read)
// a: packed MR-row micro-panel; b: NR columns kc deep, row k at b + k·bs (a packed panel:
// bs = NR; or op(B) itself, unpacked, bs = ldb — see sgemm_blocked's direct B).
// e (the AVX-512 and AVX2 kernels; null for the generic one): the epilogue applied in registers before the
// store, with its pointers at the tile — c = act(c + bias[i] + res[i·ldr + j]). Applying it
// after the store instead re-reads rows that sit a power of two apart on 128×128 maps
// (L1 set conflicts: it cost more than the multiply on MobileNet's 16→96 conv).
struct TileEpi {
  const float* bias;
  const float* res;
  int64_t ldr;
  Act act;
  bool stream;  // non-temporal stores where aligned (see GemmEpilogue::stream)
};
using MicroKernel = void (*)(int64_t kc, const float* a, const float* b, int64_t bs, float* c, int64_t ldc, float alpha, float beta,
                             const TileEpi* e);

template <int MR, int NR>
void kernel_generic(int64_t kc, const float* a, const float* b, int64_t bs, float* c, int64_t ldc, float alpha, float beta, const TileEpi*) {
  float acc[MR][NR] = {};
  for (int64_t k = 0; k < kc; ++k, a += MR, b += bs)
    for (int i = 0; i < MR; ++i)
      for (int j = 0; j < NR; ++j) acc[i][j] += a[i] * b[j];
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR; ++j) c[i * ldc + j] = beta == 0.f ? alpha * acc[i][j] : alpha * acc[i][j] + beta * c[i * ldc + j];
}

#if defined(__x86_64__) || defined(__i386__)
#define MDMT_X86 1

// 6 rows × 2 ymm: 12 accumulators + 2 B vectors + 1 broadcast of 16 registers. The epilogue
// is applied in registers, as on AVX-512: a second pass over the stored tile (vmath's
// block_epilogue) cost twice the multiply on shallow 1×1 convs (MobileNetV2's 16→96 on 64²).
MDMT_TARGET_AVX2 void kernel_avx2_6x16(int64_t kc, const float* a, const float* b, int64_t bs, float* c,
                                                          int64_t ldc, float alpha, float beta, const TileEpi* e) {
  __m256 acc[6][2];
#pragma GCC unroll 6
  for (int i = 0; i < 6; ++i) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
  for (int64_t k = 0; k < kc; ++k, a += 6, b += bs) {
    const __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
#pragma GCC unroll 6
    for (int i = 0; i < 6; ++i) {
      const __m256 ai = _mm256_broadcast_ss(a + i);
      acc[i][0] = _mm256_fmadd_ps(ai, b0, acc[i][0]);
      acc[i][1] = _mm256_fmadd_ps(ai, b1, acc[i][1]);
    }
  }
  const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
#pragma GCC unroll 6
  for (int i = 0; i < 6; ++i) {
    float* ci = c + i * ldc;
    const __m256 bias = e && e->bias ? _mm256_set1_ps(e->bias[i]) : _mm256_setzero_ps();
#pragma GCC unroll 2
    for (int v = 0; v < 2; ++v) {
      __m256 r = beta == 0.f ? _mm256_mul_ps(va, acc[i][v]) : _mm256_fmadd_ps(va, acc[i][v], _mm256_mul_ps(vb, _mm256_loadu_ps(ci + 8 * v)));
      if (e) {
        r = _mm256_add_ps(r, bias);
        if (e->res) r = _mm256_add_ps(r, _mm256_loadu_ps(e->res + i * e->ldr + 8 * v));
        r = vmath::act256(r, e->act);
      }
      if (e && e->stream && beta == 0.f && (reinterpret_cast<uintptr_t>(ci + 8 * v) & 31) == 0) _mm256_stream_ps(ci + 8 * v, r);
      else _mm256_storeu_ps(ci + 8 * v, r);
    }
  }
}

// c = alpha·acc + beta·c, then the epilogue (if any), MR rows × NV vectors of 16.
template <int MR, int NV>
__attribute__((target("avx512f"), always_inline)) inline void store_tile(const __m512 (&acc)[MR][NV], float* c, int64_t ldc,
                                                                        float alpha, float beta, const TileEpi* e) {
  const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
#pragma GCC unroll 14
  for (int i = 0; i < MR; ++i) {
    float* ci = c + i * ldc;
    const __m512 bias = e && e->bias ? _mm512_set1_ps(e->bias[i]) : _mm512_setzero_ps();
#pragma GCC unroll 3
    for (int v = 0; v < NV; ++v) {
      __m512 r = beta == 0.f ? _mm512_mul_ps(va, acc[i][v]) : _mm512_fmadd_ps(va, acc[i][v], _mm512_mul_ps(vb, _mm512_loadu_ps(ci + 16 * v)));
      if (e) {
        r = _mm512_add_ps(r, bias);
        if (e->res) r = _mm512_add_ps(r, _mm512_loadu_ps(e->res + i * e->ldr + 16 * v));
        r = vmath::act512(r, e->act);
      }
      if (e && e->stream && beta == 0.f && (reinterpret_cast<uintptr_t>(ci + 16 * v) & 63) == 0) _mm512_stream_ps(ci + 16 * v, r);
      else _mm512_storeu_ps(ci + 16 * v, r);
    }
  }
}

// 14 rows × 2 zmm: 28 accumulators + 2 B vectors (the A broadcasts fold into the FMAs'
// memory operands) of 32 registers. Per k: 2 loads, 14 broadcasts, 28 FMAs.
MDMT_TARGET_AVX512 void kernel_avx512_14x32(int64_t kc, const float* a, const float* b, int64_t bs, float* c,
                                                            int64_t ldc, float alpha, float beta, const TileEpi* e) {
  __m512 acc[14][2];
#pragma GCC unroll 14
  for (int i = 0; i < 14; ++i) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
  for (int64_t k = 0; k < kc; ++k, a += 14, b += bs) {
    const __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
    _mm_prefetch(reinterpret_cast<const char*>(b + 8 * bs), _MM_HINT_T0);
#pragma GCC unroll 14
    for (int i = 0; i < 14; ++i) {
      const __m512 ai = _mm512_set1_ps(a[i]);
      acc[i][0] = _mm512_fmadd_ps(ai, b0, acc[i][0]);
      acc[i][1] = _mm512_fmadd_ps(ai, b1, acc[i][1]);
    }
  }
  store_tile<14, 2>(acc, c, ldc, alpha, beta, e);
}

// 8 rows × 3 zmm: 24 accumulators + 3 B vectors. Fits M = 64·k exactly (ResNet's channel
// counts), where 14-row panels waste up to 9 % of the FMAs on padding rows. NV < 3 computes
// only the first NV·16 columns of the panel: the last panel of an N that is not a multiple
// of 48 (7×7 maps: N = 196 = 4·48 + 4) then costs 16 columns, not 48.
template <int NV>
MDMT_TARGET_AVX512 void kernel_avx512_8x48(int64_t kc, const float* a, const float* b, int64_t bs, float* c,
                                                           int64_t ldc, float alpha, float beta, const TileEpi* e) {
  __m512 acc[8][NV];
#pragma GCC unroll 8
  for (int i = 0; i < 8; ++i)
#pragma GCC unroll 3
    for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_setzero_ps();
  for (int64_t k = 0; k < kc; ++k, a += 8, b += bs) {
    __m512 bv[NV];
#pragma GCC unroll 3
    for (int v = 0; v < NV; ++v) bv[v] = _mm512_loadu_ps(b + 16 * v);
    _mm_prefetch(reinterpret_cast<const char*>(b + 8 * bs), _MM_HINT_T0);
#pragma GCC unroll 8
    for (int i = 0; i < 8; ++i) {
      const __m512 ai = _mm512_set1_ps(a[i]);
#pragma GCC unroll 3
      for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_fmadd_ps(ai, bv[v], acc[i][v]);
    }
  }
  store_tile<8, NV>(acc, c, ldc, alpha, beta, e);
}

// The same with A read in place (row i of the panel at a + i·as, contiguous in k) instead
// of packed: for a small N each A panel meets only a few B panels, and packing A — a
// convolution's weights, on every call — cost as much as the multiply it fed (1×1 convs
// on 8×8–16×16 maps).
using MicroKernelA = void (*)(int64_t kc, const float* a, int64_t as, const float* b, int64_t bs, float* c, int64_t ldc, float alpha,
                              float beta, const TileEpi* e);
template <int NV>
MDMT_TARGET_AVX512 void kernel_avx512_8x48_da(int64_t kc, const float* a, int64_t as, const float* b, int64_t bs,
                                                              float* c, int64_t ldc, float alpha, float beta, const TileEpi* e) {
  __m512 acc[8][NV];
#pragma GCC unroll 8
  for (int i = 0; i < 8; ++i)
#pragma GCC unroll 3
    for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_setzero_ps();
  const float *a0 = a, *a1 = a + as, *a2 = a + 2 * as, *a3 = a + 3 * as, *a4 = a + 4 * as, *a5 = a + 5 * as, *a6 = a + 6 * as,
              *a7 = a + 7 * as;
  for (int64_t k = 0; k < kc; ++k, b += bs) {
    __m512 bv[NV];
#pragma GCC unroll 3
    for (int v = 0; v < NV; ++v) bv[v] = _mm512_loadu_ps(b + 16 * v);
    _mm_prefetch(reinterpret_cast<const char*>(b + 8 * bs), _MM_HINT_T0);
    const __m512 av[8] = {_mm512_set1_ps(a0[k]), _mm512_set1_ps(a1[k]), _mm512_set1_ps(a2[k]), _mm512_set1_ps(a3[k]),
                          _mm512_set1_ps(a4[k]), _mm512_set1_ps(a5[k]), _mm512_set1_ps(a6[k]), _mm512_set1_ps(a7[k])};
#pragma GCC unroll 8
    for (int i = 0; i < 8; ++i)
#pragma GCC unroll 3
      for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_fmadd_ps(av[i], bv[v], acc[i][v]);
  }
  store_tile<8, NV>(acc, c, ldc, alpha, beta, e);
}
#endif

// ---- packing -----------------------------------------------------------------------------
// pack_a: op(A)[i0 + i, p0 + k] for i < mr (zero rows past M), k < kc  ->  ap[k·MR + i]
// pack_b: op(B)[p0 + k, j0 + j] for j < nr (zero columns past N), k < kc  ->  bp[k·NR + j]
// The bodies are templates on MR/NR, inlined into wrappers compiled for each kernel's ISA
// so the fixed-size inner loops become vector moves.
using PackA = void (*)(bool trans, const float* A, int64_t lda, int64_t i0, int64_t p0, int64_t mr, int64_t kc, float* ap);
using PackB = void (*)(bool trans, const float* B, int64_t ldb, int64_t p0, int64_t j0, int64_t nr, int64_t kc, float* bp);

template <int MR>
inline __attribute__((always_inline)) void pack_a_body(bool trans, const float* A, int64_t lda, int64_t i0, int64_t p0, int64_t mr,
                                                       int64_t kc, float* ap) {
  if (!trans && mr == MR) {
    // rows are contiguous in k: read MR streams, write each k's MR values together
    const float* src = A + i0 * lda + p0;
    constexpr int64_t KB = 8;
    int64_t k = 0;
    for (; k + KB <= kc; k += KB) {
      float blk[MR][KB];
      for (int i = 0; i < MR; ++i)
        for (int64_t t = 0; t < KB; ++t) blk[i][t] = src[i * lda + k + t];
      for (int64_t t = 0; t < KB; ++t)
        for (int i = 0; i < MR; ++i) ap[(k + t) * MR + i] = blk[i][t];
    }
    for (; k < kc; ++k)
      for (int i = 0; i < MR; ++i) ap[k * MR + i] = src[i * lda + k];
    return;
  }
  if (!trans) {
    for (int64_t i = 0; i < mr; ++i) {
      const float* src = A + (i0 + i) * lda + p0;
      for (int64_t k = 0; k < kc; ++k) ap[k * MR + i] = src[k];
    }
  } else if (mr == MR) {
    for (int64_t k = 0; k < kc; ++k)
      for (int i = 0; i < MR; ++i) ap[k * MR + i] = A[(p0 + k) * lda + i0 + i];
  } else {
    for (int64_t k = 0; k < kc; ++k) std::memcpy(ap + k * MR, A + (p0 + k) * lda + i0, sizeof(float) * mr);
  }
  if (mr < MR)
    for (int64_t k = 0; k < kc; ++k) std::fill(ap + k * MR + mr, ap + (k + 1) * MR, 0.f);
}

template <int NR>
inline __attribute__((always_inline)) void pack_b_body(bool trans, const float* B, int64_t ldb, int64_t p0, int64_t j0, int64_t nr,
                                                       int64_t kc, float* bp) {
  if (!trans && nr == NR) {
    const float* src = B + p0 * ldb + j0;
    for (int64_t k = 0; k < kc; ++k)
      for (int j = 0; j < NR; ++j) bp[k * NR + j] = src[k * ldb + j];
    return;
  }
  if (trans && nr == NR) {  // columns of op(B) are rows of B: transpose 8-deep blocks
    const float* src = B + j0 * ldb + p0;
    constexpr int64_t KB = 8;
    int64_t k = 0;
    for (; k + KB <= kc; k += KB) {
      float blk[NR][KB];
      for (int j = 0; j < NR; ++j)
        for (int64_t t = 0; t < KB; ++t) blk[j][t] = src[j * ldb + k + t];
      for (int64_t t = 0; t < KB; ++t)
        for (int j = 0; j < NR; ++j) bp[(k + t) * NR + j] = blk[j][t];
    }
    for (; k < kc; ++k)
      for (int j = 0; j < NR; ++j) bp[k * NR + j] = src[j * ldb + k];
    return;
  }
  if (!trans) {
    for (int64_t k = 0; k < kc; ++k) std::memcpy(bp + k * NR, B + (p0 + k) * ldb + j0, sizeof(float) * nr);
  } else {
    for (int64_t j = 0; j < nr; ++j) {
      const float* src = B + (j0 + j) * ldb + p0;
      for (int64_t k = 0; k < kc; ++k) bp[k * NR + j] = src[k];
    }
  }
  if (nr < NR)
    for (int64_t k = 0; k < kc; ++k) std::fill(bp + k * NR + nr, bp + (k + 1) * NR, 0.f);
}

#define MDMT_PACKERS(NAME, TARGET, MR, NR)                                                                           \
  TARGET void pack_a_##NAME(bool t, const float* A, int64_t lda, int64_t i0, int64_t p0, int64_t mr, int64_t kc, float* ap) { \
    pack_a_body<MR>(t, A, lda, i0, p0, mr, kc, ap);                                                                  \
  }                                                                                                                  \
  TARGET void pack_b_##NAME(bool t, const float* B, int64_t ldb, int64_t p0, int64_t j0, int64_t nr, int64_t kc, float* bp) { \
    pack_b_body<NR>(t, B, ldb, p0, j0, nr, kc, bp);                                                                  \
  }
MDMT_PACKERS(generic, , 4, 16)
#ifdef MDMT_X86
MDMT_PACKERS(avx2, MDMT_TARGET_AVX2, 6, 16)
MDMT_PACKERS(avx512, MDMT_TARGET_AVX512, 14, 32)
MDMT_PACKERS(avx512_8x48, MDMT_TARGET_AVX512, 8, 48)
#endif

}  // namespace
}  // namespace gemm_detail
}  // namespace mdmt
