#include "qres/base/params.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace qres {

absl::StatusOr<Params> Params::Parse(absl::string_view text, absl::string_view source) {
  Params params;
  params.source_ = std::string(source);
  text = absl::StripAsciiWhitespace(text);
  if (text.empty()) return params;
  for (absl::string_view item : absl::StrSplit(text, ',')) {
    item = absl::StripAsciiWhitespace(item);
    const size_t eq = item.find('=');
    if (item.empty() || eq == absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat(source, ": '", item, "' is not key=value (in '", text, "')"));
    }
    const std::string key(absl::StripAsciiWhitespace(item.substr(0, eq)));
    const std::string value(absl::StripAsciiWhitespace(item.substr(eq + 1)));
    if (key.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(source, ": empty key in '", item, "'"));
    }
    if (value.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(source, ": key '", key, "' has no value"));
    }
    if (!params.values_.emplace(key, value).second) {
      return absl::InvalidArgumentError(absl::StrCat(source, ": key '", key, "' is given twice"));
    }
  }
  return params;
}

const std::string* Params::Lookup(const std::string& key) {
  asked_.insert(key);
  auto it = values_.find(key);
  return it == values_.end() ? nullptr : &it->second;
}

absl::Status Params::BadValue(const std::string& key, absl::string_view expected) const {
  return absl::InvalidArgumentError(
      absl::StrCat(source_, ": key '", key, "' has value '", values_.at(key), "', expected ", expected));
}

absl::StatusOr<double> Params::GetDouble(const std::string& key, double default_value) {
  const std::string* value = Lookup(key);
  if (value == nullptr) return default_value;
  double result;
  if (!absl::SimpleAtod(*value, &result)) return BadValue(key, "a number");
  return result;
}

absl::StatusOr<int64_t> Params::GetInt(const std::string& key, int64_t default_value) {
  const std::string* value = Lookup(key);
  if (value == nullptr) return default_value;
  int64_t result;
  if (!absl::SimpleAtoi(*value, &result)) return BadValue(key, "an integer");
  return result;
}

absl::StatusOr<bool> Params::GetBool(const std::string& key, bool default_value) {
  const std::string* value = Lookup(key);
  if (value == nullptr) return default_value;
  bool result;
  if (!absl::SimpleAtob(*value, &result)) return BadValue(key, "true or false");
  return result;
}

absl::StatusOr<std::string> Params::GetString(const std::string& key, const std::string& default_value) {
  const std::string* value = Lookup(key);
  return value == nullptr ? default_value : *value;
}

absl::StatusOr<std::string> Params::GetChoice(const std::string& key, const std::string& default_value,
                                              const std::vector<std::string>& choices) {
  const std::string* value = Lookup(key);
  if (value == nullptr) return default_value;
  for (const std::string& choice : choices) {
    if (absl::EqualsIgnoreCase(*value, choice)) return choice;
  }
  return BadValue(key, absl::StrCat("one of ", absl::StrJoin(choices, ", ")));
}

absl::StatusOr<std::vector<double>> Params::GetDoubleList(const std::string& key,
                                                          const std::vector<double>& default_value) {
  const std::string* value = Lookup(key);
  if (value == nullptr) return default_value;
  std::vector<double> result;
  for (absl::string_view part : absl::StrSplit(*value, ':')) {
    double number;
    if (!absl::SimpleAtod(part, &number)) return BadValue(key, "numbers separated by ':'");
    result.push_back(number);
  }
  if (!default_value.empty() && result.size() != default_value.size()) {
    return BadValue(key, absl::StrCat(default_value.size(), " numbers separated by ':'"));
  }
  return result;
}

absl::Status Params::CheckAllUsed() const {
  std::vector<std::string> unknown;
  for (const auto& [key, value] : values_) {
    if (asked_.count(key) == 0) unknown.push_back(key);
  }
  if (unknown.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(source_, ": unknown key", unknown.size() > 1 ? "s" : "", " '", absl::StrJoin(unknown, "', '"), "'; ",
                   asked_.empty() ? "it takes none" : absl::StrCat("valid keys: ", absl::StrJoin(asked_, ", "))));
}

}  // namespace qres
