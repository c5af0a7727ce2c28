// TensorBoard event files, written without TensorFlow or protobuf (design.md, "Learning-rate
// schedules and logs"): records of
//   uint64 length, uint32 masked_crc32c(length), Event bytes, uint32 masked_crc32c(Event bytes)
// with the Event messages encoded by hand: the first carries file_version "brain.Event:2", every
// other one scalar summaries {tag, simple_value} at a step. TensorBoard (or any tfevents reader)
// reads the files as they grow.
//
//   QRES_ASSIGN_OR_RETURN(auto writer, EventWriter::Open("runs/CNNQtAdamW5"));
//   QRES_RETURN_IF_ERROR(writer->Scalars(epoch, {{"epoch/loss", loss}, {"epoch/lr", lr}}));
#ifndef QRES_IO_TENSORBOARD_H_
#define QRES_IO_TENSORBOARD_H_

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace qres::io {

// CRC-32C (Castagnoli), and the masked form the record format stores.
uint32_t Crc32c(absl::string_view bytes);
uint32_t MaskedCrc32c(absl::string_view bytes);

class EventWriter {
 public:
  // Creates `dir` (and its parents) and a new file events.out.tfevents.<seconds>.<host> in it;
  // an error names the folder and what failed.
  static absl::StatusOr<std::unique_ptr<EventWriter>> Open(const std::string& dir);
  ~EventWriter();
  EventWriter(const EventWriter&) = delete;
  EventWriter& operator=(const EventWriter&) = delete;

  // One event at `step` (wall time now) with these scalars, flushed to the file.
  absl::Status Scalars(int64_t step, const std::vector<std::pair<std::string, double>>& values);
  const std::string& path() const { return path_; }

 private:
  EventWriter(std::string path, FILE* file) : path_(std::move(path)), file_(file) {}
  absl::Status WriteRecord(const std::string& event);

  std::string path_;
  FILE* file_;
};

}  // namespace qres::io

#endif  // QRES_IO_TENSORBOARD_H_
