// reorder (docs/ops.md "layout"): NCHW <-> NHWC per image, with dtype conversion on the way
// (fp32 <-> bf16, rounded to nearest even as cast). Per image both layouts are matrices:
// NCHW is [C][HW] and NHWC is [HW][C], so either direction is a batched transpose
// out[b][s][r] = in[b][r][s] (to NHWC: R = C, S = HW; to NCHW: R = HW, S = C).
//   version 1 (kernels/dev/reorder.cu): one thread per element, reads coalesced, writes strided
//   version 2 (production): 32×32 tiles through shared memory, both sides coalesced; for a
//            few channels (C ≤ 16: the images entering a plan) one thread per pixel moves its
//            C values (tiles would leave most of each 32-row tile empty)
#include <type_traits>

#include "lowp.cuh"

namespace mdmt {
namespace k {

// The value type a tile holds: fp32 for float conversions, the integer itself otherwise.
template <class TI, class TO>
using Tile = std::conditional_t<std::is_integral<TI>::value, TI, float>;

template <class A>
__device__ __forceinline__ A load_as(const float* p, int64_t i) { return p[i]; }
template <class A>
__device__ __forceinline__ A load_as(const bf16* p, int64_t i) { return __bfloat162float(p[i]); }
template <class A>
__device__ __forceinline__ A load_as(const uint32_t* p, int64_t i) { return p[i]; }
template <class A>
__device__ __forceinline__ A load_as(const uint8_t* p, int64_t i) { return p[i]; }
__device__ __forceinline__ void store_to(float* p, int64_t i, float v) { p[i] = v; }
__device__ __forceinline__ void store_to(bf16* p, int64_t i, float v) { p[i] = __float2bfloat16_rn(v); }
__device__ __forceinline__ void store_to(uint32_t* p, int64_t i, uint32_t v) { p[i] = v; }
__device__ __forceinline__ void store_to(uint8_t* p, int64_t i, uint8_t v) { p[i] = v; }

template <class TI, class TO>
__global__ void transpose_tiles(TO* out, const TI* in, int64_t R, int64_t S) {
  using A = Tile<TI, TO>;
  __shared__ A tile[32][33];  // +1: no bank conflicts on the column reads
  const int64_t base = blockIdx.z * R * S;
  const int64_t r0 = blockIdx.y * 32LL, s0 = blockIdx.x * 32LL;
  for (int j = threadIdx.y; j < 32; j += blockDim.y) {
    const int64_t r = r0 + j, c = s0 + threadIdx.x;
    if (r < R && c < S) tile[j][threadIdx.x] = load_as<A>(in, base + r * S + c);
  }
  __syncthreads();
  for (int j = threadIdx.y; j < 32; j += blockDim.y) {
    const int64_t c = s0 + j, r = r0 + threadIdx.x;
    if (c < S && r < R) store_to(out, base + c * R + r, tile[threadIdx.x][j]);
  }
}

// One thread per pixel of a few-channel image: to NHWC gathers its C planar values.
template <class TI, class TO, bool TO_NHWC>
__global__ void pixels(TO* out, const TI* in, int64_t N, int64_t C, int64_t HW) {
  using A = Tile<TI, TO>;
  MDMT_GRID_STRIDE(i, N * HW) {
    const int64_t n = i / HW, p = i - n * HW;
    for (int64_t c = 0; c < C; ++c) {
      const int64_t planar = (n * C + c) * HW + p, packed = i * C + c;
      if (TO_NHWC) store_to(out, packed, load_as<A>(in, planar));
      else store_to(out, planar, load_as<A>(in, packed));
    }
  }
}

template <class TI, class TO>
static cudaError_t launch(TO* y, const TI* x, int64_t N, int64_t C, int64_t HW, bool to_nhwc, cudaStream_t s) {
  if (C <= 16) {
    if (to_nhwc) pixels<TI, TO, true><<<grid_for(N * HW), kBlock, 0, s>>>(y, x, N, C, HW);
    else pixels<TI, TO, false><<<grid_for(N * HW), kBlock, 0, s>>>(y, x, N, C, HW);
    return launched();
  }
  const int64_t R = to_nhwc ? C : HW, S = to_nhwc ? HW : C;
  const int64_t gy = (R + 31) / 32, gx = (S + 31) / 32;
  if (gy > 65535 || N > 65535 || gx > 0x7fffffffLL) return cudaErrorInvalidValue;
  transpose_tiles<TI, TO><<<dim3((unsigned)gx, (unsigned)gy, (unsigned)N), dim3(32, 8), 0, s>>>(y, x, R, S);
  return launched();
}

template <class TI>
static cudaError_t to_out(void* y, int ydt, const TI* x, int64_t N, int64_t C, int64_t HW, bool to_nhwc, cudaStream_t s) {
  if (ydt == kF32) return launch(static_cast<float*>(y), x, N, C, HW, to_nhwc, s);
  if (ydt == kBF16) return launch(static_cast<bf16*>(y), x, N, C, HW, to_nhwc, s);
  return cudaErrorInvalidValue;
}

cudaError_t reorder(void* y, int ydt, const void* x, int xdt, int64_t N, int64_t C, int64_t HW, bool to_nhwc,
                    cudaStream_t s) {
  if (N < 0 || C < 0 || HW < 0) return cudaErrorInvalidValue;
  if (N * C * HW == 0) return cudaSuccess;
  if (xdt == 1 || xdt == 2) {  // integers: layout only
    if (ydt != xdt) return cudaErrorInvalidValue;
    if (xdt == 1) return launch(static_cast<uint32_t*>(y), static_cast<const uint32_t*>(x), N, C, HW, to_nhwc, s);
    return launch(static_cast<uint8_t*>(y), static_cast<const uint8_t*>(x), N, C, HW, to_nhwc, s);
  }
  if (xdt == kF32) return to_out(y, ydt, static_cast<const float*>(x), N, C, HW, to_nhwc, s);
  if (xdt == kBF16) return to_out(y, ydt, static_cast<const bf16*>(x), N, C, HW, to_nhwc, s);
  return cudaErrorInvalidValue;
}

}  // namespace k
}  // namespace mdmt
