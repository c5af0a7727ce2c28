// What the tools (train, test, sweep, report) share on the command line: --help from the flags a
// binary defines, --list of every registered component, the seed's short flag spellings, and
// turning a Status (or an escaped exception) into a one-line error and an exit code.
#ifndef QRES_TOOLS_CLI_H_
#define QRES_TOOLS_CLI_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace qres::tools {

// Handles -h/--help/-help before gflags sees them: prints `usage` and the flags defined in the
// source file `flag_file` (e.g. "train.cc"), then exits 0.
void MaybePrintHelpAndExit(int argc, char** argv, const std::string& usage, const std::string& flag_file);

// Tunes the allocator for training (qres/base/allocator.h), initialises gflags and glog, ignores
// SIGPIPE (a closed stdout is a failed write, which train survives), and moves to the directory
// `bazel run` was started from, so relative paths mean what the user meant.
void InitTool(int* argc, char*** argv);

// Every registered net, dataset and algorithm with its line of help.
std::string ListComponents();

// The value of a flag given in its long form or the seed's short form: the one that was set on the
// command line, an error naming both if both were set to different values.
absl::StatusOr<std::string> MergedFlag(const std::string& long_name, const std::string& short_name);

// MergedFlag for a numeric flag; a value that is not a number is an error naming the flag.
absl::StatusOr<int64_t> MergedIntFlag(const std::string& long_name, const std::string& short_name);
absl::StatusOr<double> MergedDoubleFlag(const std::string& long_name, const std::string& short_name);

// The net's options for ModelSpec::options: --net_params, plus the seed's -rl/--resnet_layers
// (layers=N) and --logit_relu (logit_relu=true) when given; a key given twice is an error. The
// tool must define the flags net_params, resnet_layers, rl and logit_relu.
absl::StatusOr<std::string> NetOptionsFromFlags();

// Whether --device (cpu, cuda or gpu) or the seed's -g (0 or 1) asks for the GPU; --device=cpu
// given with -g 1 is an error.
absl::StatusOr<bool> WantsCuda(const std::string& device_flag, int g_flag);

// run(), with any exception it lets out (a library's bug, never an expected failure) as one line
// in an InternalError instead of an abort.
absl::Status Guarded(const std::function<absl::Status()>& run);

// Prints "<tool>: <message>" on stderr and returns the exit code (0 for OK, 130 when cancelled).
int ReportAndExitCode(const std::string& tool, const absl::Status& status);

// A tool's main(): --help (usage and the flags of `flag_file`), InitTool, a stray argument as an
// error, --list when `list` says so after parsing, otherwise `run`; returns the exit code.
int RunTool(const std::string& tool, int argc, char** argv, const std::string& usage, const std::string& flag_file,
            const bool& list, const std::function<absl::Status()>& run);

// The same for a tool whose arguments (after its flags, or after --) are its input: `run` gets
// them (report's folders, sweep's train flags).
int RunToolWithArguments(const std::string& tool, int argc, char** argv, const std::string& usage,
                         const std::string& flag_file,
                         const std::function<absl::Status(const std::vector<std::string>&)>& run);

}  // namespace qres::tools

#endif  // QRES_TOOLS_CLI_H_
