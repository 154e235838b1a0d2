// Family "memory" (docs/ops.md): fill, copy, cast. Any dtype the backend stores; which
// dtypes a backend converts is its own check (native/cpu/memory.cc, native/cuda/memory.cc).
#pragma once
#include "spec.h"

namespace mdmt {

struct FillSpec {  // y[:] = value
  DType dtype;
  double value;
  int64_t n;
};
struct CopySpec {  // y = x, same dtype and element count
  size_t bytes;
};
struct CastSpec {  // y = x converted to y's dtype, same shape
  DType from, to;
  int64_t n;
  size_t bytes;  // of x
};

FillSpec fill_spec(const OpCtx& c);
CopySpec copy_spec(const OpCtx& c);
CastSpec cast_spec(const OpCtx& c);

}  // namespace mdmt
