// report: compares finished train runs (any run folders, or a sweep's folder): one row per
// configuration (runs that differ only in the seed) with the final and best test accuracy as
// mean ± standard deviation over seeds, the final loss and QP index, and the time per epoch; one
// table per data set and net, never averaged across them. Writes <out>.md, <out>.csv and a PNG of
// each table's curves (mean with the min-max band over seeds; accuracy against lr for an lr grid),
// and prints the Markdown.
//
//   bazel run -c opt //qres/tools:report -- sweeps/fmnist
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gflags/gflags.h"
#include "qres/base/status_macros.h"
#include "qres/io/files.h"
#include "qres/io/plot.h"
#include "qres/report/run_report.h"
#include "qres/tools/cli.h"

DEFINE_string(out, "", "file name prefix of the report (<out>.md, <out>.csv); empty: <folder>/report for one "
              "folder, ./report for several");

namespace qres::tools {
namespace {

absl::Status Report(const std::vector<std::string>& paths) {
  QRES_ASSIGN_OR_RETURN(const std::vector<report::RunRecord> runs, report::ReadRuns(paths));
  const std::vector<report::Section> sections = report::Compare(runs);
  const std::string out = !FLAGS_out.empty() ? FLAGS_out : paths.size() == 1 ? io::JoinPath(paths[0], "report") : "report";
  std::string markdown = absl::StrCat(runs.size(), " runs");
  if (sections.size() > 1) absl::StrAppend(&markdown, " of ", sections.size(), " data set and net combinations, compared within each");
  absl::StrAppend(&markdown, ".\n\n", report::MarkdownTables(sections));
  QRES_RETURN_IF_ERROR(io::WriteFileAtomically(out + ".md", markdown));
  QRES_RETURN_IF_ERROR(io::WriteFileAtomically(out + ".csv", report::CsvTable(sections)));
  std::string written = absl::StrCat(out, ".md, ", out, ".csv");
  for (size_t i = 0; i < sections.size(); ++i) {
    const std::string png = sections.size() == 1 ? out + ".png" : absl::StrCat(out, "_", i + 1, ".png");
    QRES_RETURN_IF_ERROR(io::WritePlotPng(png, report::SectionPlots(sections[i])));
    absl::StrAppend(&written, ", ", png, sections.size() == 1 ? "" : absl::StrCat(" (", sections[i].title, ")"));
  }
  std::cout << markdown << "Written: " << written << "\n";
  return absl::OkStatus();
}

}  // namespace
}  // namespace qres::tools

int main(int argc, char** argv) {
  qres::tools::MaybePrintHelpAndExit(
      argc, argv,
      "report: compares the runs in train run folders or a sweep's folder (mean ± sd over seeds).\n"
      "Usage: bazel run -c opt //qres/tools:report -- [--out=prefix] <folder>...",
      "/report.cc");
  qres::tools::InitTool(&argc, &argv);
  return qres::tools::ReportAndExitCode("report", qres::tools::Report(std::vector<std::string>(argv + 1, argv + argc)));
}
