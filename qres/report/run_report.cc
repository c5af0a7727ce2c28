#include "qres/report/run_report.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <set>
#include <sstream>
#include <utility>

#include "ATen/core/ivalue.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "qres/base/status_macros.h"
#include "qres/base/torch_status.h"
#include "qres/io/archive_check.h"
#include "qres/io/crc32.h"
#include "qres/io/files.h"
#include "qres/io/metrics.h"
#include "qres/io/run_layout.h"
#include "qres/io/settings_text.h"
#include "torch/serialize/input-archive.h"

namespace qres::report {
namespace {

namespace fs = std::filesystem;

// What report reads of a train checkpoint: the run's settings (key=value lines) and its metrics.
struct CheckpointRecords {
  std::string settings, metrics;
  uint32_t crc = 0;  // of the bytes
  size_t size = 0;
};

absl::StatusOr<CheckpointRecords> ReadCheckpointRecords(const std::string& checkpoint) {
  QRES_ASSIGN_OR_RETURN(const std::string bytes, io::ReadRegularFile(checkpoint));
  QRES_RETURN_IF_ERROR(io::CheckArchive(bytes, absl::StrCat("checkpoint ", checkpoint)));
  return CallTorch(absl::StrCat("checkpoint ", checkpoint, ": not a qres checkpoint"), [&] {
    torch::serialize::InputArchive archive;
    std::istringstream stream(bytes);
    archive.load_from(stream);
    CheckpointRecords records;
    c10::IValue value;
    if (archive.try_read(io::run_layout::kSettingsRecord, value)) records.settings = value.toStringRef();
    if (archive.try_read(io::run_layout::kMetricsRecord, value)) records.metrics = value.toStringRef();
    records.crc = io::Crc32(bytes.data(), bytes.size());
    records.size = bytes.size();
    return records;
  });
}

// metrics_<PROC>.jsonl files directly in `dir`, sorted; one that is not a regular file (a link
// loop, a FIFO) is an error naming it.
absl::StatusOr<std::vector<std::string>> MetricsFiles(const std::vector<io::DirectoryEntry>& entries) {
  std::vector<std::string> files;
  for (const io::DirectoryEntry& entry : entries) {
    if (io::run_layout::RunOfFile(io::run_layout::FileKind::kMetrics, entry.name).empty()) continue;
    if (entry.kind != io::PathKind::kFile) {
      return absl::FailedPreconditionError(absl::StrCat(
          entry.path, ": not a regular file", entry.problem.empty() ? "" : absl::StrCat(" (", entry.problem, ")")));
    }
    files.push_back(entry.path);
  }
  return files;
}

// The run's epochs are the checkpoint's: it is renamed into place after the metrics file, so a run
// killed between the two has a metrics file one epoch ahead, never behind, and the checkpoint is
// what a resumed run continues from.
absl::StatusOr<RunRecord> ReadRun(const std::string& metrics_file) {
  RunRecord run;
  run.metrics_file = metrics_file;
  const fs::path path(metrics_file);
  const std::string run_name = io::run_layout::RunOfFile(io::run_layout::FileKind::kMetrics, path.filename().string());
  const std::string checkpoint = io::run_layout::CheckpointFile(path.parent_path().string(), run_name);
  QRES_ASSIGN_OR_RETURN(const io::PathKind kind, io::KindOf(checkpoint));
  if (kind == io::PathKind::kMissing) {
    return absl::NotFoundError(absl::StrCat(metrics_file, ": no ", checkpoint, " beside it (the run's settings)"));
  }
  QRES_ASSIGN_OR_RETURN(const CheckpointRecords records, ReadCheckpointRecords(checkpoint));
  if (records.settings.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(checkpoint, ": records no run settings (an older train's)"));
  }
  run.settings = io::ParseSettingsText(records.settings);
  run.checkpoint_crc = records.crc;
  run.checkpoint_size = records.size;
  QRES_ASSIGN_OR_RETURN(run.epochs, io::ParseMetrics(records.metrics, absl::StrCat(checkpoint, " (its metrics)")));
  if (run.epochs.empty()) return absl::DataLossError(absl::StrCat(checkpoint, ": no finished epoch yet"));
  // The metrics file is checked all the same: a damaged one is a damaged run folder.
  QRES_ASSIGN_OR_RETURN(const std::string text, io::ReadRegularFile(metrics_file));
  QRES_ASSIGN_OR_RETURN(const std::vector<EpochMetrics> file_epochs, io::ParseMetrics(text, metrics_file));
  if (file_epochs.size() < run.epochs.size()) {
    return absl::DataLossError(absl::StrCat(metrics_file, ": holds ", file_epochs.size(), " epochs but ", checkpoint,
                                            " holds ", run.epochs.size(), " (edited, or restored from elsewhere?)"));
  }
  // The epochs the run was started for (absent in an older train's checkpoint: taken as finished).
  if (auto planned = run.settings.find("epochs"); planned != run.settings.end()) {
    int64_t epochs = 0;
    if (absl::SimpleAtoi(planned->second, &epochs)) run.planned_epochs = epochs;
  }
  if (run.planned_epochs == 0) run.planned_epochs = static_cast<int64_t>(run.epochs.size());
  run.settings["epochs"] = absl::StrCat(run.epochs.size());
  return run;
}

std::string SectionKey(const std::map<std::string, std::string>& s) {
  auto get = [&](const char* key) {
    auto it = s.find(key);
    return it == s.end() ? std::string() : it->second;
  };
  return absl::StrCat(get("dataset"), ", net ", get("net"), get("net_params").empty() ? "" : " " + get("net_params"));
}

// The data's checksums (absent in an older train's checkpoint).
std::string DataOf(const std::map<std::string, std::string>& s) {
  auto it = s.find("data");
  return it == s.end() ? std::string() : it->second;
}

double Mean(const std::vector<double>& v) {
  double sum = 0;
  for (double x : v) sum += x;
  return sum / static_cast<double>(v.size());
}

// The sample standard deviation (0 for one value).
double Spread(const std::vector<double>& v) {
  if (v.size() < 2) return 0.0;
  const double mean = Mean(v);
  double squares = 0;
  for (double x : v) squares += (x - mean) * (x - mean);
  return std::sqrt(squares / static_cast<double>(v.size() - 1));
}

// A point of a plotted line: the mean of `values`, with their min-max band.
void AddPoint(io::Series& line, const std::vector<double>& values) {
  line.y.push_back(Mean(values));
  line.low.push_back(*std::min_element(values.begin(), values.end()));
  line.high.push_back(*std::max_element(values.begin(), values.end()));
}

}  // namespace

