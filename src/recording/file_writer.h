#pragma once
// The synchronous file writer: creates (or resumes) one recording file (docs/FORMAT.md) and
// writes batches to it in the calling thread. write() appends a batch to every table and
// recording, flushes, and only then marks it committed (root attribute n_trials_committed), so
// a writer killed at any moment leaves a file that opens with all committed trials; resume()
// cuts whatever a killed writer left beyond them. RecordingWriter (recording/writer.h) puts the
// batch queue and its thread, or the writer process, in front of it.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <vector>

#include "core/trial.h"
#include "recording/statistics.h"

namespace rig {

struct WriterOptions {
  size_t max_queued_batches = 4;  // append() blocks while this many batches wait
  bool fsync = true;              // fsync after each batch: committed trials survive an OS crash
  // With header.compression > 0: record uncompressed, then rewrite the file gzip-compressed in
  // close() (a copy, renamed over the original). HDF5 1.10 moves a compressed chunk each time
  // it is rewritten and may reuse the old space before the next flush, so a writer killed while
  // appending to compressed datasets can corrupt committed rows; uncompressed chunks never move.
  // false: compress while recording (faster, not crash-safe).
  bool compress_on_close = true;
  // Run the writer in a child process (recording/writer_process.h), so that killing rig,
  // even with SIGKILL, cannot interrupt a flush: the child commits what it received and
  // closes the file. false: a thread of this process.
  bool separate_process = true;
  // With separate_process: the shared memory through which recordings go to the writer
  // process (mapped before the fork; touched only as far as batches reach). A batch larger
  // than this, or 0, goes through the socket instead (two more copies, and the switches
  // between the processes that a socket's buffer size forces).
  size_t shared_memory_bytes = size_t(256) << 20;
  // create() asks this (when set) before it renames the new file into place; false: it
  // removes the file and throws. The writer process uses it to drop a file whose rig died.
  std::function<bool()> still_wanted;
  // With header.store "statistics": the moments the file holds from the start (rig merge: its
  // shards', combined); the appended trials then need no recordings and add nothing to them.
  // Empty: every appended trial's rows are added. In-process writers only.
  std::vector<Moments> statistics;
};

// Checks where a run or merge is about to write, before anything is computed. An existing
// `out` is an error without `force`; with it, `out` must be a regular file (not a directory,
// device, fifo or symbolic link), none of `inputs` (the same file by device and inode: the
// config, the model's files, stimulus files, shards) and not open in another process (HDF5
// locks files it has open; a second run with --force would replace the first one's file).
// Throws ConfigError naming the path and the reason.
void check_output_path(const std::filesystem::path& out, bool force, const std::vector<std::filesystem::path>& inputs);

// Puts a finished temporary file in place at `out` atomically: without `force` with link(2),
// which fails when `out` appeared meanwhile (another run) and then throws ConfigError; with
// `force` with rename(2). The temporary name is removed either way.
void publish_file(const std::filesystem::path& tmp, const std::filesystem::path& out, bool force);

// Throws ConfigError for a header no file can hold (dtype, store, bins, compression, electrode
// sites and widths, event names), before anything is created.
void check_header(const RecordingHeader& h);

class RecordingFile {
 public:
  // Creates `path` (and its directory) with the root attributes, the stimuli table and every
  // (empty) dataset, built under a temporary name and renamed into place. Throws ConfigError
  // when the file exists and !force.
  static std::unique_ptr<RecordingFile> create(const std::filesystem::path& path, const RecordingHeader& header,
                                               bool force, const WriterOptions& opt);
  // Reopens a recording of the same experiment (same config_hash, electrodes, events, dtype;
  // ConfigError naming what differs) and cuts rows beyond its last committed trial. Waits (up
  // to a minute) while the writer process of a killed run still holds the file.
  static std::unique_ptr<RecordingFile> resume(const std::filesystem::path& path, const RecordingHeader& header,
                                               const WriterOptions& opt);
  ~RecordingFile();

  // Where the rows of trial i, electrode e (header order) lie.
  using RowSource = std::function<const float*(size_t trial, size_t electrode)>;
  // Writes and commits `batch` (the caller checked its trials), its rows read from `rows`.
  void write(const std::vector<TrialResult>& batch, const RowSource& rows);
  // Checks that the file is still the one at its path, then closes it; rethrows either error.
  void close();
  // Trial indices committed to the file, in file order (those resume() found, then each
  // written batch's). Safe from any thread.
  std::vector<int64_t> committed() const;
  const std::filesystem::path& path() const;
  const RecordingHeader& header() const;
  const WriterOptions& options() const;

  struct Impl;

 private:
  explicit RecordingFile(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace rig
