// CPU dropout (docs/ops.md "dropout"; the mask and the contract in
// native/ops/dropout.h). Philox blocks of 4 elements in parallel chunks.
#include "../ops/dropout.h"
#include "parallel.h"
#include "philox.h"

namespace mdmt {
namespace {

constexpr int64_t kGrainBlocks = 1 << 12;  // Philox blocks (4 elements) per task

void dropout(OpCtx& c, const DropoutSpec& s) {
  const auto [lo, hi] = s.key();
  const int64_t n = s.n;
  const float p = s.p, scale = s.scale;
  const float* px = c.in[0]->data<float>();
  float* py = c.out[0]->data<float>();
  uint8_t* pm = c.out[1]->data<uint8_t>();
  parallel_for(0, (n + 3) / 4, kGrainBlocks, [&](int64_t qlo, int64_t qhi) {
    for (int64_t q = qlo; q < qhi; ++q) {
      philox::U4 r = philox::block(static_cast<uint64_t>(q), lo, hi);
      const uint32_t bits[4] = {r.x, r.y, r.z, r.w};
      const int64_t base = q * 4;
      const int m = static_cast<int>(n - base < 4 ? n - base : 4);
      for (int l = 0; l < m; ++l) {
        const bool keep = philox::to_uniform(bits[l]) >= p;
        pm[base + l] = keep ? 1 : 0;
        py[base + l] = px[base + l] * (keep ? scale : 0.f);  // a dropped NaN stays NaN, as PyTorch's x * mask
      }
    }
  });
}

void dropout_bwd(OpCtx& c, const DropoutSpec& s) {
  const float scale = s.scale;
  const float* pd = c.in[0]->data<float>();
  const uint8_t* pm = c.in[1]->data<uint8_t>();
  float* po = c.out[0]->data<float>();
  parallel_for(0, s.n, kGrainBlocks * 4, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) po[i] = pd[i] * (pm[i] ? scale : 0.f);
  });
}

}  // namespace

MDMT_REGISTER_SPEC_OP("dropout", CPU, dropout_spec, dropout);
MDMT_REGISTER_SPEC_OP("dropout_bwd", CPU, dropout_bwd_spec, dropout_bwd);

}  // namespace mdmt
