#include "qres/sweep/sweep.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "qres/base/duration.h"
#include "qres/base/status_macros.h"
#include "qres/base/train_flags.h"
#include "qres/data/dataset.h"
#include "qres/io/files.h"
#include "qres/io/run_layout.h"
#include "qres/models/model.h"
#include "qres/optim/optimizer.h"
#include "qres/sched/scheduler.h"
#include "qres/sweep/grid.h"

extern char** environ;

namespace qres::sweep {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

std::atomic<int> stop_signal{0};
void OnSignal(int signal) { stop_signal = signal; }

// The long flags train --help lists.
absl::StatusOr<std::set<std::string>> TrainFlags(const std::string& train) {
  FILE* pipe = popen(absl::StrCat("'", train, "' --help 2>/dev/null").c_str(), "r");
  if (pipe == nullptr) return absl::InternalError(absl::StrCat("cannot run ", train, " --help"));
  std::set<std::string> flags;
  char buffer[4096];
  while (std::fgets(buffer, sizeof(buffer), pipe) != nullptr) {
    absl::string_view line(buffer);
    if (!absl::ConsumePrefix(&line, "  --") && !absl::ConsumePrefix(&line, "  -")) continue;
    flags.insert(std::string(line.substr(0, line.find_first_of(" \n"))));
  }
  const int status = pclose(pipe);
  if (status != 0 || flags.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(train, " --help failed: is it qres's train binary?"));
  }
  for (const char* needed : {"out_dir", "resume", "overwrite", "progress"}) {  // the flags the sweep gives
    if (flags.count(needed) == 0) {
      return absl::FailedPreconditionError(
          absl::StrCat(train, " is not qres's train binary: its --help lists no --", needed));
    }
  }
  return flags;
}

// Every grid key is a train flag, and every net, dataset, algorithm and schedule it names is
// registered: caught here, before anything runs.
absl::Status CheckAxes(const std::vector<Axis>& axes, const std::set<std::string>& train_flags) {
  for (const Axis& axis : axes) {
    if (axis.key == "out_dir" || axis.key == "resume" || axis.key == "overwrite") {
      return absl::InvalidArgumentError(absl::StrCat("grid axis ", axis.key, ": the sweep sets it for every run"));
    }
    if (train_flags.count(axis.key) == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("grid axis ", axis.key, ": train has no flag --", axis.key, " (train --help lists them)"));
    }
    for (const std::string& value : axis.values) {
      absl::Status found = absl::OkStatus();
      switch (train_flags::NamesOf(axis.key)) {
        case train_flags::Names::kAlgorithm:
          found = optim::OptimizerRegistry::Find(value).status();
          break;
        case train_flags::Names::kNet:
          found = models::ModelRegistry::Find(value).status();
          break;
        case train_flags::Names::kDataset:
          found = data::DatasetRegistry::Find(value).status();
          break;
        case train_flags::Names::kScheduler:
          found = sched::SchedulerRegistry::Find(value).status();
          break;
        case train_flags::Names::kPrecision:  // train checks it (fp32, bf16, fp16)
        case train_flags::Names::kNothing:
          break;
      }
      if (!found.ok()) return absl::InvalidArgumentError(absl::StrCat("grid axis ", axis.key, ": ", found.message()));
    }
  }
  return absl::OkStatus();
}

struct Job {
  GridRun run;
  std::string dir;
  std::vector<std::string> flags;  // the run's train flags (its grid values, then the flags after --)
  pid_t pid = 0;
  Clock::time_point start;
};

// The job's sweep.json: started (written before it starts), finished or failed.
std::string StatusJson(const Job& job, const std::string& status, int exit_code, double seconds) {
  return io::run_layout::SweepStatusJson({job.run.name, status, exit_code, seconds, job.flags});
}

// Whether `dir` holds a run's file of `kind` (train's model, its checkpoint), a regular file.
bool HasFile(const std::string& dir, io::run_layout::FileKind kind) {
  absl::StatusOr<std::vector<io::DirectoryEntry>> entries = io::ListDirectory(dir);
  if (!entries.ok()) return false;  // not made yet
  return std::any_of(entries->begin(), entries->end(), [&](const io::DirectoryEntry& entry) {
    return entry.kind == io::PathKind::kFile && !io::run_layout::RunOfFile(kind, entry.name).empty();
  });
}

