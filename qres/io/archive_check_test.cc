// CheckArchive on a real torch archive and on thousands of damaged copies: intact is OK, a changed
// data byte is "damaged", and no input, however mangled, reads outside the buffer (run it under
// AddressSanitizer: bazel test --config=asan //qres/tools:archive_check_test).
#include "qres/io/archive_check.h"

#include <random>
#include <string>
#include <vector>

#include "ATen/core/Dict.h"
#include "ATen/core/ivalue.h"
#include "ATen/ops/arange.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "torch/serialize.h"

namespace qres::io {
namespace {

using ::testing::HasSubstr;

// A model-file-like archive: a dict of two tensors, pickled as torch.save writes it.
std::string Archive() {
  c10::Dict<std::string, at::Tensor> dict;
  dict.insert("weight", at::arange(1000, at::kFloat));
  dict.insert("bias", at::arange(10, at::kFloat));
  const std::vector<char> bytes = torch::pickle_save(c10::IValue(dict));
  return std::string(bytes.begin(), bytes.end());
}

TEST(ArchiveCheckTest, IntactIsOkAndAChangedDataByteIsDamaged) {
  const std::string archive = Archive();
  EXPECT_TRUE(CheckArchive(archive, "m.pt").ok());
  // The weight's 4000 bytes are the bulk of the file: its middle is tensor data.
  std::string flipped = archive;
  flipped[flipped.size() / 2] ^= 0x01;
  const absl::Status status = CheckArchive(flipped, "m.pt");
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(status.message()), HasSubstr("m.pt: record '"));
  EXPECT_THAT(std::string(status.message()), HasSubstr("is damaged (its CRC-32 does not match"));
  EXPECT_THAT(std::string(CheckArchive("", "m.pt").message()), HasSubstr("m.pt: not a zip archive"));
  EXPECT_THAT(std::string(CheckArchive(archive.substr(0, archive.size() - 1), "m.pt").message()),
              HasSubstr("not a zip archive"));
}

// Offsets near 2^64 in the zip64 records: `offset + length` wraps around, so bounds must be
// checked by subtraction (the first version read outside the buffer here).
TEST(ArchiveCheckTest, OffsetsThatWrapAroundAreErrors) {
  const std::string archive = Archive();
  const size_t locator = archive.rfind(std::string("PK\x06\x07", 4));
  ASSERT_NE(locator, std::string::npos) << "torch writes a zip64 locator";
  std::string bytes = archive;
  const uint64_t near_end = ~uint64_t{0} - 15;  // + 56 wraps to 40
  for (int b = 0; b < 8; ++b) bytes[locator + 8 + b] = static_cast<char>(near_end >> (8 * b));
  EXPECT_THAT(std::string(CheckArchive(bytes, "m.pt").message()), HasSubstr("zip64 directory record is damaged"));
}

TEST(ArchiveCheckTest, MangledArchivesAreErrorsNeverCrashes) {
  const std::string archive = Archive();
  std::mt19937_64 rng(20261128);
  int ok = 0, damaged = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string bytes = archive;
    switch (rng() % 3) {
      case 0:  // truncated
        bytes.resize(rng() % bytes.size());
        break;
      case 1:  // bits flipped anywhere, directory included
        for (int flips = 1 + rng() % 4; flips > 0; --flips) bytes[rng() % bytes.size()] ^= 1 << (rng() % 8);
        break;
      default:  // a random 8-byte value written over any field (offsets and sizes near 2^64)
        const uint64_t value = rng();
        const size_t at = rng() % (bytes.size() - 8);
        for (int b = 0; b < 8; ++b) bytes[at + b] = static_cast<char>(value >> (8 * b));
        break;
    }
    const absl::Status status = CheckArchive(bytes, "m.pt");
    if (status.ok()) {
      ++ok;
    } else {
      ++damaged;
      EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
      EXPECT_THAT(std::string(status.message()), HasSubstr("m.pt: "));
    }
  }
  EXPECT_GT(damaged, 0);
  EXPECT_GT(ok, 0);  // changes in what no CRC covers (padding, timestamps) pass
}

}  // namespace
}  // namespace qres::io
