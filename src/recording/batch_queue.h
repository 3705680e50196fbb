#pragma once
// The one bounded queue between rig's trial loop and whatever stores its batches: a thread
// that writes them to the file (RecordingWriter in this process) or one that sends them to the
// writer process (WriterProcess). push() blocks while `max_batches` wait, so a slow disk
// slows the forward passes instead of filling memory. The first error, from the consumer or
// reported by the owner (fail), drops what is queued and is rethrown by the next push and by
// finish().
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/trial.h"

namespace rig {

class BatchQueue {
 public:
  // Called on the queue's thread with each batch, in push order; what it throws fails the queue.
  using Consume = std::function<void(std::vector<TrialResult>& batch)>;

  // `where` names the recording in messages (its path).
  BatchQueue(size_t max_batches, std::string where);
  ~BatchQueue();  // finish(), errors lost

  // Trials stored before the queue started (a resumed file's); pushing them again is an error.
  void accept(const std::vector<int64_t>& trial_indices);
  // Starts the thread that consumes the batches.
  void start(Consume consume);
  // Throws for a trial pushed before (or twice in the batch), or after finish(); rethrows the
  // first error; else queues the batch, waiting while max_batches wait.
  void push(std::vector<TrialResult> batch);
  // No more pushes: the thread consumes what is queued, then ends. Joins it; returns the first
  // error (null when none). Safe to call again.
  std::exception_ptr finish();
  // Records an error found elsewhere (the writer process's replies): the first one wins.
  void fail(std::exception_ptr error);
  std::exception_ptr error() const;
  void rethrow_if_failed() const;
  bool finished() const;

 private:
  void run(const Consume& consume);

  const size_t max_batches_;
  const std::string where_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::vector<TrialResult>> queue_;
  std::set<int64_t> accepted_;  // stored or queued
  std::exception_ptr error_;
  bool finishing_ = false;
  std::thread thread_;
};

}  // namespace rig
