// Types shared by registry_test.cc and registry_test_peer.cc.
#ifndef QRES_BASE_REGISTRY_TEST_TYPES_H_
#define QRES_BASE_REGISTRY_TEST_TYPES_H_

#include <memory>

#include "qres/base/registry.h"

namespace qres::testing {

struct Shape {
  explicit Shape(int sides) : sides(sides) {}
  int sides;
};
struct DuplicateTag {};

using ShapeRegistry = Registry<Shape, int>;
// A separate registry (different Args) in which "twice" is registered by two files.
using DuplicateRegistry = Registry<Shape, int, DuplicateTag*>;

}  // namespace qres::testing

namespace qres {
template <>
struct RegistryKind<testing::Shape> {
  static constexpr const char* kName = "shape";
};
}  // namespace qres

#endif  // QRES_BASE_REGISTRY_TEST_TYPES_H_
