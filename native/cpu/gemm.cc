// Blocked, packed, multithreaded SGEMM (see gemm.h for the structure and the contract).
#include "gemm.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "../core/error.h"
#include "cpu_features.h"
#include "gemm_kernels.h"
#include "parallel.h"
#include "scratch.h"

namespace mdmt {

namespace {

using namespace gemm_detail;

struct KernelInfo {
  int mr, nr;
  int64_t kc, mc, nc;  // cache blocks: kc deep, mc rows (multiple of mr), nc columns (multiple of nr)
  MicroKernel fn;
  PackA pack_a;
  PackB pack_b;
  int vw = 0;                   // narrow[v] computes only the first v·vw columns of a panel
  MicroKernel narrow[4] = {};   // (nullptr: edge panels use fn on a scratch tile)
  bool epi = false;             // the kernel applies a TileEpi itself
  MicroKernelA direct_a[4] = {};  // [v]: A read in place, the first v·vw columns (AVX-512 8×48)
  int64_t rows_first_depth = 0;   // K chunks up to this deep compute rows first (sgemm_blocked)
};

// isa is resolved (not Auto, not Avx512): one kernel per value
const KernelInfo& kernel_for(GemmIsa isa) {
  static const KernelInfo generic{4, 16, 256, 128, 4096, kernel_generic<4, 16>, pack_a_generic, pack_b_generic};
#ifdef MDMT_X86
  // rows first measured on Zen 3 only (bench/RESULTS.md); the AVX-512 kernels keep BLIS's order
  static const KernelInfo avx2{6, 16, 256, 144, 4080, kernel_avx2_6x16, pack_a_avx2, pack_b_avx2, 0, {}, true, {}, 128};
  static const KernelInfo avx512{14, 32, 256, 336, 4096, kernel_avx512_14x32, pack_a_avx512, pack_b_avx512, 0, {}, true};
  static const KernelInfo avx512_8{8, 48, 128, 192, 4080, kernel_avx512_8x48<3>, pack_a_avx512_8x48, pack_b_avx512_8x48,
                                    16, {nullptr, kernel_avx512_8x48<1>, kernel_avx512_8x48<2>, kernel_avx512_8x48<3>}, true,
                                    {nullptr, kernel_avx512_8x48_da<1>, kernel_avx512_8x48_da<2>, kernel_avx512_8x48_da<3>}};
  if (isa == GemmIsa::Avx512x14) return avx512;
  if (isa == GemmIsa::Avx512x8) return avx512_8;
  if (isa == GemmIsa::Avx2) return avx2;
#endif
  return generic;
}

// Packed panels: one scratch per calling thread (workers of a nested call use their own);
// the packed panels of one call are shared with the pool through pointers.
thread_local Scratch tl_pack_a("sgemm"), tl_pack_b("sgemm");

void scale_c(int64_t M, int64_t N, float beta, float* C, int64_t ldc) {
  for (int64_t i = 0; i < M; ++i) {
    float* c = C + i * ldc;
    if (beta == 0.f) std::fill(c, c + N, 0.f);
    else if (beta != 1.f) for (int64_t j = 0; j < N; ++j) c[j] *= beta;
  }
}

constexpr double kParallelFlops = 4.0e5;  // below this a call runs on the calling thread only
constexpr int64_t kDirectBRows = 64;      // direct B (unpacked) for M up to this
// or for B rows this short (≤ 512 bytes apart): a panel read in place is then nearly one
// contiguous stream (8×8 maps: 3 % faster than packing it, 2 threads, 160×64×960)
constexpr int64_t kDirectBStride = 128;
// direct A for N up to this: 8×8 maps +10 %; to 32×32, in a network (weights from memory,
// not a warm packed copy) ResNeXt-50 b1 −3 %, ResNet-50 b8 even
constexpr int64_t kDirectACols = 1024;
// packed A small enough to pack once per thread (sgemm_partitioned): 256 KiB
constexpr int64_t kSmallPackedA = 64 * 1024;
// rows-first tiles (sgemm_blocked) only on C blocks at least this wide: narrower ones (8×8
// maps) keep their rows in distinct L1 sets and lost a little in that order
constexpr int64_t kRowsFirstCols = 256;

// Loop structure: K is cut into chunks of kch (up to 4 KC slices, less if the packed panels
// would pass the scratch cap), N into nc-wide and M into mb-tall blocks. Per (kch, nc, mb) block the
// threads meet twice only: once to pack every KC slice of the B block and of the A block
// (one parallel region), once to compute tiles (MC rows × a run of NR panels), each tile
// walking all the KC slices itself (C tile stays in L2, the MC×KC A slice in L2, B panels
// stream from L3). Fewer meetings matter on a loaded machine, where each one can wait for
// a descheduled thread.
void sgemm_blocked(const KernelInfo& ki, bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha,
                   const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc,
                   const GemmEpilogue* ep, bool serial) {
  const int MR = ki.mr, NR = ki.nr;
  const int64_t KC = ki.kc, MC = ki.mc, NC = ki.nc;
  const bool par = !serial && 2.0 * M * N * K >= kParallelFlops;
  const int threads = par ? num_threads() : 1;
  const int64_t cap = par ? int64_t(1) << 22 : int64_t(1) << 20;  // floats per packed operand
  const int64_t Npad = std::min((N + NR - 1) / NR * NR, NC), Mpad = std::min((M + MR - 1) / MR * MR, 4 * MC);
  // chunks of ~1024 (4 KC slices of 256, 8 of 128): packed panels stay near L2 (measured:
  // whole-K chunks lose ~10 % on 512x392x4608 to L3 traffic; 1-slice chunks need 4x the
  // thread meetings)
  const int64_t kch = std::min({K, std::max<int64_t>(4 * KC, 1024) / KC * KC, std::max(KC, cap / std::max(Npad, Mpad) / KC * KC)});
  const int64_t ncb = std::min({N, NC, std::max<int64_t>(NR, cap / kch / NR * NR)});
  const int64_t mbb = std::min(M, std::max<int64_t>(MR, cap / kch / MR * MR));
  const int64_t ncpad = (ncb + NR - 1) / NR * NR, mbpad = (mbb + MR - 1) / MR * MR;
  // Direct B: with few rows of A every B panel is used by only a few tiles, and packing B
  // (a full copy of op(B)) costs more than it saves; the kernels then read B's rows in place
  // (full panels only: the last partial one is packed, so nothing past N is read).
  // MobileNet's narrow 1×1 projections (16–32 outputs from 32–192 channels on 64²–128²
  // maps) spent most of their time packing B.
  const bool direct = !transB && (M <= kDirectBRows || ldb <= kDirectBStride);
  // Direct A (the same for A, where the kernel has it; partial MR panels are packed): when N
  // is small, each A panel meets only a few B panels.
  const bool direct_a = !transA && ki.direct_a[1] && N <= kDirectACols;
  float* bp = tl_pack_b.get(kch * ncpad);
  float* ap = tl_pack_a.get(kch * mbpad);
  for (int64_t kk = 0; kk < K; kk += kch) {
    const int64_t kb = std::min(kch, K - kk);
    const int64_t nsl = (kb + KC - 1) / KC;  // KC slices in this chunk
    for (int64_t jc = 0; jc < N; jc += ncb) {
      const int64_t nc = std::min(ncb, N - jc);
      const int64_t npan = (nc + NR - 1) / NR;
      for (int64_t ib = 0; ib < M; ib += mbb) {
        const int64_t mb = std::min(mbb, M - ib);
        const int64_t mpan = (mb + MR - 1) / MR;
        // one region packs B (first M block only: it stays valid for the others) and A
        const int64_t nb_tasks = ib == 0 ? nsl * npan : 0, ntasks = nb_tasks + nsl * mpan;
        const int64_t full = nc / NR;  // panels with NR columns (direct B leaves them unpacked)
        const int64_t grain = par ? std::max<int64_t>(1, 8192 / (KC * std::max(MR, NR))) : ntasks;
        parallel_for(0, ntasks, grain, [&](int64_t lo, int64_t hi) {
          for (int64_t t = lo; t < hi; ++t) {
            const bool isb = t < nb_tasks;
            const int64_t u = isb ? t : t - nb_tasks, npn = isb ? npan : mpan;
            const int64_t sl = u / npn, p = u % npn, pc = sl * KC, kc = std::min(KC, kb - pc);
            if (isb) {
              if (!direct || p >= full)
                ki.pack_b(transB, B, ldb, kk + pc, jc + p * NR, std::min<int64_t>(NR, nc - p * NR), kc, bp + pc * ncpad + p * kc * NR);
            }
            else if (!direct_a || (p + 1) * MR > mb)
              ki.pack_a(transA, A, lda, ib + p * MR, kk + pc, std::min<int64_t>(MR, mb - p * MR), kc, ap + pc * mbpad + p * kc * MR);
          }
        });
        // tiles: equal MC-row blocks (multiples of MR) × runs of B panels, enough to balance threads
        const int64_t want = threads > 1 ? 4 * threads : 1;
        int64_t ntm = (mb + MC - 1) / MC;
        const int64_t ncc = std::max<int64_t>(1, std::min<int64_t>(npan, (want + ntm - 1) / ntm));
        // too few column runs for the threads (a 1x1 conv on an 8x8 map: 64 columns, one
        // 48-wide and one 16-wide panel): cut the rows finer instead. With one MC block of
        // rows, 160x64x960 ran as two tiles of 3:1 work on 2 threads (speed-up 1.25).
        if (ntm * ncc < want) ntm = std::max<int64_t>(ntm, std::min<int64_t>((mb + MR - 1) / MR, (want + ncc - 1) / ncc));
        const int64_t mcb = ((mb + ntm - 1) / ntm + MR - 1) / MR * MR;
        const int64_t cw = (npan + ncc - 1) / ncc;
        // Tile order. By default each B panel (kc × NR, in L1) meets the tile's A micro-panels
        // in turn (BLIS's order), so the tile writes C a column strip at a time: NR floats in
        // each of mcb rows, ldc apart. A shallow product on a wide C (a 1×1 conv that expands
        // channels: 64 -> 256 on a 32×32 map, ldc 1024) then spends its time on those rows,
        // which a power-of-two ldc puts in one L1 set. Rows first (each A micro-panel meets
        // every B panel, which stream from L2, cheap at this depth) writes C along its rows.
        const bool rows_first = !direct && kb <= ki.rows_first_depth && nc >= kRowsFirstCols;
        parallel_for(0, ntm * ncc, 1, [&](int64_t lo, int64_t hi) {
          alignas(64) float tmp[16 * 48];
          for (int64_t t = lo; t < hi; ++t) {
            const int64_t i0 = (t / ncc) * mcb, i1 = std::min(mb, i0 + mcb);
            const int64_t p0 = (t % ncc) * cw, p1 = std::min(npan, p0 + cw);
            if (i0 >= mb || p0 >= p1) continue;
            for (int64_t pc = 0; pc < kb; pc += KC) {
              const int64_t kc = std::min(KC, kb - pc);
              const float beta_k = kk + pc == 0 ? beta : 1.f;
              const int64_t np = p1 - p0, ni = (i1 - i0 + MR - 1) / MR;
              for (int64_t o = 0; o < np * ni; ++o) {
                const int64_t p = p0 + (rows_first ? o % np : o / ni), i = i0 + MR * (rows_first ? o / np : o % ni);
                const int64_t j = jc + p * NR;
                const int64_t nr = std::min<int64_t>(NR, N - j);
                const bool unpacked = direct && p < full;
                const float* b = unpacked ? B + (kk + pc) * ldb + j : bp + pc * ncpad + p * kc * NR;
                const int64_t bs = unpacked ? ldb : NR;
                const int64_t mr = std::min<int64_t>(MR, i1 - i);
                const float* a = ap + pc * mbpad + (i / MR) * kc * MR;
                float* c = C + (ib + i) * ldc + j;
                const int64_t nv = ki.vw ? (nr + ki.vw - 1) / ki.vw : 0;
                const MicroKernel fn = nr < NR && ki.narrow[nv] ? ki.narrow[nv] : ki.fn;
                const bool last = ep && kk + pc + kc == K;  // the tile is final: its epilogue now
                const int64_t row = ib + i;
                const TileEpi te{ep && ep->bias ? ep->bias + row : nullptr, ep && ep->res ? ep->res + row * ep->ldr + j : nullptr,
                                 ep ? ep->ldr : 0, ep ? ep->act : Act::None, ep && ep->stream};
                if (direct_a && mr == MR && (nr == NR || nr == nv * ki.vw)) {
                  ki.direct_a[nr == NR ? 3 : nv](kc, A + (ib + i) * lda + kk + pc, lda, b, bs, c, ldc, alpha, beta_k, last ? &te : nullptr);
                } else if (mr == MR && (nr == NR || (fn != ki.fn && nr == nv * ki.vw))) {
                  fn(kc, a, b, bs, c, ldc, alpha, beta_k, last && ki.epi ? &te : nullptr);
                  if (last && !ki.epi) vmath::block_epilogue(c, ldc, mr, nr, te.bias, te.res, te.ldr, te.act);
                } else {
                  if (direct_a && mr == MR) ki.direct_a[3](kc, A + (ib + i) * lda + kk + pc, lda, b, bs, tmp, NR, 1.f, 0.f, nullptr);
                  else fn(kc, a, b, bs, tmp, NR, 1.f, 0.f, nullptr);
                  for (int64_t r = 0; r < mr; ++r)
                    for (int64_t s = 0; s < nr; ++s) {
                      float v = alpha * tmp[r * NR + s];
                      c[r * ldc + s] = beta_k == 0.f ? v : v + beta_k * c[r * ldc + s];
                    }
                  if (last) vmath::block_epilogue(c, ldc, mr, nr, te.bias, te.res, te.ldr, te.act);
                }
              }
            }
          }
        });
      }
    }
  }
}

// Partitioned threading for products whose operands need no shared packing: C is cut into
// one block per thread and each thread runs the serial blocked GEMM on its block, packing
// only its own panels. Against the shared scheme above this saves a parallel region per
// call and keeps every packed panel in the cache of the core that uses it. It applies
// when A is read in place (direct A: N small) or B is (direct B: M small), so nothing is
// packed twice, or when A is small enough that each thread packing it costs little
// (kSmallPackedA). Measured, 2 threads, the 1×1 convs of MobileNetV2 at batch 1 (M×N×K =
// outputs × pixels × inputs): 160×64×960 137 → 97 µs, 96×256×576 163 → 145 µs,
// 32×1024×192 77 → 67 µs; most of them now at 190–205 GFLOP/s, twice one core's rate.
bool sgemm_partitioned(const KernelInfo& ki, bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha,
                       const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc,
                       const GemmEpilogue* ep) {
  const int T = in_parallel_region() ? 1 : num_threads();
  if (T <= 1 || 2.0 * M * N * K < kParallelFlops) return false;
  const bool direct_a = !transA && ki.direct_a[1] && N <= kDirectACols, direct_b = !transB && M <= kDirectBRows;
  if (!direct_a && !direct_b && M * K > kSmallPackedA) return false;
  // Column blocks (multiples of 16, at least 32 columns each), one per thread; with more
  // threads than that allows, also row blocks (multiples of MR, at least 4 panels), where
  // each thread packs its own copy of the B columns it shares. With fewer than 48 columns a
  // thread and at least 64 rows, row blocks only: each thread then reads only its share of
  // A — a layer's weights, cold in a network, larger than the activations on 8×8 maps —
  // instead of all of it (MobileNetV2 b1's 8×8 layers in the network, 2 threads: 960→160
  // 0.21 → 0.13 ms, 160→960 0.16 → 0.14 ms).
  // Also where the rows outnumber the columns twice (ResNet-50's 256→1024 1×1 on 16×16:
  // 1024 × 256 × 256, weights cold as in a network: 171 → 176 GFLOP/s, 1024 × 256 × 512
  // 186 → 191, three alternating runs each).
  const bool by_rows = (N < 48 * T || M >= 2 * N) && M >= 64 * T;
  const int64_t pn = by_rows ? 1 : std::max<int64_t>(1, std::min<int64_t>(T, N / 32));
  const int64_t pm = std::max<int64_t>(1, std::min<int64_t>(T / pn, M / (4 * ki.mr)));
  if (pn * pm < 2) return false;
  const int64_t vec = 16, per_n = ((N + vec - 1) / vec + pn - 1) / pn * vec;
  const int64_t per_m = ((M + ki.mr - 1) / ki.mr + pm - 1) / pm * ki.mr;
  parallel_for(0, pn * pm, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t t = lo; t < hi; ++t) {
      const int64_t i0 = std::min(M, (t / pn) * per_m), i1 = std::min(M, i0 + per_m);
      const int64_t j0 = std::min(N, (t % pn) * per_n), j1 = std::min(N, j0 + per_n);
      if (i0 >= i1 || j0 >= j1) continue;
      GemmEpilogue e{};
      if (ep) {
        e = *ep;
        if (e.bias) e.bias += i0;
        if (e.res) e.res += i0 * e.ldr + j0;
      }
      sgemm_blocked(ki, transA, transB, i1 - i0, j1 - j0, K, alpha, transA ? A + i0 : A + i0 * lda, lda,
                    transB ? B + j0 * ldb : B + j0, ldb, beta, C + i0 * ldc + j0, ldc, ep ? &e : nullptr, true);
    }
  });
  return true;
}

}  // namespace

