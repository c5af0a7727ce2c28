// The tests' stand-in for a CUDA graph on the CPU (step_graph.h): a capture runs the work and keeps
// its outputs; a replay runs the work again and copies its outputs into the captured ones, as a
// graph's replay rewrites the captured memory. It checks what the CPU can of a graphed run: that
// each batch reaches the captured inputs, that the host reads the captured outputs after a replay,
// and that the results equal those of the run without graphs.
#ifndef QRES_TRAIN_EMULATED_STEP_GRAPH_H_
#define QRES_TRAIN_EMULATED_STEP_GRAPH_H_

#include <cstdint>

namespace qres::train {

// Registers the stand-in for CPU devices.
void RegisterEmulatedStepGraph();

// What the stand-ins did so far, over all of them (tests check that a run replayed).
struct EmulatedStepGraphCounts {
  int64_t warms = 0, captures = 0, replays = 0;
};
EmulatedStepGraphCounts EmulatedStepGraphCountsSoFar();

}  // namespace qres::train

#endif  // QRES_TRAIN_EMULATED_STEP_GRAPH_H_
