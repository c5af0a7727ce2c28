#include "qres/sweep/grid.h"

#include <cmath>
#include <filesystem>
#include <map>
#include <set>
#include <system_error>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "qres/base/train_flags.h"

namespace qres::sweep {

namespace {

// A value as it names the run's folder ('/' cannot be in a file name).
std::string FolderName(absl::string_view value) { return absl::StrReplaceAll(value, {{"/", "_"}}); }

// Keys whose values train matches case-insensitively: registered names, and the precision.
bool NamesAComponent(const std::string& key) { return train_flags::NamesOf(key) != train_flags::Names::kNothing; }

// What a value means to train, to tell runs apart by it and not by its spelling: a number by its
// value (0.001 and 1e-3, 1 and 01), a folder after canonicalisation (D, D/ and /x/./D from /x),
// a component's name case-folded (as train matches it), anything else as written.
std::string Meaning(const std::string& key, absl::string_view value) {
  double number = 0;
  if (absl::SimpleAtod(value, &number) && std::isfinite(number)) return absl::StrFormat("%.17g", number);
  if (key == "data_dir" || key == "tensorboard") {
    std::error_code error;  // the non-throwing forms (//qres/io:no_throwing_filesystem_calls_test)
    const std::filesystem::path absolute = std::filesystem::absolute(std::string(value), error);
    std::string path = std::filesystem::weakly_canonical(absolute, error).lexically_normal().string();
    if (!error) {
      while (path.size() > 1 && path.back() == '/') path.pop_back();
      return path;
    }
  }
  if (NamesAComponent(key)) return absl::AsciiStrToLower(value);
  return std::string(value);
}

}  // namespace

absl::StatusOr<std::vector<Axis>> ParseGrid(absl::string_view text, absl::string_view source) {
  std::vector<Axis> axes;
  std::set<std::string> keys;
  for (absl::string_view item : absl::StrSplit(text, absl::ByAnyChar(";\n"))) {
    item = absl::StripAsciiWhitespace(item);
    if (item.empty() || item[0] == '#') continue;
    const size_t equals = item.find('=');
    if (equals == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ": '", item, "' is not an axis; write key=value1|value2|..."));
    }
    Axis axis;
    axis.key = std::string(absl::StripAsciiWhitespace(item.substr(0, equals)));
    while (!axis.key.empty() && axis.key[0] == '-') axis.key.erase(0, 1);  // --lr= reads as lr=
    if (axis.key.empty()) return absl::InvalidArgumentError(absl::StrCat(source, ": '", item, "' has no key"));
    for (absl::string_view value : absl::StrSplit(item.substr(equals + 1), '|')) {
      value = absl::StripAsciiWhitespace(value);
      if (value.empty()) {
        return absl::InvalidArgumentError(absl::StrCat(source, ": axis ", axis.key, " has an empty value"));
      }
      axis.values.emplace_back(value);
    }
    // Two values that name one folder, or mean one run (QtAdamW and qtadamw, 0.001 and 1e-3),
    // would be one run twice: the second would "resume" the first's finished checkpoint and train
    // nothing, or train it again into another folder that report would count as a second seed.
    std::map<std::string, std::string> folders, meanings;  // -> the value that took it
    for (const std::string& value : axis.values) {
      std::string folder = FolderName(value);
      if (NamesAComponent(axis.key)) folder = absl::AsciiStrToLower(folder);
      if (const auto [it, fresh] = folders.emplace(folder, value); !fresh) {
        return absl::InvalidArgumentError(absl::StrCat(source, ": axis ", axis.key, ": values '", it->second, "' and '",
                                                       value, "' are the same run (one folder, ", axis.key, "=",
                                                       FolderName(value), ")"));
      }
      const std::string meaning = Meaning(axis.key, value);
      if (const auto [it, fresh] = meanings.emplace(meaning, value); !fresh) {
        return absl::InvalidArgumentError(absl::StrCat(source, ": axis ", axis.key, ": values '", it->second, "' and '",
                                                       value, "' are the same run (both mean ", axis.key, "=", meaning,
                                                       "); give each value once"));
      }
    }
    if (!keys.insert(axis.key).second) {
      return absl::InvalidArgumentError(absl::StrCat(source, ": axis ", axis.key, " is given twice"));
    }
    axes.push_back(std::move(axis));
  }
  if (axes.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": the grid is empty; give axes key=v1|v2;key2=..."));
  }
  return axes;
}

std::vector<GridRun> ExpandGrid(const std::vector<Axis>& axes) {
  std::vector<GridRun> runs = {GridRun{}};
  for (const Axis& axis : axes) {
    std::vector<GridRun> next;
    for (const GridRun& run : runs) {
      for (const std::string& value : axis.values) {
        GridRun more = run;
        absl::StrAppend(&more.name, more.name.empty() ? "" : ",", axis.key, "=", FolderName(value));
        more.flags.push_back(absl::StrCat("--", axis.key, "=", value));
        next.push_back(std::move(more));
      }
    }
    runs = std::move(next);
  }
  return runs;
}

}  // namespace qres::sweep
