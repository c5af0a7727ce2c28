#include "qres/io/archive_check.h"

#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "qres/io/crc32.h"

namespace qres::io {
namespace {

constexpr uint32_t kEndOfDirectory = 0x06054b50;
constexpr uint32_t kZip64EndOfDirectory = 0x06064b50;
constexpr uint32_t kZip64Locator = 0x07064b50;
constexpr uint32_t kDirectoryEntry = 0x02014b50;
constexpr uint32_t kLocalHeader = 0x04034b50;
constexpr uint16_t kZip64Extra = 0x0001;

// The little-endian field of `size` bytes at `at` (the callers check bounds first, with Fits).
uint64_t Field(absl::string_view bytes, size_t at, int size) {
  uint64_t value = 0;
  for (int i = size - 1; i >= 0; --i) value = (value << 8) | static_cast<unsigned char>(bytes[at + i]);
  return value;
}

// Whether `length` bytes at `at` lie inside `bytes`, whatever the (untrusted) values.
bool Fits(absl::string_view bytes, uint64_t at, uint64_t length) {
  return at <= bytes.size() && length <= bytes.size() - at;
}

constexpr uint64_t kStored = 0, kDeflated = 8;

// The CRC-32 and length of what `size` deflated bytes at `data` inflate to, or nullopt when they
// are not a whole deflate stream (a damaged byte usually makes them so).
std::optional<std::pair<uint32_t, uint64_t>> InflatedCrc(absl::string_view bytes, uint64_t data, uint64_t size) {
  z_stream stream{};
  if (inflateInit2(&stream, -MAX_WBITS) != Z_OK) return std::nullopt;  // raw deflate, as zip stores it
  std::vector<Bytef> out(1 << 16);
  uint32_t crc = 0;
  uint64_t length = 0, fed = 0;
  int result = Z_OK;
  while (result != Z_STREAM_END) {
    if (stream.avail_in == 0 && fed < size) {  // inflate takes at most 4 GiB - 1 at once
      const uInt chunk = static_cast<uInt>(std::min<uint64_t>(size - fed, uint64_t{1} << 30));
      stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data() + data + fed));
      stream.avail_in = chunk;
      fed += chunk;
    }
    stream.next_out = out.data();
    stream.avail_out = static_cast<uInt>(out.size());
    result = inflate(&stream, Z_NO_FLUSH);
    if (result != Z_OK && result != Z_STREAM_END && result != Z_BUF_ERROR) break;  // not deflate data
    const uInt produced = static_cast<uInt>(out.size()) - stream.avail_out;
    crc = Crc32(out.data(), produced, crc);
    length += produced;
    if (result == Z_BUF_ERROR && stream.avail_in == 0 && fed == size) break;  // the stream stops short
  }
  inflateEnd(&stream);
  if (result != Z_STREAM_END) return std::nullopt;
  return std::make_pair(crc, length);
}

}  // namespace

absl::Status CheckArchive(absl::string_view bytes, const std::string& what) {
  auto damaged = [&](const std::string& why) { return absl::DataLossError(absl::StrCat(what, ": ", why)); };
  // The end-of-directory record: the last 22 bytes, or earlier behind a comment of up to 64 kB.
  size_t end = std::string::npos;
  if (bytes.size() >= 22) {
    const size_t first = bytes.size() - 22 > 0xffff ? bytes.size() - 22 - 0xffff : 0;
    for (size_t at = bytes.size() - 22 + 1; at-- > first;) {
      if (Field(bytes, at, 4) == kEndOfDirectory) {
        end = at;
        break;
      }
    }
  }
  if (end == std::string::npos) return damaged("not a zip archive (no directory at its end: cut off?)");
  uint64_t entries = Field(bytes, end + 10, 2);
  uint64_t directory = Field(bytes, end + 16, 4);
  if (end >= 20 && Field(bytes, end - 20, 4) == kZip64Locator) {
    const uint64_t record = Field(bytes, end - 20 + 8, 8);
    if (!Fits(bytes, record, 56) || Field(bytes, record, 4) != kZip64EndOfDirectory) {
      return damaged("its zip64 directory record is damaged");
    }
    entries = Field(bytes, record + 32, 8);
    directory = Field(bytes, record + 48, 8);
  }
  uint64_t at = directory;
  for (uint64_t i = 0; i < entries; ++i) {
    if (!Fits(bytes, at, 46) || Field(bytes, at, 4) != kDirectoryEntry) {
      return damaged(absl::StrCat("its zip directory is damaged at entry ", i));
    }
    const uint64_t method = Field(bytes, at + 10, 2);
    const uint32_t crc = static_cast<uint32_t>(Field(bytes, at + 16, 4));
    uint64_t size = Field(bytes, at + 20, 4), uncompressed = Field(bytes, at + 24, 4);
    const uint64_t name_size = Field(bytes, at + 28, 2), extra_size = Field(bytes, at + 30, 2);
    const uint64_t comment_size = Field(bytes, at + 32, 2);
    uint64_t local = Field(bytes, at + 42, 4);
    if (!Fits(bytes, at + 46, name_size + extra_size)) return damaged("its zip directory is cut off");
    const std::string name(bytes.substr(at + 46, name_size));
    // Zip64: sizes and offset that do not fit 32 bits move into an extra field, in this order.
    const uint64_t extra_end = at + 46 + name_size + extra_size;
    for (uint64_t e = at + 46 + name_size; e + 4 <= extra_end;) {
      const uint64_t id = Field(bytes, e, 2), length = Field(bytes, e + 2, 2);
      const uint64_t field_end = std::min(e + 4 + length, extra_end);
      if (id == kZip64Extra) {
        uint64_t next = e + 4;
        auto take = [&](uint64_t& value) {
          if (next + 8 > field_end) return false;
          value = Field(bytes, next, 8);
          next += 8;
          return true;
        };
        if (uncompressed == 0xffffffff && !take(uncompressed)) return damaged("a zip64 field is cut off");
        if (size == 0xffffffff && !take(size)) return damaged("a zip64 field is cut off");
        if (local == 0xffffffff && !take(local)) return damaged("a zip64 field is cut off");
      }
      e += 4 + length;
    }
    if (!Fits(bytes, local, 30) || Field(bytes, local, 4) != kLocalHeader) {
      return damaged(absl::StrCat("record '", name, "' is damaged (its header is not where the directory says)"));
    }
    const uint64_t data = local + 30 + Field(bytes, local + 26, 2) + Field(bytes, local + 28, 2);
    if (!Fits(bytes, data, size)) return damaged(absl::StrCat("record '", name, "' is cut off"));
    const std::string changed =
        absl::StrCat("record '", name, "' is damaged (its CRC-32 does not match: a changed byte?)");
    if (method == kStored) {
      if (Crc32(bytes.data() + data, size) != crc) return damaged(changed);
    } else if (method == kDeflated) {  // LibTorch's serialize::OutputArchive compresses some records
      const auto inflated = InflatedCrc(bytes, data, size);
      if (!inflated)
        return damaged(absl::StrCat("record '", name, "' is damaged (its compressed bytes do not inflate)"));
      if (inflated->first != crc || inflated->second != uncompressed) return damaged(changed);
    } else {
      return damaged(absl::StrCat("record '", name, "' uses zip method ", method, ", which no torch archive does"));
    }
    at += 46 + name_size + extra_size + comment_size;
  }
  return absl::OkStatus();
}

}  // namespace qres::io
