// The fused step's kernels (qres/optim/cuda_stepper.h says what a step does). A header free of CUDA
// (raw pointers, a stream handle), so the host code that fills these structs (kernel_stepper.cc)
// and the emulated kernels build without the CUDA toolkit.
#ifndef QRES_OPTIM_CUDA_KERNEL_ARGS_H_
#define QRES_OPTIM_CUDA_KERNEL_ARGS_H_

#include <cstdint>

#include "qres/optim/step_math.h"

// As cuda_runtime_api.h declares it (a redeclaration of the same type is allowed).
typedef struct CUstream_st* cudaStream_t;

namespace qres::optim::cuda {

// Elements per block (256 threads, 8 elements each); the log schedule's norm order uses the same
// chunks and lanes (step_math::SumSquaresInOrder).
constexpr int kThreads = step_math::kNormLanes;
constexpr int64_t kChunk = step_math::kNormChunk;
constexpr int kPerThread = static_cast<int>(kChunk / kThreads);
// Candidate indices 0..64 of the bump rule (index_limit <= 64): the table's columns.
constexpr int kCandidates = 65;
// Candidates summed in the direction kernel, from where the rule starts (the tensor's index at
// the start of the step): the rule rarely moves more than this in one step; further candidates
// are summed by the resolve kernel when the rule reaches them.
constexpr int kWindow = 4;

// What changes from step to step. Usually one value for every tensor, or one per parameter group,
// or two when a tensor sat out a step (its step count differs from then on): then the few
// distinct values travel apart from the table (StepValues::variants), each row names its own, and
// the table stays as it is on the device while that naming does not change.
struct PerStep {
  float neg_step;       // Adam: −α_t; SGD: −lr
  float decay;          // decoupled decay after the update; 0: none
  float log_scale;      // log: Q_p
  double offset_scale;  // log: s·λ of the warm-up offset; 0: none
  int32_t first;        // SGD: the momentum buffer's first step
  int32_t checked;      // bump: the rule applies (0 for a first step that check_first_step exempts)
};

// Distinct PerStep values a launch carries; a step with more puts each row's in the table.
constexpr int kStepVariants = 8;

// Everything of a step's launch that changes from step to step, but the tensor table. In the
// launch's arguments (StepLaunch::values), or in device memory (StepLaunch::device_values),
// uploaded before each step: then the arguments stay the same from step to step, and a CUDA graph
// that captured one step's launch replays any later step's.
struct StepValues {
  PerStep variants[kStepVariants];
  uint64_t call;        // stochastic rounding: the quantizer's step counter (StochasticStreamKey)
  int64_t trend_index;  // bump: the entry of StepLaunch::trend this step writes
};

// One tensor of the step (the table is copied to the device as is).
struct StepRow {
  float* param;
  const float* grad;
  float* state0;  // Adam: exp_avg; SGD: momentum buffer or nullptr
  float* state1;  // Adam: exp_avg_sq
  float* update;  // this tensor's slice of the update buffer (quantized steps)
  int64_t numel;
  int64_t first_chunk;  // the tensor's first block: prefix sums of the chunk counts
  int64_t id;           // the quantizer's tensor id: per-tensor index, random stream
  step_math::AdamScalars adam;
  step_math::SgdScalars sgd;
  int32_t coupled_l2;  // Adam
  int32_t variant;     // its PerStep is StepValues::variants[variant] (when num_variants > 0)
  PerStep step;        // its PerStep when StepLaunch::num_variants is 0; else unused (zero)
};

struct StepLaunch {
  const StepRow* rows;        // device
  const int32_t* block_rows;  // device, total_chunks: the row of each direction and apply block
  int64_t num_rows;
  int64_t total_chunks;
  int32_t num_variants;             // 0: each row's PerStep is in the table (StepRow::step)
  StepValues values;                // this step's, unless device_values (then zero)
  const StepValues* device_values;  // device, or nullptr: the values in the arguments
  step_math::StepRule rule;
  step_math::Schedule schedule;
  step_math::Rounding rounding;
  int32_t count_nonzero;        // bump: the all_zero test
  int32_t global_scope;         // bump
  int32_t bump_on_zero_update;  // bump: the reference's rule (else an update zero before rounding bumps nothing)
  int32_t log_offset;           // log: some row has the warm-up offset (else one launch does it all)
  int64_t limit;                // bump: index_limit
  uint64_t seed;                // stochastic rounding: StochasticStreamKey(seed, values.call, id)
  // Device state and workspaces.
  long long* table;                     // bump: num_rows × kCandidates rounded sums (the window's); zero
                                        // between steps
  unsigned long long* unfit;            // bump: the same for the counts of values int64 cannot hold
                                        // (step_math::RoundedTotal)
  unsigned long long* nonzero_updates;  // bump: num_rows, the blocks that saw a nonzero update
                                        // before rounding; zero between steps
  int64_t* global_index;                // bump: [1]
  int64_t* tensor_index;                // bump, per-tensor scope: by id
  int64_t tensor_index_size;
  int64_t* chosen;        // bump: num_rows, each tensor's index this step
  double* trend;          // bump: the reported index after each step not yet exported
  double* partials;       // log: total_chunks partial sums of h²
  double* factors;        // log: num_rows offset factors s·λ/‖h‖
  unsigned* blocks_done;  // the direction blocks finished this step; its last block wraps it to 0
};

// Enqueues the step's kernels on `stream`. Returns a cudaError_t value: 0 (cudaSuccess), the
// error of the launch, or kInvalidLaunch for an index_limit the table cannot hold.
constexpr int kInvalidLaunch = 1;  // cudaErrorInvalidValue
int LaunchFusedStep(const StepLaunch& launch, cudaStream_t stream);

}  // namespace qres::optim::cuda

#endif  // QRES_OPTIM_CUDA_KERNEL_ARGS_H_
