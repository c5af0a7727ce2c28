// Registry<Base, Args...>: components registered by name before main, created by name at run time.
//
// Each area (models, datasets, optimizers) instantiates one registry and a registration macro:
//
//   using OptimizerRegistry = Registry<torch::optim::Optimizer, std::vector<at::Tensor>,
//                                      const OptimizerSpec&>;               // qres/optim/optimizer.h
//   // at the bottom of adam_plugin.cc, in any namespace:
//   QRES_REGISTER_OPTIMIZER("QtAdamW", "the paper's QtAdamW: ...", &Make<kQtAdamW>);
//   // in a tool:
//   QRES_ASSIGN_OR_RETURN(auto optimizer, OptimizerRegistry::Create("qtadamw", params, spec));
//
// Storage is a function-local leaky singleton, so static-initialisation order never matters.
// Registration runs before main: it only appends (no logging, no validation, glog is not up yet).
// The first lookup sorts the entries and checks for duplicate names, reporting both source files.
// Names match case-insensitively. Libraries that register must be alwayslink
// (qres_plugin_library), otherwise the linker drops them.
#ifndef QRES_BASE_REGISTRY_H_
#define QRES_BASE_REGISTRY_H_

#include <algorithm>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"

namespace qres {

// The word used for a registry's components in messages ("optimizer", "model", ...). Specialise
// it next to each registry's instantiation.
template <typename Base>
struct RegistryKind {
  static constexpr const char* kName = "component";
};

template <typename Base, typename... Args>
class Registry {
 public:
  using Product = std::unique_ptr<Base>;
  using Factory = std::function<absl::StatusOr<Product>(Args...)>;

  struct Entry {
    std::string name;
    std::string help;
    std::string file;  // the source file that registered it, for duplicate reports
    Factory factory;
  };

  // Called by the registration macros from static initialisers. Returns true so that it can
  // initialise a namespace-scope bool.
  static bool Register(std::string name, std::string help, Factory factory, std::string file) {
    State& state = GetState();
    std::lock_guard<std::mutex> lock(state.mutex);
    state.entries.push_back({std::move(name), std::move(help), std::move(file), std::move(factory)});
    state.checked = false;
    return true;
  }

  // Creates the component registered as `name` (any letter case).
  static absl::StatusOr<Product> Create(absl::string_view name, Args... args) {
    absl::StatusOr<const Entry*> entry = Find(name);
    if (!entry.ok()) return entry.status();
    return (*entry)->factory(std::forward<Args>(args)...);
  }

  // The registered entry for `name`: NotFound lists every registered name; a name registered twice
  // is an AlreadyExists error naming both source files.
  static absl::StatusOr<const Entry*> Find(absl::string_view name) {
    State& state = GetState();
    std::lock_guard<std::mutex> lock(state.mutex);
    CheckLocked(state);
    if (!state.status.ok()) return state.status;
    const std::string key = absl::AsciiStrToLower(name);
    for (const Entry& entry : state.entries) {
      if (absl::AsciiStrToLower(entry.name) == key) return &entry;
    }
    return absl::NotFoundError(
        absl::StrCat("unknown ", RegistryKind<Base>::kName, " '", name, "'; registered: ", JoinNamesLocked(state)));
  }

  // Every registered name, sorted case-insensitively.
  static std::vector<std::string> Names() {
    State& state = GetState();
    std::lock_guard<std::mutex> lock(state.mutex);
    CheckLocked(state);
    std::vector<std::string> names;
    for (const Entry& entry : state.entries) names.push_back(entry.name);
    return names;
  }

  // The one-line help of `name`, or the NotFound error of Find().
  static absl::StatusOr<std::string> Help(absl::string_view name) {
    absl::StatusOr<const Entry*> entry = Find(name);
    if (!entry.ok()) return entry.status();
    return (*entry)->help;
  }

  // The result of the duplicate check (OK when every name is unique).
  static absl::Status Validate() {
    State& state = GetState();
    std::lock_guard<std::mutex> lock(state.mutex);
    CheckLocked(state);
    return state.status;
  }

 private:
  struct State {
    std::mutex mutex;
    std::vector<Entry> entries;
    bool checked = false;
    absl::Status status;
  };

  static State& GetState() {
    static State* state = new State;  // leaky: outlives every static destructor
    return *state;
  }

  static void CheckLocked(State& state) {
    if (state.checked) return;
    state.checked = true;
    state.status = absl::OkStatus();
    std::stable_sort(state.entries.begin(), state.entries.end(), [](const Entry& a, const Entry& b) {
      return absl::AsciiStrToLower(a.name) < absl::AsciiStrToLower(b.name);
    });
    for (size_t i = 1; i < state.entries.size(); ++i) {
      const Entry& a = state.entries[i - 1];
      const Entry& b = state.entries[i];
      if (absl::AsciiStrToLower(a.name) == absl::AsciiStrToLower(b.name)) {
        state.status = absl::AlreadyExistsError(absl::StrCat(RegistryKind<Base>::kName, " name '", b.name,
                                                             "' is registered twice: in ", a.file, " and in ", b.file));
        return;
      }
    }
  }

  static std::string JoinNamesLocked(const State& state) {
    std::vector<std::string> names;
    for (const Entry& entry : state.entries) names.push_back(entry.name);
    return absl::StrJoin(names, ", ");
  }
};

}  // namespace qres

#define QRES_REGISTRY_CONCAT_INNER_(a, b) a##b
#define QRES_REGISTRY_CONCAT_(a, b) QRES_REGISTRY_CONCAT_INNER_(a, b)

// Registers `factory` under `name` in `registry` (a Registry<...> type). Use it at namespace scope;
// each area wraps it as QRES_REGISTER_<KIND>(name, help, factory).
#define QRES_REGISTER_COMPONENT(registry, name, help, factory)                              \
  [[maybe_unused]] static const bool QRES_REGISTRY_CONCAT_(qres_registered_, __COUNTER__) = \
      registry::Register(name, help, factory, __FILE__)

#endif  // QRES_BASE_REGISTRY_H_
