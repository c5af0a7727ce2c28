// The fixture of tests that need a CUDA GPU: skipped with a message without one, failed without one
// when QRES_REQUIRE_GPU is set (the GPU bundle's run.sh sets it), since a run meant to test the GPU
// that did not find one (a driver missing from the library path) must fail, not pass by skipping.
#ifndef QRES_BASE_GPU_TEST_H_
#define QRES_BASE_GPU_TEST_H_

#include <cstdlib>

#include "ATen/Context.h"
#include "gtest/gtest.h"

namespace qres {

class GpuTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (at::hasCUDA()) return;
    if (std::getenv("QRES_REQUIRE_GPU") != nullptr) {
      GTEST_FAIL() << "QRES_REQUIRE_GPU is set but no CUDA GPU is visible (driver, LD_LIBRARY_PATH?)";
    }
    GTEST_SKIP() << "no CUDA GPU here: run on the GPU machine (tools/gpu_bundle.sh)";
  }
};

}  // namespace qres

#endif  // QRES_BASE_GPU_TEST_H_
