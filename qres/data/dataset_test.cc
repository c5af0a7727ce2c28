// Loaders on files the tests write: valid data loads; every kind of bad file is a clean error
// that names the file.
#include "qres/data/dataset.h"

#include <sys/resource.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "ATen/ops/bincount.h"
#include "ATen/ops/equal.h"
#include "ATen/ops/full.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "qres/data/test_files.h"
#include "qres/io/file_reader.h"
#include "qres/io/files.h"

namespace qres::data {
namespace {

using ::testing::HasSubstr;
using namespace ::qres::data::testing;  // NOLINT: test helpers

absl::Status LoadStatus(const std::string& name, const std::string& dir, Split split = Split::kTrain) {
  return LoadDataset(name, dir, split).status();
}

TEST(MnistTest, LoadsGzippedAndRawFiles) {
  for (bool gzip : {true, false}) {
    const std::string dir = MakeTempDir(gzip ? "mnist_gz" : "mnist_raw");
    WriteMnist(dir, 30, 12, gzip);
    for (const char* name : {"MNIST", "FashionMNIST"}) {
      auto train = LoadDataset(name, dir, Split::kTrain);
      ASSERT_TRUE(train.ok()) << train.status();
      EXPECT_EQ(train->images.sizes(), (std::vector<int64_t>{30, 1, 28, 28}));
      EXPECT_EQ(train->images.scalar_type(), at::kByte);
      EXPECT_EQ(train->labels.scalar_type(), at::kLong);
      EXPECT_EQ(train->labels[13].item<int64_t>(), 3);
      EXPECT_EQ(train->images[1][0][0][2].item<int>(), 9);  // (1 * 7 + 2) % 256
      auto test = LoadDataset(name, dir, Split::kTest);
      ASSERT_TRUE(test.ok()) << test.status();
      EXPECT_EQ(test->size(), 12);
    }
  }
}

TEST(MnistTest, BadFilesAreCleanErrorsNamingTheFile) {
  const std::string dir = MakeTempDir("mnist_bad");
  const std::string images = dir + "/train-images-idx3-ubyte";
  const std::string labels = dir + "/train-labels-idx1-ubyte";
  auto reset = [&] { WriteMnist(dir, 20, 5, /*gzip=*/false); };
  auto expect_error = [&](const std::string& file, const std::string& what) {
    absl::Status status = LoadStatus("MNIST", dir);
    EXPECT_FALSE(status.ok()) << what;
    EXPECT_THAT(status.message(), HasSubstr(file)) << what;
    EXPECT_THAT(status.message(), HasSubstr(what));
    EXPECT_THAT(std::string(status.message()), ::testing::Not(HasSubstr("\n")));
  };

  EXPECT_THAT(LoadStatus("MNIST", dir + "/missing").message(), HasSubstr("no train-images-idx3-ubyte"));
  reset();
  std::remove(labels.c_str());
  expect_error(dir, "no train-labels-idx1-ubyte");

  reset();
  std::string bytes = ReadFile(images);
  bytes[3] = 0x01;
  WriteFile(images, bytes);
  expect_error(images, "wrong magic number 0x00000801");

  reset();
  WriteFile(images, IdxImages(20, 32, 32));
  expect_error(images, "images are 32x32");

  reset();
  WriteFile(images, ReadFile(images).substr(0, 1000));
  expect_error(images, "truncated");

  reset();
  WriteFile(images, ReadFile(images).substr(0, 10));
  expect_error(images, "truncated IDX header");

  reset();
  WriteFile(images, ReadFile(images) + "xyz");
  expect_error(images, "3 trailing bytes");

  reset();
  WriteFile(labels, IdxLabels(20, 12));  // labels 10, 11 are out of range
  expect_error(labels, "label 11 is out of range [0, 10)");

  reset();
  WriteFile(labels, IdxLabels(19));
  expect_error(labels, "19 labels for 20 images");

  reset();
  std::remove(images.c_str());
  std::string gz = Gzip(IdxImages(20, 28, 28));
  gz[gz.size() / 2] ^= 0x5a;
  WriteFile(images + ".gz", gz);
  expect_error(images + ".gz", "gzip");
  WriteFile(images + ".gz", Gzip(IdxImages(20, 28, 28)).substr(0, 200));
  expect_error(images + ".gz", "gzip");
}

// A small gzip file that inflates to `head`, then `megabytes` of zeros (gzip members back to back
// read as one stream): about 1 kB per megabyte.
std::string GzipBomb(const std::string& head, int megabytes = 1024) {
  const std::string megabyte_of_zeros = Gzip(std::string(size_t{1} << 20, '\0'));
  std::string bomb = Gzip(head);
  for (int i = 0; i < megabytes; ++i) bomb += megabyte_of_zeros;
  return bomb;
}

// Loads `name` from `dir` in a child process that may use at most 256 MB more address space than
// it has, and exits 0 if the load failed with a one-line error holding `what` (printed).
void ExpectCleanFailureInLittleMemory(const std::string& name, const std::string& dir, const std::string& what) {
  EXPECT_EXIT(
      {
        rlimit limit{};
        getrlimit(RLIMIT_AS, &limit);
        std::ifstream status_file("/proc/self/status");
        std::string line;
        uint64_t virtual_kb = 0;
        while (std::getline(status_file, line)) {
          if (line.rfind("VmSize:", 0) == 0) virtual_kb = std::stoull(line.substr(7));
        }
        limit.rlim_cur = (virtual_kb << 10) + (uint64_t{256} << 20);
        setrlimit(RLIMIT_AS, &limit);
        const absl::Status status = LoadStatus(name, dir);
        std::fprintf(stderr, "%s\n", std::string(status.message()).c_str());
        const bool clean = !status.ok() && std::string(status.message()).find('\n') == std::string::npos;
        std::_Exit(clean ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), what);
}

TEST(MnistTest, AGzipBombFailsEarlyInLittleMemory) {
  const std::string dir = MakeTempDir("mnist_bomb");
  WriteMnist(dir, 20, 5, /*gzip=*/true);
  // A valid header and data for 20 images, then a gigabyte.
  WriteFile(dir + "/train-images-idx3-ubyte.gz", GzipBomb(IdxImages(20, 28, 28)));
  ExpectCleanFailureInLittleMemory("MNIST", dir, "train-images-idx3-ubyte.gz: 1048576 or more trailing bytes");
  // A header that promises 13 GB (16777217 images), then 4 MB: memory follows the data, not the
  // promise.
  std::string header = IdxImages(1, 28, 28).substr(0, 16);
  header[4] = 1;
  WriteFile(dir + "/train-images-idx3-ubyte.gz", GzipBomb(header, 4));
  ExpectCleanFailureInLittleMemory("MNIST", dir,
                                   "train-images-idx3-ubyte.gz: truncated: 4194320 bytes, the header promises");
}

TEST(CifarTest, AGzipBombFailsEarlyInLittleMemory) {
  const std::string dir = MakeTempDir("cifar_bomb");
  WriteCifar10(dir, 3);
  WriteFile(dir + "/data_batch_2.bin", GzipBomb(CifarRecords(3, 1, 10)));  // read through zlib too
  ExpectCleanFailureInLittleMemory("CIFAR10", dir, "data_batch_2.bin: more than 153650000 bytes");
  WriteCifar100(dir, 3, 2);
  WriteFile(dir + "/fine_label_names.txt", GzipBomb("apple\n"));
  ExpectCleanFailureInLittleMemory("CIFAR100", dir, "fine_label_names.txt: more than 1048576 bytes");
}

TEST(CifarTest, LoadsBothArchivesAndTheirSubfolders) {
  const std::string dir = MakeTempDir("cifar");
  WriteCifar10(dir + "/cifar-10-batches-bin", 7);
  WriteCifar100(dir + "/cifar-100-binary", 9, 4);
  auto c10 = LoadDataset("CIFAR10", dir, Split::kTrain);
  ASSERT_TRUE(c10.ok()) << c10.status();
  EXPECT_EQ(c10->images.sizes(), (std::vector<int64_t>{35, 3, 32, 32}));
  EXPECT_EQ(c10->labels[8].item<int64_t>(), 1);  // second file, record 1
  EXPECT_EQ(c10->images[1][0][0][0].item<int>(), 1);
  EXPECT_EQ(c10->default_batch_size, 128);
  auto c10_test = LoadDataset("CIFAR10", dir + "/cifar-10-batches-bin", Split::kTest);
  ASSERT_TRUE(c10_test.ok()) << c10_test.status();
  EXPECT_EQ(c10_test->size(), 7);
  auto c100 = LoadDataset("CIFAR100", dir, Split::kTrain);
  ASSERT_TRUE(c100.ok()) << c100.status();
  EXPECT_EQ(c100->classes, 100);
  EXPECT_EQ(c100->size(), 9);
  EXPECT_EQ(c100->labels[5].item<int64_t>(), 5);
  EXPECT_EQ(c100->class_names[7], "class 7");  // no names file
  EXPECT_EQ(c10->class_names[3], "cat");
}

TEST(CifarTest, ReadsTheFineLabelNamesBesideTheRecords) {
  const std::string dir = MakeTempDir("cifar_names");
  WriteCifar100(dir, 3, 2);
  std::string names;
  for (int c = 0; c < 100; ++c) names += "name_" + std::to_string(c) + "\n";
  WriteFile(dir + "/fine_label_names.txt", names + "\n");  // the archive's file ends in a blank line
  auto c100 = LoadDataset("CIFAR100", dir, Split::kTest);
  ASSERT_TRUE(c100.ok()) << c100.status();
  EXPECT_EQ(c100->class_names.front(), "name_0");
  EXPECT_EQ(c100->class_names.back(), "name_99");
  WriteFile(dir + "/fine_label_names.txt", "apple\nbaby\n");
  const absl::Status status = LoadStatus("CIFAR100", dir);
  EXPECT_THAT(status.message(), HasSubstr(dir + "/fine_label_names.txt: 2 class names, expected 100"));
}

TEST(CifarTest, BadFilesAreCleanErrorsNamingTheFile) {
  const std::string dir = MakeTempDir("cifar_bad");
  const std::string file = dir + "/data_batch_3.bin";
  auto reset = [&] { WriteCifar10(dir, 3); };
  auto expect_error = [&](const std::string& name, const std::string& path, const std::string& what) {
    absl::Status status = LoadStatus(name, dir);
    EXPECT_FALSE(status.ok()) << what;
    EXPECT_THAT(status.message(), HasSubstr(path)) << what;
    EXPECT_THAT(status.message(), HasSubstr(what));
  };
  reset();
  std::remove(file.c_str());
  expect_error("CIFAR10", file, "missing");
  reset();
  WriteFile(file, ReadFile(file).substr(0, 3073 * 2 + 100));
  expect_error("CIFAR10", file, "not a whole number of 3073-byte");
  reset();
  WriteFile(file, ReadFile(file) + "z");
  expect_error("CIFAR10", file, "not a whole number");
  reset();
  WriteFile(file, "");
  expect_error("CIFAR10", file, "0 bytes");
  reset();
  std::string bytes = ReadFile(file);
  bytes[3073] = 10;
  WriteFile(file, bytes);
  expect_error("CIFAR10", file, "record 1: label 10 is out of range [0, 10)");

  WriteCifar100(dir, 4, 2);
  std::string c100 = ReadFile(dir + "/train.bin");
  c100[1] = 100;
  WriteFile(dir + "/train.bin", c100);
  expect_error("CIFAR100", dir + "/train.bin", "label 100 is out of range [0, 100)");
  c100[1] = 3;
  c100[0] = 20;
  WriteFile(dir + "/train.bin", c100);
  expect_error("CIFAR100", dir + "/train.bin", "coarse label 20");
}

TEST(DatasetRegistryTest, UnknownNameListsTheDatasets) {
  EXPECT_THAT(LoadStatus("SVHN", "/tmp").message(),
              HasSubstr("unknown dataset 'SVHN'; registered: CIFAR10, CIFAR100, FashionMNIST, MNIST"));
}

TEST(FashionMnistTest, RealDebianDataHasTheOfficialCounts) {
  const std::string dir = "/usr/share/datasets/fashion-mnist";
  if (!io::FileExists(dir + "/train-images-idx3-ubyte.gz")) {
    GTEST_SKIP() << dir << " is missing: install Debian's dataset-fashion-mnist (tools/setup.sh)";
  }
  auto train = LoadDataset("FashionMNIST", "", Split::kTrain);
  ASSERT_TRUE(train.ok()) << train.status();
  auto test = LoadDataset("FashionMNIST", "", Split::kTest);
  ASSERT_TRUE(test.ok()) << test.status();
  EXPECT_EQ(train->size(), 60000);
  EXPECT_EQ(test->size(), 10000);
  EXPECT_TRUE(at::equal(at::bincount(train->labels), at::full({10}, 6000, at::kLong)));
  EXPECT_TRUE(at::equal(at::bincount(test->labels), at::full({10}, 1000, at::kLong)));
}

}  // namespace
}  // namespace qres::data
