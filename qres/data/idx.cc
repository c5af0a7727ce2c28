#include "qres/data/idx.h"

#include <cstring>

#include "ATen/ops/empty.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "qres/base/status_macros.h"
#include "qres/data/file_reader.h"

namespace qres::data {
namespace {

uint32_t BigEndian32(const std::string& bytes, size_t offset) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data() + offset);
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

}  // namespace

absl::StatusOr<at::Tensor> ParseIdx(const std::string& bytes, int ndims, const std::string& source) {
  const size_t header = 4 + 4 * static_cast<size_t>(ndims);
  if (bytes.size() < 4) {
    return absl::DataLossError(absl::StrCat(source, ": truncated: ", bytes.size(),
                                            " bytes, no IDX header"));
  }
  const uint32_t magic = BigEndian32(bytes, 0);
  const uint32_t expected_magic = 0x00000800u | static_cast<uint32_t>(ndims);
  if (magic != expected_magic) {
    return absl::DataLossError(absl::StrFormat(
        "%s: wrong magic number 0x%08x, expected 0x%08x (uint8 IDX with %d dimensions)", source,
        magic, expected_magic, ndims));
  }
  if (bytes.size() < header) {
    return absl::DataLossError(absl::StrCat(source, ": truncated IDX header (", bytes.size(),
                                            " bytes)"));
  }
  std::vector<int64_t> sizes;
  uint64_t count = 1;
  for (int d = 0; d < ndims; ++d) {
    const uint32_t size = BigEndian32(bytes, 4 + 4 * d);
    sizes.push_back(size);
    count *= size;
    if (count > (uint64_t{1} << 40)) {
      return absl::DataLossError(absl::StrCat(source, ": implausible IDX sizes"));
    }
  }
  const uint64_t expected = header + count;
  if (bytes.size() < expected) {
    return absl::DataLossError(absl::StrCat(source, ": truncated: ", bytes.size(), " bytes, the ",
                                            "header promises ", expected));
  }
  if (bytes.size() > expected) {
    return absl::DataLossError(absl::StrCat(source, ": ", bytes.size() - expected,
                                            " trailing bytes after the data"));
  }
  at::Tensor tensor = at::empty(sizes, at::kByte);
  if (count > 0) std::memcpy(tensor.data_ptr<uint8_t>(), bytes.data() + header, count);
  return tensor;
}

absl::StatusOr<at::Tensor> ReadIdx(const std::string& path, int ndims) {
  QRES_ASSIGN_OR_RETURN(std::string bytes, ReadFileMaybeGzip(path));
  return ParseIdx(bytes, ndims, path);
}

}  // namespace qres::data