// Whether the job's run is done: sweep.json says it finished and its model is there (a run whose
// model was deleted runs again; a finished checkpoint only writes the model anew). A folder that
// was run with other flags (a finished sweep continued with another --epochs after --) is an
// error: its files are another run's.
absl::StatusOr<bool> Finished(const Job& job) {
  const std::string path = io::run_layout::SweepStatusFile(job.dir);
  QRES_ASSIGN_OR_RETURN(const io::PathKind kind, io::KindOf(path));
  if (kind == io::PathKind::kMissing) return false;
  // The sweep's own file: anything but a regular file in its place (a FIFO would block) is an error.
  QRES_ASSIGN_OR_RETURN(const std::string text, io::ReadRegularFile(path));
  QRES_ASSIGN_OR_RETURN(const io::run_layout::SweepStatus status, io::run_layout::ParseSweepStatus(text, path));
  if (!status.flags.empty() && status.flags != job.flags) {  // no flags: an older sweep's file
    return absl::FailedPreconditionError(
        absl::StrCat(job.dir, " was run with train flags ", absl::StrJoin(status.flags, " "), ", this sweep gives ",
                     absl::StrJoin(job.flags, " "), "; continue it with its own flags, or give another --out_dir"));
  }
  return status.status == "finished" && HasFile(job.dir, io::run_layout::FileKind::kModel);
}

// The last line of the run's output: a failed train's one-line error.
std::string LastLine(const std::string& path) {
  absl::StatusOr<std::string> text = io::ReadRegularFile(path);
  if (!text.ok()) return "";
  std::vector<absl::string_view> lines = absl::StrSplit(absl::StripTrailingAsciiWhitespace(*text), '\n');
  return lines.empty() ? "" : std::string(lines.back());
}

