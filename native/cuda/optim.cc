// adam / sgd on CUDA (docs/ops.md "optim"): every parameter in one launch. The host
// builds a table of tensors and a table of 8192-element chunks, copies both to the device
// in one transfer (workspace from the caching allocator) and launches one block per chunk.
// Validation and the scalars (in double, as PyTorch) are the family's (native/ops/optim.h).
#include <cmath>
#include <cstring>
#include <vector>

#include "../ops/optim.h"
#include "capture.h"
#include "common.h"
#include "mixed.h"

namespace mdmt {
namespace cuda {
namespace {

// Uploads [tensors | chunks] and launches `launch(dev_tensors, dev_chunks, nchunks)`. The
// chunk table is written in place in the host buffer (one allocation, nothing copied twice).
template <class T, class L>
void run_tables(OpCtx& c, const std::vector<T>& tensors, L launch) {
  int64_t nchunks = 0;
  for (const T& t : tensors) nchunks += (t.n + k::kOptChunk - 1) / k::kOptChunk;
  DeviceCtx& d = ctx_of(c);
  if (nchunks == 0) return;
  const size_t tb = (sizeof(T) * tensors.size() + 255) & ~size_t(255);
  std::vector<char> host(tb + sizeof(k::OptChunk) * static_cast<size_t>(nchunks));
  std::memcpy(host.data(), tensors.data(), sizeof(T) * tensors.size());
  k::OptChunk* chunk = reinterpret_cast<k::OptChunk*>(host.data() + tb);
  for (size_t i = 0; i < tensors.size(); ++i)
    for (int64_t s = 0; s < tensors[i].n; s += k::kOptChunk) *chunk++ = {static_cast<int32_t>(i), s};
  Scratch table(c.device, host.size(), c.op);
  // captured into a CUDA graph: copy from pinned memory the graph owns (replays copy it again)
  const void* src = host.data();
  if (CaptureScope* cs = CaptureScope::current(d.index)) src = std::memcpy(cs->pinned(host.size(), c.op), host.data(), host.size());
  cudaCheck(c.op, cudaMemcpyAsync(table.get(), src, host.size(), cudaMemcpyHostToDevice, d.stream));
  const T* dt = static_cast<const T*>(table.get());
  const k::OptChunk* dc = reinterpret_cast<const k::OptChunk*>(static_cast<char*>(table.get()) + tb);
  cudaCheck(c.op, launch(dt, dc, nchunks, d.stream));
}

void adam(OpCtx& c, const AdamSpec& s) {
  const size_t n = s.n;
  std::vector<k::AdamTensor> ts;
  for (size_t i = 0; i < n; ++i)
    ts.push_back({fp(*c.out[i]), cfp(*c.in[i]), fp(*c.out[n + i]), fp(*c.out[2 * n + i]), c.in[i]->numel()});
  const double *dlr = c.device_scalar("lr"), *dbc1 = c.device_scalar("bias_correction1"), *dbc2 = c.device_scalar("bias_correction2");
  if (dlr && dbc1 && dbc2) {  // a CUDA-graph plan: lr and the bias corrections of each run from its staged scalars
    // the prologue forms them as the spec does on the host (k::adam_hyper), bit for bit
    const k::AdamStatic st{c.attrs.f(c.op, "beta1"), c.attrs.f(c.op, "beta2"), static_cast<double>(s.eps),
                           c.attrs.f(c.op, "weight_decay"), s.decoupled};
    Scratch hyper(c.device, sizeof(k::AdamHyper), c.op);
    run_tables(c, ts, [&](const k::AdamTensor* t, const k::OptChunk* ch, int64_t nc, cudaStream_t stream) {
      return k::adam_capturable(t, ch, nc, dlr, dbc1, dbc2, st, static_cast<k::AdamHyper*>(hyper.get()), stream);
    });
    return;
  }
  k::AdamHyper h{s.step_size, s.beta2, s.omb1, s.omb2, s.eps, s.wd, s.bc2_sqrt, s.decay, s.decoupled};
  run_tables(c, ts, [&](const k::AdamTensor* t, const k::OptChunk* ch, int64_t nc, cudaStream_t st) {
    return k::adam(t, ch, nc, h, st);
  });
}

void sgd(OpCtx& c, const SgdSpec& s) {
  const size_t n = s.n;
  std::vector<k::SgdTensor> ts;
  for (size_t i = 0; i < n; ++i)
    ts.push_back({fp(*c.out[i]), cfp(*c.in[i]), s.has_buf ? fp(*c.out[n + i]) : nullptr, c.in[i]->numel()});
  k::SgdHyper h{s.lr, s.momentum, s.omd, s.wd, s.nesterov, s.first_step};
  run_tables(c, ts, [&](const k::SgdTensor* t, const k::OptChunk* ch, int64_t nc, cudaStream_t st) {
    return k::sgd(t, ch, nc, h, st);
  });
}

}  // namespace

MDMT_REGISTER_SPEC_OP("adam", CUDA, adam_spec, adam);
MDMT_REGISTER_SPEC_OP("sgd", CUDA, sgd_spec, sgd);

}  // namespace cuda
}  // namespace mdmt
