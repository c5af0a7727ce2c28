#include "qres/data/test_files.h"

#include <sys/stat.h>
#include <zlib.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <stdexcept>

namespace qres::data::testing {
namespace {

void PutBigEndian32(std::string& out, uint32_t value) {
  out.push_back(static_cast<char>(value >> 24));
  out.push_back(static_cast<char>(value >> 16));
  out.push_back(static_cast<char>(value >> 8));
  out.push_back(static_cast<char>(value));
}

}  // namespace

std::string MakeTempDir(const std::string& name) {
  const char* root = std::getenv("TEST_TMPDIR");
  std::string dir = std::string(root ? root : "/tmp") + "/" + name;
  std::string command = "rm -rf '" + dir + "' && mkdir -p '" + dir + "'";
  if (std::system(command.c_str()) != 0) throw std::runtime_error("cannot make " + dir);
  return dir;
}

void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::string Gzip(const std::string& bytes) {
  z_stream stream{};
  deflateInit2(&stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&stream, bytes.size()) + 64, '\0');
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
  stream.avail_in = static_cast<uInt>(bytes.size());
  stream.next_out = reinterpret_cast<Bytef*>(out.data());
  stream.avail_out = static_cast<uInt>(out.size());
  deflate(&stream, Z_FINISH);
  out.resize(stream.total_out);
  deflateEnd(&stream);
  return out;
}

std::string IdxImages(int64_t n, int64_t rows, int64_t cols) {
  std::string out;
  PutBigEndian32(out, 0x803);
  PutBigEndian32(out, static_cast<uint32_t>(n));
  PutBigEndian32(out, static_cast<uint32_t>(rows));
  PutBigEndian32(out, static_cast<uint32_t>(cols));
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < rows * cols; ++j) out.push_back(static_cast<char>((i * 7 + j) % 256));
  }
  return out;
}

std::string IdxLabels(int64_t n, int64_t classes) {
  std::string out;
  PutBigEndian32(out, 0x801);
  PutBigEndian32(out, static_cast<uint32_t>(n));
  for (int64_t i = 0; i < n; ++i) out.push_back(static_cast<char>(i % classes));
  return out;
}

void WriteMnist(const std::string& dir, int64_t train, int64_t test, bool gzip) {
  auto write = [&](const std::string& stem, const std::string& bytes) {
    WriteFile(dir + "/" + stem + (gzip ? ".gz" : ""), gzip ? Gzip(bytes) : bytes);
  };
  write("train-images-idx3-ubyte", IdxImages(train, 28, 28));
  write("train-labels-idx1-ubyte", IdxLabels(train));
  write("t10k-images-idx3-ubyte", IdxImages(test, 28, 28));
  write("t10k-labels-idx1-ubyte", IdxLabels(test));
}

std::string CifarRecords(int64_t n, int label_bytes, int64_t classes) {
  std::string out;
  for (int64_t i = 0; i < n; ++i) {
    if (label_bytes == 2) out.push_back(static_cast<char>(i % 20));
    out.push_back(static_cast<char>(i % classes));
    for (int64_t j = 0; j < 3072; ++j) out.push_back(static_cast<char>((i + j) % 256));
  }
  return out;
}

void WriteCifar10(const std::string& dir, int64_t per_file) {
  mkdir(dir.c_str(), 0755);
  for (int b = 1; b <= 5; ++b) {
    WriteFile(dir + "/data_batch_" + std::to_string(b) + ".bin", CifarRecords(per_file, 1, 10));
  }
  WriteFile(dir + "/test_batch.bin", CifarRecords(per_file, 1, 10));
}

void WriteCifar100(const std::string& dir, int64_t train, int64_t test) {
  mkdir(dir.c_str(), 0755);
  WriteFile(dir + "/train.bin", CifarRecords(train, 2, 100));
  WriteFile(dir + "/test.bin", CifarRecords(test, 2, 100));
}

}  // namespace qres::data::testing
