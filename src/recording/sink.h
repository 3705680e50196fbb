#pragma once
// Where the runner puts finished trials. Lifecycle: open (a sink's factory or constructor),
// append (any number of batches), close. RecordingWriter writes an HDF5 file; MemorySink keeps
// the trials in memory, for runner tests that need no files.
#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "core/trial.h"

namespace rig {

// Called once per batch, with the batch's trial indices, after the batch is durably stored
// (for the writer: on disk, flushed and marked committed). It may run on the sink's own thread.
using CommitCallback = std::function<void(const std::vector<int64_t>& trial_indices)>;

class RecordingSink {
 public:
  virtual ~RecordingSink() = default;

  // Required. Takes a batch of finished trials. May return before they are stored; errors
  // from storing an earlier batch surface here or in close(). Throws rig::Error for a trial
  // that does not match the header (naming the trial and the mismatch) or was already appended.
  virtual void append(std::vector<TrialResult> batch) = 0;
  // Required. Stores everything appended so far and ends the recording; rethrows a pending
  // storing error. Further appends are errors.
  virtual void close() = 0;

  // Optional. Trial indices the sink already holds when opened (a resumed recording) plus
  // those committed since; the runner skips them.
  virtual std::vector<int64_t> finished_trials() const { return {}; }
  // Optional. Set before the first append.
  void set_on_committed(CommitCallback cb) { on_committed_ = std::move(cb); }

 protected:
  CommitCallback on_committed_;
};

// Throws rig::Error when `t` does not fit `h`: recordings per electrode, their sizes
// (tokens.size() x width), event names and rows, token counts.
void check_trial(const RecordingHeader& h, const TrialResult& t);
// check_trial's check of the recordings' sizes, for rows that lie elsewhere (the writer
// process's shared memory): sizes[e] is electrode e's number of values.
void check_recording_sizes(const RecordingHeader& h, const TrialResult& t, const std::vector<size_t>& sizes);

// The batch's trial indices; throws rig::Error naming `where` for one already in `seen` or
// twice in the batch.
std::set<int64_t> new_trial_indices(const std::vector<TrialResult>& batch, const std::set<int64_t>& seen,
                                    const std::string& where);

// Keeps every appended trial in memory and commits synchronously.
class MemorySink : public RecordingSink {
 public:
  // `finished`: trials the sink holds from the start, as a resumed recording would.
  explicit MemorySink(RecordingHeader header = {}, std::vector<TrialResult> finished = {});

  void append(std::vector<TrialResult> batch) override;
  void close() override;
  std::vector<int64_t> finished_trials() const override;

  const RecordingHeader& header() const { return header_; }
  const std::vector<TrialResult>& trials() const { return trials_; }  // in append order
  size_t n_batches() const { return n_batches_; }
  bool closed() const { return closed_; }

 private:
  RecordingHeader header_;
  std::vector<TrialResult> trials_;
  size_t n_batches_ = 0;
  bool closed_ = false;
};

}  // namespace rig
