#include "qres/tools/cli.h"

#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gflags/gflags.h"
#include "glog/logging.h"
#include "qres/base/allocator.h"
#include "qres/base/params.h"
#include "qres/data/dataset.h"
#include "qres/models/model.h"
#include "qres/optim/optimizer.h"
#include "qres/sched/scheduler.h"

namespace qres::tools {
namespace {

template <typename Registry>
void AppendKind(std::string& out, const std::string& title) {
  absl::StrAppend(&out, title, ":\n");
  const std::vector<std::string> names = Registry::Names();
  size_t width = 14;  // the column of the help texts: past the longest name
  for (const std::string& name : names) width = std::max(width, name.size());
  for (const std::string& name : names) {
    absl::StrAppendFormat(&out, "  %-*s %s\n", static_cast<int>(width), name, Registry::Help(name).value_or(""));
  }
}

}  // namespace

void MaybePrintHelpAndExit(int argc, char** argv, const std::string& usage, const std::string& flag_file) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg != "-h" && arg != "--help" && arg != "-help" && arg != "--helpfull") continue;
    std::cout << usage << "\n\nFlags:\n";
    std::vector<gflags::CommandLineFlagInfo> flags;
    gflags::GetAllFlags(&flags);
    for (const auto& flag : flags) {
      if (!absl::EndsWith(flag.filename, flag_file)) continue;
      // The seed's short spellings are shown with one dash, as its users type them.
      const bool seed_short = flag.name.size() == 1 || flag.name == "qp" || flag.name == "rl" || flag.name == "ng";
      const std::string name = (seed_short ? "-" : "--") + flag.name;
      std::string shown = flag.type == "string" ? absl::StrCat("\"", flag.default_value, "\"") : flag.default_value;
      std::cout << absl::StrFormat("  %-18s %s (default: %s)\n", name, flag.description, shown);
    }
    std::exit(0);
  }
}

void InitTool(int* argc, char*** argv) {
  KeepFreedMemoryForReuse();
  // A closed stdout (a tool piped into head) is a failed write the tool handles, not a death.
  std::signal(SIGPIPE, SIG_IGN);
  gflags::ParseCommandLineFlags(argc, argv, /*remove_flags=*/true);
  FLAGS_logtostderr = true;
  google::InitGoogleLogging((*argv)[0]);
  if (const char* dir = std::getenv("BUILD_WORKING_DIRECTORY")) {
    if (chdir(dir) != 0) LOG(WARNING) << "cannot change to " << dir;
  }
}

std::string ListComponents() {
  std::string out;
  AppendKind<models::ModelRegistry>(out, "Nets (--net, -n)");
  AppendKind<data::DatasetRegistry>(out, "Datasets (--dataset, -d)");
  AppendKind<optim::OptimizerRegistry>(out, "Algorithms (--algo, -m)");
  AppendKind<sched::SchedulerRegistry>(out, "Learning-rate schedules (--scheduler, -sn)");
  absl::StrAppend(
      &out, "Quantization schedules of QSGD, QtAdam, QtAdamW (--quant_params=schedule=...):\n",
      "  bump           the 2021 rule (default): Q_p = 2^n, n grows while a quantized update is zero (not one zero "
      "before rounding); -qp sets n\n",
      "  log            the 2023 rule: Q_p = eta * base^floor(log_base ln(t_e + 2)), with the warm-up offset\n",
      "  none           no quantization\n",
      "Rounding (--quant_params=rounding=...): half_up (default), floor, nearest_even, stochastic\n");
  return out;
}

absl::StatusOr<std::string> MergedFlag(const std::string& long_name, const std::string& short_name) {
  gflags::CommandLineFlagInfo long_flag = gflags::GetCommandLineFlagInfoOrDie(long_name.c_str());
  gflags::CommandLineFlagInfo short_flag = gflags::GetCommandLineFlagInfoOrDie(short_name.c_str());
  if (!long_flag.is_default && !short_flag.is_default && long_flag.current_value != short_flag.current_value) {
    return absl::InvalidArgumentError(absl::StrCat("--", long_name, "=", long_flag.current_value, " and -", short_name,
                                                   " ", short_flag.current_value, " disagree; give one of them"));
  }
  return short_flag.is_default ? long_flag.current_value : short_flag.current_value;
}

namespace {

// MergedFlag parsed by `parse` (absl::SimpleAtoi or SimpleAtod); `kind` names what it must be.
template <typename T>
absl::StatusOr<T> MergedNumberFlag(const std::string& long_name, const std::string& short_name,
                                   bool (*parse)(absl::string_view, T*), const char* kind) {
  absl::StatusOr<std::string> text = MergedFlag(long_name, short_name);
  if (!text.ok()) return text.status();
  T value;
  if (!parse(*text, &value)) {
    return absl::InvalidArgumentError(absl::StrCat("--", long_name, "=", *text, " is not ", kind));
  }
  return value;
}

}  // namespace

