// Vectorised plane kernels for the pooling ops (pool.cc keeps the op contracts): max
// pooling with and without the argmax (training / eval), and the global average as one
// pass per plane.
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

// The same with the argmax (training): idx[p, q] = h·W + w of the window's maximum within
// its plane, PyTorch's rules (first maximum wins, a NaN wins and a later NaN replaces it;
// a window of −∞ points at its first cell inside the input). Parallel over planes.
void maxpool2d_indexed(const MaxPoolPlane& g, int64_t planes, const float* x, float* y, int32_t* idx);

// y[i] = mean of plane i (hw floats), accumulated in double; parallel over planes.
void global_avgpool_planes(const float* x, float* y, int64_t planes, int64_t hw);

}  // namespace mdmt
