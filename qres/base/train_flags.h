// train's flags that the seed spells short (-n CNN -m QtAdamW -d MNIST -e 5 -l 0.01 -b 100
// -sn CAWR), and those whose values name a registered component, which train matches
// case-insensitively: one list, read by train's command line and by the sweep's grid and checks.
#ifndef QRES_BASE_TRAIN_FLAGS_H_
#define QRES_BASE_TRAIN_FLAGS_H_

#include <string_view>

namespace qres::train_flags {

// What a flag's value names.
enum class Names { kNothing, kNet, kAlgorithm, kDataset, kScheduler, kPrecision };

struct Flag {
  const char* name;        // --name
  const char* short_name;  // the seed's -short_name, or ""
  Names names;
};

inline constexpr Flag kFlags[] = {
    {"net", "n", Names::kNet},
    {"algo", "m", Names::kAlgorithm},
    {"dataset", "d", Names::kDataset},
    {"scheduler", "sn", Names::kScheduler},
    {"precision", "", Names::kPrecision},
    {"epochs", "e", Names::kNothing},
    {"lr", "l", Names::kNothing},
    {"batch_size", "b", Names::kNothing},
};

// The flag called `key` (its name or short name), or nullptr for one not in the list.
inline const Flag* Find(std::string_view key) {
  for (const Flag& flag : kFlags) {
    if (key == flag.name || (*flag.short_name != '\0' && key == flag.short_name)) return &flag;
  }
  return nullptr;
}

// What the value of flag `key` names (kNothing for a flag not in the list).
inline Names NamesOf(std::string_view key) {
  const Flag* flag = Find(key);
  return flag == nullptr ? Names::kNothing : flag->names;
}

// The seed's short name of --name ("" when it has none).
inline const char* ShortName(std::string_view name) {
  const Flag* flag = Find(name);
  return flag == nullptr ? "" : flag->short_name;
}

}  // namespace qres::train_flags

#endif  // QRES_BASE_TRAIN_FLAGS_H_