absl::StatusOr<std::vector<RunRecord>> ReadRuns(const std::vector<std::string>& paths) {
  if (paths.empty()) return absl::InvalidArgumentError("no run folders given");
  std::vector<RunRecord> runs;
  std::set<std::string> read;  // each run once, however its folders were named (twice, "dir/", nested)
  for (const std::string& path : paths) {
    QRES_ASSIGN_OR_RETURN(const io::PathKind kind, io::KindOf(path));
    if (kind != io::PathKind::kDirectory) return absl::NotFoundError(absl::StrCat(path, ": not a folder"));
    QRES_ASSIGN_OR_RETURN(const std::vector<io::DirectoryEntry> entries, io::ListDirectory(path));
    QRES_ASSIGN_OR_RETURN(std::vector<std::string> files, MetricsFiles(entries));
    if (files.empty()) {  // a sweep's folder: its runs are in subfolders
      for (const io::DirectoryEntry& sub : entries) {
        if (sub.kind != io::PathKind::kDirectory) continue;
        QRES_ASSIGN_OR_RETURN(const std::vector<io::DirectoryEntry> sub_entries, io::ListDirectory(sub.path));
        QRES_ASSIGN_OR_RETURN(std::vector<std::string> sub_files, MetricsFiles(sub_entries));
        for (std::string& file : sub_files) files.push_back(std::move(file));
      }
    }
    if (files.empty()) {
      return absl::NotFoundError(
          absl::StrCat(path, ": no run's metrics (metrics_<run>.jsonl) in it or its subfolders"));
    }
    for (const std::string& file : files) {
      std::error_code error;
      const fs::path canonical = fs::weakly_canonical(fs::absolute(file, error), error);
      if (!read.insert(error ? file : canonical.string()).second) continue;
      QRES_ASSIGN_OR_RETURN(RunRecord run, ReadRun(file));
      auto copy_of = std::find_if(runs.begin(), runs.end(), [&](const RunRecord& other) {
        return other.checkpoint_crc == run.checkpoint_crc && other.checkpoint_size == run.checkpoint_size;
      });
      if (copy_of != runs.end()) {
        copy_of->also_at.push_back(file);
        continue;
      }
      runs.push_back(std::move(run));
    }
  }
  return runs;
}

