// Random truncations and bit flips of valid files: every load is a clean error or a valid
// dataset, never a crash, and exactly the mutations that leave a valid file load, with the bytes
// they hold. Run it under AddressSanitizer: bazel test --config=asan //qres/data:fuzz_test
#include <cstring>
#include <functional>
#include <random>
#include <string>

#include "ATen/ops/equal.h"
#include "ATen/ops/from_blob.h"
#include "gtest/gtest.h"
#include "qres/data/dataset.h"
#include "qres/data/test_files.h"

namespace qres::data {
namespace {

using namespace ::qres::data::testing;  // NOLINT: test helpers

constexpr int kInputsPerFile = 150;

// What a mutated file must give: whether it is still a valid file of its kind, and for one that
// is, a check that the loaded dataset holds its bytes.
struct Format {
  std::function<bool(const std::string& bytes)> valid;
  std::function<void(const Dataset& data, const std::string& bytes)> check_content;
};

at::Tensor Bytes(const std::string& bytes, size_t from, int64_t count) {
  return at::from_blob(const_cast<char*>(bytes.data() + from), {count}, at::kByte).clone();
}

// IDX with `header` bytes equal to the original's and `body` bytes, each checked by `body_ok`.
Format Idx(const std::string& original, size_t header, const std::function<bool(unsigned char)>& body_ok, bool images) {
  return {[=](const std::string& bytes) {
            if (bytes.size() != original.size() || bytes.compare(0, header, original, 0, header) != 0) return false;
            for (size_t i = header; i < bytes.size(); ++i) {
              if (!body_ok(static_cast<unsigned char>(bytes[i]))) return false;
            }
            return true;
          },
          [=](const Dataset& data, const std::string& bytes) {
            const int64_t count = static_cast<int64_t>(bytes.size() - header);
            const at::Tensor loaded = images ? data.images.reshape({-1}) : data.labels.to(at::kByte);
            EXPECT_TRUE(at::equal(loaded, Bytes(bytes, header, count)));
          }};
}

// Mutates `original` (truncate, flip bits, or both) into `path`, loads, and checks the outcome
// against `format`; returns how many mutations loaded.
int Fuzz(const std::string& name, const std::string& dir, const std::string& path, const std::string& original,
         const Format& format, bool gzip, std::mt19937& rng) {
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
    EXPECT_EQ(data.ok(), format.valid(bytes)) << name << " input " << i << ": " << data.status();
    if (data.ok()) {
      ++loaded;
      format.check_content(*data, bytes);
    } else {
      EXPECT_NE(std::string(data.status().message()).find(path), std::string::npos) << data.status();
      EXPECT_EQ(std::string(data.status().message()).find('\n'), std::string::npos) << data.status();
    }
    WriteFile(path, gzip ? Gzip(original) : original);
  }
  return loaded;
}

TEST(LoaderFuzzTest, MutatedFilesLoadExactlyWhenStillValid) {
  std::mt19937 rng(20261127);
  int inputs = 0, loaded = 0;
  const auto any_byte = [](unsigned char) { return true; };
  const auto label_byte = [](unsigned char b) { return b < 10; };
  for (bool gzip : {false, true}) {
    const std::string dir = MakeTempDir(gzip ? "fuzz_mnist_gz" : "fuzz_mnist");
    WriteMnist(dir, 12, 3, gzip);
    const std::string suffix = gzip ? ".gz" : "";
    const std::string images = IdxImages(12, 28, 28), labels = IdxLabels(12);
    loaded += Fuzz("MNIST", dir, dir + "/train-images-idx3-ubyte" + suffix, images,
                   Idx(images, 16, any_byte, /*images=*/true), gzip, rng);
    loaded += Fuzz("MNIST", dir, dir + "/train-labels-idx1-ubyte" + suffix, labels,
                   Idx(labels, 8, label_byte, /*images=*/false), gzip, rng);
    inputs += 2 * kInputsPerFile;
    if (gzip) {
      // Mutate the compressed stream itself: a load that succeeds must give the original labels
      // (a flip that zlib's CRC-32 misses cannot hide in 15 bytes).
      const std::string path = dir + "/train-labels-idx1-ubyte.gz";
      const std::string compressed = Gzip(labels);
      const Format exact = Idx(labels, 8, label_byte, false);
      for (int i = 0; i < kInputsPerFile; ++i, ++inputs) {
        std::string bytes = compressed;
        bytes.resize(rng() % (bytes.size() + 1));
        if (!bytes.empty()) bytes[rng() % bytes.size()] ^= static_cast<char>(1 << (rng() % 8));
        WriteFile(path, bytes);
        auto data = LoadDataset("MNIST", dir, Split::kTrain);
        if (data.ok()) {
          ++loaded;
          exact.check_content(*data, labels);
        }
      }
    }
  }
  const std::string dir = MakeTempDir("fuzz_cifar");
  WriteCifar100(dir, 4, 2);
  const std::string records = CifarRecords(4, 2, 100);
  const Format cifar{[&](const std::string& bytes) {
                       if (bytes.empty() || bytes.size() % 3074 != 0) return false;
                       for (size_t r = 0; r < bytes.size(); r += 3074) {
                         const auto coarse = static_cast<unsigned char>(bytes[r]);
                         const auto fine = static_cast<unsigned char>(bytes[r + 1]);
                         if (coarse >= 20 || fine >= 100) return false;
                       }
                       return true;
                     },
                     [](const Dataset& data, const std::string& bytes) {
                       const int64_t n = static_cast<int64_t>(bytes.size() / 3074);
                       for (int64_t r = 0; r < n; ++r) {
                         EXPECT_EQ(data.labels[r].item<int64_t>(), static_cast<unsigned char>(bytes[r * 3074 + 1]));
                         EXPECT_TRUE(at::equal(data.images[r].reshape({-1}), Bytes(bytes, r * 3074 + 2, 3072)));
                       }
                     }};
  loaded += Fuzz("CIFAR100", dir, dir + "/train.bin", records, cifar, false, rng);
  inputs += kInputsPerFile;
  // Both outcomes must occur, or the mutations test nothing.
  EXPECT_GT(loaded, 0);
  EXPECT_LT(loaded, inputs);
  std::printf("fuzzed %d inputs, %d loaded\n", inputs, loaded);
}

}  // namespace
}  // namespace qres::data
