// The bf16 and NHWC forms of CUDA ops whose fp32 NCHW form lives in the op's own file
// (native/cuda/<family>.cc calls the matching function first). A plan's precision and layout
// passes (ts/plan/passes/precision.ts, nhwc.ts) decide which steps take them:
//   dtype   activations in bfloat16 (weights, BatchNorm parameters and statistics fp32)
//   layout  the step attribute `layout: 'nhwc'`: its 4-D operands are NHWC bytes of logical
//           NCHW tensors (kernels/mixed.h)
// Each function returns false for a plain fp32 NCHW call (the caller runs it), and otherwise
// validates the call with the messages of the fp32 form, runs it and returns true. The ops
// listed here are exactly those of CUDA_LOW_OPS / CUDA_NHWC_OPS in ts/plan/passes.
#pragma once
#include <type_traits>
#include <utility>
#include <vector>

#include "common.h"

namespace mdmt {
namespace cuda {

// The step's physical layout: attribute 'layout', "nchw" (default) or "nhwc"; EINVAL otherwise.
bool nhwc_layout(const OpCtx& c);

// batchnorm_train / batchnorm_eval / batchnorm_bwd and the fused batchnorm_act_train /
// batchnorm_act_bwd (docs/ops.md): NHWC (or 2-D [N, C]) in fp32 or bf16.
bool batchnorm_lowp(OpCtx& c);
// relu ... hardswish and their backward on bf16.
bool activation_lowp(OpCtx& c, k::Act a, bool backward);
// add / sub / mul on bf16, and broadcasting in NHWC (fp32 or bf16).
bool binary_lowp(OpCtx& c, k::Bin op);
bool affine_lowp(OpCtx& c);
// global_avgpool / global_avgpool_bwd in NHWC.
bool global_avgpool_lowp(OpCtx& c, bool backward);
// concat / split in NHWC (any axis), channel_shuffle in NHWC or on 2-byte elements.
bool layout_lowp(OpCtx& c);
// expand on bf16 or into an NHWC output.
bool expand_lowp(OpCtx& c);
// Broadcast strides of `t` read as `out`, in elements of its stored bytes: NHWC for a 4-D
// operand of an NHWC step (channels innermost), the logical ones otherwise.
Shape stored_strides(const OpCtx& c, const Tensor& t, const Shape& out, bool nhwc);

// ---- registration (native/core/registry.h: prepare once, run many) ----------------------
// Whether a call may take a low form: the attribute layout: 'nhwc' or a bf16 operand.
bool maybe_lowp(const OpCtx& c);

// The call with every bf16 operand presented as fp32 (tensor metadata only): the family's
// fp32 contract (native/ops/<family>.h) then checks the shapes and attributes of a low-form
// call too, with its own messages; dtypes are the low form's to check.
struct Fp32View {
  std::vector<Tensor> in, out;
  OpCtx ctx;
  explicit Fp32View(const OpCtx& c);
  Fp32View(const Fp32View&) = delete;  // ctx points into in / out
  Fp32View& operator=(const Fp32View&) = delete;
};

// An op with a low form: prepare validates through the family contract (on the fp32 view
// when the call may be low); run tries the low form first (LOWP(c) or LOWP(c, spec) returns
// false for a plain fp32 NCHW call), else the op's fp32 kernel.
template <auto PREPARE, auto RUN, auto LOWP>
struct LowpOr {
  using S = std::decay_t<decltype(PREPARE(std::declval<const OpCtx&>()))>;
  struct Spec {
    S s;
    bool maybe;
  };
  static Spec prepare(const OpCtx& c) {
    if (!maybe_lowp(c)) return {PREPARE(c), false};
    Fp32View v(c);
    return {PREPARE(v.ctx), true};
  }
  static void run(OpCtx& c, const Spec& sp) {
    if (sp.maybe) {
      if constexpr (std::is_invocable_v<decltype(LOWP), OpCtx&, const S&>) {
        if (LOWP(c, sp.s)) return;
      } else {
        if (LOWP(c)) return;
      }
    }
    RUN(c, sp.s);
  }
};
#define MDMT_REGISTER_LOWP_OP(NAME, PREPARE, RUN, LOWP) \
  MDMT_REGISTER_SPEC_OP(NAME, CUDA, (::mdmt::cuda::LowpOr<PREPARE, RUN, LOWP>::prepare), (::mdmt::cuda::LowpOr<PREPARE, RUN, LOWP>::run))

// A family prepare applied to the fp32 view of a call that may be low (ops whose fp32 run
// handles the low forms itself: conv2d).
template <auto PREPARE>
auto fp32_viewed(const OpCtx& c) {
  if (!maybe_lowp(c)) return PREPARE(c);
  Fp32View v(c);
  return PREPARE(v.ctx);
}

template <k::Act A, bool BWD>
bool activation_lowp_of(OpCtx& c) {
  return activation_lowp(c, A, BWD);
}
template <k::Bin B>
bool binary_lowp_of(OpCtx& c) {
  return binary_lowp(c, B);
}
template <bool BWD>
bool global_avgpool_lowp_of(OpCtx& c) {
  return global_avgpool_lowp(c, BWD);
}

}  // namespace cuda
}  // namespace mdmt
