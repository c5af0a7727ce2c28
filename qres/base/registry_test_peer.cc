// A second source file for registry_test: registers a name that registry_test.cc also registers,
// so the duplicate report can be checked to name both files.
#include "qres/base/registry_test_types.h"

namespace qres::testing_peer {

QRES_REGISTER_COMPONENT(::qres::testing::DuplicateRegistry, "twice", "second registration",
                        [](int,
                           ::qres::testing::DuplicateTag*) -> absl::StatusOr<std::unique_ptr<::qres::testing::Shape>> {
                          return std::make_unique<::qres::testing::Shape>(2);
                        });

}  // namespace qres::testing_peer
