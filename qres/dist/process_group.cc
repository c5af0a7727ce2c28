#include "qres/dist/process_group.h"

#include <condition_variable>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "c10/util/Logging.h"
#include "qres/base/status_macros.h"
#include "qres/base/torch_status.h"
#include "qres/dist/gloo_backend.h"
#include "qres/dist/nccl_backend.h"
#include "torch/csrc/distributed/c10d/PrefixStore.hpp"
#include "torch/csrc/distributed/c10d/TCPStore.hpp"

namespace qres::dist {

absl::StatusOr<Transport> ChooseTransport(absl::string_view flag, bool cuda) {
  if (flag == "auto") return cuda && NcclAvailable() ? Transport::kNccl : Transport::kGloo;
  if (flag == "gloo") return Transport::kGloo;
  if (flag != "nccl")
    return absl::InvalidArgumentError(absl::StrCat("--dist_backend=", flag, ": use auto, gloo or nccl"));
  if (!NcclAvailable()) {
    return absl::FailedPreconditionError(
        "--dist_backend=nccl: this build has no NCCL; build with --config=cuda, or use gloo");
  }
  if (!cuda)
    return absl::InvalidArgumentError("--dist_backend=nccl sums CUDA tensors: train on GPUs (-g 1), or use gloo");
  return Transport::kNccl;
}

namespace {

absl::StatusOr<Group> ConnectNow(const Environment& env, Transport transport, std::chrono::milliseconds timeout) {
  // c10d logs every retry and timeout on stderr, with stack traces; its failures come back here as
  // exceptions and leave as one line each, so only fatal messages may print.
  FLAGS_caffe2_log_level = 3;
  Group group{env, {}, {}};
  const bool serve = env.rank == 0 && !env.agent_store;
  const std::string where = absl::StrCat("MASTER_ADDR=", env.master_addr, " MASTER_PORT=", env.master_port);
  QRES_ASSIGN_OR_RETURN(c10::intrusive_ptr<c10d::Store> store,
                        CallTorch(serve ? absl::StrCat("rank 0 cannot serve the store at ", where, " (a port in use?)")
                                        : absl::StrCat("rank ", env.rank, " cannot reach the store at ", where,
                                                       " within ", timeout.count() / 1000.0, " s"),
                                  [&]() -> c10::intrusive_ptr<c10d::Store> {
                                    c10d::TCPStoreOptions options;
                                    options.port = static_cast<uint16_t>(env.master_port);
                                    options.isServer = serve;
                                    options.numWorkers = env.world_size;
                                    options.waitWorkers =
                                        false;  // the backend's rendezvous waits, with a clearer error
                                    options.timeout = timeout;
                                    return c10::make_intrusive<c10d::TCPStore>(env.master_addr, options);
                                  }));
  group.store = c10::make_intrusive<c10d::PrefixStore>("qres", store);
  // Two processes with one RANK would race for its place in the rendezvous, and the loser's error
  // blamed rank 0; the second to check in here stops at once. (A torchrun restart is a new round.)
  const char* round = std::getenv("TORCHELASTIC_RESTART_COUNT");
  QRES_ASSIGN_OR_RETURN(const int64_t joined, CallTorch("checking in at the store", [&] {
                          return group.store->add(
                              absl::StrCat("joined/", round != nullptr ? round : "0", "/", env.rank), 1);
                        }));
  if (joined > 1) {
    return absl::FailedPreconditionError(absl::StrCat("rank ", env.rank, " of ", env.world_size,
                                                      ": another process already joined as rank ", env.rank,
                                                      " (a rank started twice?)"));
  }
  GlooDevice device;
  if (const char* interface = std::getenv("GLOO_SOCKET_IFNAME")) device.interface = interface;
  if (device.interface.empty() && (absl::StartsWith(env.master_addr, "127.") || env.master_addr == "localhost")) {
    device.hostname = "127.0.0.1";
  }
  const std::string not_joined = absl::StrCat("rank ", env.rank, " of ", env.world_size,
                                              ": the ranks did not all join within ", timeout.count() / 1000.0, " s");
  using BackendType = c10d::ProcessGroup::BackendType;
  QRES_RETURN_IF_ERROR(CallTorch(not_joined, [&] {
    group.process_group = c10::make_intrusive<c10d::ProcessGroup>(group.store, env.rank, env.world_size);
    // Each backend rendezvouses under its own prefix of the store. Gloo takes CPU tensors, and CUDA
    // ones too unless NCCL does.
    const c10::intrusive_ptr<c10d::Backend> gloo = MakeGlooBackend(
        c10::make_intrusive<c10d::PrefixStore>("gloo", group.store), env.rank, env.world_size, device, timeout);
    group.process_group->setBackend(c10::DeviceType::CPU, BackendType::GLOO, gloo);
    if (transport == Transport::kGloo) group.process_group->setBackend(c10::DeviceType::CUDA, BackendType::GLOO, gloo);
    group.process_group->setDefaultBackend(BackendType::GLOO);
  }));
  if (transport == Transport::kNccl) {
    QRES_RETURN_IF_ERROR(
        CallTorch(absl::StrCat("rank ", env.rank, ": NCCL on GPU ", env.local_rank, " (LOCAL_RANK)"), [&] {
          group.process_group->setBackend(c10::DeviceType::CUDA, BackendType::NCCL,
                                          MakeNcclBackend(c10::make_intrusive<c10d::PrefixStore>("nccl", group.store),
                                                          env.rank, env.world_size, env.local_rank, timeout));
        }));
  }
  return group;
}

}  // namespace

absl::StatusOr<Group> Connect(const Environment& env, Transport transport, std::chrono::milliseconds timeout) {
  // The store's connect and each backend's rendezvous wait up to `timeout` each, one after the
  // other, and a peer that accepts the connection but never answers blocks the store's handshake
  // for good: one deadline over all of it, on a thread of its own that is left behind if it hangs
  // (the process then exits with the error; nothing else waits for that thread).
  struct Attempt {
    std::mutex mutex;
    std::condition_variable finished;
    std::optional<absl::StatusOr<Group>> result;
  };
  auto attempt = std::make_shared<Attempt>();
  std::thread([attempt, env, transport, timeout] {
    absl::StatusOr<Group> result = ConnectNow(env, transport, timeout);
    std::lock_guard<std::mutex> lock(attempt->mutex);
    attempt->result = std::move(result);
    attempt->finished.notify_all();
  }).detach();
  // A second past the deadline, so that the store's or backend's own timeout, which names more,
  // comes first where it comes at all.
  std::unique_lock<std::mutex> lock(attempt->mutex);
  const auto connected = [&] { return attempt->result.has_value(); };
  if (!attempt->finished.wait_for(lock, timeout + std::chrono::seconds(1), connected)) {
    return absl::DeadlineExceededError(
        absl::StrCat("rank ", env.rank, " of ", env.world_size, ": not connected within ", timeout.count() / 1000.0,
                     " s: nothing answers at MASTER_ADDR=", env.master_addr, " MASTER_PORT=", env.master_port,
                     " (a peer that accepts and never answers?), or the ranks did not all join"));
  }
  return *std::move(attempt->result);
}

}  // namespace qres::dist
