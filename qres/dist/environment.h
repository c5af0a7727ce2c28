// The launcher's environment of a distributed run: what torchrun (or any launcher that sets the
// same variables: a Slurm script, an mpirun wrapper) tells each process.
//
//   RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT,
//   TORCHELASTIC_USE_AGENT_STORE ("True": torchrun's agent hosts the store; every rank is a client)
#ifndef QRES_DIST_ENVIRONMENT_H_
#define QRES_DIST_ENVIRONMENT_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "absl/status/statusor.h"

namespace qres::dist {

struct Environment {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  int local_world_size = 1;
  std::string master_addr;
  int master_port = 0;
  bool agent_store = false;  // the launcher's agent serves the store; rank 0 is a client too
};

// Reads the variables through `get` (getenv by default). Without RANK and WORLD_SIZE this is not a
// distributed run: nullopt. A variable that is missing, not a number, or inconsistent with the
// others (RANK >= WORLD_SIZE, LOCAL_RANK >= LOCAL_WORLD_SIZE, a port outside 1..65535) is a
// one-line error naming it.
absl::StatusOr<std::optional<Environment>> EnvironmentFromVariables(
    const std::function<const char*(const char*)>& get = nullptr);

}  // namespace qres::dist

#endif  // QRES_DIST_ENVIRONMENT_H_
