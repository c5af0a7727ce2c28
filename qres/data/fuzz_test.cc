// Random truncations and bit flips of valid files: every load is a clean error or a valid
// dataset, never a crash. Run it under AddressSanitizer: bazel test --config=asan //qres/data:fuzz_test
#include <random>
#include <string>

#include "gtest/gtest.h"
#include "qres/data/dataset.h"
#include "qres/data/test_files.h"

namespace qres::data {
namespace {

using namespace ::qres::data::testing;  // NOLINT: test helpers

constexpr int kInputsPerFile = 150;

// Mutates `original` (truncate, flip bits, or both) into `path`, loads, checks the outcome.
int Fuzz(const std::string& name, const std::string& dir, const std::string& path,
         const std::string& original, bool gzip, std::mt19937& rng) {
  int loaded = 0;
  for (int i = 0; i < kInputsPerFile; ++i) {
    std::string bytes = original;
    const int mode = static_cast<int>(rng() % 3);
    if (mode != 1) bytes.resize(rng() % (bytes.size() + 1));
    if (mode != 0 && !bytes.empty()) {
      for (int flips = 1 + rng() % 4; flips > 0; --flips) {
        bytes[rng() % bytes.size()] ^= static_cast<char>(1 << (rng() % 8));
      }
    }
    WriteFile(path, gzip ? Gzip(bytes) : bytes);
    auto data = LoadDataset(name, dir, Split::kTrain);
    if (data.ok()) {
      ++loaded;
      EXPECT_EQ(data->images.size(0), data->labels.size(0));
      EXPECT_LT(data->labels.max().item<int64_t>(), data->classes);
      EXPECT_GE(data->labels.min().item<int64_t>(), 0);
    } else {
      EXPECT_FALSE(data.status().message().empty());
    }
    WriteFile(path, gzip ? Gzip(original) : original);
  }
  return loaded;
}

TEST(LoaderFuzzTest, MutatedFilesNeverCrash) {
  std::mt19937 rng(20261127);
  int inputs = 0;
  for (bool gzip : {false, true}) {
    const std::string dir = MakeTempDir(gzip ? "fuzz_mnist_gz" : "fuzz_mnist");
    WriteMnist(dir, 12, 3, gzip);
    const std::string suffix = gzip ? ".gz" : "";
    Fuzz("MNIST", dir, dir + "/train-images-idx3-ubyte" + suffix, IdxImages(12, 28, 28), gzip, rng);
    Fuzz("MNIST", dir, dir + "/train-labels-idx1-ubyte" + suffix, IdxLabels(12), gzip, rng);
    inputs += 2 * kInputsPerFile;
    if (gzip) {
      // Mutate the compressed stream itself.
      const std::string path = dir + "/train-labels-idx1-ubyte.gz";
      const std::string compressed = Gzip(IdxLabels(12));
      for (int i = 0; i < kInputsPerFile; ++i, ++inputs) {
        std::string bytes = compressed;
        bytes.resize(rng() % (bytes.size() + 1));
        if (!bytes.empty()) bytes[rng() % bytes.size()] ^= static_cast<char>(1 << (rng() % 8));
        WriteFile(path, bytes);
        auto data = LoadDataset("MNIST", dir, Split::kTrain);
        if (data.ok()) EXPECT_EQ(data->images.size(0), data->labels.size(0));
      }
    }
  }
  const std::string dir = MakeTempDir("fuzz_cifar");
  WriteCifar100(dir, 4, 2);
  Fuzz("CIFAR100", dir, dir + "/train.bin", CifarRecords(4, 2, 100), false, rng);
  inputs += kInputsPerFile;
  std::printf("fuzzed %d inputs\n", inputs);
}

}  // namespace
}  // namespace qres::data
