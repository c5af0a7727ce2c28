// The only file that includes gloo's headers (through ProcessGroupGloo.hpp): it calls into
// libtorch's gloo and hands out a c10d::Backend. Never link Debian's libgloo: libtorch has gloo.
#include "qres/dist/gloo_backend.h"

#include "torch/csrc/distributed/c10d/ProcessGroupGloo.hpp"

// The layout this file was compiled against is the one the wheel's libtorch was built with
// (design.md measured 488 bytes); a different gloo snapshot in the headers would show here.
static_assert(sizeof(c10d::ProcessGroupGloo) == 488, "ProcessGroupGloo's layout differs from libtorch's");

namespace qres::dist {

c10::intrusive_ptr<c10d::Backend> MakeGlooBackend(const c10::intrusive_ptr<c10d::Store>& store, int rank, int size,
                                                  const GlooDevice& device, std::chrono::milliseconds timeout) {
  auto options = c10d::ProcessGroupGloo::Options::create(timeout);
  using c10d::ProcessGroupGloo;
  options->devices.push_back(!device.interface.empty()  ? ProcessGroupGloo::createDeviceForInterface(device.interface)
                             : !device.hostname.empty() ? ProcessGroupGloo::createDeviceForHostname(device.hostname)
                                                        : ProcessGroupGloo::createDefaultDevice());
  return c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank, size, options);
}

}  // namespace qres::dist
