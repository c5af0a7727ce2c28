#include "qres/io/tensorboard.h"

#include <sys/stat.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace qres::io {
namespace {

using ::testing::HasSubstr;

TEST(TensorBoardTest, Crc32cIsCastagnolis) {
  EXPECT_EQ(Crc32c("123456789"), 0xe3069283u);  // the standard check value
  EXPECT_EQ(Crc32c(""), 0u);
}

// Every record's framing and CRCs check out, the first event names the file version, and a
// scalar's tag and float value are in the next one (the tfevents reader is checked from Python
// in tensorboard_reader_test).
TEST(TensorBoardTest, RecordsAreFramedAndChecksummed) {
  const std::string dir = std::string(std::getenv("TEST_TMPDIR")) + "/tb";
  auto writer = EventWriter::Open(dir);
  ASSERT_TRUE(writer.ok()) << writer.status();
  ASSERT_TRUE((*writer)->Scalars(7, {{"epoch/loss", 0.25}, {"epoch/lr", 0.01}}).ok());
  std::ifstream file((*writer)->path(), std::ios::binary);
  std::stringstream bytes;
  bytes << file.rdbuf();
  const std::string data = bytes.str();
  size_t at = 0;
  std::vector<std::string> events;
  while (at < data.size()) {
    ASSERT_LE(at + 12, data.size());
    uint64_t length;
    uint32_t length_crc, data_crc;
    std::memcpy(&length, data.data() + at, 8);
    std::memcpy(&length_crc, data.data() + at + 8, 4);
    EXPECT_EQ(length_crc, MaskedCrc32c(data.substr(at, 8)));
    ASSERT_LE(at + 12 + length + 4, data.size());
    const std::string event = data.substr(at + 12, length);
    std::memcpy(&data_crc, data.data() + at + 12 + length, 4);
    EXPECT_EQ(data_crc, MaskedCrc32c(event));
    events.push_back(event);
    at += 12 + length + 4;
  }
  ASSERT_EQ(events.size(), 2u);
  EXPECT_THAT(events[0], HasSubstr("brain.Event:2"));
  EXPECT_THAT(events[1], HasSubstr("epoch/loss"));
  const float quarter = 0.25f;
  EXPECT_THAT(events[1], HasSubstr(std::string(reinterpret_cast<const char*>(&quarter), 4)));
}

TEST(TensorBoardTest, AnUnwritableFolderIsAnError) {
  const std::string file = std::string(std::getenv("TEST_TMPDIR")) + "/a_file";
  std::ofstream(file) << "x";
  auto writer = EventWriter::Open(file + "/runs");
  ASSERT_FALSE(writer.ok());
  EXPECT_THAT(std::string(writer.status().message()), HasSubstr(file + "/runs: cannot create it: "));
}

}  // namespace
}  // namespace qres::io
