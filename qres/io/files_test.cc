// WriteFileAtomically replaces a regular file whole and never replaces what is not one.
#include "qres/io/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace qres::io {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

std::string FreshDir(const std::string& name) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  const fs::path dir = fs::path(tmp != nullptr ? tmp : "/tmp") / ("outputs_test_" + name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

TEST(WriteFileAtomicallyTest, ReplacesARegularFileWhole) {
  const std::string path = FreshDir("regular") + "/a.txt";
  ASSERT_TRUE(WriteFileAtomically(path, "old").ok());
  ASSERT_TRUE(WriteFileAtomically(path, "new contents").ok());
  EXPECT_EQ(*ReadWholeFile(path), "new contents");
  EXPECT_EQ(std::distance(fs::directory_iterator(fs::path(path).parent_path()), fs::directory_iterator()), 1)
      << "a temporary file was left beside it";
}

// A report's .md, .csv and .png are one set: a file that cannot be written (here its folder is
// missing; a full disk fails the same way) leaves the others as they were, with no temporary files.
TEST(WriteFilesAtomicallyTest, AFailureLeavesTheOldSetWhole) {
  const std::string dir = FreshDir("set");
  ASSERT_TRUE(WriteFilesAtomically({{dir + "/report.md", "old md"}, {dir + "/report.csv", "old csv"}}).ok());
  const absl::Status status = WriteFilesAtomically(
      {{dir + "/report.md", "new md"}, {dir + "/report.csv", "new csv"}, {dir + "/missing/report.png", "png"}});
  EXPECT_THAT(std::string(status.message()), HasSubstr(dir + "/missing/report.png: cannot write"));
  EXPECT_EQ(*ReadWholeFile(dir + "/report.md"), "old md");
  EXPECT_EQ(*ReadWholeFile(dir + "/report.csv"), "old csv");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 2) << "temporary files were left";
  ASSERT_TRUE(WriteFilesAtomically({{dir + "/report.md", "new md"}, {dir + "/report.csv", "new csv"}}).ok());
  EXPECT_EQ(*ReadWholeFile(dir + "/report.csv"), "new csv");
}

TEST(WriteFileAtomicallyTest, WritesIntoAFifoAndLeavesItAFifo) {
  const std::string path = FreshDir("fifo") + "/plot.png";
  ASSERT_EQ(mkfifo(path.c_str(), 0600), 0);
  std::string received;
  std::thread reader([&] { received = *ReadWholeFile(path); });  // opening blocks until the writer opens
  const absl::Status written = WriteFileAtomically(path, "streamed bytes");
  reader.join();
  ASSERT_TRUE(written.ok()) << written;
  EXPECT_EQ(received, "streamed bytes");
  struct stat status;
  ASSERT_EQ(lstat(path.c_str(), &status), 0);
  EXPECT_TRUE(S_ISFIFO(status.st_mode)) << "the FIFO was replaced";
}

TEST(WriteFileAtomicallyTest, KeepsASymbolicLinkAndReplacesItsTarget) {
  const std::string dir = FreshDir("link");
  ASSERT_TRUE(WriteFileAtomically(dir + "/target.txt", "old").ok());
  fs::create_symlink("target.txt", dir + "/link.txt");
  ASSERT_TRUE(WriteFileAtomically(dir + "/link.txt", "through the link").ok());
  EXPECT_TRUE(fs::is_symlink(dir + "/link.txt"));
  EXPECT_EQ(*ReadWholeFile(dir + "/target.txt"), "through the link");

  fs::create_symlink("later.txt", dir + "/dangling.txt");  // a link to a file not made yet
  ASSERT_TRUE(WriteFileAtomically(dir + "/dangling.txt", "made").ok());
  EXPECT_TRUE(fs::is_symlink(dir + "/dangling.txt"));
  EXPECT_EQ(*ReadWholeFile(dir + "/later.txt"), "made");
}

TEST(WriteFileAtomicallyTest, ADirectoryIsAnErrorAndStays) {
  const std::string dir = FreshDir("directory");
  fs::create_directory(dir + "/out.md");
  const absl::Status status = WriteFileAtomically(dir + "/out.md", "text");
  EXPECT_THAT(std::string(status.message()), HasSubstr(dir + "/out.md: is a directory"));
  EXPECT_TRUE(fs::is_directory(dir + "/out.md"));
}

