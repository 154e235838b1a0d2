// CUDA-graph replay of a plan in a build without CUDA (native/core/plan_replay.h): there is
// nothing to capture on, so asking for it is an error naming why.
#include "../core/error.h"
#include "../core/plan_replay.h"

namespace mdmt {

std::unique_ptr<PlanReplay> make_plan_replay(const Device& dev, size_t) {
  MDMT_FAIL(code::kNotImpl, "plan", "CUDA graph replay of a plan on " << dev.str() << ": mdmt was built without CUDA");
}

}  // namespace mdmt
