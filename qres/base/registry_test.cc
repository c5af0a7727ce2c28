#include "qres/base/registry.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "qres/base/registry_test_types.h"

namespace qres::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

absl::StatusOr<std::unique_ptr<Shape>> MakeShape(int sides) {
  if (sides < 3) return absl::InvalidArgumentError("a shape needs 3 sides");
  return std::make_unique<Shape>(sides);
}

QRES_REGISTER_COMPONENT(ShapeRegistry, "Triangle", "three sides", &MakeShape);
QRES_REGISTER_COMPONENT(ShapeRegistry, "square", "four sides", &MakeShape);
QRES_REGISTER_COMPONENT(ShapeRegistry, "Hexagon", "six sides", &MakeShape);

QRES_REGISTER_COMPONENT(DuplicateRegistry, "twice", "first registration",
                        [](int sides, DuplicateTag*) -> absl::StatusOr<std::unique_ptr<Shape>> {
                          return std::make_unique<Shape>(sides);
                        });

TEST(RegistryTest, CreatesByName) {
  absl::StatusOr<std::unique_ptr<Shape>> shape = ShapeRegistry::Create("Triangle", 3);
  ASSERT_TRUE(shape.ok()) << shape.status();
  EXPECT_EQ((*shape)->sides, 3);
}

TEST(RegistryTest, LookupIsCaseInsensitive) {
  EXPECT_TRUE(ShapeRegistry::Create("TRIANGLE", 3).ok());
  EXPECT_TRUE(ShapeRegistry::Create("Square", 4).ok());
  EXPECT_EQ(*ShapeRegistry::Help("hexagon"), "six sides");
}

TEST(RegistryTest, NamesAreSortedCaseInsensitively) {
  EXPECT_THAT(ShapeRegistry::Names(), ElementsAre("Hexagon", "square", "Triangle"));
}

TEST(RegistryTest, UnknownNameListsRegisteredNames) {
  absl::StatusOr<std::unique_ptr<Shape>> shape = ShapeRegistry::Create("Circle", 0);
  ASSERT_EQ(shape.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(shape.status().message(), HasSubstr("unknown shape 'Circle'"));
  EXPECT_THAT(shape.status().message(), HasSubstr("registered: Hexagon, square, Triangle"));
}

TEST(RegistryTest, FactoryErrorsPassThrough) {
  absl::StatusOr<std::unique_ptr<Shape>> shape = ShapeRegistry::Create("triangle", 2);
  EXPECT_EQ(shape.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(RegistryTest, DuplicateNameNamesBothSourceFiles) {
  absl::Status status = DuplicateRegistry::Validate();
  ASSERT_EQ(status.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(status.message(), HasSubstr("'twice' is registered twice"));
  EXPECT_THAT(status.message(), HasSubstr("qres/base/registry_test.cc"));
  EXPECT_THAT(status.message(), HasSubstr("qres/base/registry_test_peer.cc"));
  // Every lookup reports the duplicate rather than picking one of the two.
  EXPECT_EQ(DuplicateRegistry::Create("twice", 1, nullptr).status().code(), absl::StatusCode::kAlreadyExists);
}

}  // namespace
}  // namespace qres::testing
