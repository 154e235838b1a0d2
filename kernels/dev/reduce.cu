// Workshop: sum / mean of a bf16 input into fp32 (kernels/reduce.cu reduce_sum_bf16), over
// NHWC strides: the squeeze-excite gate's gradient (sum over H, W) and a bias gradient (sum
// over N, H, W), against a double CPU reference on the same bf16 values.
//   nvcc -std=c++17 -arch=sm_90 -O3 --use_fast_math -Ikernels kernels/dev/reduce.cu -o /tmp/reduce && /tmp/reduce
#include "../reduce.cu"
#include "common.h"

using namespace mdmt;

int main() {
  int fails = 0;
  const int64_t N = 8, H = 14, W = 14, C = 96, n = N * H * W * C;
  auto x = rounded(rand_vec(n, 3, -2, 2));
  uint16_t* xd = to_device(bits(x));
  float* yd = to_device(std::vector<float>(N * C));
  // NHWC strides of (n, c, h, w): (H·W·C, 1, W·C, C)
  for (bool over_batch : {false, true}) {
    k::ReducePlan p{};
    if (!over_batch) {  // sum over H, W: kept (N, C)
      p.nk = 2, p.ksize[0] = N, p.kstride[0] = H * W * C, p.ksize[1] = C, p.kstride[1] = 1;
      p.nr = 2, p.rsize[0] = H, p.rstride[0] = W * C, p.rsize[1] = W, p.rstride[1] = C;
    } else {  // sum over N, H, W: kept (C)
      p.nk = 1, p.ksize[0] = C, p.kstride[0] = 1;
      p.nr = 3, p.rsize[0] = N, p.rstride[0] = H * W * C, p.rsize[1] = H, p.rstride[1] = W * C, p.rsize[2] = W, p.rstride[2] = C;
    }
    p.nred = over_batch ? N * H * W : H * W;
    p.nout = over_batch ? C : N * C;
    std::vector<double> acc(p.nout, 0.0);
    for (int64_t b = 0; b < N; ++b)
      for (int64_t i = 0; i < H * W; ++i)
        for (int64_t c = 0; c < C; ++c) acc[over_batch ? c : b * C + c] += x[(b * H * W + i) * C + c];
    std::vector<float> ref(p.nout);
    for (int64_t o = 0; o < p.nout; ++o) ref[o] = static_cast<float>(acc[o]);
    devCheck(k::reduce_sum_bf16(yd, xd, p, 1.f, 0));
    fails += validate(over_batch ? "sum N,H,W" : "sum H,W", to_host(yd, p.nout).data(), ref.data(), p.nout, 1e-5f, 1e-6f);
  }
  cudaFree(xd);
  cudaFree(yd);
  std::printf(fails ? "FAILED (%d)\n" : "ALL OK\n", fails);
  return fails ? 1 : 0;
}