std::vector<Section> Compare(const std::vector<RunRecord>& runs) {
  // Sections by title and data: runs on other data of the same name and size are never averaged
  // together; where titles would repeat, the data's checksums tell them apart.
  using Configurations = std::map<std::map<std::string, std::string>, std::vector<const RunRecord*>>;
  std::map<std::pair<std::string, std::string>, Configurations> by_section;
  std::map<std::string, int> data_per_title;
  for (const RunRecord& run : runs) {
    if (!run.finished()) continue;  // listed apart: its last epoch is not the run's
    std::map<std::string, std::string> settings = run.settings;
    settings.erase("seed");
    Configurations& section = by_section[{SectionKey(settings), DataOf(settings)}];
    if (section.empty()) ++data_per_title[SectionKey(settings)];
    section[settings].push_back(&run);
  }
  std::vector<Section> sections;
  for (const auto& [key, configurations] : by_section) {
    const auto& [title, data] = key;
    Section section{data_per_title[title] > 1 ? absl::StrCat(title, " (data ", data, ")") : title, {}};
    std::set<std::string> varying;  // the settings that differ between this section's configurations
    for (const auto& [settings, members] : configurations) {
      for (const auto& [key, value] : settings) {
        for (const auto& [other, unused] : configurations) {
          auto it = other.find(key);
          if (it == other.end() || it->second != value) varying.insert(key);
        }
      }
    }
    for (const auto& [settings, members] : configurations) {
      std::vector<std::string> parts;
      for (const std::string& key : varying) {
        auto it = settings.find(key);
        parts.push_back(absl::StrCat(key, "=", it == settings.end() ? "" : it->second));
      }
      section.configurations.push_back({parts.empty() ? "all runs" : absl::StrJoin(parts, " "), settings, members});
    }
    sections.push_back(std::move(section));
  }
  return sections;
}

std::string MeanAndSpread(const std::vector<double>& values, double scale, int decimals) {
  const double mean = Mean(values);
  if (values.size() < 2) return absl::StrFormat("%.*f", decimals, mean * scale);
  return absl::StrFormat("%.*f ± %.*f", decimals, mean * scale, decimals, Spread(values) * scale);
}

namespace {

struct Row {
  std::vector<double> final_acc, best_acc, final_loss, index, seconds;
};

Row Summarize(const Configuration& c) {
  Row row;
  for (const RunRecord* run : c.runs) {
    const EpochMetrics& last = run->epochs.back();
    double best = 0, seconds = 0;
    for (const EpochMetrics& e : run->epochs) {
      best = std::max(best, e.test_accuracy);
      seconds += e.seconds;
    }
    row.final_acc.push_back(last.test_accuracy);
    row.best_acc.push_back(best);
    row.final_loss.push_back(last.loss);
    if (last.quant_index) row.index.push_back(*last.quant_index);
    row.seconds.push_back(seconds / static_cast<double>(run->epochs.size()));
  }
  return row;
}

}  // namespace