GemmIsa gemm_best_isa() {
  if (cpu_has_avx512f()) return GemmIsa::Avx512;
  if (cpu_has_avx2_fma()) return GemmIsa::Avx2;
  return GemmIsa::Generic;
}

int gemm_isa_level(GemmIsa isa) {
  if (isa == GemmIsa::Auto) isa = gemm_best_isa();
  return std::min(static_cast<int>(isa), 2);
}

const char* gemm_isa_name(GemmIsa isa) {
  switch (isa) {
    case GemmIsa::Avx512: return "avx512";
    case GemmIsa::Avx512x14: return "avx512_14x32";
    case GemmIsa::Avx512x8: return "avx512_8x48";
    case GemmIsa::Avx2: return "avx2";
    case GemmIsa::Generic: return "generic";
    default: return "auto";
  }
}

GemmIsa parse_gemm_isa(const std::string& op, const std::string& name) {
  GemmIsa isa;
  if (name == "auto") return GemmIsa::Auto;
  else if (name == "generic") isa = GemmIsa::Generic;
  else if (name == "avx2") isa = GemmIsa::Avx2;
  else if (name == "avx512") isa = GemmIsa::Avx512;
  else if (name == "avx512_14x32") isa = GemmIsa::Avx512x14;
  else if (name == "avx512_8x48") isa = GemmIsa::Avx512x8;
  else MDMT_FAIL(code::kInvalid, op, "attribute 'isa' must be auto, generic, avx2, avx512, avx512_14x32 or avx512_8x48, got '" << name << "'");
  if (gemm_isa_level(isa) > gemm_isa_level(gemm_best_isa()))
    MDMT_FAIL(code::kNotImpl, op, "isa '" << name << "' is not available here (best: " << gemm_isa_name(gemm_best_isa()) << ")");
  return isa;
}

