#include "qres/dist/environment.h"

#include <cstdlib>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "qres/base/status_macros.h"

namespace qres::dist {
namespace {

absl::StatusOr<int> Number(const std::function<const char*(const char*)>& get, const char* name, int low, int high,
                           std::optional<int> fallback = std::nullopt) {
  const char* text = get(name);
  if (text == nullptr || *text == '\0') {
    if (fallback.has_value()) return *fallback;
    return absl::InvalidArgumentError(absl::StrCat(name, " is not set (torchrun sets it for every rank)"));
  }
  int value = 0;
  if (!absl::SimpleAtoi(text, &value) || value < low || value > high) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, "=", text, " must be a whole number in [", low, ", ", high, "]"));
  }
  return value;
}

}  // namespace

absl::StatusOr<std::optional<Environment>> EnvironmentFromVariables(
    const std::function<const char*(const char*)>& get_or_null) {
  const std::function<const char*(const char*)> get =
      get_or_null ? get_or_null : [](const char* name) -> const char* { return std::getenv(name); };
  if (get("RANK") == nullptr && get("WORLD_SIZE") == nullptr) return std::optional<Environment>();
  Environment env;
  QRES_ASSIGN_OR_RETURN(env.world_size, Number(get, "WORLD_SIZE", 1, 1 << 20));
  QRES_ASSIGN_OR_RETURN(env.rank, Number(get, "RANK", 0, env.world_size - 1));
  QRES_ASSIGN_OR_RETURN(env.local_world_size, Number(get, "LOCAL_WORLD_SIZE", 1, env.world_size, env.world_size));
  QRES_ASSIGN_OR_RETURN(env.local_rank,
                        Number(get, "LOCAL_RANK", 0, env.local_world_size - 1, env.rank % env.local_world_size));
  QRES_ASSIGN_OR_RETURN(env.master_port, Number(get, "MASTER_PORT", 1, 65535));
  const char* addr = get("MASTER_ADDR");
  if (addr == nullptr || *addr == '\0') {
    return absl::InvalidArgumentError("MASTER_ADDR is not set (torchrun sets it for every rank)");
  }
  env.master_addr = addr;
  const char* agent = get("TORCHELASTIC_USE_AGENT_STORE");
  env.agent_store = agent != nullptr && std::string(agent) == "True";
  return std::optional<Environment>(env);
}

}  // namespace qres::dist
