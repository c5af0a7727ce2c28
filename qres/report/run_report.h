// Reading finished train runs back and comparing them: the report tool's core.
//
// A run is found by its metrics_<PROC>.jsonl and read from the checkpoint_<PROC>.pt beside it:
// its settings (data set, net, algorithm, lr, seed, ...) and its epochs' metrics. Runs whose settings differ only in
// the seed form one configuration; configurations are compared only within one data set and net, so runs of different
// data sets or nets are never averaged together.
#ifndef QRES_REPORT_RUN_REPORT_H_
#define QRES_REPORT_RUN_REPORT_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "qres/io/metrics.h"
#include "qres/io/plot.h"

namespace qres::report {

using EpochMetrics = io::EpochMetrics;

struct RunRecord {
  std::string metrics_file;
  std::map<std::string, std::string> settings;  // the checkpoint's, with epochs=<epochs recorded>
  std::vector<EpochMetrics> epochs;             // the checkpoint's; at least one
  int64_t planned_epochs = 0;                   // what the run was started for
  uint32_t checkpoint_crc = 0;                  // its checkpoint's CRC-32 and size: one run reached
  size_t checkpoint_size = 0;                   //   twice (a copy, hard links) has the same
  std::vector<std::string> also_at;             // the metrics files of its copies, counted once

  bool finished() const { return static_cast<int64_t>(epochs.size()) >= planned_epochs; }
};

// The runs of `paths`: a folder with metrics_*.jsonl files holds those runs; a folder without any
// holds runs in its subfolders (a sweep's --out_dir). A run reached through several paths (one
// folder given twice, with a trailing slash, or inside another given folder) counts once, and so
// does a copy of a run (cp -r, hard links: a byte-identical checkpoint, which holds the run's
// settings, seed and every epoch's metrics down to its seconds), named in also_at. A path
// with no run, a run without its checkpoint, or a checkpoint that is damaged or has no finished
// epoch is an error naming it.
absl::StatusOr<std::vector<RunRecord>> ReadRuns(const std::vector<std::string>& paths);

// Runs that differ only in the seed.
struct Configuration {
  std::string label;                            // the settings that set it apart in its section
  std::map<std::string, std::string> settings;  // without the seed
  std::vector<const RunRecord*> runs;
};

// Configurations of one data set and net.
struct Section {
  std::string title;  // "FashionMNIST (60000 training images), net CNN"
  std::vector<Configuration> configurations;
};

// The finished runs' configurations (an unfinished run's last epoch is not the run's end).
std::vector<Section> Compare(const std::vector<RunRecord>& runs);

// mean ± sample standard deviation of `values` ("90.12 ± 0.31"; one value: no ±), `scale`d.
std::string MeanAndSpread(const std::vector<double>& values, double scale, int decimals);

// A section's plots: test accuracy and loss per epoch (a line per configuration: the mean over its
// runs, with the min-max band), and where the lr varies, the final test accuracy against the lr.
std::vector<io::Panel> SectionPlots(const Section& section);

// The comparison as Markdown (one table per section) and as CSV (one row per configuration).
std::string MarkdownTables(const std::vector<Section>& sections);
std::string CsvTable(const std::vector<Section>& sections);

// The report tool's work: compares the runs of `paths` and writes <out>.md, <out>.csv and a PNG of
// each table's curves (<out>.png, or <out>_1.png, ... for several tables); `out` empty:
// <folder>/report for one folder, ./report for several; written as one set: a failure leaves the old set.
// Unfinished runs are left out and named. Returns the Markdown and what it wrote.
absl::StatusOr<std::string> WriteReport(const std::vector<std::string>& paths, const std::string& out);

}  // namespace qres::report

#endif  // QRES_REPORT_RUN_REPORT_H_
