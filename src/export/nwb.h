#pragma once
// rig export --nwb: a recording (docs/FORMAT.md) as an NWB 2.x file (docs/NWB.md), read by
// pynwb, MatNWB and nwbinspector: one TimeSeries per electrode in /acquisition, the tokens in
// /stimulus/presentation, /trials as the NWB trials table (/intervals/trials), the provenance in
// /general. Written with the HDF5 C
// API; the NWB schema it follows is the one it caches (export/nwb_schema.h).
#include <cstdint>
#include <filesystem>
#include <string>

namespace rig {

struct NwbExportOptions {
  bool force = false;  // overwrite an existing output file
};

struct NwbExportResult {
  std::string identifier;   // the NWB file's `identifier`: a new UUID
  std::string nwb_version;  // "2.11.0": the cached core namespace's
  int64_t n_trials = 0;     // rows of the trials table: the recording's committed trials
  int64_t n_rows = 0;       // samples of every TimeSeries: the recording's committed rows
  int64_t n_series = 0;     // TimeSeries written: one per electrode
};

// Reads `recording` (never changes it) and writes `out` (first as `out`.creating, renamed when
// complete, so `out` is never a partial file). ConfigError if `out` exists without
// options.force, or is the recording itself; DataError for a file that is not a recording.
NwbExportResult export_nwb(const std::filesystem::path& recording, const std::filesystem::path& out,
                           const NwbExportOptions& options = {});

}  // namespace rig
