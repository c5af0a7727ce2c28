#include "qres/data/idx.h"

#include <cstdint>
#include <cstring>
#include <vector>

#include "ATen/ops/empty.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "qres/base/status_macros.h"
#include "qres/io/file_reader.h"

namespace qres::data {
namespace {

uint32_t BigEndian32(const std::string& bytes, size_t offset) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data() + offset);
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

// Trailing bytes are counted up to this many, then reading stops.
constexpr size_t kTrailingCountLimit = size_t{1} << 20;

}  // namespace

absl::StatusOr<at::Tensor> ReadIdx(const std::string& path, int ndims) {
  QRES_ASSIGN_OR_RETURN(std::unique_ptr<io::GzipReader> file, io::GzipReader::Open(path));
  std::string header(4 + 4 * static_cast<size_t>(ndims), '\0');
  QRES_ASSIGN_OR_RETURN(const size_t header_read, file->Read(header.data(), header.size()));
  if (header_read < 4) {
    return absl::DataLossError(absl::StrCat(path, ": truncated: ", header_read, " bytes, no IDX header"));
  }
  const uint32_t magic = BigEndian32(header, 0);
  const uint32_t expected_magic = 0x00000800u | static_cast<uint32_t>(ndims);
  if (magic != expected_magic) {
    return absl::DataLossError(
        absl::StrFormat("%s: wrong magic number 0x%08x, expected 0x%08x (uint8 IDX with %d dimensions)", path, magic,
                        expected_magic, ndims));
  }
  if (header_read < header.size()) {
    return absl::DataLossError(absl::StrCat(path, ": truncated IDX header (", header_read, " bytes)"));
  }
  std::vector<int64_t> sizes;
  uint64_t count = 1;
  for (int d = 0; d < ndims; ++d) {
    const uint32_t size = BigEndian32(header, 4 + 4 * static_cast<size_t>(d));
    sizes.push_back(size);
    count *= size;
    if (count > (uint64_t{1} << 40)) {
      return absl::DataLossError(absl::StrCat(path, ": implausible IDX sizes"));
    }
  }
  // The data and what follows it, counted up to kTrailingCountLimit bytes.
  absl::StatusOr<std::string> rest = file->ReadRest(count + kTrailingCountLimit - 1);
  if (absl::IsOutOfRange(rest.status())) {
    return absl::DataLossError(absl::StrCat(path, ": ", kTrailingCountLimit,
                                            " or more trailing bytes after the data (reading stopped there)"));
  }
  QRES_RETURN_IF_ERROR(rest.status());
  const std::string& data = *rest;
  if (data.size() < count) {
    return absl::DataLossError(absl::StrCat(path, ": truncated: ", header.size() + data.size(),
                                            " bytes, the header promises ", header.size() + count));
  }
  const size_t trailing = data.size() - count;
  if (trailing > 0) {
    return absl::DataLossError(absl::StrCat(path, ": ", trailing, " trailing bytes after the data"));
  }
  at::Tensor tensor = at::empty(sizes, at::kByte);
  if (count > 0) std::memcpy(tensor.data_ptr<uint8_t>(), data.data(), count);
  return tensor;
}

}  // namespace qres::data