TEST(ReadWholeFileTest, AFolderOrADeviceIsAnError) {
  const std::string dir = FreshDir("read");
  EXPECT_THAT(std::string(ReadWholeFile(dir).status().message()), HasSubstr(dir + ": is a folder, not a file"));
  EXPECT_THAT(std::string(ReadWholeFile("/dev/zero").status().message()),
              HasSubstr("/dev/zero: not a file (a device or socket)"));
  EXPECT_EQ(ReadWholeFile(dir + "/missing").status().code(), absl::StatusCode::kNotFound);
}

// A pipe is read up to the bound, not until memory runs out; a tool's own files are never FIFOs.
TEST(ReadWholeFileTest, StopsAtItsBoundAndReadRegularFileRefusesAFifo) {
  const std::string dir = FreshDir("bound");
  ASSERT_TRUE(WriteFileAtomically(dir + "/big", std::string(100000, 'x')).ok());
  EXPECT_THAT(std::string(ReadWholeFile(dir + "/big", 70000).status().message()),
              HasSubstr("more than 70000 bytes (an endless pipe?)"));
  EXPECT_EQ(ReadWholeFile(dir + "/big", 100000)->size(), 100000u);
  ASSERT_EQ(mkfifo((dir + "/fifo").c_str(), 0644), 0);
  EXPECT_THAT(std::string(ReadRegularFile(dir + "/fifo").status().message()),
              HasSubstr(dir + "/fifo: a FIFO, not a regular file"));
}

// Symbolic-link loops are errors naming the path, in KindOf and in a listing's entry, never an
// exception; a listing is sorted and knows each entry's kind.
TEST(KindOfTest, NamesEveryKindAndALoop) {
  const std::string dir = FreshDir("kinds");
  ASSERT_TRUE(WriteFileAtomically(dir + "/b_file", "x").ok());
  ASSERT_EQ(mkdir((dir + "/c_dir").c_str(), 0755), 0);
  ASSERT_EQ(mkfifo((dir + "/d_fifo").c_str(), 0644), 0);
  ASSERT_EQ(symlink("a_loop", (dir + "/a_loop").c_str()), 0);
  ASSERT_EQ(symlink("b_file", (dir + "/e_link").c_str()), 0);
  EXPECT_EQ(*KindOf(dir + "/b_file"), PathKind::kFile);
  EXPECT_EQ(*KindOf(dir + "/e_link"), PathKind::kFile);
  EXPECT_EQ(*KindOf(dir + "/c_dir"), PathKind::kDirectory);
  EXPECT_EQ(*KindOf(dir + "/d_fifo"), PathKind::kFifo);
  EXPECT_EQ(*KindOf(dir + "/missing"), PathKind::kMissing);
  EXPECT_EQ(*KindOf(dir + "/b_file/under_a_file"), PathKind::kMissing);
  EXPECT_THAT(std::string(KindOf(dir + "/a_loop").status().message()),
              HasSubstr(dir + "/a_loop: Too many levels of symbolic links"));
  EXPECT_THAT(std::string(KindOf(dir + "/a_loop/x").status().message()), HasSubstr("Too many levels"));

  absl::StatusOr<std::vector<DirectoryEntry>> entries = ListDirectory(dir);
  ASSERT_TRUE(entries.ok()) << entries.status();
  std::vector<std::string> names;
  for (const DirectoryEntry& entry : *entries) names.push_back(entry.name);
  EXPECT_THAT(names, ::testing::ElementsAre("a_loop", "b_file", "c_dir", "d_fifo", "e_link"));
  EXPECT_EQ((*entries)[0].kind, PathKind::kOther);
  EXPECT_EQ((*entries)[0].problem, "Too many levels of symbolic links");
  EXPECT_EQ((*entries)[1].path, dir + "/b_file");
  EXPECT_THAT(std::string(ListDirectory(dir + "/a_loop").status().message()),
              HasSubstr(dir + "/a_loop: cannot list: Too many levels of symbolic links"));
}

}  // namespace
}  // namespace qres::io
