#include "qres/io/settings_text.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace qres::io {

std::string SettingsText(const SettingsMap& settings) {
  std::string text;
  for (const auto& [key, value] : settings) absl::StrAppend(&text, key, "=", value, "\n");
  return text;
}

SettingsMap ParseSettingsText(absl::string_view text) {
  SettingsMap settings;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    std::pair<std::string, std::string> entry = absl::StrSplit(line, absl::MaxSplits('=', 1));
    settings[entry.first] = std::move(entry.second);
  }
  return settings;
}

}  // namespace qres::io
