// MDMT_DEBUG=1: one stderr line per op call with its device, operand shapes and time.
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "common.h"

namespace mdmt {
namespace napi {

bool debug_enabled() {
  // exactly '1', as the CLI's stacks (ts/cli/main.ts): MDMT_DEBUG=0 turned the op log on
  static const bool on = [] {
    const char* e = std::getenv("MDMT_DEBUG");
    return e && std::strcmp(e, "1") == 0;
  }();
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
