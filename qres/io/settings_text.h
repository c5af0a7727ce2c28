// A run's settings as text, "key=value" lines in key order (values may hold ',' and '=', never a
// newline): how the checkpoint and the model file keep them and the ranks compare them.
//
//   const std::string text = SettingsText({{"lr", "0.001"}, {"net", "CNN"}});  // "lr=0.001\nnet=CNN\n"
//   ParseSettingsText(text).at("net");                                         // "CNN"
#ifndef QRES_IO_SETTINGS_TEXT_H_
#define QRES_IO_SETTINGS_TEXT_H_

#include <map>
#include <string>

#include "absl/strings/string_view.h"

namespace qres::io {

using SettingsMap = std::map<std::string, std::string>;

std::string SettingsText(const SettingsMap& settings);

// SettingsText's lines back as a map; a line without '=' is a key with an empty value.
SettingsMap ParseSettingsText(absl::string_view text);

}  // namespace qres::io

#endif  // QRES_IO_SETTINGS_TEXT_H_
