// The seed's error trend file: a Python pickle (protocol 2) of a list of floats, which
// pickle.load reads as [0.51, 0.32, ...] without torch (the reference pickled autograd tensors).
#ifndef QRES_IO_PICKLE_H_
#define QRES_IO_PICKLE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace qres::io {

std::string PickleFloatList(const std::vector<double>& values);

// Parses what PickleFloatList writes (and the plain protocol-2/3/4 float lists Python writes);
// an error names `source`.
absl::StatusOr<std::vector<double>> UnpickleFloatList(const std::string& bytes, const std::string& source);

}  // namespace qres::io

#endif  // QRES_IO_PICKLE_H_
