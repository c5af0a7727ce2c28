// A distributed run's process group on LibTorch's c10d: the launcher's store (a TCPStore that rank 0
// serves, or torchrun's agent store) under a "qres/" prefix, and the Gloo backend for CPU tensors.
//
//   QRES_ASSIGN_OR_RETURN(std::optional<Environment> env, EnvironmentFromVariables());
//   if (env) QRES_ASSIGN_OR_RETURN(Group group, Connect(*env, std::chrono::seconds(300)));
//   group.backend->allreduce(tensors)->wait();
#ifndef QRES_DIST_PROCESS_GROUP_H_
#define QRES_DIST_PROCESS_GROUP_H_

#include <chrono>

#include "absl/status/statusor.h"
#include "qres/dist/environment.h"
#include "torch/csrc/distributed/c10d/Backend.hpp"
#include "torch/csrc/distributed/c10d/Store.hpp"

namespace qres::dist {

struct Group {
  Environment env;
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::Backend> backend;
};

// Connects this rank: every rank must do so within `timeout`, or each gets a one-line error. A
// port in use, an unreachable MASTER_ADDR and a rank that never joins are one-line errors naming
// them. The sockets listen on GLOO_SOCKET_IFNAME when set, on loopback when MASTER_ADDR is a
// loopback address, else on this machine's hostname's address. c10d's own log messages (retries,
// timeouts, with stack traces) are turned off: its errors come back as the one-line error.
absl::StatusOr<Group> Connect(const Environment& env, std::chrono::milliseconds timeout);

}  // namespace qres::dist

#endif  // QRES_DIST_PROCESS_GROUP_H_
