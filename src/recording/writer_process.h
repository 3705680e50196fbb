#pragma once
// Runs a RecordingWriter in a child process of its own (fork), fed over a Unix socket.
//
// Why: HDF5 1.10 is not crash-safe. A flush writes many metadata blocks one after another,
// and a process killed among them leaves a file whose committed trials may no longer read
// back. The child ignores SIGINT, SIGTERM and SIGHUP, and when rig dies (SIGKILL included) it
// sees the socket close, commits every batch it received whole, closes the file and exits. A
// flush is then only interrupted when the child itself is killed.
//
// Recordings cross in shared memory (WriterOptions::shared_memory_bytes): rig's sender thread
// copies a batch's rows in and sends the rest of the batch over the socket; the child writes
// the rows to the file from there (no copy on its side), commits, and says so, which frees
// that part for a later batch. A batch that does not fit crosses the socket whole. The child
// writes each batch as it arrives: rig's queue and the shared memory are its buffer.
//
// The child holds the file (and HDF5's lock on it) until it exits, usually well under a
// second after rig died: readers opening the file in between get HDF5's "unable to lock
// file"; RecordingWriter::resume waits for the lock.
#include <sys/types.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <filesystem>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "recording/batch_queue.h"
#include "recording/sink.h"
#include "core/trial.h"
#include "recording/writer.h"

namespace rig {

// A trial as the socket carries it: all but its recordings' floats, whose sizes it holds
// (decode_trial puts them in *recording_sizes). For tests: the socket's own encoding.
std::string encode_trial(const TrialResult& t);
TrialResult decode_trial(const std::string& bytes, std::vector<size_t>* recording_sizes);

class WriterProcess {
 public:
  enum class Mode { kCreate, kResume };
  // Forks the child, which runs RecordingWriter::create (force) or ::resume in-process with
  // `opt`; returns once it is ready, or rethrows its error (same type and message).
  static std::unique_ptr<WriterProcess> start(Mode mode, const std::filesystem::path& path,
                                              const RecordingHeader& header, bool force, const WriterOptions& opt);
  ~WriterProcess();  // closes if needed; errors are lost: call close()

  // Called (from this side's reader thread) with each batch the child committed. Set before
  // the first append; the pointee must outlive this object.
  void set_on_committed(const CommitCallback* cb);
  // Queues a batch (whose trials the caller checked against header()) for the sender thread;
  // throws for a trial that was already appended. Blocks while max_queued_batches wait.
  // Rethrows an error the child reported.
  void append(std::vector<TrialResult> batch);
  // Lets the child write what it has, close the file and exit; rethrows its error.
  void close();
  std::vector<int64_t> finished_trials() const;
  const RecordingHeader& header() const { return header_; }

  // For benchmarks: the most memory any writer process closed so far in this process used
  // beyond what it shared with rig when it was forked (peak RSS minus RSS at the fork), kB.
  static int64_t peak_private_rss_kb();

 private:
  WriterProcess() = default;
  void read_replies();  // the reader thread
  // The queue's consumer (the sender thread): copying rows out overlaps rig's forward passes.
  void send(std::vector<TrialResult>& batch);
  void fail(std::exception_ptr error);  // the queue's first error; wakes a sender waiting for memory
  // Offset of n free bytes in the shared memory, or npos while there is none; under mu_.
  size_t shared_take(size_t n) const;
  void unmap_shared();

  std::filesystem::path path_;
  RecordingHeader header_;
  std::unique_ptr<BatchQueue> queue_;  // to the sender thread; holds the first error of any thread
  int sock_ = -1;
  pid_t pid_ = -1;
  const CommitCallback* on_committed_ = nullptr;
  std::thread replies_;
  mutable std::mutex mu_;       // guards what follows
  std::condition_variable cv_;  // shared memory released, or a failure
  std::vector<int64_t> committed_;
  bool child_closed_ = false;  // the child reported a clean close
  bool closed_ = false;
  char* shared_ = nullptr;  // the shared memory, at the same address in rig and the child
  size_t shared_bytes_ = 0;
  std::deque<std::pair<size_t, size_t>> shared_used_;  // (offset, bytes) of sent batches, until released
};

}  // namespace rig
