#include "qres/io/run_layout.h"

#include <cstdint>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "qres/io/files.h"

namespace qres::io::run_layout {
namespace {

struct Affixes {
  const char* prefix;
  const char* suffix;
};

Affixes AffixesOf(FileKind kind) {
  switch (kind) {
    case FileKind::kModel:
      return {"torch_nn02", ".pt"};
    case FileKind::kOperationLog:
      return {"operation_", ".txt"};
    case FileKind::kErrorTrend:
      return {"error_", ".pickle"};
    case FileKind::kMetrics:
      return {"metrics_", ".jsonl"};
    case FileKind::kCheckpoint:
      return {"checkpoint_", ".pt"};
  }
  return {"", ""};
}

std::string JsonString(const std::string& text) {
  std::string out = "\"";
  for (const char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) {
      absl::StrAppendFormat(&out, "\\u%04x", static_cast<int>(c));
      continue;
    }
    out += c;
  }
  return out + "\"";
}

// A reader of exactly what SweepStatusJson writes: an object of strings, numbers and one array of
// strings, in any order.
class Reader {
 public:
  explicit Reader(const std::string& text) : text_(text) {}
  bool Consume(char c) {
    Skip();
    if (at_ < text_.size() && text_[at_] == c) {
      ++at_;
      return true;
    }
    return false;
  }
  bool String(std::string& out) {
    if (!Consume('"')) return false;
    out.clear();
    while (at_ < text_.size() && text_[at_] != '"') {
      char c = text_[at_++];
      if (c == '\\') {
        if (at_ >= text_.size()) return false;
        c = text_[at_++];
        if (c == 'u') {
          int code = 0;
          if (at_ + 4 > text_.size() || !absl::SimpleHexAtoi(text_.substr(at_, 4), &code) || code > 0x7f) return false;
          at_ += 4;
          c = static_cast<char>(code);
        } else if (c != '"' && c != '\\') {
          return false;
        }
      }
      out += c;
    }
    return Consume('"');
  }
  bool Number(double& out) {
    Skip();
    const size_t start = at_;
    while (at_ < text_.size() && (absl::ascii_isdigit(text_[at_]) || absl::StrContains("+-.eE", text_[at_]))) ++at_;
    return absl::SimpleAtod(text_.substr(start, at_ - start), &out);
  }
  bool AtEnd() {
    Skip();
    return at_ == text_.size();
  }

 private:
  void Skip() {
    while (at_ < text_.size() && absl::ascii_isspace(text_[at_])) ++at_;
  }
  const std::string& text_;
  size_t at_ = 0;
};

}  // namespace

std::string FileOf(FileKind kind, const std::string& dir, const std::string& run) {
  const Affixes affixes = AffixesOf(kind);
  return JoinPath(dir, absl::StrCat(affixes.prefix, run, affixes.suffix));
}

std::string RunOfFile(FileKind kind, const std::string& name) {
  const Affixes affixes = AffixesOf(kind);
  if (!absl::StartsWith(name, affixes.prefix) || !absl::EndsWith(name, affixes.suffix)) return "";
  const size_t prefix = std::char_traits<char>::length(affixes.prefix);
  const size_t suffix = std::char_traits<char>::length(affixes.suffix);
  if (name.size() <= prefix + suffix) return "";
  return name.substr(prefix, name.size() - prefix - suffix);
}

std::string SweepStatusFile(const std::string& run_dir) { return JoinPath(run_dir, "sweep.json"); }
std::string SweepOutputFile(const std::string& run_dir) { return JoinPath(run_dir, "sweep_output.txt"); }

std::string SweepStatusJson(const SweepStatus& status) {
  std::vector<std::string> flags;
  for (const std::string& flag : status.flags) flags.push_back(JsonString(flag));
  return absl::StrFormat("{\"run\": %s, \"status\": %s, \"exit\": %d, \"seconds\": %.1f, \"flags\": [%s]}\n",
                         JsonString(status.run), JsonString(status.status), status.exit_code, status.seconds,
                         absl::StrJoin(flags, ", "));
}

absl::StatusOr<SweepStatus> ParseSweepStatus(const std::string& text, const std::string& path) {
  const auto bad = [&] {
    return absl::DataLossError(absl::StrCat(path, ": not a sweep's status (a JSON object with run, status, exit, ",
                                            "seconds and flags); remove it to run the run again"));
  };
  SweepStatus status;
  Reader reader(text);
  if (!reader.Consume('{')) return bad();
  bool has_run = false, has_status = false;
  for (bool first = true; !reader.Consume('}'); first = false) {
    std::string key;
    if ((!first && !reader.Consume(',')) || !reader.String(key) || !reader.Consume(':')) return bad();
    if (key == "run" || key == "status") {
      if (!reader.String(key == "run" ? status.run : status.status)) return bad();
      (key == "run" ? has_run : has_status) = true;
    } else if (key == "exit" || key == "seconds") {
      double number = 0;
      if (!reader.Number(number)) return bad();
      if (key == "exit") {
        status.exit_code = static_cast<int>(number);
      } else {
        status.seconds = number;
      }
    } else if (key == "flags") {
      if (!reader.Consume('[')) return bad();
      for (bool first_flag = true; !reader.Consume(']'); first_flag = false) {
        std::string flag;
        if ((!first_flag && !reader.Consume(',')) || !reader.String(flag)) return bad();
        status.flags.push_back(std::move(flag));
      }
    } else {
      return bad();
    }
  }
  if (!reader.AtEnd() || !has_run || !has_status) return bad();
  return status;
}

}  // namespace qres::io::run_layout
