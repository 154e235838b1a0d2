// Family "reorder" (docs/ops.md "reorder"): the bytes of a 4-D tensor of logical shape
// [N, C, H, W] moved from one physical layout to another (attributes from, to):
//   nchw  element (n, c, h, w) at ((n·C + c)·H + h)·W + w
//   nhwc  element (n, c, h, w) at ((n·H + h)·W + w)·C + c
// y has x's logical shape; its dtype may differ (a float32 <-> bfloat16 conversion on the
// way, where the backend has bf16). The blocked layouts nchw8c / nchw16c are named and
// have no kernel yet (ENOTIMPL).
#pragma once
#include "spec.h"

namespace mdmt {

struct ReorderSpec {
  int64_t N, C, HW;
  bool from_nhwc, to_nhwc;
  bool convert;  // y's dtype differs from x's
};

ReorderSpec reorder_spec(const OpCtx& c);

}  // namespace mdmt
