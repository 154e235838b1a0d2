// The op contracts of docs/ops.md in native code, one header per op family
// (native/ops/<family>.h, same stem as ts/ops, native/cpu, native/cuda, test/ref and
// test/ops). For each op a prepare function reads the attributes, checks the counts,
// dtypes, shapes and devices of the operands against each other, and derives the geometry
// once into a checked, immutable spec struct; it throws an MdmtException naming the op and
// the argument (the messages tests and users see). The CPU and CUDA kernels receive the
// spec and only compute: registered as MDMT_REGISTER_SPEC_OP(name, DEV, prepare, run), an
// eager call is run(prepare(ctx)) and a step plan prepares once and runs many times
// (native/core/registry.h).
//
// What stays in a backend: limits of that backend only (cuDNN's int32 dimensions, the CUDA
// kernels' 65535 channels, the CPU's fill/cast dtypes, the CPU-only `isa` attribute),
// checked by a backend prepare that wraps the family's and extends its spec; and checks of
// data values (mask entries, labels, pooling indices), which only the kernel can read.
// Specs hold numbers, never tensor pointers: run() takes the tensors from its OpCtx.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "../core/error.h"
#include "../core/registry.h"
#include "../core/tensor.h"

namespace mdmt {

// "'name' must be contiguous" (the addon hands kernels contiguous tensors; a plan might not).
inline void require_contiguous(const OpCtx& c, const Tensor& t, const char* name) {
  if (!t.contiguous()) MDMT_FAIL(code::kInvalid, c.op, "'" << name << "' must be contiguous");
}

}  // namespace mdmt