void sgemm(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
           const float* B, int64_t ldb, float beta, float* C, int64_t ldc, GemmIsa isa, const GemmEpilogue* ep) {
  if (M < 0 || N < 0 || K < 0) MDMT_FAIL(code::kInvalid, "sgemm", "negative size M=" << M << " N=" << N << " K=" << K);
  if (M == 0 || N == 0) return;
  if (ldc < N || lda < (transA ? M : K) || ldb < (transB ? K : N))
    MDMT_FAIL(code::kInvalid, "sgemm", "leading dimension too small (lda " << lda << ", ldb " << ldb << ", ldc " << ldc << ")");
  if (K == 0 || alpha == 0.f) {
    scale_c(M, N, beta, C, ldc);
    if (ep) vmath::block_epilogue(C, ldc, M, N, ep->bias, ep->res, ep->ldr, ep->act);
    return;
  }
  // an epilogue with nothing to apply (a plain 1×1 conv) is no epilogue: the generic kernel
  // and edge tiles would otherwise pass over every tile once more for nothing
  if (ep && !ep->bias && !ep->res && ep->act == Act::None && !ep->stream) ep = nullptr;
  if (isa == GemmIsa::Auto) isa = gemm_best_isa();
  if (isa == GemmIsa::Avx512) {  // the AVX-512 kernel that computes fewer padding rows/columns
    auto padded = [&](int64_t mr, int64_t nr, int64_t vw) {  // rows × columns computed, edges included
      return double((M + mr - 1) / mr * mr) * double(N / nr * nr + (N % nr + vw - 1) / vw * vw);
    };
    isa = padded(14, 32, 32) < 0.95 * padded(8, 48, 16) ? GemmIsa::Avx512x14 : GemmIsa::Avx512x8;
  }
  const KernelInfo& ki = kernel_for(isa);
  if (!sgemm_partitioned(ki, transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, ep))
    sgemm_blocked(ki, transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, ep, false);
#ifdef MDMT_X86
  if (ep && ep->stream) _mm_sfence();  // non-temporal stores are weakly ordered: visible before we return
#endif
}

}  // namespace mdmt
