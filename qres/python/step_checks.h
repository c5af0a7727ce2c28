// The Python operator's checks (ops.cc): every tensor that reaches a C++ step, against its
// parameter, before anything is written. A state of another shape, dtype, device or layout than
// its parameter, state tensors that share memory with each other, a parameter or a gradient, a step
// count that is not one, or a quantizer index outside its schedule's range is a ValueError (c10's
// ValueError, Python's) naming the parameter and the state entry: never a write past a buffer.
#ifndef QRES_PYTHON_STEP_CHECKS_H_
#define QRES_PYTHON_STEP_CHECKS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ATen/core/List.h"
#include "ATen/core/Tensor.h"
#include "qres/optim/quantizer_options.h"

namespace qres::optim {

// The tensors of one step, as the operator takes them, and how to name them in errors.
struct StepTensors {
  std::string algorithm;
  const c10::List<std::string>& names;  // the parameters' names (named_parameters), or empty
  at::TensorList params;
  const c10::List<std::optional<at::Tensor>>& grads;
  at::TensorList steps;                    // one int64 scalar per parameter
  std::vector<at::TensorList> buffers;     // one list per buffer name, a tensor per parameter
  std::vector<std::string> buffer_names;   // OptimizerBase::BufferNames()
  bool buffers_made_at_first_use = false;  // an empty buffer is one not made yet (SGD's momentum)
};

// Checks the states of the parameters stepped now (with a gradient), or with `every_state` those
// of every parameter that has one (a step count above 0 or a nonempty buffer: a loaded state).
void CheckStepTensors(const StepTensors& step, bool every_state);

// The quantizer's state tensors (ops.cc: quantizer_state, int64 [3 + n]; index, float64 [1]).
void CheckQuantizerTensors(const std::string& algorithm, const at::Tensor& quantizer_state, const at::Tensor& index,
                           int64_t n);

// The quantizer's saved entries (ops.cc: quantizer_state, 3 + n) against its options.
void CheckQuantizerState(const std::string& algorithm, const QuantizerOptions& options, const int64_t* entries,
                         int64_t n);

}  // namespace qres::optim

#endif  // QRES_PYTHON_STEP_CHECKS_H_