std::vector<io::Panel> SectionPlots(const Section& section) {
  io::Panel accuracy{"test accuracy", {}, {}, {}, "epoch", false}, loss{"loss", {}, {}, {}, "epoch", false};
  for (const Configuration& c : section.configurations) {
    io::Series acc{c.label, {}, {}, {}}, lss{c.label, {}, {}, {}};
    const size_t epochs = c.runs.front()->epochs.size();  // the same in a configuration
    for (size_t e = 0; e < epochs; ++e) {
      std::vector<double> a, l;
      for (const RunRecord* run : c.runs) {
        a.push_back(run->epochs[e].test_accuracy);
        l.push_back(run->epochs[e].loss);
      }
      AddPoint(acc, a);
      AddPoint(lss, l);
    }
    accuracy.series.push_back(std::move(acc));
    loss.series.push_back(std::move(lss));
  }
  std::vector<io::Panel> panels = {accuracy, loss};
  // Accuracy against lr: a line per configuration with its lr left out.
  std::map<std::string, std::map<double, std::vector<double>>> by_rest;
  std::set<double> lrs;
  for (const Configuration& c : section.configurations) {
    double lr = 0;
    if (!absl::SimpleAtod(c.settings.at("lr"), &lr)) continue;
    lrs.insert(lr);
    std::vector<std::string> rest;
    for (absl::string_view part : absl::StrSplit(c.label, ' ')) {
      if (!absl::StartsWith(part, "lr=")) rest.emplace_back(part);
    }
    for (const RunRecord* run : c.runs) {
      by_rest[absl::StrJoin(rest, " ")][lr].push_back(run->epochs.back().test_accuracy);
    }
  }
  if (lrs.size() > 1) {
    io::Panel against_lr{"final test accuracy", {}, {}, {lrs.begin(), lrs.end()}, "lr", true};
    for (const auto& [label, points] : by_rest) {
      if (points.size() != lrs.size()) continue;  // not on every lr of the grid
      io::Series line{label.empty() ? "all runs" : label, {}, {}, {}};
      for (const auto& [lr, finals] : points) AddPoint(line, finals);
      against_lr.series.push_back(std::move(line));
    }
    if (!against_lr.series.empty()) panels.push_back(std::move(against_lr));
  }
  return panels;
}

std::string MarkdownTables(const std::vector<Section>& sections) {
  std::string out;
  for (const Section& section : sections) {
    absl::StrAppend(
        &out, "### ", section.title, "\n\n",
        "| configuration | runs | final test acc (%) | best test acc (%) | final loss | final QP index | s/epoch |\n",
        "|---|---|---|---|---|---|---|\n");
    for (const Configuration& c : section.configurations) {
      const Row row = Summarize(c);
      absl::StrAppend(&out, "| ", c.label, " | ", c.runs.size(), " | ", MeanAndSpread(row.final_acc, 100, 2), " | ",
                      MeanAndSpread(row.best_acc, 100, 2), " | ", MeanAndSpread(row.final_loss, 1, 4), " | ",
                      row.index.empty() ? "-" : MeanAndSpread(row.index, 1, 1), " | ",
                      absl::StrFormat("%.1f", Mean(row.seconds)), " |\n");
    }
    absl::StrAppend(&out, "\n");
  }
  return out;
}

std::string CsvTable(const std::vector<Section>& sections) {
  std::string out =
      "section,configuration,runs,final_test_acc_mean,final_test_acc_sd,best_test_acc_mean,best_test_acc_sd,"
      "final_loss_mean,final_quant_index_mean,seconds_per_epoch\n";
  auto quote = [](const std::string& s) { return absl::StrCat("\"", absl::StrReplaceAll(s, {{"\"", "\"\""}}), "\""); };
  for (const Section& section : sections) {
    for (const Configuration& c : section.configurations) {
      const Row row = Summarize(c);
      absl::StrAppend(
          &out, quote(section.title), ",", quote(c.label), ",", c.runs.size(), ",",
          absl::StrFormat("%.9g,%.9g,%.9g,%.9g,%.9g,%s,%.3f", Mean(row.final_acc), Spread(row.final_acc),
                          Mean(row.best_acc), Spread(row.best_acc), Mean(row.final_loss),
                          row.index.empty() ? "" : absl::StrFormat("%.9g", Mean(row.index)), Mean(row.seconds)),
          "\n");
    }
  }
  return out;
}

