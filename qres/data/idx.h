// The IDX format of MNIST and Fashion-MNIST: a big-endian header (magic 0x0000 08 <ndims>, then
// ndims uint32 sizes) followed by uint8 data, gzipped or raw.
#ifndef QRES_DATA_IDX_H_
#define QRES_DATA_IDX_H_

#include <string>

#include "ATen/core/Tensor.h"
#include "absl/status/statusor.h"

namespace qres::data {

// The IDX file `path` with `ndims` dimensions as a uint8 tensor of those sizes. The data must fill
// the file exactly: short data is "truncated", extra bytes are "trailing bytes". A gzipped file
// is inflated only as far as its header promises (plus a little, to see trailing bytes).
absl::StatusOr<at::Tensor> ReadIdx(const std::string& path, int ndims);

}  // namespace qres::data

#endif  // QRES_DATA_IDX_H_
