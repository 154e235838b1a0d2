// Kernel workshop helpers (llm.c dev/cuda/common.h style): error checks that abort (these
// are standalone programs, not the addon), validation against a CPU reference with
// atol + rtol*|ref|, and a timer that flushes L2 before each repeat.
#pragma once
#include <cuda_runtime.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

#define devCheck(x)                                                                           \
  do {                                                                                        \
    cudaError_t e_ = (x);                                                                     \
    if (e_ != cudaSuccess) {                                                                  \
      std::fprintf(stderr, "CUDA error %s at %s:%d: %s\n", #x, __FILE__, __LINE__, cudaGetErrorString(e_)); \
      std::exit(1);                                                                           \
    }                                                                                         \
  } while (0)

inline std::vector<float> rand_vec(size_t n, unsigned seed, float lo = -1.f, float hi = 1.f) {
  std::vector<float> v(n);
  unsigned s = seed * 2654435761u + 1;
  for (auto& x : v) {
    s = s * 1664525u + 1013904223u;
    x = lo + (hi - lo) * ((s >> 8) * (1.0f / 16777216.0f));
  }
  return v;
}

template <class T>
T* to_device(const std::vector<T>& h) {
  T* d = nullptr;
  devCheck(cudaMalloc(&d, h.size() * sizeof(T) + 16));
  devCheck(cudaMemcpy(d, h.data(), h.size() * sizeof(T), cudaMemcpyHostToDevice));
  return d;
}

template <class T>
std::vector<T> to_host(const T* d, size_t n) {
  std::vector<T> h(n);
  devCheck(cudaMemcpy(h.data(), d, n * sizeof(T), cudaMemcpyDeviceToHost));
  return h;
}

// Returns the number of mismatches (prints the first 5), skipping non-finite references.
inline int validate(const char* name, const float* got, const float* ref, size_t n, float atol, float rtol) {
  int bad = 0;
  double worst = 0;
  for (size_t i = 0; i < n; ++i) {
    if (!std::isfinite(ref[i])) continue;
    double err = std::fabs((double)got[i] - ref[i]);
    double lim = atol + rtol * std::fabs(ref[i]);
    if (err / lim > worst) worst = err / lim;
    if (!(err <= lim)) {
      if (bad < 5) std::printf("  %s[%zu]: got %.8g ref %.8g\n", name, i, got[i], ref[i]);
      ++bad;
    }
  }
  std::printf("  %-12s %s (%d/%zu outside atol %.1e rtol %.1e; worst %.2f of tolerance)\n", name, bad ? "FAIL" : "ok", bad, n,
              atol, rtol, worst);
  return bad;
}

// Mean milliseconds of fn() over `reps`, L2 flushed (memset of a 64 MB buffer) before each.
template <class F>
float bench_ms(F fn, int reps = 50) {
  static void* flush = nullptr;
  const size_t fb = 64 << 20;
  if (!flush) devCheck(cudaMalloc(&flush, fb));
  cudaEvent_t a, b;
  devCheck(cudaEventCreate(&a));
  devCheck(cudaEventCreate(&b));
  float total = 0;
  for (int r = 0; r < reps; ++r) {
    devCheck(cudaMemset(flush, r, fb));
    devCheck(cudaEventRecord(a));
    fn();
    devCheck(cudaEventRecord(b));
    devCheck(cudaEventSynchronize(b));
    float ms = 0;
    devCheck(cudaEventElapsedTime(&ms, a, b));
    total += ms;
  }
  devCheck(cudaGetLastError());
  return total / reps;
}

// ---- bf16 helpers (host): round to nearest even, to and from the 16-bit storage ------------
#include <cstring>
inline float rb(float f) {  // round to bf16, nearest even
  uint32_t u;
  std::memcpy(&u, &f, 4);
  u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
  std::memcpy(&f, &u, 4);
  return f;
}
inline std::vector<uint16_t> bits(const std::vector<float>& v) {
  std::vector<uint16_t> h(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    float f = rb(v[i]);
    uint32_t u;
    std::memcpy(&u, &f, 4);
    h[i] = (uint16_t)(u >> 16);
  }
  return h;
}
inline std::vector<float> floats(const uint16_t* d, size_t n) {
  auto h = to_host(d, n);
  std::vector<float> f(n);
  for (size_t i = 0; i < n; ++i) {
    uint32_t u = (uint32_t)h[i] << 16;
    std::memcpy(&f[i], &u, 4);
  }
  return f;
}
inline std::vector<float> rounded(std::vector<float> v) {
  for (auto& x : v) x = rb(x);
  return v;
}

// bf16 outputs computed in fp32 from bf16 inputs: one ulp of the result plus fp32 noise
constexpr float kBf16Atol = 2e-3f, kBf16Rtol = 8e-3f;
