#include "recording/batch_queue.h"

#include <algorithm>
#include <utility>

#include "core/error.h"
#include "recording/sink.h"

namespace rig {

BatchQueue::BatchQueue(size_t max_batches, std::string where)
    : max_batches_(std::max<size_t>(1, max_batches)), where_(std::move(where)) {}

BatchQueue::~BatchQueue() { finish(); }

void BatchQueue::accept(const std::vector<int64_t>& trial_indices) {
  std::lock_guard<std::mutex> lock(mu_);
  accepted_.insert(trial_indices.begin(), trial_indices.end());
}

void BatchQueue::start(Consume consume) {
  thread_ = std::thread([this, c = std::move(consume)] { run(c); });
}

void BatchQueue::run(const Consume& consume) {
  for (;;) {
    std::vector<TrialResult> batch;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return !queue_.empty() || finishing_ || error_; });
      if (error_ || queue_.empty()) return;
      batch = std::move(queue_.front());
      queue_.pop_front();
    }
    cv_.notify_all();  // room in the queue
    try {
      consume(batch);
    } catch (...) {
      fail(std::current_exception());
      return;
    }
  }
}

void BatchQueue::push(std::vector<TrialResult> batch) {
  std::unique_lock<std::mutex> lock(mu_);
  if (error_) std::rethrow_exception(error_);
  if (finishing_) throw Error("recording " + where_ + ": a batch appended after close");
  const std::set<int64_t> in_batch = new_trial_indices(batch, accepted_, where_);
  cv_.wait(lock, [&] { return queue_.size() < max_batches_ || error_; });
  if (error_) std::rethrow_exception(error_);
  accepted_.insert(in_batch.begin(), in_batch.end());
  queue_.push_back(std::move(batch));
  cv_.notify_all();
}

std::exception_ptr BatchQueue::finish() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    finishing_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
  return error();
}

void BatchQueue::fail(std::exception_ptr error) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!error_) error_ = std::move(error);
    queue_.clear();
  }
  cv_.notify_all();
}

std::exception_ptr BatchQueue::error() const {
  std::lock_guard<std::mutex> lock(mu_);
  return error_;
}

void BatchQueue::rethrow_if_failed() const {
  if (std::exception_ptr e = error()) std::rethrow_exception(e);
}

bool BatchQueue::finished() const {
  std::lock_guard<std::mutex> lock(mu_);
  return finishing_;
}

}  // namespace rig