absl::StatusOr<pid_t> Start(const std::string& train, const Job& job, int threads) {
  std::vector<std::string> args = {train};
  args.insert(args.end(), job.flags.begin(), job.flags.end());
  args.push_back(absl::StrCat("--out_dir=", job.dir));
  if (HasFile(job.dir, io::run_layout::FileKind::kCheckpoint))
    args.push_back("--resume");   // an interrupted run continues from it
  args.push_back("--overwrite");  // files of a run that failed before its first checkpoint go
  args.push_back("--progress=off");
  if (threads > 0) args.push_back(absl::StrCat("--threads=", threads));
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  std::error_code error;
  fs::create_directories(job.dir, error);
  if (error) return absl::FailedPreconditionError(absl::StrCat(job.dir, ": cannot create it: ", error.message()));
  // Written before the run starts, so a stopped or crashed run's folder says what it was run with.
  QRES_RETURN_IF_ERROR(
      io::WriteFileAtomically(io::run_layout::SweepStatusFile(job.dir), StatusJson(job, "started", 0, 0)));
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  const std::string output = io::run_layout::SweepOutputFile(job.dir);
  posix_spawn_file_actions_addopen(&actions, 1, output.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  pid_t pid = 0;
  const int failed = posix_spawn(&pid, train.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (failed != 0) return absl::InternalError(absl::StrCat("cannot start ", train, ": ", std::strerror(failed)));
  return pid;
}

}  // namespace

absl::Status Sweep(const SweepOptions& options) {
  const std::vector<std::string>& fixed = options.train_flags;
  std::string grid_text = options.grid;
  if (!options.grid_file.empty()) {
    // A grid is a few lines; a bound keeps an endless pipe (--grid_file=<(yes ...)) from taking all memory.
    QRES_ASSIGN_OR_RETURN(const std::string file, io::ReadWholeFile(options.grid_file, int64_t{1} << 24));
    absl::StrAppend(&grid_text, "\n", absl::StripPrefix(file, "\xEF\xBB\xBF"));  // an editor's UTF-8 BOM
  }
  QRES_ASSIGN_OR_RETURN(const std::vector<Axis> axes,
                        ParseGrid(grid_text, options.grid_file.empty() ? "--grid" : "--grid/--grid_file"));
  if (options.jobs < 1) return absl::InvalidArgumentError(absl::StrCat("--jobs=", options.jobs, " must be >= 1"));
  const std::string& train = options.train;
  if (access(train.c_str(), X_OK) != 0) {
    return absl::NotFoundError(
        absl::StrCat("no train binary at ", train, "; build //qres/tools:train or give --train"));
  }
  QRES_ASSIGN_OR_RETURN(const std::set<std::string> train_flags, TrainFlags(train));
  QRES_RETURN_IF_ERROR(CheckAxes(axes, train_flags));
  bool value_may_follow = false;  // "-d MNIST": a value after a flag without '='
  for (const std::string& arg : fixed) {
    if (!absl::StartsWith(arg, "-")) {
      if (!value_may_follow) {
        return absl::InvalidArgumentError(absl::StrCat("'", arg, "' after -- is not a train flag (--name=value)"));
      }
      value_may_follow = false;
      continue;
    }
    const std::string name(absl::StripPrefix(absl::StripPrefix(arg.substr(0, arg.find('=')), "-"), "-"));
    if (name == "out_dir" || name == "resume" || name == "resume_from" || name == "overwrite") {
      return absl::InvalidArgumentError(absl::StrCat(arg, " after --: the sweep sets --", name, " for every run"));
    }
    const std::string bare(absl::StripPrefix(name, "no"));  // --noshuffle
    if (train_flags.count(name) == 0 && train_flags.count(bare) == 0) {
      return absl::InvalidArgumentError(absl::StrCat(arg, " after --: train has no flag --", name));
    }
    value_may_follow = arg.find('=') == std::string::npos;
  }
  const bool threads_given = std::any_of(fixed.begin(), fixed.end(), [](const std::string& a) {
    return absl::StartsWith(a, "--threads") || absl::StartsWith(a, "-threads");
  });
  const int threads =
      threads_given ? 0 : std::max(1, static_cast<int>(std::thread::hardware_concurrency()) / options.jobs);

  std::vector<Job> pending;
  const std::vector<GridRun> runs = ExpandGrid(axes);
  int done_before = 0;
  for (const GridRun& run : runs) {
    // Caught here: a folder the file system refuses would fail the run only once it starts.
    if (run.name.size() > NAME_MAX) {
      return absl::InvalidArgumentError(absl::StrCat("the grid's run folder ", run.name.substr(0, 60), "... is ",
                                                     run.name.size(), " bytes long, more than the file system's ",
                                                     NAME_MAX, "; give shorter values"));
    }
    Job job{run, io::JoinPath(options.out_dir, run.name), run.flags};
    job.flags.insert(job.flags.end(), fixed.begin(), fixed.end());
    QRES_ASSIGN_OR_RETURN(const bool finished, Finished(job));
    if (options.dry_run) std::cout << (finished ? "done     " : "to run   ") << job.dir << "\n";
    if (finished) {
      ++done_before;
    } else {
      pending.push_back(std::move(job));
    }
  }
  if (options.dry_run) return absl::OkStatus();
  QRES_RETURN_IF_ERROR(io::CreateOutputDirectory(options.out_dir));
  // One sweep at a time in a folder: two would run the same runs into the same folders.
  absl::StatusOr<std::unique_ptr<io::ExclusiveLock>> lock =
      io::ExclusiveLock::Acquire(io::JoinPath(options.out_dir, ".sweep.lock"));
  if (!lock.ok()) {
    return absl::FailedPreconditionError(absl::StrCat("another sweep runs in ", options.out_dir, " (",
                                                      lock.status().message(),
                                                      "); wait for it to end, or give another --out_dir"));
  }
  std::cerr << "sweep: " << runs.size() << " runs in " << options.out_dir << ", " << done_before
            << " already finished, " << pending.size() << " to run, " << options.jobs << " at a time\n";
  struct sigaction action {};
  action.sa_handler = OnSignal;  // no SA_RESTART: waitpid returns, and a SIGTERM reaches the runs
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);

  std::map<pid_t, Job> running;
  // However the loop ends early (an error below), no run it started is left training unwatched.
  struct StopLeftRuns {
    std::map<pid_t, Job>& running;
    ~StopLeftRuns() {
      for (const auto& [pid, job] : running) kill(pid, SIGTERM);  // each stops at its next batch
      for (const auto& [pid, job] : running) waitpid(pid, nullptr, 0);
    }
  } stop_left_runs{running};
  std::vector<std::string> failures;
  int finished_now = 0;
  double seconds_finished = 0;
  const size_t total = pending.size();
  size_t next = 0;
  while (next < pending.size() || !running.empty()) {
    while (stop_signal == 0 && next < pending.size() && static_cast<int>(running.size()) < options.jobs) {
      Job job = pending[next++];
      job.start = Clock::now();
      absl::StatusOr<pid_t> pid = Start(train, job, threads);
      if (!pid.ok()) {  // this run fails; the others go on, and none is left running unwatched
        std::cerr << "sweep: " << job.run.name << ": FAILED to start: " << pid.status().message() << "\n";
        failures.push_back(absl::StrCat(job.run.name, ": ", pid.status().message()));
        continue;
      }
      job.pid = *pid;
      std::cerr << absl::StrFormat("sweep: [%d/%d] %s: started\n", next, total, job.run.name);
      running.emplace(job.pid, std::move(job));
    }
    if (running.empty()) break;  // stopped before anything else started
    int status = 0;
    const pid_t pid = waitpid(-1, &status, 0);
    if (pid < 0) {
      if (errno != EINTR) return absl::InternalError(absl::StrCat("waitpid: ", std::strerror(errno)));
      if (stop_signal == SIGTERM) {  // a terminal's Ctrl-C reaches the runs itself; a kill does not
        for (const auto& [child, job] : running) kill(child, SIGTERM);
      }
      continue;
    }
    auto it = running.find(pid);
    if (it == running.end()) continue;
    const Job job = std::move(it->second);
    running.erase(it);
    const double seconds = std::chrono::duration<double>(Clock::now() - job.start).count();
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (code == 130 && stop_signal != 0) {
      std::cerr << "sweep: " << job.run.name << ": stopped; its checkpoint resumes with the same command\n";
      continue;
    }
    // A train that exits 0 without a model (a grid value such as list=true) did not train.
    const bool wrote_model = HasFile(job.dir, io::run_layout::FileKind::kModel);
    const bool trained = code == 0 && wrote_model;
    const absl::Status marked = io::WriteFileAtomically(
        io::run_layout::SweepStatusFile(job.dir), StatusJson(job, trained ? "finished" : "failed", code, seconds));
    const bool ok = trained && marked.ok();
    std::string line =
        absl::StrFormat("sweep: %s: %s in %s", job.run.name, ok ? "finished" : "FAILED", FormatDuration(seconds));
    if (ok) {
      ++finished_now;
      seconds_finished += seconds;
    } else {
      const std::string why = !marked.ok() ? std::string(marked.message())
                              : code == 0  ? "train exited 0 but wrote no model (a flag such as --list or --help?)"
                                           : LastLine(io::run_layout::SweepOutputFile(job.dir));
      absl::StrAppend(&line, " (exit ", code, "): ", why);
      failures.push_back(absl::StrCat(job.run.name, ": ", why));
    }
    const size_t left = (pending.size() - next) + running.size();
    absl::StrAppend(&line, "; ", left, " left");
    if (finished_now > 0 && left > 0) {
      const double each = seconds_finished / finished_now;
      absl::StrAppend(&line, ", about ", FormatDuration(each * static_cast<double>(left) / options.jobs), " to go");
    }
    std::cerr << line << "\n";
  }
  if (stop_signal != 0) {
    return absl::CancelledError(absl::StrCat("stopped; ", done_before + finished_now, " of ", runs.size(),
                                             " runs finished; the same command continues the sweep"));
  }
  if (!failures.empty()) {
    for (const std::string& failure : failures) std::cerr << "sweep: failed: " << failure << "\n";
    return absl::AbortedError(absl::StrCat(failures.size(), " of ", runs.size(),
                                           " runs failed (listed above; each "
                                           "folder's ",
                                           io::run_layout::SweepOutputFile(""),
                                           " has its output); the same command retries them"));
  }
  std::cerr << "sweep: all " << runs.size() << " runs finished; compare them with: report " << options.out_dir << "\n";
  return absl::OkStatus();
}

}  // namespace qres::sweep
