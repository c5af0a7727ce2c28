#include "qres/io/tensorboard.h"

#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"

namespace qres::io {
namespace {

std::array<uint32_t, 256> Crc32cTable() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t crc = i;
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));  // reflected
    table[i] = crc;
  }
  return table;
}

// Protocol-buffer wire format, the few pieces an Event needs.
void Varint(std::string& out, uint64_t value) {
  while (value >= 0x80) {
    out.push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}
template <typename T>
void LittleEndian(std::string& out, T value) {  // x86 and aarch64 hosts are little-endian
  char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));
  out.append(bytes, sizeof(T));
}
void Bytes(std::string& out, int field, absl::string_view bytes) {
  Varint(out, static_cast<uint64_t>(field) << 3 | 2);  // length-delimited
  Varint(out, bytes.size());
  out.append(bytes.data(), bytes.size());
}

// Event{wall_time = 1 (double), step = 2 (int64), file_version = 3 | summary = 5}.
std::string EventHeader(int64_t step) {
  std::string event;
  Varint(event, 1 << 3 | 1);  // 64-bit
  LittleEndian(event, std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count());
  Varint(event, 2 << 3 | 0);  // varint
  Varint(event, static_cast<uint64_t>(step));
  return event;
}

}  // namespace

uint32_t Crc32c(absl::string_view bytes) {
  static const std::array<uint32_t, 256> table = Crc32cTable();
  uint32_t crc = 0xffffffffu;
  for (unsigned char byte : bytes) crc = table[(crc ^ byte) & 0xff] ^ (crc >> 8);
  return crc ^ 0xffffffffu;
}

uint32_t MaskedCrc32c(absl::string_view bytes) {
  const uint32_t crc = Crc32c(bytes);
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

absl::StatusOr<std::unique_ptr<EventWriter>> EventWriter::Open(const std::string& dir) {
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) return absl::FailedPreconditionError(absl::StrCat(dir, ": cannot create it: ", error.message()));
  char host[256] = "localhost";
  gethostname(host, sizeof(host) - 1);
  const int64_t seconds =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  // The pid keeps two writers started in the same second apart.
  const std::string path = absl::StrCat(dir, "/events.out.tfevents.", seconds, ".", host, ".", getpid());
  FILE* file = std::fopen(path.c_str(), "wb");
  if (file == nullptr)
    return absl::FailedPreconditionError(absl::StrCat(path, ": cannot write it: ", std::strerror(errno)));
  std::unique_ptr<EventWriter> writer(new EventWriter(path, file));
  std::string first = EventHeader(0);
  Bytes(first, 3, "brain.Event:2");
  if (absl::Status written = writer->WriteRecord(first); !written.ok()) return written;
  return writer;
}

EventWriter::~EventWriter() { std::fclose(file_); }

absl::Status EventWriter::Scalars(int64_t step, const std::vector<std::pair<std::string, double>>& values) {
  std::string summary;  // Summary{repeated Value value = 1}, Value{tag = 1, simple_value = 2 (float)}
  for (const auto& [tag, value] : values) {
    std::string entry;
    Bytes(entry, 1, tag);
    Varint(entry, 2 << 3 | 5);  // 32-bit
    LittleEndian(entry, static_cast<float>(value));
    Bytes(summary, 1, entry);
  }
  std::string event = EventHeader(step);
  Bytes(event, 5, summary);
  return WriteRecord(event);
}

absl::Status EventWriter::WriteRecord(const std::string& event) {
  std::string record;
  LittleEndian(record, static_cast<uint64_t>(event.size()));
  LittleEndian(record, MaskedCrc32c(record));
  record += event;
  LittleEndian(record, MaskedCrc32c(event));
  if (std::fwrite(record.data(), 1, record.size(), file_) != record.size() || std::fflush(file_) != 0) {
    return absl::DataLossError(absl::StrCat(path_, ": cannot write: ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace qres::io
