// MDMT_DEBUG=1: one stderr line per op call with its device, operand shapes and time.
#include <cstdio>
#include <cstdlib>

#include "common.h"

namespace mdmt {
namespace napi {

bool debug_enabled() {
  static const bool on = std::getenv("MDMT_DEBUG") != nullptr;
  return on;
}

void debug_log(const OpCtx& ctx, double ms) {
  std::fprintf(stderr, "[mdmt] %-22s %s", ctx.op.c_str(), ctx.device.str().c_str());
  for (auto* t : ctx.in) std::fprintf(stderr, " %s", t->shape_str().c_str());
  std::fprintf(stderr, " ->");
  for (auto* t : ctx.out) std::fprintf(stderr, " %s", t->shape_str().c_str());
  std::fprintf(stderr, " %.3f ms\n", ms);
}

}  // namespace napi
}  // namespace mdmt
