#include "qres/base/torch_status.h"

#include "ATen/ops/matmul.h"
#include "ATen/ops/ones.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace qres {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(TorchStatusTest, ShapeErrorBecomesOneLineStatus) {
  absl::StatusOr<at::Tensor> product = CallTorch("multiplying", [] {
    return at::matmul(at::ones({2, 3}), at::ones({2, 3}));
  });
  ASSERT_FALSE(product.ok());
  EXPECT_THAT(product.status().message(), HasSubstr("multiplying: "));
  EXPECT_THAT(product.status().message(), HasSubstr("cannot be multiplied"));
  EXPECT_THAT(std::string(product.status().message()), Not(HasSubstr("\n")));
}

TEST(TorchStatusTest, ValuesPassThrough) {
  absl::StatusOr<at::Tensor> ones = CallTorch("ones", [] { return at::ones({2}); });
  ASSERT_TRUE(ones.ok());
  EXPECT_EQ(ones->numel(), 2);
  EXPECT_TRUE(CallTorch("nothing", [] {}).ok());
  EXPECT_EQ(CallTorch("status", [] { return absl::NotFoundError("x"); }).code(), absl::StatusCode::kNotFound);
}

TEST(TorchStatusTest, IndexErrorIsInvalidArgument) {
  absl::Status status = CallTorch("indexing", [] { (void)at::ones({2}).select(0, 5); });
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("indexing: "));
}

}  // namespace
}  // namespace qres
