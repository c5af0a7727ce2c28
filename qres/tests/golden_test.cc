// Checks every optimizer against the trajectories that tools/golden/make_golden.py writes, bit for
// bit (parameters and the quantization index; an ulp bound of 0). Two kinds of case, one binary:
//
// - qres's own arithmetic (SGD, QSGD, AdamW's reference form, QtAdam, QtAdamW, stdSGD): golden
//   files in qres/tests/golden, from an independent eager-PyTorch implementation of the reference
//   (stdSGD: torch.optim.SGD, whose step qres computes in its own loops). qres's
//   loops round explicitly (step_math.h), so these bits are the same on every CPU: the test runs
//   them on ATen's own kernels and on its scalar ones (golden_test_aten_default).
// - torch.optim's arithmetic (Adam, AdamW form=torch, NAdam, RAdam, ASGD): qres follows
//   ATen's ops, whose bits depend on the CPU (MKL's sqrt, FMA or not), so golden_torch_test.sh has
//   torch.optim itself write them on this machine, in this environment, and points
//   QRES_GOLDEN_DIR at them.
#include <dirent.h>
#include <zlib.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "ATen/core/Dict.h"
#include "ATen/core/ivalue.h"
#include "ATen/ops/allclose.h"
#include "ATen/ops/empty.h"
#include "ATen/ops/sub.h"
#include "ATen/ops/zeros_like.h"
#include "gtest/gtest.h"
#include "qres/optim/counter_rng.h"
#include "qres/optim/optimizer.h"
#include "torch/serialize.h"

namespace qres::optim {
namespace {

// The checked-in golden files, or QRES_GOLDEN_DIR's trajectories when it is set (the torch cases).
const char* TorchCasesDir() { return std::getenv("QRES_GOLDEN_DIR"); }
std::string GoldenDir() { return TorchCasesDir() != nullptr ? TorchCasesDir() : "qres/tests/golden"; }

std::vector<std::string> GoldenFiles() {
  std::vector<std::string> names;
  if (DIR* dir = opendir(GoldenDir().c_str())) {
    while (dirent* entry = readdir(dir)) {
      std::string name = entry->d_name;
      if (name.size() > 3 && name.substr(name.size() - 3) == ".pt") names.push_back(name);
    }
    closedir(dir);
  }
  std::sort(names.begin(), names.end());
  return names;
}

// make_golden.py's hashed_uniform: float32 values in [-1, 1) with 24 bits of
// Mix64(seed * 2^32 + j), for the big tensor whose inputs the file does not store.
at::Tensor HashedUniform(uint64_t seed, int64_t numel) {
  at::Tensor out = at::empty({numel}, at::kFloat);
  float* values = out.data_ptr<float>();
  for (int64_t j = 0; j < numel; ++j) {
    const uint64_t bits = Mix64((seed << 32) + static_cast<uint64_t>(j)) >> 40;
    values[j] = static_cast<float>(static_cast<int64_t>(bits) - (1 << 23)) * (1.0f / (1 << 23));
  }
  return out;
}

int64_t Crc32(const at::Tensor& t) {
  return static_cast<int64_t>(crc32(0L, static_cast<const Bytef*>(t.data_ptr()), static_cast<uInt>(t.nbytes())));
}

class Golden {
 public:
  explicit Golden(const std::string& path) : dict_(Load(path)) {}
  c10::IValue at(const std::string& key) const { return dict_.at(key); }
  at::Tensor tensor(const std::string& key) const { return at(key).toTensor(); }
  int64_t integer(const std::string& key) const { return at(key).toInt(); }
  double real(const std::string& key) const { return at(key).toDouble(); }
  std::string text(const std::string& key) const { return at(key).toStringRef(); }
  bool has(const std::string& key) const { return dict_.contains(key); }

 private:
  static c10::impl::GenericDict Load(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return torch::pickle_load(bytes).toGenericDict();
  }