absl::StatusOr<std::string> WriteReport(const std::vector<std::string>& paths, const std::string& out_prefix) {
  const std::string out = !out_prefix.empty() ? out_prefix
                          : paths.size() == 1 ? io::JoinPath(paths[0], "report")
                                              : "report";
  // The longest name of the set (a plot per table: <out>_<n>.png), checked before any run is read.
  QRES_RETURN_IF_ERROR(io::CheckOutputName(out + "_999.png", "report --out:"));
  const size_t slash = out.rfind('/');
  const std::string out_dir = slash == std::string::npos ? "" : out.substr(0, slash);
  QRES_ASSIGN_OR_RETURN(const std::vector<RunRecord> runs, ReadRuns(paths));
  std::vector<std::string> unfinished;
  for (const RunRecord& run : runs) {
    if (!run.finished()) {
      unfinished.push_back(
          absl::StrCat(run.metrics_file, " (", run.epochs.size(), " of ", run.planned_epochs, " epochs)"));
    }
  }
  const size_t finished = runs.size() - unfinished.size();
  if (finished == 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("no finished run to compare; not finished: ", absl::StrJoin(unfinished, ", "),
                     " (train --resume continues one)"));
  }
  const std::vector<Section> sections = Compare(runs);
  std::string markdown = absl::StrCat(finished, " runs");
  if (sections.size() > 1)
    absl::StrAppend(&markdown, " of ", sections.size(), " data set and net combinations, compared within each");
  absl::StrAppend(&markdown, ".\n\n");
  if (!unfinished.empty()) {
    absl::StrAppend(&markdown, "Left out, not finished: ", absl::StrJoin(unfinished, ", "), ".\n\n");
  }
  for (const RunRecord& run : runs) {
    if (run.also_at.empty()) continue;
    absl::StrAppend(&markdown, "Counted once: ", run.metrics_file, " and its copies ", absl::StrJoin(run.also_at, ", "),
                    " (byte-identical checkpoints: one run reached twice).\n\n");
  }
  absl::StrAppend(&markdown, MarkdownTables(sections));
  // One set: all written beside their targets first, then renamed, so a full disk leaves the old set.
  // The .md is the set's manifest, renamed last: it names each other file with its CRC-32, so a
  // report stopped between two renames (an old .md beside a new .csv) shows in a mismatch.
  std::vector<std::pair<std::string, std::string>> files = {{out + ".csv", CsvTable(sections)}};
  std::string written = absl::StrCat(out, ".md, ", out, ".csv");
  for (size_t i = 0; i < sections.size(); ++i) {
    const std::string png = sections.size() == 1 ? out + ".png" : absl::StrCat(out, "_", i + 1, ".png");
    QRES_ASSIGN_OR_RETURN(std::string image, io::EncodePlotPng(SectionPlots(sections[i])));
    files.emplace_back(png, std::move(image));
    absl::StrAppend(&written, ", ", png, sections.size() == 1 ? "" : absl::StrCat(" (", sections[i].title, ")"));
  }
  std::vector<std::string> manifest;
  for (const auto& [path, bytes] : files) {
    const uint32_t crc = io::Crc32(bytes.data(), bytes.size());
    manifest.push_back(
        absl::StrFormat("%s (CRC-32 %08x, %d bytes)", path.substr(path.rfind('/') + 1), crc, bytes.size()));
  }
  absl::StrAppend(&markdown, "\nFiles of this report, written with it: ", absl::StrJoin(manifest, ", "), ".\n");
  files.emplace_back(out + ".md", markdown);
  // A report killed between its writes and renames left temporaries; a later one removes them.
  io::RemoveTemporaries(out_dir, out.substr(slash == std::string::npos ? 0 : slash + 1), io::TemporaryWriters::kDead);
  QRES_RETURN_IF_ERROR(io::WriteFilesAtomically(files));
  return absl::StrCat(markdown, "Written: ", written, "\n");
}

}  // namespace qres::report
