#pragma once
// The sink the runner writes a recording through (docs/FORMAT.md), in three parts: the
// synchronous file writer (recording/file_writer.h: appends, flushes, then marks each batch
// committed), the one bounded queue in front of it (recording/batch_queue.h), and by default
// the child process the file is written in (recording/writer_process.h), which that queue's
// thread feeds. A file whose writer was killed at any moment opens with all committed trials;
// resume() cuts whatever a killed writer left beyond them.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <vector>

#include "recording/batch_queue.h"
#include "recording/file_writer.h"
#include "recording/sink.h"
#include "recording/statistics.h"
#include "core/trial.h"

namespace rig {

class WriterProcess;

class RecordingWriter : public RecordingSink {
 public:
  // Creates `path` (and its directory) with the root attributes, the stimuli table and every
  // (empty) dataset. Throws ConfigError when the file exists and !force.
  static std::unique_ptr<RecordingWriter> create(const std::filesystem::path& path, const RecordingHeader& header,
                                                 bool force, const WriterOptions& opt = {});
  // Reopens a recording of the same experiment (same config_hash, electrodes, events, dtype;
  // ConfigError naming what differs) and cuts rows beyond its last committed trial. Waits (up
  // to a minute) while the writer process of a killed run still holds the file.
  static std::unique_ptr<RecordingWriter> resume(const std::filesystem::path& path, const RecordingHeader& header,
                                                 const WriterOptions& opt = {});
  ~RecordingWriter() override;  // closes if needed; errors are lost: call close()

  // Checks the batch (check_trial, no duplicate trial), then queues it for the writer thread.
  // Blocks while max_queued_batches wait. Rethrows an earlier error of the writer thread.
  void append(std::vector<TrialResult> batch) override;
  // Writes all queued batches, joins the thread, closes the file; rethrows a writer error.
  void close() override;

  // Where the rows of trial i, electrode e (header order) lie.
  using RowSource = RecordingFile::RowSource;
  // Writes and commits `batch` now, in the calling thread, reading its recordings from `rows`
  // (TrialResult::recordings may be empty; the caller checked the shapes and trial indices).
  // For the writer process, which writes straight from shared memory; a writer used this
  // way takes no append(). In-process writers only.
  void write_now(const std::vector<TrialResult>& batch, const RowSource& rows);
  // Trial indices committed to the file (those found by resume(), then each written batch's).
  std::vector<int64_t> finished_trials() const override;

  const std::filesystem::path& path() const;

 private:
  explicit RecordingWriter(std::unique_ptr<RecordingFile> file);
  RecordingWriter(std::unique_ptr<WriterProcess> process, std::filesystem::path path);
  // Rewrites a closed recording with gzip datasets (header.compression) via a renamed copy.
  static void compress_copy(const std::filesystem::path& path, const WriterOptions& opt);
  // In this process: the file, and the queue whose thread writes to it; or
  std::unique_ptr<RecordingFile> file_;
  std::unique_ptr<BatchQueue> queue_;
  std::unique_ptr<WriterProcess> process_;  // the writer in a child process
  std::filesystem::path path_;
  bool closed_ = false;
};

}  // namespace rig
