// c10d's Gloo backend, made in the one translation unit that includes gloo's headers
// (gloo_backend.cc; design.md "Distributed": Debian's gloo headers are an older snapshot than the
// gloo inside libtorch, so nothing else may see them).
#ifndef QRES_DIST_GLOO_BACKEND_H_
#define QRES_DIST_GLOO_BACKEND_H_

#include <chrono>
#include <string>

#include "c10/util/intrusive_ptr.h"

namespace c10d {
class Backend;
class Store;
}  // namespace c10d

namespace qres::dist {

// Where the backend's sockets listen: a network interface by name, or an address this machine
// has, or (both empty) the address of this machine's hostname (loopback if it has none).
struct GlooDevice {
  std::string interface;
  std::string hostname;
};

// A ProcessGroupGloo of `size` ranks over `store`; collectives time out after `timeout`. Throws
// c10::Error on failure.
c10::intrusive_ptr<c10d::Backend> MakeGlooBackend(const c10::intrusive_ptr<c10d::Store>& store, int rank, int size,
                                                  const GlooDevice& device, std::chrono::milliseconds timeout);

}  // namespace qres::dist

#endif  // QRES_DIST_GLOO_BACKEND_H_