  c10::impl::GenericDict dict_;
};

class GoldenTest : public ::testing::TestWithParam<std::string> {};

TEST_P(GoldenTest, MatchesReferenceTrajectoryExactly) {
  const Golden golden(GoldenDir() + "/" + GetParam());
  const int64_t num_tensors = golden.integer("num_tensors");
  const int64_t steps = golden.integer("steps");
  const int64_t snapshot_every = golden.integer("snapshot_every");
  const at::Tensor curvature = golden.tensor("curvature");
  const at::Tensor zero_mask = golden.tensor("zero_mask");

  std::vector<at::Tensor> params, targets, noise;
  for (int64_t i = 0; i < num_tensors; ++i) {
    params.push_back(golden.tensor("init" + std::to_string(i)).clone());
    targets.push_back(golden.tensor("target" + std::to_string(i)));
    noise.push_back(golden.tensor("noise" + std::to_string(i)));
  }
  // The big tensor (make_golden.py's big=True) comes last, its inputs made from the file's seed.
  const bool big = golden.has("big_numel");
  at::Tensor big_noise, noise_scale;
  if (big) {
    const uint64_t seed = static_cast<uint64_t>(golden.integer("big_seed"));
    const int64_t numel = golden.integer("big_numel");
    params.push_back(HashedUniform(seed, numel));
    targets.push_back(HashedUniform(seed + 1, numel));
    big_noise = HashedUniform(seed + 2, numel) * 0.05;
    noise_scale = golden.tensor("noise_scale");
  }
  OptimizerSpec spec;
  spec.lr = golden.real("lr");
  spec.qp = golden.integer("qp");
  spec.optim_params = golden.text("optim_params");
  spec.quant_params = golden.text("quant_params");
  spec.batches_per_epoch = golden.integer("batches_per_epoch");
  spec.epochs = golden.integer("epochs");
  auto optimizer = OptimizerRegistry::Create(golden.text("algorithm"), params, spec);
  ASSERT_TRUE(optimizer.ok()) << optimizer.status();

  const at::Tensor index = golden.tensor("index");
  const at::Tensor lrs = golden.has("lrs") ? golden.tensor("lrs") : at::Tensor();  // a schedule's lr per step
  for (int64_t step = 0; step < steps; ++step) {
    if (lrs.defined()) {
      for (auto& group : (*optimizer)->param_groups()) group.options().set_lr(lrs[step].item<double>());
    }
    if (big) {
      params.back().mutable_grad() = (params.back() - targets.back()) * curvature[num_tensors].item<double>() +
                                     big_noise * noise_scale[step].item<double>();
    }
    for (int64_t i = 0; i < num_tensors; ++i) {
      if (zero_mask[i].item<bool>()) {
        params[i].mutable_grad() = at::zeros_like(params[i]);
      } else {
        params[i].mutable_grad() = (params[i] - targets[i]) * curvature[i].item<double>() + noise[i][step];
      }
    }
    (*optimizer)->step();
    const Quantizer* quantizer = QuantizerOf(**optimizer);
    const double expected_index = index[step].item<double>();
    ASSERT_EQ(quantizer != nullptr ? quantizer->index() : 0.0, expected_index)
        << "quantization index after step " << step + 1;
    if ((step + 1) % snapshot_every != 0) continue;
    if (big) {
      ASSERT_EQ(Crc32(params.back()), golden.tensor("big_crc32")[(step + 1) / snapshot_every - 1].item<int64_t>())
          << "the big tensor differs after step " << step + 1;
    }
    for (int64_t i = 0; i < num_tensors; ++i) {
      const at::Tensor expected = golden.tensor("param" + std::to_string(i) + "/step" + std::to_string(step + 1));
      // Bit for bit, NaN where the file has NaN (the nonfinite cases' element stays NaN).
      ASSERT_TRUE(at::allclose(params[i], expected, /*rtol=*/0.0, /*atol=*/0.0, /*equal_nan=*/true))
          << "tensor " << i << " differs after step " << step + 1
          << "; max |difference| = " << (params[i] - expected).abs().max().item<double>();
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllCases, GoldenTest, ::testing::ValuesIn(GoldenFiles()),
                         [](const auto& info) { return info.param.substr(0, info.param.size() - 3); });

// make_golden.py's cases of each kind: 37 of qres's arithmetic, 8 of torch.optim's.
TEST(GoldenFilesTest, AllCasesArePresent) {
  EXPECT_EQ(GoldenFiles().size(), TorchCasesDir() != nullptr ? 8u : 37u) << GoldenDir();
}

}  // namespace
}  // namespace qres::optim
