// dropout / dropout_bwd on CUDA (docs/ops.md "dropout"; the mask and the contract in
// native/ops/dropout.h), bit-identical to the CPU's.
#include "../ops/dropout.h"
#include "common.h"
#include "mixed.h"

namespace mdmt {
namespace cuda {
namespace {

void dropout(OpCtx& c, const DropoutSpec& s) {
  DeviceCtx& d = ctx_of(c);
  const double *dlo = c.device_scalar("seed_lo"), *dhi = c.device_scalar("seed_hi");
  if (dlo && dhi) {  // a CUDA-graph plan: the seed of each run from its staged scalars
    cudaCheck(c.op, k::dropout_capturable(fp(*c.out[0]), static_cast<uint8_t*>(c.out[1]->raw()), cfp(*c.in[0]), s.n, s.p,
                                          s.scale, dlo, dhi, d.stream));
    return;
  }
  const auto [lo, hi] = s.key();
  cudaCheck(c.op, k::dropout(fp(*c.out[0]), static_cast<uint8_t*>(c.out[1]->raw()), cfp(*c.in[0]), s.n, s.p, s.scale, lo, hi,
                             d.stream));
}

void dropout_bwd(OpCtx& c, const DropoutSpec& s) {
  DeviceCtx& d = ctx_of(c);
  cudaCheck(c.op, k::dropout_bwd(fp(*c.out[0]), cfp(*c.in[0]), static_cast<const uint8_t*>(c.in[1]->raw()), s.n, s.scale,
                                 d.stream));
}

}  // namespace

MDMT_REGISTER_SPEC_OP("dropout", CUDA, dropout_spec, dropout);
MDMT_REGISTER_SPEC_OP("dropout_bwd", CUDA, dropout_bwd_spec, dropout_bwd);

}  // namespace cuda
}  // namespace mdmt
