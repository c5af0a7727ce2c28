// report: compares finished train runs (any run folders, or a sweep's folder): one row per
// configuration (runs that differ only in the seed) with the final and best test accuracy as
// mean ± standard deviation over seeds, the final loss and QP index, and the time per epoch; one
// table per data set and net, never averaged across them. Writes <out>.md, <out>.csv and a PNG of
// each table's curves (mean with the min-max band over seeds; accuracy against lr for an lr grid),
// and prints the Markdown (qres/report/run_report.h).
//
//   bazel run -c opt //qres/tools:report -- sweeps/fmnist
#include <iostream>
#include <string>
#include <vector>

#include "gflags/gflags.h"
#include "qres/base/status_macros.h"
#include "qres/report/run_report.h"
#include "qres/tools/cli.h"

DEFINE_string(out, "",
              "file name prefix of the report (<out>.md, <out>.csv); empty: <folder>/report for one "
              "folder, ./report for several");

int main(int argc, char** argv) {
  return qres::tools::RunToolWithArguments(
      "report", argc, argv,
      "report: compares the runs in train run folders or a sweep's folder (mean ± sd over seeds).\n"
      "Usage: bazel run -c opt //qres/tools:report -- [--out=prefix] <folder>...",
      "/report.cc", [](const std::vector<std::string>& folders) -> absl::Status {
        QRES_ASSIGN_OR_RETURN(const std::string report, qres::report::WriteReport(folders, FLAGS_out));
        std::cout << report;
        return absl::OkStatus();
      });
}
