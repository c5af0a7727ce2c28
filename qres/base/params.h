// Params: a "key=value,key=value" option string, as given to --optim_params or --quant_params.
//
//   QRES_ASSIGN_OR_RETURN(Params params, Params::Parse("lr=1e-3,betas=0.9:0.999", "--optim_params"));
//   QRES_ASSIGN_OR_RETURN(double lr, params.GetDouble("lr", 1e-3));
//   QRES_ASSIGN_OR_RETURN(auto betas, params.GetDoubleList("betas", {0.9, 0.999}));
//   QRES_RETURN_IF_ERROR(params.CheckAllUsed());  // rejects keys nobody asked for
//
// Every error names the source ("--optim_params"), the key and the offending value. Keys are
// case-sensitive; list values are separated by ':'.
#ifndef QRES_BASE_PARAMS_H_
#define QRES_BASE_PARAMS_H_

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace qres {

class Params {
 public:
  Params() = default;

  // Parses `text`; empty text gives no keys. `source` names where the text came from in errors.
  [[nodiscard]] static absl::StatusOr<Params> Parse(absl::string_view text, absl::string_view source = "params");

  // Typed getters: the value of `key`, or `default_value` when it is absent. A present value that
  // does not parse as the type is an InvalidArgument error naming the key and the value.
  [[nodiscard]] absl::StatusOr<double> GetDouble(const std::string& key, double default_value);
  [[nodiscard]] absl::StatusOr<int64_t> GetInt(const std::string& key, int64_t default_value);
  // true/false, 1/0, yes/no, on/off.
  [[nodiscard]] absl::StatusOr<bool> GetBool(const std::string& key, bool default_value);
  [[nodiscard]] absl::StatusOr<std::string> GetString(const std::string& key, const std::string& default_value);
  // One of `choices` (case-insensitive); the error lists the choices.
  [[nodiscard]] absl::StatusOr<std::string> GetChoice(const std::string& key, const std::string& default_value,
                                                      const std::vector<std::string>& choices);
  // A ':'-separated list of doubles, e.g. betas=0.9:0.999.
  [[nodiscard]] absl::StatusOr<std::vector<double>> GetDoubleList(const std::string& key,
                                                                  const std::vector<double>& default_value);

  bool Has(const std::string& key) const { return values_.count(key) > 0; }

  // InvalidArgument naming every key that no getter asked for, and the keys that were asked for.
  [[nodiscard]] absl::Status CheckAllUsed() const;

  const std::map<std::string, std::string>& values() const { return values_; }

 private:
  absl::Status BadValue(const std::string& key, absl::string_view expected) const;
  const std::string* Lookup(const std::string& key);

  std::string source_ = "params";
  std::map<std::string, std::string> values_;
  std::set<std::string> asked_;  // every key a getter looked up, present or not
};

}  // namespace qres

#endif  // QRES_BASE_PARAMS_H_
