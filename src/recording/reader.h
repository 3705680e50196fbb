#pragma once
// Reads a recording (docs/FORMAT.md): root attributes, the trials, stimuli and events tables,
// the electrodes, and blocks of rows of one recording as float, so tools can stream a file in
// chunks. Sees only committed trials (a file whose writer was killed reads as its committed
// part). Opens the file read-only.
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/trial.h"
#include "recording/statistics.h"

namespace rig {

// One row of /trials: the trial's values and where its rows lie.
struct TrialRow : TrialFields, TrialSpan {};

// One row of /events/<name>: the event happened at absolute row `row`, in trial `trial`.
struct EventRow {
  int64_t trial = 0;
  int64_t row = 0;
};

class RecordingReader {
 public:
  // Throws DataError naming the file and what is wrong (not HDF5, not a rig recording,
  // unsupported format_version, missing table).
  explicit RecordingReader(const std::filesystem::path& path);
  ~RecordingReader();
  RecordingReader(RecordingReader&&) noexcept;
  RecordingReader& operator=(RecordingReader&&) noexcept;

  const std::filesystem::path& path() const;
  int64_t format_version() const;
  const std::map<std::string, std::string>& attrs() const;  // string root attributes
  const std::map<std::string, int64_t>& int_attrs() const;  // integer root attributes
  std::optional<std::string> attr(const std::string& name) const;

  const std::vector<TrialRow>& trials() const;  // committed trials, in file order
  const std::vector<StimulusRow>& stimuli() const;
  const std::vector<ElectrodeSpec>& electrodes() const;  // in the writer's header order
  std::string dtype() const;                             // "float32" | "float16" (on disk)
  int64_t n_rows() const;                                // committed rows of /tokens and recordings

  std::vector<std::string> event_names() const;
  std::vector<EventRow> events(const std::string& name) const;  // DataError if unknown
  // The absolute row of event `name` in each trial of trials() (same order), -1 where the
  // trial has none: from /events/<name> when the file has that group, else a built-in event
  // computed from the trial's columns (core/events.h). The one way tools find a trial's event
  // (analysis's alignment, stimulation's condition means). DataError for another name.
  std::vector<int64_t> event_rows(const std::string& name) const;
  std::vector<TokenRow> tokens(int64_t r0, int64_t r1) const;

  // Rows [r0, r1) of electrode e (index into electrodes()) as float, row-major
  // [(r1 - r0) x width]; float16 is converted. Throws rig::Error if out of range.
  std::vector<float> read_rows(size_t e, int64_t r0, int64_t r1) const;
  void read_rows(size_t e, int64_t r0, int64_t r1, float* out) const;
  size_t electrode_index(const std::string& site, Side side) const;  // DataError if absent

  // Trial i of trials() with its tokens, events and recordings, as the runner produced it.
  TrialResult trial(size_t i) const;
  // The header the file was written with (attrs, stimuli, electrodes, events, dtype).
  RecordingHeader header() const;

  // "raw" or "statistics" (recording.store; docs/FORMAT.md). A statistics file has trials,
  // tokens and events but no rows: read_rows() throws and trial() has no recordings.
  const std::string& store() const;
  bool is_statistics() const;
  // store statistics: the aligned bins, the conditions (first index of every moment) and the
  // moments per electrode (electrodes() order). statistics() throws rig::Error on a raw file.
  const BinSpec& bins() const;
  const std::vector<std::string>& statistics_conditions() const;
  std::vector<Moments> statistics() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace rig
