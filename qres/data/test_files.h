// Writes small datasets in the official formats for tests (MNIST IDX, CIFAR binary).
#ifndef QRES_DATA_TEST_FILES_H_
#define QRES_DATA_TEST_FILES_H_

#include <cstdint>
#include <string>

namespace qres::data::testing {

// A fresh empty directory under TEST_TMPDIR.
std::string MakeTempDir(const std::string& name);
void WriteFile(const std::string& path, const std::string& bytes);
std::string ReadFile(const std::string& path);
std::string Gzip(const std::string& bytes);

// IDX bytes: images [n, rows, cols] (pixel = (i * 7 + j) % 256) or labels [n] (label = i % 10).
std::string IdxImages(int64_t n, int64_t rows, int64_t cols);
std::string IdxLabels(int64_t n, int64_t classes = 10);

// Writes the four MNIST-family files into `dir` (gzipped or raw).
void WriteMnist(const std::string& dir, int64_t train, int64_t test, bool gzip);
// CIFAR records: label_bytes = 1 (CIFAR-10) or 2 (CIFAR-100), n records.
std::string CifarRecords(int64_t n, int label_bytes, int64_t classes);
void WriteCifar10(const std::string& dir, int64_t per_file);
void WriteCifar100(const std::string& dir, int64_t train, int64_t test);

}  // namespace qres::data::testing

#endif  // QRES_DATA_TEST_FILES_H_
