// A distributed run's process group on LibTorch's c10d: the launcher's store (a TCPStore that rank 0
// serves, or torchrun's agent store) under a "qres/" prefix, Gloo for CPU tensors and, when asked,
// NCCL for CUDA tensors (as Python's "cpu:gloo,cuda:nccl"): a collective goes to the backend of its
// tensors' device.
//
//   QRES_ASSIGN_OR_RETURN(std::optional<Environment> env, EnvironmentFromVariables());
//   if (env) QRES_ASSIGN_OR_RETURN(Group group, Connect(*env, Transport::kGloo, std::chrono::seconds(300)));
//   group.process_group->allreduce(tensors)->wait();
#ifndef QRES_DIST_PROCESS_GROUP_H_
#define QRES_DIST_PROCESS_GROUP_H_

#include <chrono>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "qres/dist/environment.h"
#include "torch/csrc/distributed/c10d/ProcessGroup.hpp"
#include "torch/csrc/distributed/c10d/Store.hpp"

namespace qres::dist {

// Which backend sums CUDA tensors. Gloo always handles CPU tensors (flags, counts, checks).
enum class Transport { kGloo, kNccl };

// What --dist_backend names: "auto" (NCCL for a run on GPUs when this build has it, a --config=cuda
// build; else Gloo), "gloo" or "nccl". An unknown name, or NCCL without it or without GPUs, is a
// one-line error.
absl::StatusOr<Transport> ChooseTransport(absl::string_view flag, bool cuda);

struct Group {
  Environment env;
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroup> process_group;
};

// Connects this rank: every rank must do so within `timeout` (one deadline over the store's
// connect, its handshake and the rendezvous), or each gets a one-line error. A
// port in use, an unreachable MASTER_ADDR and a rank that never joins are one-line errors naming
// them. Gloo's sockets listen on GLOO_SOCKET_IFNAME when set, on loopback when MASTER_ADDR is a
// loopback address, else on this machine's hostname's address. With kNccl this rank's GPU is
// LOCAL_RANK. c10d's own log messages (retries, timeouts, with stack traces) are turned off: its
// errors come back as the one-line error.
absl::StatusOr<Group> Connect(const Environment& env, Transport transport, std::chrono::milliseconds timeout);

}  // namespace qres::dist

#endif  // QRES_DIST_PROCESS_GROUP_H_
