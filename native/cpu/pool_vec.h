// Vectorised plane kernels for the pooling ops (pool.cc keeps the op contracts and the
// indexed paths): max pooling that writes values only (eval: nobody reads the argmax),
// and the global average as one pass per plane.
#pragma once
#include <cstdint>

namespace mdmt {

struct MaxPoolPlane {
  int64_t H, W, P, Q;       // input plane, output plane
  int64_t kh, kw, sh, sw, ph, pw;
};

// y[p, q] = max over the window of x (−∞ padding, NaN propagates), for `planes`
// consecutive H×W planes of x into P×Q planes of y. Parallel over planes.
void maxpool2d_values(const MaxPoolPlane& g, int64_t planes, const float* x, float* y);

// y[i] = mean of plane i (hw floats), accumulated in double; parallel over planes.
void global_avgpool_planes(const float* x, float* y, int64_t planes, int64_t hw);

}  // namespace mdmt