absl::StatusOr<int64_t> MergedIntFlag(const std::string& long_name, const std::string& short_name) {
  return MergedNumberFlag<int64_t>(long_name, short_name, &absl::SimpleAtoi<int64_t>, "an integer");
}

absl::StatusOr<double> MergedDoubleFlag(const std::string& long_name, const std::string& short_name) {
  return MergedNumberFlag<double>(long_name, short_name, &absl::SimpleAtod, "a number");
}

absl::StatusOr<std::string> NetOptionsFromFlags() {
  std::string options = gflags::GetCommandLineFlagInfoOrDie("net_params").current_value;
  absl::StatusOr<Params> given = Params::Parse(options, "--net_params");
  if (!given.ok()) return given.status();
  auto add = [&](const std::string& key, const std::string& value, const std::string& flag) -> absl::Status {
    if (given->Has(key)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--net_params sets ", key, " and so does ", flag, "; give one of them"));
    }
    absl::StrAppend(&options, options.empty() ? "" : ",", key, "=", value);
    return absl::OkStatus();
  };
  const bool layers_given = !gflags::GetCommandLineFlagInfoOrDie("resnet_layers").is_default ||
                            !gflags::GetCommandLineFlagInfoOrDie("rl").is_default;
  if (layers_given) {
    absl::StatusOr<int64_t> layers = MergedIntFlag("resnet_layers", "rl");
    if (!layers.ok()) return layers.status();
    if (absl::Status added = add("layers", absl::StrCat(*layers), "-rl/--resnet_layers"); !added.ok()) return added;
  }
  if (!gflags::GetCommandLineFlagInfoOrDie("logit_relu").is_default) {
    const std::string value = gflags::GetCommandLineFlagInfoOrDie("logit_relu").current_value;
    if (absl::Status added = add("logit_relu", value, "--logit_relu"); !added.ok()) return added;
  }
  return options;
}

absl::StatusOr<bool> WantsCuda(const std::string& device_flag, int g_flag) {
  const std::string device = absl::AsciiStrToLower(device_flag);
  if (device != "cpu" && device != "cuda" && device != "gpu") {
    return absl::InvalidArgumentError(absl::StrCat("--device=", device_flag, ": use cpu or cuda"));
  }
  if (g_flag != 0 && g_flag != 1) {
    return absl::InvalidArgumentError(absl::StrCat("-g ", g_flag, ": use 0 (CPU) or 1 (GPU)"));
  }
  if (g_flag == 1 && device == "cpu" && !gflags::GetCommandLineFlagInfoOrDie("device").is_default) {
    return absl::InvalidArgumentError(absl::StrCat("--device=", device_flag, " and -g 1 disagree; give one of them"));
  }
  return device != "cpu" || g_flag == 1;
}

int ReportAndExitCode(const std::string& tool, const absl::Status& status) {
  if (status.ok()) return 0;
  std::string message(status.message());
  std::replace(message.begin(), message.end(), '\n', ' ');
  std::cerr << tool << ": " << message << std::endl;
  return status.code() == absl::StatusCode::kCancelled ? 130 : 1;
}

absl::Status Guarded(const std::function<absl::Status()>& run) {
  try {
    return run();
  } catch (const std::exception& error) {  // c10::Error and std::filesystem's errors among them
    std::string what = error.what();
    what = what.substr(0, what.find('\n'));  // LibTorch appends its C++ stack
    return absl::InternalError(absl::StrCat(what, " (an unexpected error: please report it)"));
  } catch (...) {
    return absl::InternalError("an unexpected error of unknown kind (please report it)");
  }
}

int RunTool(const std::string& tool, int argc, char** argv, const std::string& usage, const std::string& flag_file,
            const bool& list, const std::function<absl::Status()>& run) {
  MaybePrintHelpAndExit(argc, argv, usage, flag_file);
  InitTool(&argc, &argv);
  if (argc > 1) {
    return ReportAndExitCode(
        tool, absl::InvalidArgumentError(absl::StrCat("unexpected argument '", argv[1], "' (flags are --name=value)")));
  }
  if (list) {
    std::cout << ListComponents();
    return 0;
  }
  return ReportAndExitCode(tool, Guarded(run));
}

int RunToolWithArguments(const std::string& tool, int argc, char** argv, const std::string& usage,
                         const std::string& flag_file,
                         const std::function<absl::Status(const std::vector<std::string>&)>& run) {
  MaybePrintHelpAndExit(argc, argv, usage, flag_file);
  InitTool(&argc, &argv);
  const std::vector<std::string> arguments(argv + 1, argv + argc);
  return ReportAndExitCode(tool, Guarded([&] { return run(arguments); }));
}

}  // namespace qres::tools
