#include "recording/sink.h"

#include <algorithm>
#include <set>
#include <string>

#include "core/error.h"

namespace rig {

std::set<int64_t> new_trial_indices(const std::vector<TrialResult>& batch, const std::set<int64_t>& seen,
                                    const std::string& where) {
  std::set<int64_t> in_batch;
  for (const auto& t : batch)
    if (seen.count(t.index) || !in_batch.insert(t.index).second)
      throw Error("recording trial " + std::to_string(t.index) + ": already recorded in " + where);
  return in_batch;
}

void check_recording_sizes(const RecordingHeader& h, const TrialResult& t, const std::vector<size_t>& sizes) {
  const std::string where = "recording trial " + std::to_string(t.index) + ": ";
  const size_t rows = t.tokens.size();
  if (sizes.size() != h.electrodes.size())
    throw Error(where + "expected " + std::to_string(h.electrodes.size()) + " recordings (one per electrode), got " +
                std::to_string(sizes.size()));
  for (size_t e = 0; e < h.electrodes.size(); ++e) {
    const size_t want = rows * size_t(h.electrodes[e].width());
    if (sizes[e] != want)
      throw Error(where + "recording of " + h.electrodes[e].dataset_path() + " has " + std::to_string(sizes[e]) +
                  " values; expected " + std::to_string(rows) + " rows x " + std::to_string(h.electrodes[e].width()) +
                  " neurons = " + std::to_string(want));
  }
}

void check_trial(const RecordingHeader& h, const TrialResult& t) {
  const std::string where = "recording trial " + std::to_string(t.index) + ": ";
  const size_t rows = t.tokens.size();
  std::vector<size_t> sizes;
  for (const auto& r : t.recordings) sizes.push_back(r.size());
  check_recording_sizes(h, t, sizes);
  for (const auto& [name, row] : t.events) {
    if (std::find(h.events.begin(), h.events.end(), name) == h.events.end())
      throw Error(where + "event '" + name + "' is not one of the header's events");
    if (row < 0 || size_t(row) >= rows)
      throw Error(where + "event '" + name + "' at row " + std::to_string(row) + " is outside the trial's " +
                  std::to_string(rows) + " rows");
  }
  // One row per token the model processed: the prompt's, then every generated one.
  if (t.n_prompt_tokens + t.n_generated != int64_t(rows))
    throw Error(where + "n_prompt_tokens (" + std::to_string(t.n_prompt_tokens) + ") + n_generated (" +
                std::to_string(t.n_generated) + ") != rows (" + std::to_string(rows) + ")");
}

MemorySink::MemorySink(RecordingHeader header, std::vector<TrialResult> finished)
    : header_(std::move(header)), trials_(std::move(finished)) {}

void MemorySink::append(std::vector<TrialResult> batch) {
  if (closed_) throw Error("MemorySink::append after close");
  std::set<int64_t> seen;
  for (const auto& t : trials_) seen.insert(t.index);
  for (const auto& t : batch) {
    check_trial(header_, t);
    if (!seen.insert(t.index).second) throw Error("recording trial " + std::to_string(t.index) + ": already recorded");
  }
  std::vector<int64_t> indices;
  for (auto& t : batch) {
    indices.push_back(t.index);
    trials_.push_back(std::move(t));
  }
  ++n_batches_;
  if (on_committed_) on_committed_(indices);
}

void MemorySink::close() { closed_ = true; }

std::vector<int64_t> MemorySink::finished_trials() const {
  std::vector<int64_t> v;
  for (const auto& t : trials_) v.push_back(t.index);
  return v;
}

}  // namespace rig
